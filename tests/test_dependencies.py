"""The dependencies pyproject.toml declares are the ones the code imports.

Every third-party import in kellyd/ and handlers/ is found by walking the syntax tree (imports
inside functions included) and mapped to its distribution; it must be a run-time dependency, or
an extra for code that only some users run (training, Dask). Tests and benchmarks have their own
extras. A pin that nothing imports is an error too, unless it is listed here with its reason.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OWN = {"kellyd", "handlers", "tests", "bench"}
# Imported, but only to use it when present; kellyd works the same without it.
OPTIONAL_UNDECLARED = {"onnx": "kellyd/train/rtneural.py exports ONNX only when onnx is installed",
                       "basic_pitch": "kellyd/song/transcribe.py uses it when installed (--no-deps, see the notes "
                                      "extra), else its CQT fallback"}
# Declared, but not imported by kellyd itself.
PINNED_NOT_IMPORTED = {"numba": "librosa's kernels are numba's; kellyd sets numba's cache folder (audio_numba.py)"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s\[=<>!~;]", requirement, maxsplit=1)[0])


def declared() -> tuple[set[str], dict[str, set[str]], list[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = {extra: {requirement_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    every_pin = project["dependencies"] + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    return {requirement_name(r) for r in project["dependencies"]}, extras, every_pin


@functools.cache
def imported_distributions(*folders: str) -> dict[str, set[str]]:
    """distribution -> the files that import it, for every third-party import under `folders`."""
    by_module = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in OWN:
                        continue
                    # A package not installed here (an extra nobody installed) keeps its own name.
                    dist = canonical((by_module.get(top) or [top])[0])
                    found.setdefault(dist, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_package_import_is_declared_and_every_dependency_is_used():
    runtime, extras, _ = declared()
    used = imported_distributions("kellyd", "handlers")
    optional = {canonical(n) for n in OPTIONAL_UNDECLARED}
    in_extras = set().union(*extras.values())
    undeclared = {d: files for d, files in used.items() if d not in runtime | in_extras | optional}
    assert undeclared == {}
    unused = runtime - set(used) - {canonical(n) for n in PINNED_NOT_IMPORTED}
    assert unused == set(), f"declared but never imported by kellyd: {sorted(unused)}"


def test_torch_is_the_train_extra_and_only_training_imports_it():
    runtime, extras, _ = declared()
    assert "torch" not in runtime
    # scikit-learn: the classical baseline every training run is judged against (kellyd/train/baseline.py).
    assert extras["train"] == {"torch", "scikit-learn"}
    importers = imported_distributions("kellyd", "handlers")["torch"]
    # Besides training, only the Demucs stems backend (kellyd[stems], imported in workers when asked for).
    assert importers and all(f.startswith("kellyd/train/") or f == "kellyd/song/stems_demucs.py"
                             for f in importers), importers
    assert "distributed" in extras["dask"]


def test_tests_and_benchmarks_need_only_their_extras():
    runtime, extras, _ = declared()
    optional = {canonical(n) for n in OPTIONAL_UNDECLARED}
    for folder, allowed in (("tests", runtime | extras["test"] | extras["train"] | optional),
                            ("bench", runtime | extras["bench"] | extras["train"])):
        missing = {d: files for d, files in imported_distributions(folder).items() if d not in allowed}
        assert missing == {}, f"{folder}/ imports packages no extra of its own declares"
    assert {"pytest", "pytest-timeout"} <= extras["test"]
    assert extras["dev"] == {"kellyd"}, "dev stays an alias of the test extra"


def test_every_pin_is_exact():
    _, _, pins = declared()
    loose = [r for r in pins if not r.startswith("kellyd[") and "==" not in r]
    assert loose == []
