"""What a user meets first on the command line: --version, help for every option, a closed pipe."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import kellyd
from kellyd.cli import build_parser
from kellyd.config import TARGET_MODELS

REPO = Path(__file__).resolve().parents[1]


def kellyd_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kellyd", *args], text=True, cwd=REPO, timeout=60, **kwargs)


def test_version():
    proc = kellyd_cli("--version", capture_output=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"kellyd {kellyd.__version__}"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "kellyd.__version__"}, \
        "the package's version and the one printed come from one place"


def every_parser(parser: argparse.ArgumentParser, name: str = "kellyd"):
    yield name, parser
    for action in parser._actions:  # argparse keeps sub-commands only here
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from every_parser(sub, f"{name} {sub_name}")


def test_every_option_and_argument_has_help():
    missing = []
    commands = 0
    for name, parser in every_parser(build_parser()):
        commands += 1
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert commands > 20
    assert missing == []


def test_choices_are_listed_in_help_and_enforced():
    help_text = kellyd_cli("dataset", "create", "--help", capture_output=True).stdout
    assert "{" + ",".join(TARGET_MODELS) + "}" in help_text
    wrong = kellyd_cli("dataset", "create", "x", "--target-model", "Beatles", capture_output=True)
    assert wrong.returncode == 2 and "invalid choice: 'Beatles'" in wrong.stderr and "GroovePredictor" in wrong.stderr
    assert "{emotion,melody,harmony,groove,dynamics}" in kellyd_cli("synthesize", "--help", capture_output=True).stdout


def test_a_closed_stdout_ends_quietly(tmp_path):
    """`kellyd status | head -1`, made certain: the reading end is closed before kellyd writes."""
    for args in (["--config", str(REPO / "config.toml"), "status"], ["--help"], ["--version"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            proc = kellyd_cli(*args, stdout=write_end, stderr=subprocess.PIPE)
        finally:
            os.close(write_end)
        assert proc.stderr == "", (args, proc.stderr)  # no traceback, no "Exception ignored"
        if args[-1] == "status":
            assert proc.returncode == 141  # as a tool killed by SIGPIPE; argparse's --help exits 0 itself
