"""Pulls against a real HTTP server on 127.0.0.1 (tests/freesound/fake_server.py)."""

from __future__ import annotations

import io
import json
import sqlite3
import threading

import soundfile
from structlog.testing import capture_logs

from kellyd.freesound.download import check_decodes
from kellyd.freesound.pull import run_pull

from .fake_server import CC_BY_NC, max_in_window
from .support import ARRIVAL_SLACK_S, KEY, ScaledClock, populate, request_times, staged

EMOTIONS, INSTRUMENTS = ("happy", "sad"), ("piano", "guitar")


def pull(settings, tmp_path, env, **kwargs):
    return run_pull(settings, staging_root=tmp_path / "kelly", state_db=tmp_path / "state" / "catalog.sqlite3",
                    environ=env, **kwargs)


def test_a_full_pull_fills_every_combination(server, settings_for, tmp_path, env):
    ids = populate(server, EMOTIONS, INSTRUMENTS)
    report = pull(settings_for(server), tmp_path, env)

    assert report.outcome == "completed" and report.reason == ""
    assert [(c.emotion, c.instrument, c.total, c.status) for c in report.combinations] == [
        ("happy", "piano", 3, "target_reached"), ("happy", "guitar", 3, "target_reached"),
        ("sad", "piano", 3, "target_reached"), ("sad", "guitar", 3, "target_reached")]
    audio, sidecars, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == 12 and len(sidecars) == 12 and leftovers == []
    assert report.bytes_downloaded == sum(p.stat().st_size for p in audio)
    first = tmp_path / "kelly" / "emotion_samples" / "happy" / "piano" / f"{ids['happy piano'][0]}_happy_piano_take_0.mp3"
    assert first in audio
    meta = json.loads(first.with_name(first.name + ".json").read_text())
    assert meta["source"] == "freesound" and meta["freesound_id"] == ids["happy piano"][0]
    assert (meta["emotion"], meta["instrument"], meta["query"]) == ("happy", "piano", "happy piano")
    assert meta["license"].startswith("http://creativecommons.org/") and meta["username"] == "alice"
    assert meta["url"].endswith(f"/sounds/{ids['happy piano'][0]}/") and meta["duration_s"] == 5.0
    assert all(check_decodes(p) > 1.9 for p in audio)


def test_the_key_goes_only_to_the_api_in_a_header(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    pull(settings_for(server), tmp_path, env)
    searches, previews = server.paths("/apiv2/"), server.paths("/previews/")
    assert searches and all(s.authorization == f"Token {KEY}" for s in searches)
    assert previews and all(s.authorization is None for s in previews)
    assert all(KEY not in json.dumps(s.params) for s in server.seen)
    search = searches[0].params
    assert search["fields"] == "id,name,tags,duration,filesize,type,license,username,previews,avg_rating,url"
    assert (search["sort"], search["page_size"], search["filter"]) == ("rating_desc", "2", "duration:[2 TO 60]")


def test_a_second_pull_fetches_nothing_twice_and_goes_on_from_the_saved_page(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    pull(settings_for(server), tmp_path, env)
    before = len(server.seen)
    again = pull(settings_for(server), tmp_path, env)
    assert again.requests_made == 0 and len(server.seen) == before
    assert all(c.had == 3 and c.downloaded == 0 for c in again.combinations)

    more = pull(settings_for(server, target_per_combination=4), tmp_path, env)
    assert all(c.total == 4 for c in more.combinations)
    new_searches = [s for s in server.seen[before:] if s.path.startswith("/apiv2/")]
    assert {s.params["page"] for s in new_searches} == {"2"}  # page 1 was done; page 2 had one left
    assert max(server.complete_files.values()) == 1


def test_search_falls_back_to_the_text_endpoint_when_search_is_404(preview_bytes, settings_for, tmp_path, env):
    from .fake_server import FakeFreesound

    with FakeFreesound(api_key=KEY, preview_bytes=preview_bytes, legacy_search_only=True) as legacy:
        populate(legacy, EMOTIONS, INSTRUMENTS)
        report = pull(settings_for(legacy), tmp_path, env)
        paths = [s.path for s in legacy.paths("/apiv2/")]
    assert report.outcome == "completed" and report.files_downloaded == 12
    assert paths[0] == "/apiv2/search/" and paths.count("/apiv2/search/") == 1
    assert set(paths[1:]) == {"/apiv2/search/text/"}


def test_originals_are_refused_without_a_token(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    with capture_logs() as logs:
        report = pull(settings_for(server, download="original"), tmp_path, env)
    assert report.outcome == "skipped"
    assert "OAuth2 access token" in report.reason and "$FREESOUND_OAUTH_TOKEN" in report.reason
    assert server.seen == [] and not (tmp_path / "kelly").exists()
    assert [e["event"] for e in logs] == ["freesound.skipped"]


def test_originals_with_a_token_go_through_oauth_and_the_redirect(preview_bytes, settings_for, tmp_path, env):
    from .fake_server import FakeFreesound

    wav = io.BytesIO()
    soundfile.write(wav, [0.1, -0.1] * 8000, 16000, format="WAV")
    token = "oauth-token-77aa88bb99cc"
    with FakeFreesound(api_key=KEY, preview_bytes=preview_bytes, original_bytes=wav.getvalue(),
                       oauth_token=token) as fake:
        populate(fake, ("happy",), ("piano",))
        report = pull(settings_for(fake, download="original", emotions=["happy"], instruments=["piano"]),
                      tmp_path, {**env, "FREESOUND_OAUTH_TOKEN": token})
        downloads, files = fake.paths("/apiv2/sounds/"), fake.paths("/files/")
    assert report.outcome == "completed" and report.files_downloaded == 3
    assert len(downloads) == 3 and all(s.authorization == f"Bearer {token}" for s in downloads)
    assert len(files) == 3 and all(s.authorization is None for s in files)  # never forwarded by the redirect
    audio, _, _ = staged(tmp_path / "kelly")
    assert [p.suffix for p in audio] == [".wav"] * 3


def test_the_licence_filter_is_asked_for_and_enforced(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)  # every third sound is CC BY-NC; the fake ignores filters
    report = pull(settings_for(server, licenses=["Creative Commons 0", "Attribution"]), tmp_path, env)
    assert report.outcome == "completed"
    assert all('license:("Creative Commons 0" OR "Attribution")' in s.params["filter"]
               for s in server.paths("/apiv2/search/"))
    _, sidecars, _ = staged(tmp_path / "kelly")
    assert len(sidecars) == 12
    assert all(json.loads(p.read_text())["license"] != CC_BY_NC for p in sidecars)
    assert all(c.skipped.get("licence not allowed", 0) >= 1 for c in report.combinations)


def test_without_a_key_the_pull_is_skipped_with_one_log_line(server, settings_for, tmp_path):
    with capture_logs() as logs:
        report = pull(settings_for(server), tmp_path, {"FREESOUND_API_KEY": "YOUR_API_KEY"})
    assert report.outcome == "skipped" and "no Freesound API key" in report.reason
    assert len(logs) == 1 and logs[0]["event"] == "freesound.skipped" and logs[0]["log_level"] == "warning"
    assert server.seen == []


def test_a_disabled_pull_does_nothing(server, settings_for, tmp_path, env):
    report = pull(settings_for(server, enabled=False), tmp_path, env)
    assert report.outcome == "skipped" and "disabled" in report.reason and server.seen == []


def test_a_dry_run_searches_but_writes_and_fetches_nothing(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    report = pull(settings_for(server), tmp_path, env, dry_run=True)
    assert report.dry_run and report.outcome == "completed"
    assert all(c.downloaded == 3 and c.bytes_downloaded == 0 for c in report.combinations)
    assert server.paths("/previews/") == [] and not (tmp_path / "kelly").exists()
    with sqlite3.connect(tmp_path / "state" / "catalog.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM freesound_progress").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM freesound_requests").fetchone()[0] == report.requests_made


def test_the_budget_counts_the_bytes_written_not_the_api_filesize(server, settings_for, tmp_path, env, preview_bytes):
    populate(server, EMOTIONS, INSTRUMENTS)  # the API says 10 MB per sound; previews are 33 KB
    budget_mb = (2.5 * len(preview_bytes)) / 1e6
    report = pull(settings_for(server, max_mb_per_combination=budget_mb), tmp_path, env)
    assert [(c.total, c.status) for c in report.combinations] == [(2, "budget_reached")] * 4
    assert all(c.bytes_downloaded == 2 * len(preview_bytes) for c in report.combinations)
    audio, _, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == 8 and leftovers == []


def test_a_stop_request_ends_the_pull_and_leaves_no_part_file(server, settings_for, tmp_path, env):
    ids = populate(server, EMOTIONS, INSTRUMENTS)
    server.fault(("preview", ids["happy guitar"][1]), "stall")
    stop = threading.Event()
    stopper = threading.Thread(target=lambda: server.stalled.wait(10) and stop.set())
    stopper.start()
    report = pull(settings_for(server), tmp_path, env, stop=stop)
    stopper.join()
    assert report.outcome == "stopped" and report.reason == "stop requested"
    assert [(c.instrument, c.status) for c in report.combinations] == [("piano", "target_reached"),
                                                                       ("guitar", "stopped")]
    audio, sidecars, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == len(sidecars) == 4 and leftovers == []


def test_the_rate_limit_holds_across_search_and_downloads(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    clock = ScaledClock(speed=20.0)  # one clock minute is three real seconds
    report = pull(settings_for(server, requests_per_minute=6), tmp_path, env, clock=clock)
    assert report.outcome == "completed" and report.requests_made == len(server.seen) > 12
    assert max_in_window(request_times(tmp_path / "state" / "catalog.sqlite3"), 60.0) == 6
    assert max_in_window(server.arrival_times(), 60.0 / clock.speed - ARRIVAL_SLACK_S) <= 6


def test_the_daily_budget_stops_the_pull_and_survives_a_restart(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    settings = settings_for(server, requests_per_day=5)
    first = pull(settings, tmp_path, env)
    assert first.outcome == "stopped" and "daily request budget used (5 requests in 24 h)" in first.reason
    assert len(server.seen) == 5
    second = pull(settings, tmp_path, env)
    assert second.outcome == "stopped" and second.requests_made == 0 and len(server.seen) == 5


def test_a_file_staged_just_before_a_kill_is_adopted_not_fetched_again(server, settings_for, tmp_path, env,
                                                                       preview_bytes):
    ids = populate(server, EMOTIONS, INSTRUMENTS)
    first = ids["happy piano"][0]
    folder = tmp_path / "kelly" / "emotion_samples" / "happy" / "piano"
    folder.mkdir(parents=True)
    (folder / f"{first}_happy_piano_take_0.mp3").write_bytes(preview_bytes)  # renamed, ledger row never written
    (folder / f"{first}_happy_piano_take_0.mp3.json").write_text("{}")
    (folder / f".{ids['happy piano'][1]}.mp3.part").write_bytes(preview_bytes[:100])
    report = pull(settings_for(server), tmp_path, env)
    assert (report.files_adopted, report.leftovers_removed) == (1, 1)
    assert (report.combinations[0].had, report.combinations[0].downloaded) == (1, 2)
    assert server.paths(f"/previews/{first}-") == []
    assert len(staged(tmp_path / "kelly")[0]) == 12
