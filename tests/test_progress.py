"""Progress bars of the batch commands have a total and an ETA, and never count past the total."""

from __future__ import annotations

import json
import re

from tests.daemon.harness import make_tree, run_cli
from tests.daemon.midi_files import small_midi_bytes

BAR = re.compile(r"(?P<desc>[\w ]+): +\d+%\|[^|]*\| (?P<n>\d+)/(?P<total>\d+) \[[^<\]]*<(?P<eta>[^,\]]+)")


def _bars(stderr: str) -> dict[str, list[tuple[int, int, str]]]:
    found: dict[str, list[tuple[int, int, str]]] = {}
    for chunk in re.split(r"[\r\n]", stderr):
        match = BAR.search(chunk)
        if match:
            found.setdefault(match["desc"].strip(), []).append((int(match["n"]), int(match["total"]), match["eta"]))
    return found


def test_synthesize_and_import_bars_stop_at_their_totals(tmp_path):
    tree = make_tree(tmp_path, datasets={"e": {"target_model": "EmotionRecognizer",
                                               "chain": ["import", "annotate", "features"]}})
    done = run_cli(tree, "synthesize", "--dataset", "e", "--count", "3", "--duration-s", "4")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] == 3
    bars = _bars(done.stderr)
    assert bars["synthesize 3 emotion pieces"][-1][:2] == (3, 3)
    for name, states in bars.items():
        assert all(n <= total for n, total, _ in states), (name, states)
        assert states[-1][0] == states[-1][1], (name, states)  # ends at exactly 100 %
    folder = tmp_path / "in"
    for i in range(4):
        (folder / "happy").mkdir(parents=True, exist_ok=True)
        (folder / "happy" / f"{i}.mid").write_bytes(small_midi_bytes(10 + i))
    imported = run_cli(tree, "import", str(folder), "--dataset", "e")
    assert imported.returncode == 0, imported.stderr
    (states,) = [v for k, v in _bars(imported.stderr).items() if k.startswith("import into e")]
    assert states[-1][:2] == (12, 12)  # 4 files x import, annotate, features
    assert all(n <= total and total == 12 for n, total, _ in states)
