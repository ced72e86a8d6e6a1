"""Fixtures of the Freesound tests: a real mp3 to serve, a fake server, settings pointing at it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kellyd.freesound.settings import parse_freesound_section

from .fake_server import FakeFreesound
from .support import KEY

FAST = {
    "emotions": ["happy", "sad"], "instruments": ["piano", "guitar"], "target_per_combination": 3,
    "page_size": 2, "timeout_s": 0.5, "max_retries": 3, "backoff_base_s": 0.05, "backoff_max_s": 0.2,
    "max_retry_after_s": 5.0,
}


@pytest.fixture(scope="session")
def preview_bytes(corpus, tmp_path_factory) -> bytes:
    """A real 10 s mp3 (BeatNet's 808 kick pattern, CC BY 4.0, 160 KB) with a VBR tag, copied out
    of the read-only corpus."""
    copy = shutil.copy(corpus / "beatnet" / "808kick120bpm.mp3", tmp_path_factory.mktemp("preview") / "kick.mp3")
    return Path(copy).read_bytes()


@pytest.fixture
def server(preview_bytes):
    with FakeFreesound(api_key=KEY, preview_bytes=preview_bytes) as fake:
        yield fake


@pytest.fixture
def settings_for(tmp_path):
    """settings_for(server, **overrides): fast settings against `server`, with no key file."""

    def build(server: FakeFreesound, **overrides):
        table = {**FAST, "base_url": server.base_url, "key_file": str(tmp_path / "no-key-file.json"), **overrides}
        return parse_freesound_section(table)

    return build


@pytest.fixture
def env():
    return {"FREESOUND_API_KEY": KEY}
