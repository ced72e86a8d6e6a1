"""Audio container facts read from raw bytes: the format from magic bytes, MPEG frame headers, VBR tags.

Pure functions over `bytes`; `audio_io` does the file reading. Formats are
named by their usual extension: "wav", "aiff", "flac", "ogg", "mp3".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

AudioFormat = Literal["wav", "aiff", "flac", "ogg", "mp3"]

# The magic of every format fits in the first 12 bytes; an ID3v2 tag is looked through
# when the caller passes enough bytes to reach the audio after it.
SNIFF_MIN_BYTES = 12
ID3_HEADER_BYTES = 10

_MPEG_VERSIONS = {0b00: "2.5", 0b10: "2", 0b11: "1"}  # 0b01 is reserved
_MPEG_LAYERS = {0b01: 3, 0b10: 2, 0b11: 1}  # 0b00 is reserved
_MPEG_SAMPLE_RATES_HZ = {
    "1": (44100, 48000, 32000),
    "2": (22050, 24000, 16000),
    "2.5": (11025, 12000, 8000),
}
_CHANNEL_MODE_MONO = 0b11
# kbit/s by bitrate index (1-14; 0 is the free format, whose frames do not say their size).
_MPEG_BITRATES_KBPS = {
    ("1", 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    ("1", 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    ("1", 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    ("2", 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    ("2", 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    ("2", 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


@dataclass(frozen=True)
class MpegFrameHeader:
    """The 4-byte header that starts every MPEG audio frame."""

    version: str  # "1", "2" or "2.5"
    layer: int  # 1, 2 or 3
    sr_hz: int
    has_crc: bool
    mono: bool
    bitrate_kbps: int  # 0: free format
    padded: bool

    @property
    def frame_bytes(self) -> int | None:
        """The whole frame's length, header included; None for the free format."""
        if not self.bitrate_kbps:
            return None
        bits_per_s = self.bitrate_kbps * 1000
        if self.layer == 1:
            return (12 * bits_per_s // self.sr_hz + self.padded) * 4
        per_frame = 72 if self.layer == 3 and self.version != "1" else 144
        return per_frame * bits_per_s // self.sr_hz + self.padded


def parse_mpeg_frame_header(raw: bytes) -> MpegFrameHeader | None:
    """The MPEG audio frame header in the first 4 bytes of `raw`, or None if they are not one.

    Checks the 11-bit frame sync and rejects the reserved version, layer, bitrate and
    sample-rate codes, so that random bytes rarely pass.
    """
    if len(raw) < 4 or raw[0] != 0xFF or raw[1] & 0xE0 != 0xE0:
        return None
    version = _MPEG_VERSIONS.get((raw[1] >> 3) & 0b11)
    layer = _MPEG_LAYERS.get((raw[1] >> 1) & 0b11)
    bitrate_index = raw[2] >> 4
    sr_index = (raw[2] >> 2) & 0b11
    if version is None or layer is None or bitrate_index == 0b1111 or sr_index == 0b11:
        return None
    return MpegFrameHeader(
        version=version,
        layer=layer,
        sr_hz=_MPEG_SAMPLE_RATES_HZ[version][sr_index],
        has_crc=(raw[1] & 0x01) == 0,
        mono=(raw[3] >> 6) == _CHANNEL_MODE_MONO,
        bitrate_kbps=_MPEG_BITRATES_KBPS[("1" if version == "1" else "2", layer)][bitrate_index - 1]
        if bitrate_index else 0,
        padded=bool((raw[2] >> 1) & 1),
    )


def id3v2_size(head: bytes) -> int | None:
    """Total bytes of the ID3v2 tag at the start of `head` (header and footer included), or None."""
    if len(head) < ID3_HEADER_BYTES or not head.startswith(b"ID3"):
        return None
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):  # a syncsafe integer keeps bit 7 clear
        return None
    body = 0
    for b in size_bytes:
        body = (body << 7) | b
    has_footer = bool(head[5] & 0x10)
    return ID3_HEADER_BYTES + body + (ID3_HEADER_BYTES if has_footer else 0)


def sniff_audio_format(head: bytes) -> AudioFormat | None:
    """The audio format named by the magic bytes at the start of a file, or None.

    `head` is the first bytes of the file; `SNIFF_MIN_BYTES` (12) suffice. Returns
    "wav" (RIFF/RF64 WAVE), "aiff" (FORM AIFF or AIFC), "flac", "ogg" (any Ogg
    stream: Vorbis, Opus, FLAC), or "mp3" (an ID3v2 tag, or an MPEG audio frame
    header, layers I to III). When `head` reaches past an ID3v2 tag, the bytes
    after it decide (a tag can also precede FLAC).
    """
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    tag_bytes = id3v2_size(head)
    if tag_bytes is not None:
        after = head[tag_bytes:]
        if len(after) >= SNIFF_MIN_BYTES:
            return sniff_audio_format(after)
        return "mp3"
    if parse_mpeg_frame_header(head) is not None:
        return "mp3"
    return None


def vbr_tag_stream_bytes(frame: bytes) -> int | None:
    """The stream size in bytes that a Xing/Info or VBRI tag in the first MPEG frame declares.

    `frame` starts at the first frame header (after any ID3v2 tag) and should hold
    at least 200 bytes. None when there is no such tag or it does not carry a size.
    Encoders write the tag once the whole stream is known, so a file shorter than
    the size it declares was cut off.
    """
    header = parse_mpeg_frame_header(frame)
    if header is None or header.layer != 3:
        return None
    if header.version == "1":
        side_info = 17 if header.mono else 32
    else:
        side_info = 9 if header.mono else 17
    xing_at = 4 + (2 if header.has_crc else 0) + side_info
    tag = frame[xing_at:xing_at + 4]
    if tag in (b"Xing", b"Info"):
        if len(frame) < xing_at + 16:
            return None
        (flags,) = struct.unpack(">I", frame[xing_at + 4:xing_at + 8])
        if not flags & 0x2:  # bit 1: the byte count is present
            return None
        at = xing_at + 8 + (4 if flags & 0x1 else 0)  # bit 0: a frame count comes first
        (stream_bytes,) = struct.unpack(">I", frame[at:at + 4])
        return stream_bytes or None
    vbri_at = 4 + 32  # VBRI sits at a fixed offset after the header
    if frame[vbri_at:vbri_at + 4] == b"VBRI" and len(frame) >= vbri_at + 14:
        (stream_bytes,) = struct.unpack(">I", frame[vbri_at + 10:vbri_at + 14])
        return stream_bytes or None
    return None


# An Ogg page: "OggS", version 0, header type, granule (8), serial (4), sequence (4), CRC (4), the
# number of segments, then that many lacing values (each a segment's length): at most 65,307 bytes.
OGG_CAPTURE = b"OggS"
OGG_HEADER_BYTES = 27
OGG_MAX_PAGE_BYTES = OGG_HEADER_BYTES + 255 + 255 * 255
_OGG_EOS_FLAG = 0x04


def ogg_ending_problem(tail: bytes) -> str | None:
    """Why an Ogg stream is cut short, from its last bytes (`tail`: the file's last OGG_MAX_PAGE_BYTES, or
    all of it); None when its last page is whole and ends the stream.

    The last page must end exactly at the end of the file and carry the end-of-stream flag. A file cut
    inside a page (a part-copied or part-downloaded file) ends before the length its page header gives;
    one cut between pages ends on a page without the flag. Bytes that only look like a page header
    (inside compressed audio) are passed over: they are not version 0, or do not end at the file's end."""
    size = len(tail)
    at = size
    while (at := tail.rfind(OGG_CAPTURE, 0, at)) >= 0:
        if at + 4 < size and tail[at + 4] != 0:
            continue  # not a page header: version 0 is the only one
        if at + OGG_HEADER_BYTES > size:
            return f"truncated: the file ends {size - at} bytes into an Ogg page header"
        table_end = at + OGG_HEADER_BYTES + tail[at + 26]
        if table_end > size:
            return "truncated: the file ends inside an Ogg page's segment table"
        page_bytes = table_end - at + sum(tail[at + OGG_HEADER_BYTES:table_end])
        if at + page_bytes > size:
            return f"truncated: the last Ogg page declares {page_bytes} bytes but only {size - at} follow"
        if at + page_bytes == size:
            if tail[at + 5] & _OGG_EOS_FLAG:
                return None
            return "truncated: the last Ogg page does not end the stream (no end-of-stream flag)"
    return "truncated or damaged: no whole Ogg page ends the file"


# Frames in a row that make a run of MPEG frames believable (a lone sync word is often chance).
MPEG_CHAIN_FRAMES = 3
MPEG_TAIL_BYTES = 16384  # holds several frames of any layer and bitrate


def mp3_ending_problem(tail: bytes) -> str | None:
    """Why an MP3 is cut short, from its last bytes (`tail`: the file's last MPEG_TAIL_BYTES, or all of
    it); None when its last frame is whole, or when no run of frames can be followed (free format).

    From the first position in `tail` where MPEG_CHAIN_FRAMES frames follow one another, the frames are
    followed to the last one: a cut file's last frame declares more bytes than remain. Whatever follows
    a whole last frame (an ID3v1 or APE tag, padding) is not looked at; a file cut exactly between
    frames is a whole, shorter MP3 and cannot be told from one."""
    size = len(tail)
    for start in range(max(0, size - 1)):
        if tail[start] != 0xFF or not _frames_follow(tail, start, MPEG_CHAIN_FRAMES):
            continue
        at = start
        while (header := parse_mpeg_frame_header(tail[at:at + 4])) is not None and header.frame_bytes:
            if at + header.frame_bytes > size:
                return (f"truncated: the last MPEG frame declares {header.frame_bytes} bytes "
                        f"but only {size - at} follow")
            at += header.frame_bytes
        return None
    return None


def _frames_follow(data: bytes, at: int, count: int) -> bool:
    """Do `count` whole frame headers follow one another from `at` (the last may run past the end)?"""
    for index in range(count):
        header = parse_mpeg_frame_header(data[at:at + 4])
        if header is None or not header.frame_bytes:
            return False
        at += header.frame_bytes
        if at >= len(data) and index < count - 1:
            return False
    return True
