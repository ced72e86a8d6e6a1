from __future__ import annotations

import pytest

from kellyd import taxonomy as t


@pytest.mark.parametrize("folder, kind, value", [
    ("happy", "emotion", "happy"), ("01-Happy", "emotion", "happy"), ("Q1_joy", "emotion", "joy"),
    ("Moral Disgust", "emotion", "moral_disgust"), ("moral-disgust", "emotion", "moral_disgust"),
    ("calm", "emotion", "calm"), ("Melancholic", "emotion", "melancholic"), ("sadness", "emotion", "sad"),
    ("swing", "groove_type", "swing"), ("Laid Back", "groove_type", "laid_back"),
    ("Drums", "instrument", "drums"), ("vocal", "instrument", "vocals"),
    ("C_major", "key", "C:major"), ("a-minor", "key", "A:minor"), ("F#_min", "key", "F#:minor"),
    ("Bb major", "key", "Bb:major"), ("funk", "tag", "funk"), ("rock shuffle", "tag", "rock_shuffle"),
])
def test_read_folder(folder, kind, value):
    found = t.read_folder(folder)
    assert (found.kind, found.value) == (kind, value)


@pytest.mark.parametrize("folder", ["base", "Base", "", "  "])
def test_neutral_folders_carry_no_label(folder):
    assert t.read_folder(folder) is None


def test_taxonomy_has_six_bases_with_six_subs_each_and_values_in_range():
    assert t.BASE_EMOTION_NAMES == ("happy", "sad", "angry", "fear", "surprise", "disgust")
    assert all(len(t.SUB_EMOTIONS_OF[b]) == 6 for b in t.BASE_EMOTION_NAMES)
    for e in t.EMOTIONS.values():
        assert -1 <= e.valence <= 1 and 0 <= e.arousal <= 1, e
    for sub in t.SUB_EMOTIONS:
        base = t.EMOTIONS[sub.base]
        assert (sub.valence, sub.arousal) != (base.valence, base.arousal), sub.name


def test_unknown_emotion_names_the_value():
    with pytest.raises(KeyError, match="elation"):
        t.emotion("elation")
