"""When scheduled jobs run (pure, table-driven, no sleeping), whether they can, and the early validation."""

from __future__ import annotations

import pytest

import hashlib

from kellyd.catalog import Catalog
from kellyd.config import load_config
from kellyd.sample import Sample, sample_id_for
from kellyd.progress import EpochLog
from kellyd.schedule import DaemonScheduler, anchored_trigger, first_run_s, job_blockers, validation_due
from kellyd.synth.synthesize import GENERATORS, spread_over_families
from kellyd.taxonomy import BASE_EMOTION_NAMES, EMOTIONS
from tests.daemon.harness import make_tree

NOW = 1_750_000_000.0
HOUR = 3600.0


@pytest.mark.parametrize("spec, last_run, expected", [
    ("1h", None, NOW + HOUR),                  # never ran: an interval from now
    ("1h", NOW - 2 * HOUR, NOW),               # missed while the daemon was down: now
    ("1h", NOW - 0.25 * HOUR, NOW + 0.75 * HOUR),  # counted from the last run, not from the start
    ("0 3 * * *", NOW - 30 * HOUR, NOW),       # a daily cron run missed
])
def test_first_run(spec, last_run, expected):
    trigger = anchored_trigger(spec, last_run_s=last_run, now_s=NOW)
    assert first_run_s(trigger, last_run_s=last_run, now_s=NOW) == pytest.approx(expected)


def test_validation_is_due_on_originals_grown_since_the_last_report():
    now = {"a": 1_040, "b": 990, "c": 499}
    assert validation_due(now, {"a": 500, "b": 600}, 500) == ["a"]
    assert validation_due(now, {}, 500) == ["a", "b"]  # never validated: counted from 0
    assert validation_due(now, {}, 0) == []


def test_a_large_dataset_waits_for_a_tenth_more_before_validating_early():
    # 500 new originals are due at 4,000 but not at 100,000, where validation reads every sample:
    # the early run waits for 10 % growth, so its cost per new file does not grow with the dataset.
    assert validation_due({"small": 4_500, "large": 100_500}, {"small": 4_000, "large": 100_000}, 500) == ["small"]
    assert validation_due({"large": 110_000}, {"large": 100_000}, 500) == ["large"]


def test_early_validation_waits_until_the_burst_is_done(tmp_path):
    tree = make_tree(tmp_path, datasets={"d": {"target_model": "EmotionRecognizer"}},
                     extra={"schedule": {"validate": "1d", "validate_after_samples": 3}})
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    with catalog.transaction():
        for n in range(4):
            sha = hashlib.sha256(f"burst-{n}".encode()).hexdigest()
            catalog.put_sample(Sample(dataset_id="d", origin_path="", sample_id=sample_id_for(sha), sha256=sha,
                                      kind="midi", file_path=f"raw/midi/{n}.mid"), now=1.0)
    catalog.close()
    scheduler = DaemonScheduler(cfg)
    # Files still in flight: 4 new originals are enough, but nothing is checked or started yet.
    assert scheduler.after_samples({"d": 4}, busy=True, now_s=NOW) == []
    assert scheduler.after_samples(None, busy=True, now_s=NOW + 1) == []
    # The burst is done: the samples it added are checked at once (no new counts needed), then not again.
    assert scheduler.after_samples(None, busy=False, now_s=NOW + 2) == ["d"]
    assert scheduler.after_samples(None, busy=False, now_s=NOW + 3) == []
    assert scheduler.scheduler.get_job("validate-now") is not None


def test_a_missing_freesound_key_blocks_the_pull(tmp_path):
    tree = make_tree(tmp_path, datasets={"e": {"target_model": "EmotionRecognizer"}},
                     extra={"schedule": {"freesound": "12h", "validate": "6h"},
                            "freesound": {"enabled": True, "dataset": "e", "key_file": str(tmp_path / "none.json")}})
    cfg = load_config(tree.config)
    assert job_blockers(cfg, environ={})["freesound"].startswith("Freesound: no API key")
    assert "validate" not in job_blockers(cfg, environ={})
    assert "freesound" not in job_blockers(cfg, environ={"FREESOUND_API_KEY": "k" * 40})


def test_emotion_pieces_spread_over_every_base_emotion():
    first_six = GENERATORS["emotion"].labels[:6]
    assert {EMOTIONS[label].base for label in first_six} == set(BASE_EMOTION_NAMES)
    assert spread_over_families(["joy", "happy", "grief", "sad"]) == ("joy", "grief", "happy", "sad")
    assert sorted(GENERATORS["emotion"].labels) == sorted(set(GENERATORS["emotion"].labels))


class _Record:
    def __init__(self, epoch, score):
        self.epoch, self.train_loss, self.val_loss, self.val_score = epoch, 1.0 / epoch, 1.1 / epoch, score


def test_each_epoch_prints_its_validation_score_and_time_left():
    lines, times = [], iter([0.0, 2.0, 4.0])
    log = EpochLog("GroovePredictor", 10, lines.append, clock=lambda: next(times))
    log(_Record(1, 0.8))
    log(_Record(2, 0.9))
    assert lines[0].startswith("GroovePredictor: epoch 1/10") and "val score 0.8000" in lines[0]
    assert "best 0.8000 at epoch 1" in lines[1] and "2.0 s/epoch, at most 0.3 min left" in lines[1]
