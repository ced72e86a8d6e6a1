"""Bad audio input: every case is rejected with InvalidInput and a reason a person can act on."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kellyd.errors import InvalidInput
from kellyd.music.audio_features import extract_audio, extract_audio_file
from kellyd.music.audio_io import decode_audio, probe_audio

SR_HZ = 16000
# "fLaC", the 38-byte STREAMINFO block, then a cut inside the next metadata block: no audio frame.
FLAC_CUT_BYTES = 64
OGG = "librosa/Kevin_MacLeod_-_Vibe_Ace.ogg"
CHOIR_WAV = ("audio_more/mirdata_dagstuhl_choirset/dagstuhl_choirset/audio_wav_22050_mono/"
             "DCS_LI_QuartetB_Take04_S1_DYN.wav")


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def cut(source: Path, target: Path, keep_fraction: float) -> Path:
    data = source.read_bytes()
    return write_bytes(target, data[: int(len(data) * keep_fraction)])


def head(source: Path, target: Path, n_bytes: int) -> Path:
    return write_bytes(target, source.read_bytes()[:n_bytes])


@pytest.fixture
def real_file(corpus, tmp_path):
    def copy(relative: str) -> Path:
        target = tmp_path / Path(relative).name
        shutil.copyfile(corpus / relative, target)
        return target
    return copy


def bad_files(tmp_path: Path, real_file) -> dict[str, tuple[Path, str]]:
    """name -> (file, regex the reason must match)."""
    rng = np.random.default_rng(7)
    return {
        "text named .wav": (write_bytes(tmp_path / "notes.wav", b"just some text, not audio\n" * 20),
                            r"not an audio file.*notes\.wav"),
        "zero-byte mp3": (write_bytes(tmp_path / "empty.mp3", b""), r"empty file \(0 bytes\)"),
        "random bytes .flac": (write_bytes(tmp_path / "noise.flac", rng.bytes(4096)), r"not an audio file"),
        "truncated wav": (cut(real_file(CHOIR_WAV), tmp_path / "cut.wav", 0.5),
                          r"truncated: the WAV header declares \d+ bytes of samples but only \d+ follow"),
        "truncated mp3 with VBR tag": (cut(real_file("beatnet/808kick120bpm.mp3"), tmp_path / "cut.mp3", 0.5),
                                       r"truncated: the MP3's VBR tag declares"),
        "ogg cut inside a page": (cut(real_file(OGG), tmp_path / "cut.ogg", 0.5),
                                  r"truncated: the last Ogg page declares \d+ bytes but only \d+ follow"),
        "flac header only": (head(real_file("sonic_pi/loop_amen.flac"), tmp_path / "stub.flac", FLAC_CUT_BYTES),
                             r"unreadable flac file"),
        "wav header without frames": (_wav_without_frames(tmp_path / "hollow.wav"), r"no audio"),
    }


def _wav_without_frames(path: Path) -> Path:
    sf.write(str(path), np.zeros((0, 1), np.float32), SR_HZ, subtype="PCM_16")
    return path


CASES = ["text named .wav", "zero-byte mp3", "random bytes .flac", "truncated wav",
         "truncated mp3 with VBR tag", "ogg cut inside a page", "flac header only", "wav header without frames"]


@pytest.mark.parametrize("case", CASES)
def test_probe_rejects(tmp_path, real_file, case):
    path, reason = bad_files(tmp_path, real_file)[case]
    with pytest.raises(InvalidInput, match=reason):
        probe_audio(path)


@pytest.mark.parametrize("case", CASES)
def test_decode_rejects(tmp_path, real_file, case):
    path, reason = bad_files(tmp_path, real_file)[case]
    with pytest.raises(InvalidInput, match=reason):
        decode_audio(path)


def test_truncated_aiff_is_rejected(tmp_path):
    t = np.arange(SR_HZ) / SR_HZ
    whole = tmp_path / "tone.aiff"
    sf.write(str(whole), 0.5 * np.sin(2 * np.pi * 440 * t), SR_HZ, format="AIFF")
    with pytest.raises(InvalidInput, match="truncated: the AIFF header declares"):
        probe_audio(cut(whole, tmp_path / "cut.aiff", 0.6))


def test_ogg_cut_between_pages_is_rejected_and_whole_ones_pass(tmp_path, real_file):
    data = real_file(OGG).read_bytes()
    assert probe_audio(real_file(OGG)).format == "ogg"
    pages = [i for i in range(len(data)) if data.startswith(b"OggS", i)]
    # Cut where a page starts: every page before it is whole, but none ends the stream.
    path = write_bytes(tmp_path / "half.ogg", data[:pages[len(pages) // 2]])
    with pytest.raises(InvalidInput, match="the last Ogg page does not end the stream"):
        probe_audio(path)
    with pytest.raises(InvalidInput, match="ends 10 bytes into an Ogg page header"):
        probe_audio(write_bytes(tmp_path / "head.ogg", data[:pages[-1] + 10]))
    # Ogg Vorbis and Opus as libsndfile writes them end their stream.
    t = np.arange(2 * SR_HZ) / SR_HZ
    for subtype, sr_hz in (("VORBIS", SR_HZ), ("OPUS", 48000)):
        sf.write(str(tmp_path / f"{subtype}.ogg"), 0.3 * np.sin(2 * np.pi * 440 * t), sr_hz, format="OGG",
                 subtype=subtype)
        assert probe_audio(tmp_path / f"{subtype}.ogg").format == "ogg"


def test_mp3_cut_inside_a_frame_is_rejected_without_a_vbr_tag(tmp_path, real_file):
    from kellyd.music.audio_headers import id3v2_size, parse_mpeg_frame_header, vbr_tag_stream_bytes

    data = real_file("beatnet/808kick120bpm.mp3").read_bytes()
    first = id3v2_size(data) or 0
    # Drop the first frame, which holds the VBR (Info) tag: what is left is a plain run of frames.
    after_tag = first + parse_mpeg_frame_header(data[first:first + 4]).frame_bytes
    plain = data[after_tag:]
    assert vbr_tag_stream_bytes(plain[:512]) is None
    assert probe_audio(write_bytes(tmp_path / "plain.mp3", plain)).format == "mp3"
    id3v1 = b"TAG" + b"title".ljust(30, b"\0") + bytes(95)  # a 128-byte ID3v1 tag after the last frame
    assert probe_audio(write_bytes(tmp_path / "tagged.mp3", plain + id3v1)).format == "mp3"
    cut_path = write_bytes(tmp_path / "cut.mp3", plain[: len(plain) // 2 + 7])
    with pytest.raises(InvalidInput, match=r"truncated: the last MPEG frame declares \d+ bytes but only \d+ follow"):
        probe_audio(cut_path)


def test_cut_flac_fails_when_decoded(tmp_path, real_file):
    # A FLAC header gives no byte count, so the probe passes; the decoder then loses sync.
    path = cut(real_file("sonic_pi/loop_amen.flac"), tmp_path / "cut.flac", 0.5)
    assert probe_audio(path).format == "flac"
    with pytest.raises(InvalidInput, match="corrupt or truncated flac data"):
        decode_audio(path)


def test_float_wav_with_nan_is_rejected(tmp_path):
    samples = np.full(SR_HZ, 0.1, dtype=np.float32)
    samples[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), samples, SR_HZ, subtype="FLOAT")
    with pytest.raises(InvalidInput, match="NaN or infinite"):
        decode_audio(path)


def test_silent_wav_is_quarantined_with_reason(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(3 * 44100, np.float32), 44100, subtype="PCM_16")
    with pytest.raises(InvalidInput, match=r"^silent: 0\.00 s of 3\.00 s above -60 dBFS"):
        extract_audio_file(path)


@pytest.mark.parametrize(
    ("signal", "reason"),
    [
        (np.full(SR_HZ * 2, 0.5, np.float32), r"^silent"),  # DC offset only
        (np.random.default_rng(0).normal(0, 10 ** (-75 / 20), SR_HZ * 2).astype(np.float32), r"^silent"),
        (np.full(int(SR_HZ * 0.05), 0.5, np.float32), r"^too short: 0\.050 s"),
    ],
    ids=["dc-offset", "noise-at-75-dBFS", "50-ms"],
)
def test_no_usable_signal(signal, reason):
    with pytest.raises(InvalidInput, match=reason):
        extract_audio(signal, sr_hz=SR_HZ)


def test_nan_signal_is_invalid_input():
    y = np.zeros(SR_HZ, np.float32)
    y[5] = np.inf
    with pytest.raises(InvalidInput, match="NaN or infinite"):
        extract_audio(y, sr_hz=SR_HZ)


@pytest.mark.parametrize(
    ("y", "sr_hz", "message"),
    [
        (np.zeros((2, SR_HZ), np.float32), SR_HZ, "1-D float"),
        (np.zeros(SR_HZ, np.int16), SR_HZ, "1-D float"),
        (np.zeros(SR_HZ, np.float32), 4000, "at least 8000"),
        (np.zeros(SR_HZ, np.float32), 16000.0, "integer"),
    ],
)
def test_bad_arguments_are_value_errors(y, sr_hz, message):
    with pytest.raises(ValueError, match=message):
        extract_audio(y, sr_hz=sr_hz)


def test_unsupported_sample_rate_is_invalid_input(tmp_path):
    path = tmp_path / "slow.wav"
    sf.write(str(path), np.zeros(500, np.float32), 500, subtype="PCM_16")
    with pytest.raises(InvalidInput, match="unsupported wav stream: 500 Hz"):
        decode_audio(path)
