"""Pure pieces: beat time, duration classes, windows, the quantised drum pattern and its targets,
metrics, the validation score, the learning-rate schedule, the loop's reproducibility, its
best-checkpoint and stopping rules, the gate's score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kellyd.train.data import Head, ModelData, SplitData, Vocabulary, window_starts
from kellyd.train.gate import validation_ratios
from kellyd.train.loop import _Stopper, fit, lr_factor, predict
from kellyd.train.metrics import confusion, evaluate, macro_f1
from kellyd.train.models import StreamNet, architecture
from kellyd.train.objective import baseline_outputs, error_ratios, head_errors, score
from kellyd.train.recipe_emotion import pooled_segments
from kellyd.train.recipe_groove import centred_on_piece, quantised_pattern
from kellyd.train.settings import ModelSettings
from kellyd.train.timing import beats_at, duration_class, seconds_at

GRID = np.array([1.0, 1.5, 2.0, 2.6])


@pytest.mark.parametrize("time_s, beat", [(1.0, 0.0), (1.25, 0.5), (2.3, 2.5), (0.5, -1.0), (3.2, 4.0)])
def test_beats_at_interpolates_and_extrapolates(time_s, beat):
    assert beats_at(np.array([time_s]), GRID)[0] == pytest.approx(beat)
    assert seconds_at(np.array([beat]), GRID)[0] == pytest.approx(time_s)


def test_a_grid_of_one_beat_uses_the_tempo():
    assert beats_at(np.array([2.0]), np.array([1.0]), bpm=120.0)[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive tempo"):
        beats_at(np.array([2.0]), np.array([]), bpm=0.0)


@pytest.mark.parametrize("beats, name_index", [(0.25, 1), (0.3, 2), (0.52, 3), (1.0, 5), (1.4, 6), (9.0, 9),
                                               (0.01, 0)])
def test_duration_class_is_the_nearest_on_a_log_scale(beats, name_index):
    assert duration_class(np.array([beats]))[0] == name_index


@pytest.mark.parametrize("n, window, most, expected", [(10, 4, 5, [0, 4]), (3, 4, 5, []), (40, 4, 3, [0, 16, 36])])
def test_window_starts(n, window, most, expected):
    assert window_starts(n, window, most).tolist() == expected


def test_the_quantised_pattern_keeps_what_the_grid_removed():
    beats = np.array([0.0, 0.5, 1.0, 1.5, 2.0])  # a grid at 120 bpm
    start = np.array([0.010, 0.245, 0.505, 0.505])  # kick late 10 ms, snare early 5 ms, two hats at once
    cls = np.array([0, 1, 2, 2])
    velocity = np.array([100.0, 80.0, 40.0, 60.0])
    hits, vel, off = quantised_pattern(start, cls, velocity, beats, 120.0)
    assert hits[0, 0] == 1 and off[0, 0] == pytest.approx(10.0) and vel[0, 0] == 100
    assert hits[2, 1] == 1 and off[2, 1] == pytest.approx(-5.0)
    assert hits[4, 2] == 1 and vel[4, 2] == 60, "the louder of two strokes in one step counts"
    assert hits.sum() == 3


def test_groove_targets_are_relative_to_the_piece_and_zero_where_nothing_is_struck():
    hits = np.array([[1, 0], [1, 1], [0, 0]], dtype=np.float32)
    offset_ms = np.array([[10.0, 0.0], [20.0, 30.0], [0.0, 0.0]], dtype=np.float32)
    centred = centred_on_piece(offset_ms, hits)
    assert centred.tolist() == [[-10.0, 0.0], [0.0, 10.0], [0.0, 0.0]]
    assert centred_on_piece(offset_ms, np.zeros_like(hits)).tolist() == np.zeros_like(hits).tolist()
    with pytest.raises(ValueError, match="same shape"):
        centred_on_piece(offset_ms, hits[:2])


def test_pooled_mel_segments_are_time_first_and_drop_padded_ends():
    segments = np.arange(2 * 64 * 8, dtype=np.float32).reshape(2, 64, 8)
    pooled = pooled_segments(segments, np.array([8, 2]))
    assert pooled.shape == (1, 2, 64)
    assert pooled[0, 0, 0] == pytest.approx(segments[0, 0, :4].mean())


def test_macro_f1_and_confusion():
    predicted, actual = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2])
    assert confusion(predicted, actual, 3).tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert macro_f1(predicted, actual, 3) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


@pytest.mark.parametrize("step, factor", [(0, 0.25), (3, 1.0), (4, 1.0), (14, 0.55), (24, 0.1), (99, 0.1)])
def test_warm_up_then_cosine(step, factor):
    assert lr_factor(step, warmup_steps=4, total_steps=24, min_share=0.1) == pytest.approx(factor)


def _toy_data(seed: int = 0) -> ModelData:
    """A learnable toy task: the class is the sign of the first input's sum over the window."""
    rng = np.random.default_rng(seed)
    heads = (Head("cls", "class", 2, False, classes=("neg", "pos")),
             Head("level", "regression", 1, False, unit="u", mean=(0.0,), std=(1.0,)))
    splits = {}
    for split, n in (("train", 96), ("val", 32), ("test", 32)):
        x = rng.normal(size=(n, 8, 3)).astype(np.float32)
        total = x[:, :, 0].sum(axis=1)
        splits[split] = SplitData(x, {"cls": (total > 0).astype(np.int64), "level": total[:, None].astype(np.float32)},
                                  {"level": np.ones((n, 1), dtype=bool)}, tuple(f"s{i}" for i in range(n)))
    return ModelData("toy", "EmotionRecognizer", None, heads, ("a", "b", "c"), np.zeros(3, np.float32),
                     np.ones(3, np.float32), splits, Vocabulary(("neg", "pos"), (), "cls"), "toy", {})


def _fit(data, **changes):
    settings = ModelSettings(**{"hidden": 8, "max_epochs": 12, "warmup_epochs": 1, "patience": 3, **changes})
    torch.manual_seed(0)
    model = StreamNet(3, architecture(settings, 3), dropout=settings.dropout)
    return model, fit(model, data, settings, seed=11, device=torch.device("cpu"))


def test_training_is_reproducible_with_a_seed():
    data = _toy_data()
    first, a = _fit(data)
    second, b = _fit(data)
    assert [r.val_loss for r in a.history] == [r.val_loss for r in b.history]
    for (name, p), q in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(p, q), name


def test_early_stopping_keeps_the_best_epoch_not_the_last():
    data = _toy_data()
    model, result = _fit(data, lr=0.05, max_epochs=40, patience=4)  # a high rate overshoots now and then
    scores = [r.val_score for r in result.history]
    assert result.best_epoch == int(np.argmin(scores)) + 1
    assert result.best_val_score == pytest.approx(min(scores))
    ratios = validation_ratios(predict(model, data.normalised("val"), torch.device("cpu")), data.heads, data)
    assert score(ratios) == pytest.approx(min(scores), abs=1e-6), "the model holds the best epoch's weights"
    assert result.stopped_early == (result.epochs_run < 40)


@pytest.mark.parametrize("ratios_per_epoch, stops_after", [
    # one head overfits from epoch 2 while the other improves until epoch 6: training goes on
    ([(0.5, 0.9), (0.7, 0.8), (0.9, 0.7), (1.2, 0.6), (1.5, 0.55), (1.9, 0.5), (2.0, 0.5), (2.0, 0.5), (2.0, 0.5)],
     9),
    ([(0.5, 0.9), (0.6, 0.9), (0.6, 0.9), (0.6, 0.9)], 4),
    ([(0.5, None), (0.4995, None), (0.499, None), (0.3, None)], None),  # below min_delta is no gain
])
def test_training_stops_only_when_no_head_improves(ratios_per_epoch, stops_after):
    stopper = _Stopper(2, patience=3, min_delta=1e-3)
    stopped = [stopper.update(r) for r in ratios_per_epoch]
    assert (stopped.index(True) + 1 if True in stopped else None) == stops_after


@pytest.mark.parametrize("ratios, expected", [
    ((0.5, 0.7), 0.6), ((0.5, 3.0), 0.75), ((None, 0.4), 0.4), ((None, None), 1.0), ((), 1.0),
])
def test_the_score_is_the_mean_ratio_each_capped_at_the_baseline(ratios, expected):
    assert score(ratios) == pytest.approx(expected)


def test_head_errors_brier_and_standardised_squared_error():
    heads = (Head("cls", "class", 2, False, classes=("a", "b")),
             Head("v", "regression", 1, True, unit="u", mean=(10.0,), std=(2.0,)))
    split = SplitData(np.zeros((2, 2, 1), np.float32), {"cls": np.array([0, -1]), "v": np.array(
        [[[12.0], [0.0]], [[8.0], [14.0]]], dtype=np.float32)}, {"v": np.array([[[True], [False]], [[True], [True]]])},
        ("a", "b"))
    outputs = np.zeros((2, 2, 3), np.float32)
    outputs[0, -1, :2] = (0.0, np.log(3.0))  # probabilities 1/4, 3/4 for a true class 0
    outputs[:, :, 2] = 0.0  # every value predicted at the mean, 10
    brier, mse = head_errors(outputs, heads, split)
    assert brier == pytest.approx(0.75 ** 2 + 0.75 ** 2)
    assert mse == pytest.approx((1.0 + 1.0 + 4.0) / 3)
    unscored = SplitData(split.inputs, {"cls": np.array([-1, -1]), "v": split.targets["v"]},
                         {"v": np.zeros((2, 2, 1), bool)}, ("a", "b"))
    assert head_errors(outputs, heads, unscored) == (None, None)
    assert error_ratios((0.5, None, 1.0), (1.0, 2.0, 0.0)) == (0.5, None, None)


def test_the_gate_score_of_the_baseline_and_of_a_better_model():
    data = _toy_data()
    model, _ = _fit(data, lr=0.01, max_epochs=30, patience=10)
    ours = score(validation_ratios(predict(model, data.normalised("val"), torch.device("cpu")), data.heads, data))
    base = score(validation_ratios(baseline_outputs(data, "val"), data.heads, data))
    assert base == pytest.approx(1.0)
    assert 0 < ours < base
    metrics, _ = evaluate(predict(model, data.normalised("test"), torch.device("cpu")), data.splits["test"],
                          data.heads, {"cls": 1})
    assert metrics["cls.accuracy"].beats_baseline and metrics["level.mae"].beats_baseline
