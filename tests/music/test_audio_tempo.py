"""Tempo and beats: synthetic click tracks, degenerate envelopes, and floors on the labelled real clips."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from kellyd.music.audio_features import extract_audio_file
from kellyd.music.audio_io import decode_audio
from kellyd.music.audio_spectral import HOP_LENGTH, mel_db, stft_magnitude
from kellyd.music.audio_tempo import (
    MIN_TEMPO_DURATION_S,
    envelope_autocorrelation,
    estimate_tempo,
    estimate_tempo_bpm,
    onset_envelope,
    tempo_prior,
)
from kellyd.music.mir_scores import tempo_acc1, tempo_acc2

SR_HZ = 16000
FRAME_RATE_HZ = SR_HZ / HOP_LENGTH


def click_track(bpm: float, duration_s: float, *, offset_s: float = 0.25, accent_every: int = 4) -> np.ndarray:
    """Decaying 1 kHz clicks on every beat, louder on the first of each bar."""
    y = np.zeros(int(duration_s * SR_HZ), np.float32)
    click_t = np.arange(int(0.03 * SR_HZ)) / SR_HZ
    click = (np.sin(2 * np.pi * 1000 * click_t) * np.exp(-click_t / 0.008)).astype(np.float32)
    for i, start_s in enumerate(np.arange(offset_s, duration_s - 0.05, 60.0 / bpm)):
        at = int(start_s * SR_HZ)
        gain = 0.8 if i % accent_every == 0 else 0.5
        y[at:at + len(click)] += gain * click[: len(y) - at]
    return y


def envelope_of(y: np.ndarray) -> np.ndarray:
    return onset_envelope(mel_db(stft_magnitude(y) ** 2, sr_hz=SR_HZ))


@pytest.mark.parametrize("bpm", [72.0, 97.0, 120.0, 140.0, 174.0])
def test_click_track_tempo_and_beats(bpm):
    y = click_track(bpm, 10.0)
    result = estimate_tempo(envelope_of(y), sr_hz=SR_HZ, hop_length=HOP_LENGTH)
    assert tempo_acc1(result.tempo_bpm, bpm)
    assert result.confidence > 0.3
    clicks_s = np.arange(0.25, 10.0 - 0.05, 60.0 / bpm)
    # Tracked beats sit on the clicks (a frame is 16 ms); the tracker may misplace one at the very end.
    nearest = np.abs(result.beat_times_s[:, None] - clicks_s[None, :]).min(axis=1)
    assert len(result.beat_times_s) >= 0.9 * len(clicks_s)
    assert np.mean(nearest < 0.02) >= 0.9


def test_onset_envelope_shape_and_sign():
    env = envelope_of(click_track(120.0, 3.0))
    assert env.dtype == np.float32 and env[0] == 0.0 and np.all(env >= 0.0)
    assert len(env) == 1 + 3 * SR_HZ // HOP_LENGTH


@pytest.mark.parametrize(
    "envelope",
    [np.zeros(500, np.float32), np.full(500, 2.0, np.float32)],
    ids=["zeros", "constant"],
)
def test_flat_envelope_has_no_tempo(envelope):
    assert envelope_autocorrelation(envelope) is None
    result = estimate_tempo(envelope, sr_hz=SR_HZ, hop_length=HOP_LENGTH)
    assert result.tempo_bpm is None and result.confidence == 0.0 and len(result.beat_times_s) == 0


def test_short_clip_has_no_tempo():
    y = click_track(120.0, MIN_TEMPO_DURATION_S * 0.9)
    assert estimate_tempo_bpm(envelope_of(y), frame_rate_hz=FRAME_RATE_HZ) == (None, 0.0)


def test_prior_peaks_at_120():
    weights = tempo_prior(np.array([60.0, 120.0, 240.0]))
    assert weights[1] == 1.0 and weights[0] == pytest.approx(weights[2])


def test_frame_rate_is_validated():
    with pytest.raises(ValueError, match="frame_rate_hz"):
        estimate_tempo_bpm(np.zeros(10, np.float32), frame_rate_hz=0.0)


def placed_hits(hits: list[np.ndarray], onsets_s: np.ndarray, gaps_s: np.ndarray) -> np.ndarray:
    """`hits` in turn at `onsets_s`, each cut (with a 20 ms fade) before the next one starts."""
    fade = np.linspace(1.0, 0.0, int(0.02 * SR_HZ), dtype=np.float32)
    y = np.zeros(int((onsets_s[-1] + 0.6) * SR_HZ), np.float32)
    for i, (onset_s, gap_s) in enumerate(zip(onsets_s, gaps_s)):
        hit = hits[i % len(hits)][: int(0.8 * gap_s * SR_HZ)].copy()
        hit[-len(fade):] *= fade
        at = int(onset_s * SR_HZ)
        y[at:at + len(hit)] += 0.6 * hit
    return y


def test_envelope_peaks_sit_on_known_onsets(corpus, tmp_path):
    """Real recorded hits (the Sonic Pi bass hit and Amen break, CC0) placed at 15 irregular, known times."""
    hits = [decode_audio(corpus / "sonic_pi" / name, sr_hz=SR_HZ) for name in ("bass_dnb_f.flac", "loop_amen.flac")]
    gaps_s = np.random.default_rng(0).uniform(0.18, 0.45, 15)
    onsets_s = 0.3 + np.concatenate(([0.0], np.cumsum(gaps_s[:-1])))
    path = tmp_path / "hits.wav"
    sf.write(str(path), placed_hits(hits, onsets_s, gaps_s), SR_HZ, subtype="PCM_16")
    envelope = envelope_of(decode_audio(path, sr_hz=SR_HZ))
    peaks, _ = scipy.signal.find_peaks(envelope, height=0.2 * envelope.max(), distance=3)
    peak_s = peaks * HOP_LENGTH / SR_HZ
    error_s = np.array([peak_s[np.argmin(np.abs(peak_s - onset))] - onset for onset in onsets_s])
    assert np.all(np.abs(error_s) < 0.05)
    assert abs(np.median(error_s)) < 0.012  # within one frame (16 ms)


def labelled_tempo_clips(corpus) -> list[tuple[str, float]]:
    """(relative path, reference bpm) of the real clips with a tempo label."""
    clips = [("beatnet/808kick120bpm.mp3", 120.0)]
    with open(corpus / "sonic_pi" / "labels.csv", newline="") as f:
        clips += [(f"sonic_pi/{row['file']}", float(row["tempo_bpm"])) for row in csv.DictReader(f) if row["tempo_bpm"]]
    return clips


@pytest.fixture(scope="module")
def real_tempi(corpus, tmp_path_factory) -> dict[str, tuple[float | None, float]]:
    root = tmp_path_factory.mktemp("tempo_clips")
    found = {}
    for relative, reference in labelled_tempo_clips(corpus):
        path = root / relative.replace("/", "__")
        shutil.copyfile(corpus / relative, path)
        found[relative] = (extract_audio_file(path).labels["tempo_bpm"], reference)
    return found


def test_the_808_pattern_is_120_bpm(real_tempi):
    estimate, reference = real_tempi["beatnet/808kick120bpm.mp3"]
    assert tempo_acc1(estimate, reference)


def test_sonic_pi_loops_floor(real_tempi):
    """Weak labels (derived from loop length): acc2 is the fair measure; bench/accuracy_audio.py prints the table."""
    loops = {k: v for k, v in real_tempi.items() if k.startswith("sonic_pi/")}
    assert len(loops) == 11
    acc1 = sum(e is not None and tempo_acc1(e, r) for e, r in loops.values())
    acc2 = sum(e is not None and tempo_acc2(e, r) for e, r in loops.values())
    # Measured 6/11 acc1 and 7/11 acc2 (see the bench); two loops are near-ties between tempi
    # a 4:3 apart, so the floors leave one clip of slack.
    assert acc2 >= 6
    assert acc1 >= 5
