"""Peak chroma, tuning and key: synthetic tones with known pitch, and the labelled real clips."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kellyd.music.audio_chroma import (
    estimate_tuning_semitones,
    normalize_frames,
    peak_chroma,
    spectral_peaks,
)
from kellyd.music.audio_features import extract_audio_file
from kellyd.music.audio_key import MAJOR_PROFILE, MINOR_PROFILE, estimate_key, key_correlations
from kellyd.music.audio_spectral import stft_magnitude
from kellyd.taxonomy import PITCH_CLASS_NAMES

SR_HZ = 16000


def tones(freqs_hz, duration_s=2.0, harmonics=4):
    """A sum of harmonic tones (1/k partial amplitudes), float32."""
    t = np.arange(int(duration_s * SR_HZ)) / SR_HZ
    y = sum(0.1 / k * np.sin(2 * np.pi * k * f * t) for f in freqs_hz for k in range(1, harmonics + 1)
            if k * f < SR_HZ / 2)
    return y.astype(np.float32)


def midi_hz(note: int, a4_hz: float = 440.0) -> float:
    return a4_hz * 2 ** ((note - 69) / 12)


def chroma_profile(y, tuning=None):
    S = stft_magnitude(y)
    peaks = spectral_peaks(S, sr_hz=SR_HZ)
    if tuning is None:
        tuning = estimate_tuning_semitones(peaks)
    return peak_chroma(peaks, n_frames=S.shape[1], tuning_semitones=tuning).sum(axis=1)


@pytest.mark.parametrize("freq_hz", [61.7, 98.0, 146.8, 440.0, 1244.5])
def test_peak_frequency_is_refined_between_bins(freq_hz):
    peaks = spectral_peaks(stft_magnitude(tones([freq_hz], harmonics=1)), sr_hz=SR_HZ)
    loudest = np.median(peaks.freq_hz[peaks.magnitude > 0.5 * peaks.magnitude.max()])
    # 15.6 Hz bins; the parabola gets within a few tenths of a semitone even at 62 Hz.
    assert abs(12 * np.log2(loudest / freq_hz)) < 0.3


@pytest.mark.parametrize("note", [31, 36, 43, 52, 60, 69, 76])  # G1 .. E5
def test_low_notes_land_on_their_pitch_class(note):
    profile = chroma_profile(tones([midi_hz(note)]))
    assert int(np.argmax(profile)) == note % 12


@pytest.mark.parametrize("cents", [-40, -15, 0, 20, 45])
def test_tuning_is_estimated(cents):
    a4 = 440.0 * 2 ** (cents / 1200)
    y = tones([midi_hz(n, a4) for n in (57, 61, 64)])
    peaks = spectral_peaks(stft_magnitude(y), sr_hz=SR_HZ)
    assert 100 * estimate_tuning_semitones(peaks) == pytest.approx(cents, abs=6)


def test_quarter_tone_sharp_recording_keeps_its_pitch_classes():
    a4 = 440.0 * 2 ** (45 / 1200)  # 45 cents sharp: without tuning, half the partials would round up
    profile = chroma_profile(tones([midi_hz(n, a4) for n in (48, 52, 55)]))
    assert set(np.argsort(profile)[-3:]) == {0, 4, 7}


@pytest.mark.parametrize(("tonic", "mode"), [(0, "major"), (7, "major"), (9, "minor"), (3, "minor")])
def test_a_key_profile_finds_itself(tonic, mode):
    base = MAJOR_PROFILE if mode == "major" else MINOR_PROFILE
    key = estimate_key(np.roll(base, tonic))
    assert (key.tonic, key.mode) == (PITCH_CLASS_NAMES[tonic], mode)
    assert key.correlation == pytest.approx(1.0) and key.confidence == pytest.approx(1.0)
    assert key.margin > 0


def test_flat_profile_has_no_key():
    assert estimate_key(np.zeros(12)) is None
    assert estimate_key(np.full(12, 3.0)) is None
    assert not np.any(key_correlations(np.ones(12)))


@pytest.mark.parametrize("bad", [np.ones(11), np.full(12, np.nan)])
def test_bad_profiles_are_rejected(bad):
    with pytest.raises(ValueError, match="profile"):
        estimate_key(bad)


@pytest.mark.parametrize(
    ("notes", "tonic", "mode"),
    [((48, 52, 55, 60, 64), "C", "major"),  # C major triad, doubled
     ((45, 48, 52, 57, 60), "A", "minor"),  # A minor triad
     ((43, 47, 50, 55, 59), "G", "major")],
)
def test_synthetic_chords(notes, tonic, mode):
    key = estimate_key(chroma_profile(tones([midi_hz(n) for n in notes])))
    assert (key.tonic, key.mode) == (tonic, mode)


def test_normalize_frames():
    chroma = np.array([[2.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(normalize_frames(chroma), np.array([[1.0, 0.0], [0.5, 0.0]], np.float32))


# Sonic Pi sample names (CC0): the drone is named G; the guitar chord Em9; the bass hit F.
@pytest.mark.parametrize(
    ("relative", "tonic", "mode"),
    [("sonic_pi/loop_drone_g_97.flac", "G", None),  # a drone on G and D: no third, so no mode to check
     ("sonic_pi/guit_em9.flac", "E", "minor"),
     ("sonic_pi/bass_dnb_f.flac", "F", None)],
)
def test_key_of_labelled_clips(corpus, tmp_path, relative, tonic, mode):
    path = tmp_path / relative.split("/")[-1]
    shutil.copyfile(corpus / relative, path)
    labels = extract_audio_file(path).labels
    assert labels["key"] == tonic
    if mode is not None:
        assert labels["mode"] == mode
    assert labels["key_confidence"] >= 0.7


# Dagstuhl ChoirSet (CC BY 4.0), quartet B take 4: a second of four singers, each on a microphone
# of their own, with the score's notes per voice; they open on a C major chord (C5, E4, G3, C3).
CHOIR = "audio_more/mirdata_dagstuhl_choirset/dagstuhl_choirset"
CHOIR_TAKE = "DCS_LI_QuartetB_Take04"


def scored_pitch_class_weights(corpus, voices: str, duration_s: float) -> np.ndarray:
    """Seconds each pitch class is scored for `voices` within the first `duration_s` of the take."""
    weights = np.zeros(12)
    for voice in voices:
        score = corpus / CHOIR / "annotations_csv_scorerepresentation" / f"{CHOIR_TAKE}_Stereo_STM_{voice}.csv"
        notes = np.loadtxt(score, delimiter=",", ndmin=2)  # onset_s, offset_s, MIDI pitch
        overlap_s = np.clip(np.minimum(notes[:, 1], duration_s) - np.maximum(notes[:, 0], 0.0), 0.0, None)
        weights += np.bincount(notes[:, 2].astype(int) % 12, weights=overlap_s, minlength=12)
    return weights


def choir_chroma(corpus, tmp_path, mic: str) -> tuple[np.ndarray, dict, float]:
    path = tmp_path / f"{mic}.wav"
    shutil.copyfile(corpus / CHOIR / "audio_wav_22050_mono" / f"{CHOIR_TAKE}_{mic}.wav", path)
    extracted = extract_audio_file(path)
    return np.array(extracted.scalars["chroma_mean"]), extracted.labels, extracted.scalars["analysed_s"]


@pytest.mark.parametrize(("mic", "voice"), [("S1_DYN", "S"), ("A2_DYN", "A"), ("T2_DYN", "T"), ("B2_DYN", "B")])
def test_each_singers_microphone_peaks_at_the_scored_pitch_class(corpus, tmp_path, mic, voice):
    chroma_mean, _, duration_s = choir_chroma(corpus, tmp_path, mic)
    scored = scored_pitch_class_weights(corpus, voice, duration_s)
    assert PITCH_CLASS_NAMES[int(np.argmax(chroma_mean))] == PITCH_CLASS_NAMES[int(np.argmax(scored))]


def test_room_microphone_chroma_agrees_with_the_score(corpus, tmp_path):
    """The room microphone hears the whole chord: chroma against the four voices' notes, duration-weighted."""
    chroma_mean, labels, duration_s = choir_chroma(corpus, tmp_path, "Stereo_STM")
    reference = scored_pitch_class_weights(corpus, "SATB", duration_s)
    assert np.corrcoef(chroma_mean, reference)[0, 1] >= 0.7  # measured 0.76
    assert (labels["key"], labels["mode"]) == ("C", "major")
