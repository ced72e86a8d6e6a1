"""The path policy on real files: links refused (never read), names fitted to NAME_MAX, bad names escaped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kellyd.errors import InvalidInput
from kellyd.pathpolicy import NAME_MAX_BYTES, PathRefused, display, fit_name, open_regular, refusal
from kellyd.quarantine import quarantine_file
from kellyd.scan import walk_files


@pytest.mark.parametrize("name, max_bytes", [
    ("short.mid", 50),
    ("x" * 255, 241),
    ("é" * 127 + ".mid", 200),   # two-byte characters: the cut must not split one
    ("日本語" * 40 + ".flac", 100),
    ("no-extension-" + "y" * 300, 64),
])
def test_fit_name_fits_keeps_extension_and_start(name, max_bytes):
    fitted = fit_name(name, max_bytes)
    assert len(fitted.encode("utf-8")) <= max_bytes
    if len(name.encode()) <= max_bytes:
        assert fitted == name
    else:
        assert fitted[:3] == name[:3] and os.path.splitext(fitted)[1] == os.path.splitext(name)[1]


def test_fit_name_keeps_two_long_names_apart():
    a, b = "a" * 250 + "1.mid", "a" * 250 + "2.mid"
    assert fit_name(a, 100) != fit_name(b, 100)


def test_display_escapes_bytes_that_are_not_utf8():
    bad = os.fsdecode(b"/in/bad\xff.mid")
    shown = display(bad)
    assert shown == "/in/bad\\xff.mid"
    shown.encode("utf-8")
    assert refusal(bad, os.lstat(__file__)) is not None and "not valid UTF-8" in refusal(bad, os.lstat(__file__))


@pytest.mark.parametrize("make, words", [
    (lambda d: os.symlink(d / "target.mid", d / "it"), "to a file"),
    (lambda d: os.symlink(d, d / "it"), "to a folder"),
    (lambda d: os.symlink("it", d / "it"), "in a loop"),
    (lambda d: os.symlink(d / "missing", d / "it"), "dangling"),
])
def test_links_are_refused_without_being_opened(tmp_path, make, words):
    (tmp_path / "target.mid").write_bytes(b"MThd secret")
    make(tmp_path)
    link = tmp_path / "it"
    reason = refusal(str(link), os.lstat(link))
    assert reason is not None and words in reason and "not followed" in reason
    with pytest.raises(PathRefused) as caught:
        open_regular(link).close()
    assert isinstance(caught.value, InvalidInput) and "not followed" in caught.value.reason


def test_open_regular_refuses_a_pipe_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.mid")
    with pytest.raises(PathRefused, match="not a regular file"):
        open_regular(tmp_path / "pipe.mid")


def test_quarantined_link_records_its_target_and_reads_nothing(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"TOPSECRET")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.symlink(secret, inbox / "song.mid")
    entry = quarantine_file(inbox / "song.mid", quarantine_root=tmp_path / "q", dataset_id="d", handler="import",
                            reason="symbolic link to a file: not followed", at=0.0, copy=False,
                            origin_path=str(inbox / "song.mid"))
    error = json.loads(Path(entry.quarantine_path + ".error.json").read_text())
    assert error["file"] is None and error["link_target"] == str(secret)
    assert not os.path.lexists(inbox / "song.mid") and secret.read_bytes() == b"TOPSECRET"
    assert [p.name for p in (tmp_path / "q" / "d").iterdir()] == [Path(entry.quarantine_path).name + ".error.json"]


def test_quarantine_names_fit_name_max_with_their_error_json(tmp_path):
    bad = os.fsencode(tmp_path) + b"/" + b"\xfe" * 60 + b"z" * 190 + b".mid"  # 254 bytes, escapes to more
    with open(bad, "wb") as f:
        f.write(b"junk")
    entry = quarantine_file(Path(os.fsdecode(bad)), quarantine_root=tmp_path / "q", dataset_id="d", handler="import",
                            reason="r", at=0.0, copy=False, origin_path=os.fsdecode(bad))
    kept = Path(entry.quarantine_path)
    assert kept.read_bytes() == b"junk"
    assert len((kept.name + ".error.json").encode()) <= NAME_MAX_BYTES
    entry.origin_path.encode("utf-8")


def test_walk_reports_links_and_skips_what_it_cannot_enter(tmp_path):
    (tmp_path / "a.mid").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "loop-dir")
    os.symlink("self", tmp_path / "self")
    found = sorted(e.name for e in walk_files(tmp_path))
    assert found == ["a.mid", "loop-dir", "self"]  # the linked folder is reported, never entered
