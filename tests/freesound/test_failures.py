"""A bad network, a bad server and bad answers: the pull goes on, stops cleanly, or says why."""

from __future__ import annotations

import io
import json
import logging
import socket

import pytest
import structlog

from kellyd.freesound.pull import run_pull

from .fake_server import FakeFreesound, max_in_window
from .support import ARRIVAL_SLACK_S, KEY, ScaledClock, populate, request_times, staged

EMOTIONS, INSTRUMENTS = ("happy", "sad"), ("piano", "guitar")


def pull(settings, tmp_path, env, **kwargs):
    return run_pull(settings, staging_root=tmp_path / "kelly", state_db=tmp_path / "state" / "catalog.sqlite3",
                    environ=env, **kwargs)


def break_the_network(server: FakeFreesound, ids: dict[str, list[int]]) -> None:
    """Every kind of fault, at most two in a row per request (max_retries is 3)."""
    server.fault(("search", "happy piano", 1), "429", "500")
    server.fault(("search", "happy guitar", 1), "slow")
    server.fault(("search", "sad piano", 1), "malformed")       # that page is skipped, not retried
    server.fault(("search", "sad guitar", 1), "drop")
    server.fault(("search", "sad guitar", 2), "truncated")
    server.fault(("preview", ids["happy piano"][0]), "truncated")
    server.fault(("preview", ids["happy piano"][1]), "slow")
    server.fault(("preview", ids["happy guitar"][0]), "drop", "500")
    server.fault(("preview", ids["sad piano"][2]), "429")
    server.fault(("preview", ids["sad guitar"][0]), "truncated", "truncated")


def test_a_bad_network_still_reaches_the_target_within_the_rate_limit(server, settings_for, tmp_path, env):
    ids = populate(server, EMOTIONS, INSTRUMENTS, per_query=8)
    break_the_network(server, ids)
    clock = ScaledClock(speed=20.0)  # Retry-After 1 s and a minute of rate limit pass 20 times faster
    report = pull(settings_for(server, requests_per_minute=20), tmp_path, env, clock=clock)

    assert report.outcome == "completed"
    assert [(c.total, c.status) for c in report.combinations] == [(3, "target_reached")] * 4
    assert len(report.combinations[2].errors) == 1  # the malformed page, logged and skipped
    audio, sidecars, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == len(sidecars) == 12 and leftovers == []
    assert sum(server.complete_files.values()) == 12 and max(server.complete_files.values()) == 1
    assert max_in_window(request_times(tmp_path / "state" / "catalog.sqlite3"), 60.0) <= 20
    assert max_in_window(server.arrival_times(), 60.0 / clock.speed - ARRIVAL_SLACK_S) <= 20
    assert server.server_errors == []
    # Each answer 429 was followed, for that same resource, only after Retry-After (clock seconds).
    for i, seen in enumerate(server.seen):
        if seen.path.startswith("/previews/") and seen.path.startswith(f"/previews/{ids['sad piano'][2]}-"):
            retry = next(s for s in server.seen[i + 1:] if s.path == seen.path)
            assert (retry.at_s - seen.at_s) * clock.speed >= 1.0 - 0.05
            break
    else:
        pytest.fail("the 429'd preview was never requested")


def test_retry_after_is_honoured_in_real_seconds(server, settings_for, tmp_path, env):
    populate(server, ("happy",), ("piano",))
    server.fault(("search", "happy piano", 1), "429")
    report = pull(settings_for(server, emotions=["happy"], instruments=["piano"]), tmp_path, env)
    first, retry = server.paths("/apiv2/search/")[:2]
    assert report.outcome == "completed"
    assert retry.at_s - first.at_s >= 1.0 - 0.01


def test_a_preview_that_does_not_decode_is_rejected_once_and_never_fetched_again(server, settings_for, tmp_path, env):
    ids = populate(server, ("happy",), ("piano",))
    bad = ids["happy piano"][1]
    server.preview_overrides[bad] = b"<html><body>Service Unavailable</body></html>" * 50
    settings = settings_for(server, emotions=["happy"], instruments=["piano"])
    report = pull(settings, tmp_path, env)
    assert report.combinations[0].total == 3 and report.combinations[0].skipped == {"does not decode": 1}
    assert all(f"/{bad}_" not in p.as_posix() for p in staged(tmp_path / "kelly")[0])

    settings_more = settings_for(server, emotions=["happy"], instruments=["piano"], target_per_combination=4)
    pull(settings_more, tmp_path, env)
    assert len(server.paths(f"/previews/{bad}-")) == 1


def test_a_server_that_is_down_stops_the_pull_after_a_few_failures(settings_for, tmp_path, env, preview_bytes):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class Down:
        base_url = f"http://127.0.0.1:{port}/apiv2"

    report = pull(settings_for(Down, max_retries=1), tmp_path, env)
    assert report.outcome == "stopped" and "3 requests in a row failed" in report.reason
    assert [c.status for c in report.combinations] == ["incomplete", "incomplete", "stopped"]


def test_two_malformed_pages_in_a_row_give_the_query_up(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    server.fault(("search", "happy piano", 1), "malformed")
    server.fault(("search", "happy piano", 2), "malformed")
    report = pull(settings_for(server), tmp_path, env)
    assert report.outcome == "completed"
    assert [c.status for c in report.combinations] == ["incomplete"] + ["target_reached"] * 3


def test_refused_credentials_stop_the_pull(preview_bytes, settings_for, tmp_path, env):
    with FakeFreesound(api_key="another-key-0000000000", preview_bytes=preview_bytes) as strict:
        report = pull(settings_for(strict), tmp_path, env)
        assert len(strict.seen) == 1
    assert report.outcome == "stopped" and "refused the credentials (HTTP 401)" in report.reason


def test_a_huge_retry_after_stops_the_pull_instead_of_sleeping(preview_bytes, settings_for, tmp_path, env):
    with FakeFreesound(api_key=KEY, preview_bytes=preview_bytes, retry_after_s=86_400) as throttled:
        populate(throttled, EMOTIONS, INSTRUMENTS)
        throttled.fault(("search", "happy piano", 1), "429")
        report = pull(settings_for(throttled), tmp_path, env)
    assert report.outcome == "stopped" and "asks to wait 86400 s" in report.reason


@pytest.fixture
def rendered_logs():
    """Everything structlog renders, as text, with NO scrubbing processor: the code itself must not log a key."""
    buffer = io.StringIO()
    previous = structlog.get_config()
    structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.format_exc_info,
                                    structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(buffer), cache_logger_on_first_use=False)
    yield buffer
    structlog.configure(**previous)


def test_the_key_appears_in_no_log_line_report_or_file(server, settings_for, tmp_path, env, rendered_logs, caplog):
    caplog.set_level(logging.DEBUG)
    ids = populate(server, EMOTIONS, INSTRUMENTS, per_query=8)
    break_the_network(server, ids)
    report = pull(settings_for(server), tmp_path, env, clock=ScaledClock(speed=20.0))

    assert report.outcome == "completed"
    logged = rendered_logs.getvalue()
    assert "freesound.retry" in logged and "freesound.bad_answer" in logged and "freesound.downloaded" in logged
    assert KEY not in logged
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert KEY not in json.dumps(report.to_json()) and KEY not in repr(report)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "catalog.sqlite3" for p in written) and len(written) > 24
    assert all(KEY.encode() not in p.read_bytes() for p in written)


def test_a_preview_cut_short_under_an_honest_length_is_rejected_by_decoding(server, settings_for, tmp_path, env,
                                                                             preview_bytes):
    ids = populate(server, ("sad",), ("drums",))
    cut = ids["sad drums"][0]
    server.preview_overrides[cut] = preview_bytes[: len(preview_bytes) // 2]
    report = pull(settings_for(server, emotions=["sad"], instruments=["drums"]), tmp_path, env)
    assert report.combinations[0].total == 3 and report.combinations[0].skipped == {"does not decode": 1}
    audio, _, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == 3 and leftovers == [] and all(f"/{cut}_" not in p.as_posix() for p in audio)


def test_missing_previews_are_skipped_without_stopping_the_pull(server, settings_for, tmp_path, env):
    ids = populate(server, ("happy",), ("piano",), per_query=8)
    for sound_id in ids["happy piano"][:3]:
        server.fault(("preview", sound_id), "404")
    report = pull(settings_for(server, emotions=["happy"], instruments=["piano"]), tmp_path, env)
    assert report.outcome == "completed"
    assert report.combinations[0].total == 3 and report.combinations[0].skipped == {"download failed": 3}


def test_an_unusable_state_db_is_reported_not_raised(server, settings_for, tmp_path, env):
    populate(server, EMOTIONS, INSTRUMENTS)
    state_db = tmp_path / "state" / "catalog.sqlite3"
    state_db.mkdir(parents=True)  # a folder where the file should be
    report = run_pull(settings_for(server), staging_root=tmp_path / "kelly", state_db=state_db, environ=env)
    assert report.outcome == "stopped" and "local state or staging error" in report.reason
    assert server.seen == []


def test_a_second_pull_on_the_same_state_db_is_skipped(server, settings_for, tmp_path, env):
    from kellyd.freesound.pull import exclusive_pull

    state_db = tmp_path / "state" / "catalog.sqlite3"
    with exclusive_pull(state_db) as mine:
        assert mine
        report = run_pull(settings_for(server), staging_root=tmp_path / "kelly", state_db=state_db, environ=env)
    assert report.outcome == "skipped" and "another Freesound pull" in report.reason
    assert server.seen == []


def test_a_preview_url_that_is_not_http_is_never_opened(server, settings_for, tmp_path, env, preview_bytes):
    local = tmp_path / "private.mp3"
    local.write_bytes(preview_bytes)  # a real, decodable file the answer points at
    sounds = [server.sound(1, name="trap"), server.sound(2), server.sound(3), server.sound(4)]
    sounds[0]["previews"]["preview-hq-mp3"] = local.as_uri()
    server.add_query("happy piano", sounds)
    report = pull(settings_for(server, emotions=["happy"], instruments=["piano"]), tmp_path, env)
    assert report.outcome == "completed"
    assert report.combinations[0].total == 3 and report.combinations[0].skipped == {"download failed": 1}
    assert all("trap" not in p.name for p in staged(tmp_path / "kelly")[0])
