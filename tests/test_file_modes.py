"""Files kellyd writes get the mode the process umask gives (0644 under 022, 0640 under 027).

They are still written atomically (a temp file renamed into place); the temp file's private 0600
must not stay on the result. Each umask runs the real commands in a subprocess started under it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon.harness import make_tree
from tests.daemon.midi_files import small_midi_bytes

REPO = Path(__file__).resolve().parents[1]


def kellyd_under_umask(umask: int, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k != "KELLYD_CONFIG"}
    env["HOME"] = str(home)
    # The shell sets the umask and then becomes kellyd, as a login shell or systemd's UMask= would.
    command = ["sh", "-c", f'umask {umask:03o} && exec "$0" "$@"', sys.executable, "-m", "kellyd", *args]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=180)
    assert proc.returncode == 0, (args, proc.stderr[-3000:])
    return proc


def file_modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o027, 0o640)])
def test_written_files_follow_the_umask(tmp_path, umask, expected):
    dataset = {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "features", "augment"],
               "multiplier": 1, "splits": [0.5, 0.25, 0.25]}
    tree = make_tree(tmp_path, datasets={"songs": dataset})
    home = tree.root / "home"
    source = tmp_path / "drop" / "happy"
    source.mkdir(parents=True)
    for index in range(6):
        (source / f"piece-{index}.mid").write_bytes(small_midi_bytes(index))
        # Readable by the owner only, so a copy that kept the source's mode would show.
        (source / f"piece-{index}.mid").chmod(0o600)

    config = ["--config", str(tree.config)]
    kellyd_under_umask(umask, home, *config, "import", str(source.parent), "--dataset", "songs", "--quiet")
    kellyd_under_umask(umask, home, *config, "splits", "--dataset", "songs")
    kellyd_under_umask(umask, home, *config, "validate", "--dataset", "songs")
    kellyd_under_umask(umask, home, *config, "service", "install", "--user")
    written_config = tmp_path / "written" / "kellyd.toml"
    kellyd_under_umask(umask, home, "--config", str(written_config), "init")

    modes = file_modes(tree.datasets / "songs")
    kinds = {"manifest.json", "config.json", "raw/midi/", "processed/features/", "processed/augmented/",
             "annotations/", "splits/", "reports/"}
    covered = {kind for kind in kinds for name in modes if name == kind or name.startswith(kind)}
    assert covered == kinds, f"the run did not write every kind of file: missing {kinds - covered}"
    assert any(name.endswith(".npz") for name in modes) and any(name.endswith(".html") for name in modes)
    unit = home / ".config" / "systemd" / "user" / "kellyd.service"
    modes[str(unit)] = stat.S_IMODE(unit.stat().st_mode)
    modes[str(written_config)] = stat.S_IMODE(written_config.stat().st_mode)
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != expected}
    assert wrong == {}, f"expected {oct(expected)} under umask {umask:03o}"
