"""The test corpus is the repository's own: every folder has its licence notes, and the guard in
tests/corpus_guard.py fails any run that reads the shared folder beside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import corpus_guard
from tests.corpus_guard import GUARDED_DIR, REPO_ROOT

# Each probe reads beside the repository in one of the watched ways and swallows the error,
# as careless code would: the guard must fail the run all the same, whether the folder is there
# or not (the audit event comes before the system call).
READS = {
    "open": 'open(GUARDED_DIR.joinpath("realdata", "README.md"), "rb")',
    "copy": 'shutil.copyfile(GUARDED_DIR.joinpath("realdata", "README.md"), tmp_path / "copy.md")',
    "listdir": "os.listdir(GUARDED_DIR)",
    "scandir": "list(os.scandir(GUARDED_DIR))",
}


def run_probe(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Run pytest in a child process, with only the guard plugin, on one test holding `body`."""
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_probe.py").write_text(textwrap.dedent("""\
        import os
        import shutil

        from tests.corpus_guard import GUARDED_DIR


        def test_probe(tmp_path):
            (tmp_path / "mine.txt").write_text("own files are fine")
            try:
                {body}
            except Exception:
                pass
        """).format(body=body))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.corpus_guard",
                           str(folder / "test_probe.py")],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("way", sorted(READS))
def test_the_guard_fails_a_run_that_reads_beside_the_repository(tmp_path, way):
    proc = run_probe(tmp_path, READS[way])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # The test that read is failed by name (at its teardown), and the summary lists what was read.
    assert "ERROR test_probe.py::test_probe - Failed: the test read 1 path" in proc.stdout, proc.stdout
    assert f"read: {GUARDED_DIR}" in proc.stdout


def test_the_guard_passes_a_run_that_reads_only_its_own_files(tmp_path):
    proc = run_probe(tmp_path, 'open(tmp_path / "mine.txt").read()')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "read:" not in proc.stdout


def test_this_suite_runs_under_the_guard(request):
    """tests/conftest.py loads the guard for every run of the suite, whatever files are named."""
    assert request.config.pluginmanager.has_plugin("tests.corpus_guard")
    assert corpus_guard.is_installed() and corpus_guard.reads() == []


def test_the_corpus_lives_in_the_repository(corpus):
    assert corpus.is_relative_to(REPO_ROOT / "tests") and not corpus.is_relative_to(GUARDED_DIR)
    assert sum(1 for p in corpus.rglob("*.mid")) >= 400 and (corpus / "groove_midi" / "info.csv").is_file()


def test_every_corpus_folder_names_its_source_and_licence(corpus):
    notes = (corpus / "LICENSES.md").read_text(encoding="utf-8")
    folders = [p for p in corpus.iterdir() if p.is_dir() and p.name != "__pycache__"]
    folders += [p for p in (corpus / "audio_more").iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        assert f"`{folder.relative_to(corpus).as_posix()}/" in notes, f"{folder.name} is not in LICENSES.md"
    # Non-commercial material is never shipped: the full corpus marks such folders "_NC".
    assert not [p for p in corpus.rglob("*") if "_NC" in p.name]
