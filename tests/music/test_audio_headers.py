"""Magic bytes, MPEG frame headers and VBR tags, on hand-made byte strings."""

from __future__ import annotations

import struct

import pytest

from kellyd.music.audio_headers import (
    id3v2_size,
    parse_mpeg_frame_header,
    sniff_audio_format,
    vbr_tag_stream_bytes,
)

# MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no CRC, joint stereo / mono.
MP3_STEREO_HEADER = bytes([0xFF, 0xFB, 0x90, 0x44])
MP3_MONO_HEADER = bytes([0xFF, 0xFB, 0x90, 0xC4])


def id3_tag(body_bytes: int) -> bytes:
    syncsafe = bytes((body_bytes >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + b"\x00" * body_bytes


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"RF64\xff\xff\xff\xffWAVEds64", "wav"),
        (b"FORM\x00\x00\x10\x00AIFFCOMM", "aiff"),
        (b"FORM\x00\x00\x10\x00AIFCFVER", "aiff"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02\x00\x00", "ogg"),
        (b"ID3\x04\x00\x00\x00\x00\x01\x00", "mp3"),
        (MP3_STEREO_HEADER + b"\x00" * 8, "mp3"),
        (id3_tag(20) + b"fLaC\x00\x00\x00\x22\x00\x00\x00\x00", "flac"),
        (id3_tag(20) + MP3_STEREO_HEADER + b"\x00" * 8, "mp3"),
        (b"RIFF\x24\x00\x00\x00RMIDdata", None),  # RIFF-wrapped MIDI
        (b"MThd\x00\x00\x00\x06", None),
        (b"hello, this is text", None),
        (b"", None),
        (bytes([0xFF, 0xE0, 0x00, 0x00]), None),  # sync bits, but reserved layer
        (bytes([0xFF, 0xFB, 0xF0, 0x44]), None),  # bad bitrate index
        (bytes([0xFF, 0xFB, 0x9C, 0x44]), None),  # reserved sample-rate index
        (bytes([0xFF, 0xF1, 0x50, 0x80]), None),  # AAC ADTS (layer bits 00)
    ],
)
def test_sniff_audio_format(head, expected):
    assert sniff_audio_format(head) == expected


@pytest.mark.parametrize(
    ("raw", "version", "layer", "sr_hz", "mono"),
    [
        (MP3_STEREO_HEADER, "1", 3, 44100, False),
        (MP3_MONO_HEADER, "1", 3, 44100, True),
        (bytes([0xFF, 0xF3, 0x90, 0x44]), "2", 3, 22050, False),
        (bytes([0xFF, 0xE3, 0x98, 0xC4]), "2.5", 3, 8000, True),
        (bytes([0xFF, 0xFD, 0x94, 0x44]), "1", 2, 48000, False),
    ],
)
def test_parse_mpeg_frame_header(raw, version, layer, sr_hz, mono):
    header = parse_mpeg_frame_header(raw)
    assert (header.version, header.layer, header.sr_hz, header.mono) == (version, layer, sr_hz, mono)


def test_id3v2_size_counts_header_body_and_footer():
    assert id3v2_size(id3_tag(300)) == 310
    with_footer = b"ID3\x04\x00\x10" + bytes([0, 0, 2, 0]) + b"\x00" * 256
    assert id3v2_size(with_footer) == 10 + 256 + 10
    assert id3v2_size(b"ID3\x04\x00\x00\x80\x00\x00\x00") is None  # not syncsafe
    assert id3v2_size(b"RIFF") is None


def xing_frame(header: bytes, side_info: int, flags: int, frames: int, stream_bytes: int) -> bytes:
    fields = struct.pack(">I", flags)
    if flags & 1:
        fields += struct.pack(">I", frames)
    if flags & 2:
        fields += struct.pack(">I", stream_bytes)
    return header + b"\x00" * side_info + b"Xing" + fields + b"\x00" * 300


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (xing_frame(MP3_STEREO_HEADER, 32, 0b11, 383, 160704), 160704),
        (xing_frame(MP3_MONO_HEADER, 17, 0b11, 38, 5465), 5465),
        (xing_frame(MP3_STEREO_HEADER, 32, 0b10, 0, 777), 777),
        (xing_frame(MP3_STEREO_HEADER, 32, 0b01, 383, 0), None),  # no byte count
        (MP3_STEREO_HEADER + b"\x00" * 32 + b"VBRI" + b"\x00" * 6 + struct.pack(">I", 4242) + b"\x00" * 200, 4242),
        (MP3_STEREO_HEADER + b"\x00" * 400, None),  # constant bitrate, no tag
        (b"not a frame" * 40, None),
    ],
)
def test_vbr_tag_stream_bytes(frame, expected):
    assert vbr_tag_stream_bytes(frame) == expected
