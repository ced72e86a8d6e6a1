"""Limits against the fake server: an oversized preview is skipped for good; the server never sees too many."""

from __future__ import annotations

import sqlite3

from kellyd.freesound.pull import run_pull

from .fake_server import max_in_window
from .support import ScaledClock, populate, staged


def pull(settings, tmp_path, env, **kwargs):
    return run_pull(settings, staging_root=tmp_path / "kelly", state_db=tmp_path / "state" / "catalog.sqlite3",
                    environ=env, **kwargs)


def test_an_oversized_preview_skips_that_sound_for_good_not_the_combination(server, settings_for, tmp_path, env,
                                                                         preview_bytes):
    ids = populate(server, ("happy",), ("piano",), per_query=5)
    huge_id = ids["happy piano"][0]
    budget_bytes = 10 * len(preview_bytes)
    server.preview_overrides[huge_id] = b"\0" * (budget_bytes + 1)  # over the whole budget, first in the list
    settings = settings_for(server, emotions=["happy"], instruments=["piano"],
                            max_mb_per_combination=budget_bytes / 1e6)

    first = pull(settings, tmp_path, env)
    assert [(c.total, c.status) for c in first.combinations] == [(3, "target_reached")]
    audio, _, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == 3 and leftovers == [] and not any(str(huge_id) in p.name for p in audio)
    with sqlite3.connect(tmp_path / "state" / "catalog.sqlite3") as db:
        status, reason = db.execute("SELECT status, reason FROM freesound_sounds WHERE freesound_id = ?",
                                    (huge_id,)).fetchone()
    assert status == "rejected" and "freesound.max_mb_per_combination" in reason
    # The answer announced its size: the client stopped at once instead of streaming the body.
    assert server.complete_files.get(f"/previews/{huge_id}-lq.mp3", 0) == 0

    huge_requests = len(server.paths(f"/previews/{huge_id}"))
    server.add_query("happy piano", [server.sound(i, name=f"happy piano take {i}") for i in ids["happy piano"]]
                     + [server.sound(9001, name="happy piano take new")])
    second = pull(settings_for(server, emotions=["happy"], instruments=["piano"], target_per_combination=4,
                               max_mb_per_combination=budget_bytes / 1e6), tmp_path, env)
    assert [(c.total, c.status) for c in second.combinations] == [(4, "target_reached")]
    assert len(server.paths(f"/previews/{huge_id}")) == huge_requests  # never fetched again


def test_latency_before_arrival_never_lets_the_server_see_more_than_the_limit(server, settings_for, tmp_path, env):
    """The first request of each minute reaches the server late; counted at send time, the
    next minute's requests would land within 60 s of it (N + 1 in a server's minute)."""
    populate(server, ("happy",), ("piano",), per_query=6)
    clock = ScaledClock(speed=30.0)  # a clock minute is 2 real seconds
    per_minute = 2
    server.delay_arrivals(0.4, 0.0, 0.4, 0.0, 0.4, 0.0, 0.4)  # real seconds: 12 clock seconds late
    settings = settings_for(server, emotions=["happy"], instruments=["piano"], requests_per_minute=per_minute,
                            target_per_combination=3, page_size=2, timeout_s=5.0)
    report = pull(settings, tmp_path, env, clock=clock)
    assert report.outcome == "completed" and len(server.seen) >= 5
    # No slack: the server's own arrival stamps, in real seconds, one clock minute wide.
    assert max_in_window(server.arrival_times(), 60.0 / clock.speed) <= per_minute
