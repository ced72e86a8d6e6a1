from __future__ import annotations

import pytest

from kellyd.routing import Roots, Route, is_ignored, route

ROOTS = Roots(inbox="/r/inbox", staging="/h/.kelly", staging_dataset="emo", datasets=frozenset({"emo", "groove"}))
IGNORE = (".*", "*~", "*.part", "*.crdownload", "*.tmp", "*.json")


@pytest.mark.parametrize("path, expected", [
    ("/r/inbox/emo/happy/piano/a.mid", Route("emo", ("happy", "piano"), False)),
    ("/r/inbox/groove/a.mid", Route("groove", (), False)),
    ("/r/inbox/unknown/happy/a.mid", None),
    ("/r/inbox/a.mid", None),
    ("/r/inbox/emo/.hidden/a.mid", None),
    ("/h/.kelly/emotion_samples/happy/drums/1_x.mp3", Route("emo", ("happy", "drums"), True)),
    ("/h/.kelly/emotion_samples/happy/base/drums/1_x.mp3", Route("emo", ("happy", "base", "drums"), True)),
    ("/h/.kelly/freesound_config.json", None),
    ("/elsewhere/a.mid", None),
])
def test_route(path, expected):
    assert route(path, ROOTS) == expected


def test_staging_not_routed_without_a_dataset():
    roots = Roots(inbox="/r/inbox", staging="/h/.kelly", staging_dataset=None, datasets=frozenset({"emo"}))
    assert route("/h/.kelly/emotion_samples/happy/drums/1_x.mp3", roots) is None


@pytest.mark.parametrize("name, ignored", [
    ("song.mid", False), ("song.mid.part", True), ("song.crdownload", True), ("x.tmp", True), ("song.mid~", True),
    (".song.mid", True), ("song.mid.json", True), ("Song.MID", False), ("ドラム 1.mid", False),
])
def test_temporary_and_metadata_names_are_ignored(name, ignored):
    assert is_ignored(f"/r/inbox/emo/{name}", IGNORE) is ignored
