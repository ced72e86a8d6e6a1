"""The feature vector layout and the piano rolls."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.midi_vector import (
    FEATURE_BLOCKS,
    FEATURE_NAMES,
    FEATURE_SIZE,
    MAX_ROLL_FRAMES,
    feature_vector,
    one_hot,
    piano_roll,
    roll_frames,
)


def zeros_for_every_block() -> dict[str, np.ndarray]:
    return {block: np.zeros(len(names)) for block, names in FEATURE_BLOCKS}


def test_every_slot_has_a_unique_name():
    assert len(FEATURE_NAMES) == FEATURE_SIZE == len(set(FEATURE_NAMES))
    assert "key_tonic_F#" in FEATURE_NAMES and "groove_type_laid_back" in FEATURE_NAMES
    assert "interval_-12" in FEATURE_NAMES and "interval_+12" in FEATURE_NAMES


def test_the_documented_size_matches_the_layout():
    import kellyd.music.midi_vector as module

    assert f"`FEATURE_SIZE` = {FEATURE_SIZE})" in module.__doc__


def test_values_land_in_their_named_slots():
    values = zeros_for_every_block()
    values["tempo_bpm"] = 97.0
    values["key_tonic"] = one_hot(6, 12)
    vec = feature_vector(values)
    assert vec.dtype == np.float32 and vec.shape == (FEATURE_SIZE,)
    assert vec[FEATURE_NAMES.index("tempo_bpm")] == 97.0
    assert vec[FEATURE_NAMES.index("key_tonic_F#")] == 1.0
    assert vec.sum() == 98.0


def test_a_missing_or_extra_block_is_named():
    values = zeros_for_every_block()
    del values["syncopation"]
    values["mystery"] = 1.0
    with pytest.raises(ValueError, match="syncopation.*mystery"):
        feature_vector(values)


def test_a_block_of_the_wrong_size_is_named():
    values = zeros_for_every_block()
    values["pitch_class"] = np.zeros(11)
    with pytest.raises(ValueError, match="pitch_class"):
        feature_vector(values)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_value_is_refused(bad):
    values = zeros_for_every_block()
    values["grid_fit"] = bad
    with pytest.raises(ValueError, match="grid_fit"):
        feature_vector(values)


def test_one_hot():
    assert one_hot(2, 4).tolist() == [0, 0, 1, 0]
    assert one_hot(None, 3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="5"):
        one_hot(5, 5)


def test_roll_frames_cover_the_sixteenths_a_note_sounds_in():
    first, last = roll_frames(np.array([0.0, 1.25, 2.0]), np.array([1.0, 1.3, 2.0]), 0.0)
    assert first.tolist() == [0, 5, 8]
    assert last.tolist() == [3, 5, 8]  # a quarter note fills 4 frames; short notes keep their onset frame


def test_piano_roll_keeps_the_loudest_velocity_per_cell():
    roll = piano_roll(np.array([60, 60, 64]), np.array([50, 90, 70]), np.array([0, 2, 1]), np.array([3, 2, 1]), 6)
    assert roll.shape == (128, 6) and roll.dtype == np.uint8
    assert roll[60].tolist() == [50, 50, 90, 50, 0, 0]
    assert roll[64].tolist() == [0, 70, 0, 0, 0, 0]


def test_piano_roll_is_capped():
    roll = piano_roll(np.array([60]), np.array([80]), np.array([0]), np.array([MAX_ROLL_FRAMES + 100]), MAX_ROLL_FRAMES + 200)
    assert roll.shape == (128, MAX_ROLL_FRAMES)
    assert roll[60].min() == 80


def test_piano_roll_refuses_negative_frame_counts():
    with pytest.raises(ValueError, match="-1"):
        piano_roll(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), -1)
