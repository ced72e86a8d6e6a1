"""The emotion model's input: key-relative pitch, causality, mode, and what bad notes get."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.emotion_input import FRAME_NAMES, FRAME_S, NoteEvents, emotion_frames
from tests.music.emotion_pieces import piece

PITCH_CLASS_PART = [i for i, n in enumerate(FRAME_NAMES)
                    if n.split("running_")[-1].startswith(("degree_", "chord_", "dissonance", "in_key", "mode_",
                                                           "key_clarity"))]
PITCH_MEAN = FRAME_NAMES.index("pitch_mean")


@pytest.mark.parametrize("semitones", [-5, -1, 2, 6])
@pytest.mark.parametrize("mode", ["major", "minor"])
def test_pitch_classes_are_read_relative_to_the_key(mode, semitones):
    events = piece(mode, 2, bpm=100, velocity=80, octave=5)
    frames = emotion_frames(events)
    moved = emotion_frames(events.transposed(semitones))
    assert frames.shape == moved.shape
    np.testing.assert_allclose(moved[:, PITCH_CLASS_PART], frames[:, PITCH_CLASS_PART], atol=1e-6)
    # Register is not key-relative: it moves with the notes.
    sounding = frames[:, FRAME_NAMES.index("silence")] == 0
    np.testing.assert_allclose(moved[sounding, PITCH_MEAN] - frames[sounding, PITCH_MEAN], semitones / 127, atol=1e-5)


def test_the_degrees_of_a_piece_do_not_depend_on_its_key():
    in_c = emotion_frames(piece("major", 0, bpm=100, velocity=80, octave=5, seed=3))
    in_a_flat = emotion_frames(piece("major", 8, bpm=100, velocity=80, octave=4, seed=3))
    degrees = [FRAME_NAMES.index(f"running_degree_{d}") for d in range(12)]
    np.testing.assert_allclose(in_c[-1, degrees], in_a_flat[-1, degrees], atol=1e-6)
    assert in_c[-1, degrees][[0, 4, 7]].sum() > 0.5  # the tonic triad of the signature's major key


def test_the_mode_evidence_tells_major_from_minor():
    mode = FRAME_NAMES.index("mode_major_minus_minor")
    assert emotion_frames(piece("major", 7, bpm=100, velocity=80, octave=5))[-1, mode] > 0
    assert emotion_frames(piece("minor", 9, bpm=100, velocity=80, octave=5))[-1, mode] < 0


def test_a_frame_uses_only_what_is_known_when_it_ends():
    events = piece("minor", 4, bpm=132, velocity=90, octave=5, seconds=20.0)
    full = emotion_frames(events)
    cut_s = 10.25  # inside a frame: every frame before it has ended
    heard = events.start_s < cut_s
    so_far = NoteEvents(events.start_s[heard], np.minimum(events.end_s[heard], cut_s), events.pitch[heard],
                        events.velocity[heard])
    n = int(cut_s // FRAME_S)
    np.testing.assert_array_equal(emotion_frames(so_far)[:n], full[:n])


def test_tempo_loudness_and_register_show():
    slow_soft_low = emotion_frames(piece("major", 0, bpm=60, velocity=40, octave=3))[-1]
    fast_loud_high = emotion_frames(piece("major", 0, bpm=150, velocity=110, octave=6))[-1]
    for name in ("running_onsets_per_s_log", "running_velocity_mean", "running_pitch_mean"):
        i = FRAME_NAMES.index(name)
        assert fast_loud_high[i] > slow_soft_low[i], name


def test_frames_cover_the_piece_and_are_finite():
    events = piece("major", 5, bpm=90, velocity=70, octave=5, seconds=8.0)
    frames = emotion_frames(events)
    assert frames.shape == (int(np.ceil(events.end_s.max() / FRAME_S)), len(FRAME_NAMES))
    assert frames.dtype == np.float32 and np.all(np.isfinite(frames))


def test_no_notes_give_no_frames():
    empty = NoteEvents(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
    assert emotion_frames(empty).shape == (0, len(FRAME_NAMES))


@pytest.mark.parametrize("start_s", [[-1.0, 0.5], [np.nan, 0.5], [0.0, np.inf]])
def test_bad_note_times_are_refused(start_s):
    events = NoteEvents(np.array(start_s), np.array([1.0, 2.0]), np.array([60, 64]), np.array([80.0, 80.0]))
    with pytest.raises(ValueError, match="note times"):
        emotion_frames(events)


def test_note_arrays_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        NoteEvents(np.zeros(2), np.ones(3), np.zeros(2, dtype=np.int64), np.zeros(2))


def test_a_stretch_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        piece("major", 0, bpm=90, velocity=70, octave=5).stretched(0.0)


def test_drums_count_as_drums_and_are_never_transposed():
    hits_s = np.arange(0.0, 6.0, 0.25)
    drums = NoteEvents(hits_s, hits_s + 0.1, np.full(len(hits_s), 36), np.full(len(hits_s), 100.0),
                       np.ones(len(hits_s), dtype=bool))
    frames = emotion_frames(drums)
    assert frames.shape[0] == 12 and np.all(np.isfinite(frames))
    assert np.all(frames[:, FRAME_NAMES.index("silence")] == 1.0)  # no pitched note sounds
    np.testing.assert_allclose(frames[:, FRAME_NAMES.index("drum_onsets_per_s_log")], np.log1p(2 / FRAME_S), rtol=1e-6)  # two hits a frame
    np.testing.assert_allclose(frames[:, FRAME_NAMES.index("drum_velocity_mean")], 100 / 127, rtol=1e-6)
    np.testing.assert_allclose(frames[:, FRAME_NAMES.index("drum_kick_per_s_log")], np.log1p(2 / FRAME_S), rtol=1e-6)
    assert not frames[:, FRAME_NAMES.index("drum_snare_per_s_log")].any()  # pitch 36 is a kick
    np.testing.assert_allclose(frames[1:, FRAME_NAMES.index("drum_ioi_log")], np.log(0.25), rtol=1e-5)
    np.testing.assert_array_equal(drums.transposed(3).pitch, drums.pitch)
    np.testing.assert_array_equal(emotion_frames(drums.transposed(3)), frames)
