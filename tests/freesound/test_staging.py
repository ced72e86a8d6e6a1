from __future__ import annotations

from pathlib import Path

import pytest

from kellyd.freesound.staging import (
    audio_file_name, combination_dir, part_path, safe_name, sidecar_path, tidy_staging,
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Rain Piano.wav", "rain_piano"),
        ("  Crème brûlée -- Guitar (take 2).FLAC ", "creme_brulee_guitar_take_2"),
        ("../../etc/passwd", "etc_passwd"),
        ("日本語", "sound"),
        ("", "sound"),
        ("a" * 100, "a" * 60),
    ],
)
def test_safe_names(name, expected):
    assert safe_name(name) == expected


def test_names_and_paths_follow_the_staging_layout(tmp_path):
    folder = combination_dir(tmp_path, "happy", "piano")
    assert folder == tmp_path / "emotion_samples" / "happy" / "piano"
    final = folder / audio_file_name(1234, "Rain Piano.wav", "MP3")
    assert final.name == "1234_rain_piano.mp3"
    assert part_path(final, 1234).name == ".1234.mp3.part"
    assert sidecar_path(final).name == "1234_rain_piano.mp3.json"


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_tidy_removes_leftovers_and_lists_staged_files(tmp_path):
    folder = combination_dir(tmp_path, "sad", "guitar")
    part = _touch(folder / ".12.mp3.part")
    temp_sidecar = _touch(folder / ".12_x.mp3.json.abc123.tmp")
    orphan = _touch(folder / "12_x.mp3.json", b"{}")              # died between the two renames
    kept_sidecar = _touch(folder / "13_y.mp3.json", b"{}")        # its audio was taken by the daemon
    staged = _touch(folder / "14_z.mp3", b"abc")
    _touch(folder / "14_z.mp3.json", b"{}")
    user_file = _touch(folder / "notes.txt")

    tidy = tidy_staging(tmp_path, is_downloaded=lambda sound_id: sound_id == 13)

    assert set(tidy.removed) == {part, temp_sidecar, orphan}
    assert not part.exists() and not orphan.exists() and not temp_sidecar.exists()
    assert kept_sidecar.exists() and user_file.exists() and staged.exists()
    assert [(f.freesound_id, f.emotion, f.instrument, f.size_bytes) for f in tidy.staged] == [(14, "sad", "guitar", 3)]


def test_tidy_of_a_missing_staging_area_does_nothing(tmp_path):
    tidy = tidy_staging(tmp_path / "nowhere", is_downloaded=lambda _: False)
    assert tidy.removed == () and tidy.staged == ()
