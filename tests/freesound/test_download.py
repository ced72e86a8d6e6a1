from __future__ import annotations

import shutil

import pytest

from kellyd.errors import InvalidInput
from kellyd.freesound.api import parse_sound
from kellyd.freesound.download import check_decodes, sidecar_for

SIDECAR_FIELDS = {"source", "freesound_id", "name", "username", "license", "url", "tags", "duration_s", "query",
                  "emotion", "instrument", "downloaded_at"}


def test_a_real_mp3_decodes_to_its_duration(corpus, tmp_path):
    mp3 = shutil.copy(corpus / "beatnet" / "808kick120bpm.mp3", tmp_path / "a.mp3")
    assert check_decodes(mp3) == pytest.approx(10.0, abs=0.05)  # a 10 s pattern (beatnet/labels.csv)


@pytest.mark.parametrize("data", [b"<html>Service Unavailable</html>" * 20, b"\x00" * 4096, b""])
def test_what_is_not_audio_is_invalid_input(tmp_path, data):
    path = tmp_path / "x.mp3"
    path.write_bytes(data)
    with pytest.raises(InvalidInput, match="x.mp3"):
        check_decodes(path)


def test_the_sidecar_holds_the_documented_fields():
    sound = parse_sound({
        "id": 7, "name": "Rain", "tags": ["rain"], "duration": 3.5, "license": "Attribution 4.0",
        "username": "bob", "url": "https://freesound.org/people/bob/sounds/7/", "previews": {},
    })
    sidecar = sidecar_for(sound, query="sad piano", emotion="sad", instrument="piano",
                          downloaded_at="2026-01-02T03:04:05+00:00")
    assert set(sidecar) == SIDECAR_FIELDS
    assert sidecar["source"] == "freesound" and sidecar["freesound_id"] == 7
    assert sidecar["license"] == "Attribution 4.0" and sidecar["tags"] == ["rain"]


def test_an_mp3_shorter_than_its_own_header_says_is_invalid(corpus, tmp_path):
    whole = (corpus / "beatnet" / "808kick120bpm.mp3").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole[: len(whole) // 2])  # what a server that lies about Content-Length delivers
    with pytest.raises(InvalidInput, match="cut.mp3: truncated"):
        check_decodes(cut)
