"""Reading audio files: a cheap header probe for the importer, and one full decode for the features.

`probe_audio` reads headers only (a few small reads, no samples) and rejects
what cannot be audio: an empty file, text or random bytes under an audio name,
a header libsndfile cannot parse, and a file shorter than its own header says
(WAV and AIFF data chunks, the VBR tag of an MP3 or its last frame, an Ogg stream
whose last page is cut or does not end the stream). `decode_audio` decodes once
at the file's rate, mixes down to mono and resamples once with soxr at its
"HQ" quality (librosa's default resampler).

Every failure that belongs to the file raises `InvalidInput` with a readable
reason; an `OSError` (missing file, permission) is left to the caller.
An MP3 cut exactly between two frames is a whole, shorter MP3: without a VBR tag
it decodes to the part that is there.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from kellyd.errors import InvalidInput
from kellyd.music.audio_headers import (MPEG_TAIL_BYTES, OGG_MAX_PAGE_BYTES, AudioFormat, id3v2_size,
                                        mp3_ending_problem, ogg_ending_problem, sniff_audio_format,
                                        vbr_tag_stream_bytes)

__all__ = [
    "AudioInfo",
    "NativeAudio",
    "decode_audio",
    "describe_start",
    "mix_to_mono",
    "probe_audio",
    "read_native",
    "resample",
    "sniff_audio_format",
]

DEFAULT_SR_HZ = 16000
MIN_SR_HZ = 1000
MAX_SR_HZ = 384000
# The head read for sniffing; long enough to see past a small ID3v2 tag.
HEAD_BYTES = 64
# Enough of the first MPEG frame to hold its Xing/Info or VBRI tag.
MPEG_FRAME_READ_BYTES = 512
# An MP3 may end with a little less than its VBR tag says (a lost last frame); more is a cut file.
MP3_TRUNCATION_TOLERANCE = 0.01
# Chunk headers walked before giving up on finding the sample data of a WAV or AIFF.
MAX_CHUNKS = 64
# The size RF64 and some streaming writers leave in a chunk header; 0 is also left by streaming writers.
SIZE_UNKNOWN_MARKER = 0xFFFFFFFF
# Formats whose header gives the exact frame count, so a short decode means a cut file.
EXACT_LENGTH_FORMATS = ("wav", "aiff", "flac")
RESAMPLE_QUALITY = "HQ"


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says.

    `format` is the format found in the content ("wav", "aiff", "flac", "ogg",
    "mp3"), whatever the file name says. `n_frames` counts samples per channel:
    exact for WAV, AIFF, FLAC and Ogg; for an MP3 without a VBR tag it is the
    decoder's estimate from the bitrate.
    """

    format: AudioFormat
    sr_hz: int
    channels: int
    n_frames: int
    duration_s: float


@dataclass(frozen=True)
class NativeAudio:
    """Decoded samples at the file's own rate, with the header they came with.

    `samples` has shape (n_frames, channels), float32, full scale at +-1.0; it
    may be shorter than `info.n_frames` when the read was limited.
    """

    samples: np.ndarray
    info: AudioInfo

    @property
    def sr_hz(self) -> int:
        return self.info.sr_hz

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.info.sr_hz


def describe_start(head: bytes) -> str:
    """What a file's first bytes look like, for a refusal reason, without quoting more than a magic number.

    Reasons go to `.error.json` and the log; the start of an arbitrary file may
    be a password line or a key, so only its first 4 bytes (enough to tell a
    format) and its general shape are shown.
    """
    if not head:
        return "nothing"
    shape = "text" if all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "binary data"
    return f"{shape} beginning {head[:4]!r}"


def _libsndfile_reason(error: Exception) -> str:
    return str(getattr(error, "error_string", "") or error).strip()


def _data_chunk(f: BinaryIO, *, big_endian: bool, data_id: bytes) -> tuple[int, int] | None:
    """(declared size, offset of the body) of the first `data_id` chunk of a RIFF or IFF file."""
    size_format = ">I" if big_endian else "<I"
    f.seek(12)
    for _ in range(MAX_CHUNKS):
        raw = f.read(8)
        if len(raw) < 8:
            return None
        chunk_id, (size,) = raw[:4], struct.unpack(size_format, raw[4:])
        if chunk_id == data_id:
            return size, f.tell()
        if size == SIZE_UNKNOWN_MARKER:
            return None
        f.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to an even length
    return None


def _check_not_truncated(f: BinaryIO, fmt: AudioFormat, file_bytes: int) -> None:
    """Raise InvalidInput when the header declares more audio data than the file holds."""
    if fmt in ("wav", "aiff"):
        big_endian = fmt == "aiff"
        found = _data_chunk(f, big_endian=big_endian, data_id=b"SSND" if big_endian else b"data")
        if found is None:
            return  # libsndfile decides whether a file without a data chunk is usable
        declared, body_at = found
        available = file_bytes - body_at
        if declared not in (0, SIZE_UNKNOWN_MARKER) and declared > available:
            raise InvalidInput(
                f"truncated: the {fmt.upper()} header declares {declared} bytes of samples "
                f"but only {available} follow"
            )
    elif fmt == "ogg":
        f.seek(max(0, file_bytes - OGG_MAX_PAGE_BYTES))
        problem = ogg_ending_problem(f.read(OGG_MAX_PAGE_BYTES))
        if problem is not None:
            raise InvalidInput(problem)
    elif fmt == "mp3":
        f.seek(0)
        tag_bytes = id3v2_size(f.read(HEAD_BYTES)) or 0
        f.seek(tag_bytes)
        declared = vbr_tag_stream_bytes(f.read(MPEG_FRAME_READ_BYTES))
        available = file_bytes - tag_bytes
        if declared is not None and available < declared * (1.0 - MP3_TRUNCATION_TOLERANCE):
            raise InvalidInput(
                f"truncated: the MP3's VBR tag declares a {declared}-byte stream but only {available} bytes follow"
            )
        f.seek(max(tag_bytes, file_bytes - MPEG_TAIL_BYTES))
        problem = mp3_ending_problem(f.read(MPEG_TAIL_BYTES))  # also without a VBR tag
        if problem is not None:
            raise InvalidInput(problem)


def probe_audio(path: Path | str) -> AudioInfo:
    """Check that a file is audio and read its header, without decoding samples (about a millisecond).

    Raises InvalidInput for an empty file, content that is no WAV, AIFF, FLAC,
    Ogg or MP3 (whatever the extension), a header libsndfile cannot read, a
    header that declares no audio, or a file shorter than its header declares.
    """
    path = Path(path)
    file_bytes = path.stat().st_size
    if file_bytes == 0:
        raise InvalidInput("empty file (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
        fmt = sniff_audio_format(head)
        tag_bytes = id3v2_size(head)
        if tag_bytes is not None and tag_bytes < file_bytes:
            # An ID3 tag usually precedes MP3 frames, but may precede FLAC: name what follows it.
            f.seek(tag_bytes)
            fmt = sniff_audio_format(f.read(HEAD_BYTES)) or fmt
        if fmt is None:
            raise InvalidInput(
                f"not an audio file: the content is {describe_start(head)}, no WAV, AIFF, FLAC, Ogg "
                f"or MP3 header (name {path.name!r})"
            )
        _check_not_truncated(f, fmt, file_bytes)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise InvalidInput(f"unreadable {fmt} file: {_libsndfile_reason(e)}") from None
    if not MIN_SR_HZ <= info.samplerate <= MAX_SR_HZ or info.channels <= 0:
        raise InvalidInput(
            f"unsupported {fmt} stream: {info.samplerate} Hz (need {MIN_SR_HZ} to {MAX_SR_HZ}), "
            f"{info.channels} channels"
        )
    if info.frames <= 0:
        raise InvalidInput(f"no audio: the {fmt} header declares 0 frames")
    return AudioInfo(
        format=fmt,
        sr_hz=int(info.samplerate),
        channels=int(info.channels),
        n_frames=int(info.frames),
        duration_s=info.frames / info.samplerate,
    )


def read_native(path: Path | str, *, max_duration_s: float | None = None) -> NativeAudio:
    """Decode a whole file (or its first `max_duration_s`) at its own rate, all channels.

    Probes first, so every `probe_audio` rejection applies; also raises
    InvalidInput when the decoder fails part-way (a cut or corrupt FLAC), when
    fewer frames decode than an exact-length header declares, and for NaN or
    inf samples (possible in float WAV files).
    """
    if max_duration_s is not None and not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be positive, got {max_duration_s!r}")
    info = probe_audio(path)
    wanted = info.n_frames if max_duration_s is None else min(info.n_frames, int(max_duration_s * info.sr_hz))
    try:
        samples, _ = sf.read(str(path), frames=-1 if max_duration_s is None else wanted,
                             dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise InvalidInput(f"corrupt or truncated {info.format} data: {_libsndfile_reason(e)}") from None
    n_read = samples.shape[0]
    if n_read == 0:
        raise InvalidInput(f"no audio: nothing decodes from this {info.format} file")
    if info.format in EXACT_LENGTH_FORMATS and n_read < wanted:
        raise InvalidInput(f"truncated: the {info.format} header declares {wanted} frames but {n_read} decode")
    if not np.isfinite(samples).all():
        raise InvalidInput(f"the {info.format} file holds NaN or infinite samples")
    return NativeAudio(samples=samples, info=info)


def mix_to_mono(samples: np.ndarray) -> np.ndarray:
    """The mean of the channels of `samples` (n_frames, channels) as float32 (n_frames,)."""
    if samples.ndim != 2 or samples.shape[1] == 0:
        raise ValueError(f"samples must have shape (n_frames, channels), got {samples.shape}")
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0], dtype=np.float32)
    # A matrix-vector product: much faster than a mean along the short, strided channel axis.
    weights = np.full(samples.shape[1], 1.0 / samples.shape[1], dtype=np.float32)
    return samples.astype(np.float32, copy=False) @ weights


def _check_rate(name: str, sr_hz: int) -> None:
    if isinstance(sr_hz, bool) or not isinstance(sr_hz, (int, np.integer)) or not MIN_SR_HZ <= sr_hz <= MAX_SR_HZ:
        raise ValueError(f"{name} must be an integer in [{MIN_SR_HZ}, {MAX_SR_HZ}] Hz, got {sr_hz!r}")


def resample(y: np.ndarray, *, from_hz: int, to_hz: int) -> np.ndarray:
    """`y` (n,) float32 resampled from `from_hz` to `to_hz` with soxr; a copy when the rates match."""
    _check_rate("from_hz", from_hz)
    _check_rate("to_hz", to_hz)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
    if from_hz == to_hz:
        return y.astype(np.float32, copy=True)
    return soxr.resample(y.astype(np.float32, copy=False), from_hz, to_hz, quality=RESAMPLE_QUALITY)


def decode_audio(path: Path | str, *, sr_hz: int = DEFAULT_SR_HZ, max_duration_s: float | None = None) -> np.ndarray:
    """The file as mono float32 (n,) at `sr_hz`: decoded once, mixed down, resampled once.

    Raises InvalidInput for a file that is not readable audio (see `read_native`).
    """
    _check_rate("sr_hz", sr_hz)
    native = read_native(path, max_duration_s=max_duration_s)
    return resample(mix_to_mono(native.samples), from_hz=native.sr_hz, to_hz=sr_hz)
