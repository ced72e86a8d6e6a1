"""The training report: `datasets/<id>/reports/training-<UTC>.html` and `training-latest.html`.

Self-contained HTML (inline CSS and SVG, no script), built from the template
`training.html`: first the gate's decision per model and why; per model, each head
against each baseline on the validation split, loss curves per epoch, every metric on
train, val and test with its baselines, a compact confusion matrix for each classifier
head (test split: true classes on rows, predicted on columns, only classes present),
and what changed since the model that was current before.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from kellyd.atomic import atomic_write_bytes
from kellyd.validate.html import esc
from kellyd.validate.svg import PALETTE, nice_max
from kellyd.validate.templating import render

REPORTS_DIR = "reports"
LATEST_NAME = "training-latest.html"


def epoch_curves(epochs: Sequence[int], series: Sequence[tuple[str, Sequence[float | None]]], best_epoch: int, *,
                 title: str, width: int = 640, height: int = 220) -> str:
    """An SVG of named values per epoch (None: no point), the best epoch marked."""
    left, right, top, bottom = 56.0, 150.0, 12.0, 28.0
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, points in series for v in points if v is not None]
    if not epochs or not values:
        return f'<svg viewBox="0 0 {width} {height}" role="img"><title>{esc(title)}: no epochs</title></svg>'
    body = []
    y_max = nice_max(max(values))
    x_of = (lambda e: left + plot_w * (e - epochs[0]) / max(epochs[-1] - epochs[0], 1))
    y_of = (lambda v: top + plot_h * (1 - min(v, y_max) / y_max))
    for tick in range(5):
        y = top + plot_h * tick / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="#777">'
                    f'{y_max * (1 - tick / 4):.3g}</text>')
    for e in sorted({epochs[0], epochs[-1], best_epoch}):
        body.append(f'<text x="{x_of(e):.1f}" y="{height - 8}" text-anchor="middle" font-size="10" fill="#777">'
                    f'{e}</text>')
    bx = x_of(best_epoch)
    body.append(f'<line x1="{bx:.1f}" y1="{top}" x2="{bx:.1f}" y2="{top + plot_h}" stroke="#222" '
                f'stroke-dasharray="3 2"><title>best epoch {best_epoch}</title></line>')
    for i, (name, points) in enumerate(series):
        line = " ".join(f"{x_of(e):.1f},{y_of(v):.1f}" for e, v in zip(epochs, points) if v is not None)
        body.append(f'<polyline points="{line}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2"/>')
        body.append(f'<text x="{left + plot_w + 8}" y="{top + 14 + 16 * i}" font-size="11" '
                    f'fill="{PALETTE[i % len(PALETTE)]}">{esc(name)}</text>')
    body.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle" font-size="10" '
                f'fill="#999">epoch</text>')
    return (f'<svg viewBox="0 0 {width} {height}" role="img" font-family="system-ui, sans-serif">'
            f'<title>{esc(title)}</title>{"".join(body)}</svg>')


def loss_curves(history: Sequence[Any], best_epoch: int) -> str:
    """Train and validation loss per epoch (the training objective), the best epoch marked."""
    return epoch_curves([r.epoch for r in history], [("train loss", [r.train_loss for r in history]),
                                                     ("validation loss", [r.val_loss for r in history])],
                        best_epoch, title="loss per epoch")


def score_curves(history: Sequence[Any], head_names: Sequence[str], best_epoch: int) -> str:
    """Per head, validation error as a share of the baseline's, and the score the epoch is chosen by."""
    series = [(name, [r.val_ratios[i] if i < len(r.val_ratios) else None for r in history])
              for i, name in enumerate(head_names)]
    series.append(("score (chooses)", [r.val_score for r in history]))
    return epoch_curves([r.epoch for r in history], series, best_epoch,
                        title="validation error / baseline error per epoch (1 = baseline)")


DECISION_TEXT = {"promoted": "promoted", "kept_champion": "not promoted: the current model stays",
                 "below_baseline": "not promoted: below a baseline"}


def _shade(share: float) -> tuple[str, str]:
    """(background, text colour) of a confusion cell holding `share` of its row."""
    alpha = 0.06 + 0.84 * share
    return f"rgba(0,114,178,{alpha:.2f})", "#fff" if alpha > 0.55 else "#1f2328"


def confusion_table(head: str, matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> dict[str, Any]:
    """A compact confusion matrix: true classes on rows, predicted on columns, only the classes with
    an example or a prediction, each cell with its count and its share of the row."""
    n = len(matrix)
    names = list(classes) if len(classes) == n else [str(i) for i in range(n)]
    present = [i for i in range(n) if sum(matrix[i]) > 0 or sum(row[i] for row in matrix) > 0]
    rows = []
    for i in present:
        total = sum(int(matrix[i][j]) for j in range(n))
        cells = []
        for j in present:
            count = int(matrix[i][j])
            share = count / total if total else 0.0
            fill, ink = _shade(share)
            cells.append({"count": count, "share": share, "fill": fill, "ink": ink, "predicted": names[j]})
        rows.append({"label": names[i], "cells": cells, "recall": int(matrix[i][i]) / total if total else None})
    return {"head": head, "classes": [names[j] for j in present], "rows": rows,
            "total": sum(int(v) for row in matrix for v in row), "hidden": n - len(present)}


def _metric_rows(metrics: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for name, test in metrics["test"].items():
        higher = test["better"] == "higher"
        wins = test["value"] > test["baseline"] if higher else test["value"] < test["baseline"]
        rows.append({"name": name, "unit": test.get("unit") or "", "train": metrics["train"][name]["value"],
                     "val": metrics["val"][name]["value"], "test": test["value"], "baseline": test["baseline"],
                     "classical": test.get("classical"), "better": f"{test['better']} is better", "wins": wins,
                     "count": test["count"]})
    return rows


def _head_rows(gate: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per head of the gate: its figures and, per baseline, whether the model beat it."""
    heads, names = [], []
    for head in gate.get("heads") or ():
        higher = head["better"] == "higher"
        beats = {b: (head["challenger"] > v if higher else head["challenger"] < v) or
                 (head["challenger"] == v and head.get("passed", False)) for b, v in head["baselines"].items()}
        names.extend(b for b in head["baselines"] if b not in names)
        heads.append({**head, "beats": beats, "level": head.get("level")})
    return heads, names


def _caution(entry: Mapping[str, Any], decision: str) -> str:
    """A promoted model whose test figures lag a baseline: say so beside the decision."""
    if decision != "promoted":
        return ""
    behind = [r["name"] for r in _metric_rows(entry["metrics"]) if not r["wins"]]
    if not behind:
        return ""
    return (f"Caution: on the test split {', '.join(behind[:4])} do{'es' if len(behind) == 1 else ''} not beat "
            f"the baseline; the validation split decided, the test split may disagree on so few examples.")


def _changes(entry: Mapping[str, Any], champion: Mapping[str, Any] | None) -> list[str] | None:
    """What differs from the model that was current before this training (None: there was none)."""
    if champion is None:
        return None
    items = []
    old, new = champion["dataset"], entry["dataset"]
    if old["manifest_sha256"] == new["manifest_sha256"]:
        items.append("the same dataset manifest")
    else:
        counts = ", ".join(f"{s} {old['samples'][s]:,} → {new['samples'][s]:,}" for s in ("train", "val", "test"))
        items.append(f"dataset {old['dataset_id']} → {new['dataset_id']}, samples: {counts}")
    added = sorted(set(new["classes"]) - set(old["classes"]))
    removed = sorted(set(old["classes"]) - set(new["classes"]))
    if added or removed:
        items.append(f"classes added: {', '.join(added) or 'none'}; removed: {', '.join(removed) or 'none'}")
    for key in sorted(k for k in set(entry["hyperparameters"]) | set(champion["hyperparameters"])
                      if entry["hyperparameters"].get(k) != champion["hyperparameters"].get(k)):
        items.append(f"{key}: {champion['hyperparameters'].get(key)} → {entry['hyperparameters'].get(key)}")
    for split in ("val", "test"):
        for name, metric in entry["metrics"][split].items():
            before = champion["metrics"][split].get(name)
            if before is not None:
                items.append(f"{split} {name}: {_number(before['value'])} → {_number(metric['value'])}")
    return items


def _number(value: float) -> str:
    return f"{value:.4g}"


def _model(entry: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    key = entry["model"] + (f"-{entry['variant']}" if entry["variant"] else "")
    gate = entry["gate"]
    heads, baseline_names = _head_rows(gate)
    confusions = []
    for head, matrix in entry["confusion"].items():
        classes = entry["dataset"]["classes"] if head == entry["dataset"]["label_key"] else ()
        confusions.append(confusion_table(head, matrix, classes))
    champion = extra.get("champion")
    metric_rows = _metric_rows(entry["metrics"])
    return {
        "key": key, "version": entry["version"], "decision": gate["decision"],
        "decision_text": DECISION_TEXT.get(gate["decision"], gate["decision"].replace("_", " ")),
        "reason": gate["reason"], "caution": _caution(entry, gate["decision"]), "heads": heads,
        "baseline_names": baseline_names, "best_epoch": entry["best_epoch"], "epochs_run": entry["epochs_run"],
        "training_time_s": entry["training_time_s"], "device": entry["device"],
        "examples_per_s": entry["examples_per_s"],
        "loss_chart": loss_curves(extra["history"], entry["best_epoch"]),
        "score_chart": score_curves(extra["history"], extra.get("heads", ()), entry["best_epoch"]),
        "metric_rows": metric_rows, "has_classical": any(r["classical"] is not None for r in metric_rows),
        "confusions": confusions, "changes": _changes(entry, champion),
        "champion_version": champion["version"] if champion else None,
        "champion_created": champion["created_at"] if champion else None,
    }


def render_training_report(dataset_id: str, entries: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
                           *, created_at: str) -> str:
    """The HTML of one training run (template `training.html`). entries: (registry entry, {"history",
    "champion", "heads"}) per model. The headline is the gate's decision per model and why."""
    models = [_model(entry, extra) for entry, extra in entries]
    promoted = [m for m in models if m["decision"] == "promoted"]
    if not models:
        page_class, page_word = "usable_with_warnings", "Nothing trained"
    elif len(promoted) == len(models):
        page_class, page_word = "ready", "Promoted"
    else:
        page_class, page_word = "usable_with_warnings", "Not promoted" if not promoted else "Partly promoted"
    return render("training.html", dataset_id=dataset_id, created_at=created_at, models=models,
                  page_class=page_class, page_word=page_word)


def write_training_report(root: Path, entries: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], *,
                          now: datetime) -> Path:
    """Write `reports/training-<UTC>.html` and `reports/training-latest.html` atomically; returns the first."""
    moment = now.astimezone(timezone.utc)
    html = render_training_report(Path(root).name, entries, created_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    folder = Path(root) / REPORTS_DIR
    path = folder / f"training-{moment.strftime('%Y%m%dT%H%M%SZ')}.html"
    atomic_write_bytes(path, html.encode("utf-8"))
    atomic_write_bytes(folder / LATEST_NAME, html.encode("utf-8"))
    return path
