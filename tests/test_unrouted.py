"""What the inbox holds outside every dataset's folder: found on real folders, with a reason each."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from kellyd.unrouted import Unrouted, make_inbox_folder, unrouted_entries

DATASETS = {"emo", "groove"}
IGNORE = (".*", "*~", "*.part", "*.tmp")


def reasons(inbox: Path) -> dict[str, str]:
    return {Path(e.path).name: e.reason for e in unrouted_entries(inbox, DATASETS, IGNORE)}


def test_dataset_folders_hidden_and_ignored_names_are_not_listed(tmp_path):
    for name in ("emo", "groove", ".git"):
        (tmp_path / name).mkdir()
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "download.part").write_bytes(b"x")
    assert unrouted_entries(tmp_path, DATASETS, IGNORE) == []


def test_a_file_dropped_into_the_inbox_itself(tmp_path):
    (tmp_path / "song.mid").write_bytes(b"MThd")
    assert reasons(tmp_path) == {
        "song.mid": "a file directly in the inbox: files go into a dataset's folder, inbox/<dataset>/ (datasets: emo, groove)"}


def test_a_folder_named_after_no_dataset(tmp_path):
    (tmp_path / "grove").mkdir()
    (tmp_path / "grove" / "a.mid").write_bytes(b"MThd")
    reason = reasons(tmp_path)["grove"]
    assert reason.startswith("no dataset is named 'grove' (datasets: emo, groove)")
    assert "kellyd dataset create" in reason
    assert (tmp_path / "grove" / "a.mid").exists()


def test_a_dataset_folder_that_is_a_link_is_named_as_the_datasets_inbox(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "emo")
    os.symlink(tmp_path / "nowhere", tmp_path / "groove")
    found = reasons(tmp_path)
    assert found["emo"].startswith("the inbox of dataset 'emo' is a symbolic link to a folder: not followed")
    assert found["groove"].startswith("the inbox of dataset 'groove' is a symbolic link that points nowhere (dangling)")
    assert "make it a real folder" in found["emo"]


def test_a_link_named_after_no_dataset(tmp_path):
    (tmp_path / "emo").mkdir()
    os.symlink(tmp_path / "emo", tmp_path / "music")
    assert reasons(tmp_path)["music"] == (
        "symbolic link to a folder, and no dataset is named 'music' (datasets: emo, groove): not followed")


def test_a_file_where_a_datasets_folder_should_be(tmp_path):
    (tmp_path / "emo").write_bytes(b"MThd")
    assert reasons(tmp_path)["emo"].startswith("not a folder: dataset 'emo' takes its files from a folder of this name")


def test_a_pipe_and_a_socket_are_named_as_such(tmp_path):
    os.mkfifo(tmp_path / "pipe.mid")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.mid"))
    try:
        found = reasons(tmp_path)
    finally:
        sock.close()
    assert found["pipe.mid"] == found["sock.mid"] == "neither a file nor a folder (a pipe, socket or device is never read)"


def test_a_name_that_is_not_utf8_is_shown_escaped(tmp_path):
    os.mkdir(os.fsencode(tmp_path) + b"/caf\xe9")
    (entry,) = unrouted_entries(tmp_path, DATASETS, IGNORE)
    assert entry.path.endswith("caf\\xe9")
    assert "'caf\\\\xe9'" in entry.reason
    entry.path.encode("utf-8")  # what leaves the process can always be encoded


def test_an_inbox_that_cannot_be_listed_gives_nothing(tmp_path):
    assert unrouted_entries(tmp_path / "missing", DATASETS) == []
    (tmp_path / "file").write_bytes(b"x")
    assert unrouted_entries(tmp_path / "file", DATASETS) == []


def test_entries_are_values_with_a_json_form():
    entry = Unrouted("/in/x.mid", "why")
    assert entry == Unrouted("/in/x.mid", "why") and len({entry, Unrouted("/in/x.mid", "why")}) == 1
    assert entry.to_json() == {"path": "/in/x.mid", "reason": "why"}


def test_make_inbox_folder_creates_the_folder_or_leaves_what_holds_the_name(tmp_path):
    assert make_inbox_folder(tmp_path / "emo") is None
    assert (tmp_path / "emo").is_dir()
    assert make_inbox_folder(tmp_path / "emo") is None  # already there
    (tmp_path / "groove").write_bytes(b"MThd")
    assert make_inbox_folder(tmp_path / "groove").startswith("not a folder: dataset 'groove'")
    assert (tmp_path / "groove").read_bytes() == b"MThd"
    os.symlink(tmp_path / "nowhere", tmp_path / "pop")
    assert make_inbox_folder(tmp_path / "pop").startswith("the inbox of dataset 'pop' is a symbolic link that points nowhere")
    assert os.path.islink(tmp_path / "pop") and not (tmp_path / "nowhere").exists()
    assert make_inbox_folder(tmp_path / "missing" / "emo").startswith(f"cannot create {tmp_path / 'missing' / 'emo'}:")


def test_status_shows_the_first_entries_and_counts_the_rest(tmp_path):
    from kellyd.status import collect_status, render_status
    from kellyd.unrouted import UNROUTED_LISTED

    for i in range(UNROUTED_LISTED + 5):
        (tmp_path / f"stray{i:02d}.mid").write_bytes(b"MThd")
    entries = unrouted_entries(tmp_path, DATASETS)
    status = collect_status(tmp_path / "no-catalog.sqlite3", tmp_path / "state", unrouted=entries)
    assert len(status["inbox_unrouted"]) == UNROUTED_LISTED + 5
    lines = [line for line in render_status(status).splitlines() if line.startswith("inbox: ")]
    assert len(lines) == UNROUTED_LISTED + 1
    assert lines[0].startswith(f"inbox: {tmp_path / 'stray00.mid'} is left alone: a file directly in the inbox")
    assert lines[-1] == "inbox: ... and 5 more left alone (--json lists all)"
