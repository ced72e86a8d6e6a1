"""The training report: `datasets/<id>/reports/training-<UTC>.html` and `training-latest.html`.

Self-contained HTML (inline CSS and SVG, no script): per model trained, the gate's
decision, loss curves per epoch, every metric on train, val and test with its
baseline, a confusion matrix for each classifier head (test split), and what
changed since the model that was current before.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from kellyd.atomic import atomic_write_bytes
from kellyd.validate.html import esc, figure, page, section, table
from kellyd.validate.svg import PALETTE, nice_max

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


def confusion_svg(matrix: Sequence[Sequence[int]], classes: Sequence[str], *, cell: int = 34) -> str:
    """Rows actual, columns predicted; darker cells hold more examples."""
    n = len(classes)
    label_w = max(60, 7 * max((len(c) for c in classes), default=4) + 12)
    width, height = label_w + n * cell + 8, label_w + n * cell + 8
    peak = max((v for row in matrix for v in row), default=0) or 1
    body = []
    for i, name in enumerate(classes):
        y = label_w + i * cell + cell * 0.6
        body.append(f'<text x="{label_w - 6}" y="{y:.1f}" text-anchor="end" font-size="11">{esc(name)}</text>')
        x = label_w + i * cell + cell * 0.6
        body.append(f'<text x="{x:.1f}" y="{label_w - 6}" font-size="11" transform="rotate(-45 {x:.1f} '
                    f'{label_w - 6})">{esc(name)}</text>')
        for j in range(n):
            value = int(matrix[i][j])
            shade = value / peak
            fill = f"rgba(0,114,178,{0.08 + 0.92 * shade:.2f})"
            text_fill = "#fff" if shade > 0.55 else "#222"
            cx, cy = label_w + j * cell, label_w + i * cell
            body.append(f'<rect x="{cx}" y="{cy}" width="{cell - 2}" height="{cell - 2}" fill="{fill}">'
                        f'<title>actual {esc(name)}, predicted {esc(classes[j])}: {value}</title></rect>'
                        f'<text x="{cx + cell / 2 - 1}" y="{cy + cell * 0.6}" text-anchor="middle" font-size="11" '
                        f'fill="{text_fill}">{value}</text>')
    return (f'<svg viewBox="0 0 {width} {height}" role="img" font-family="system-ui, sans-serif">'
            f'<title>confusion matrix (rows actual, columns predicted)</title>{"".join(body)}</svg>')


def _number(value: float) -> str:
    return f"{value:.4g}"


def metrics_table(metrics: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    rows = []
    for name, test in metrics["test"].items():
        better = "higher" if test["better"] == "higher" else "lower"
        wins = test["value"] > test["baseline"] if better == "higher" else test["value"] < test["baseline"]
        rows.append((name, test["unit"] or "", *(_number(metrics[s][name]["value"]) for s in ("train", "val", "test")),
                     _number(test["baseline"]), f"{better} is better", "yes" if wins else "no", test["count"]))
    return table(("metric", "unit", "train", "val", "test", "test baseline", "", "beats baseline", "scored"),
                 rows, numeric=(2, 3, 4, 5, 8))


def changes_since(entry: Mapping[str, Any], champion: Mapping[str, Any] | None) -> str:
    """What differs from the model that was current before this training (HTML list)."""
    if champion is None:
        return "<p>No model was current before: this is the first one.</p>"
    items = []
    old, new = champion["dataset"], entry["dataset"]
    if old["manifest_sha256"] == new["manifest_sha256"]:
        items.append("the same dataset manifest")
    else:
        counts = ", ".join(f"{s} {old['samples'][s]:,} &rarr; {new['samples'][s]:,}" for s in ("train", "val", "test"))
        items.append(f"dataset {esc(old['dataset_id'])} &rarr; {esc(new['dataset_id'])}, samples: {counts}")
    added = sorted(set(new["classes"]) - set(old["classes"]))
    removed = sorted(set(old["classes"]) - set(new["classes"]))
    if added or removed:
        items.append(f"classes added: {esc(', '.join(added) or 'none')}; removed: {esc(', '.join(removed) or 'none')}")
    changed = sorted(k for k in set(entry["hyperparameters"]) | set(champion["hyperparameters"])
                     if entry["hyperparameters"].get(k) != champion["hyperparameters"].get(k))
    for key in changed:
        items.append(f"{esc(key)}: {esc(champion['hyperparameters'].get(key))} &rarr; "
                     f"{esc(entry['hyperparameters'].get(key))}")
    for split in ("val", "test"):
        for name, metric in entry["metrics"][split].items():
            before = champion["metrics"][split].get(name)
            if before is not None:
                items.append(f"{split} {esc(name)}: {_number(before['value'])} &rarr; {_number(metric['value'])}")
    listed = "".join(f"<li>{item}</li>" for item in items)
    return f"<p>Compared with {esc(champion['version'])} ({esc(champion['created_at'])}):</p><ul>{listed}</ul>"


def render_training_report(dataset_id: str, entries: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
                           *, created_at: str) -> str:
    """The HTML of one training run. entries: (registry entry, {"history", "champion"}) per model."""
    parts = []
    for entry, extra in entries:
        key = entry["model"] + (f"-{entry['variant']}" if entry["variant"] else "")
        summary = "".join((
            figure(entry["version"], "version"), figure(entry["gate"]["decision"].replace("_", " "), "decision"),
            figure(f"{entry['best_epoch']} / {entry['epochs_run']}", "best epoch / epochs run"),
            figure(f"{entry['training_time_s']:.1f} s", f"training on {entry['device']}"),
            figure(f"{entry['examples_per_s']:,.0f}", "examples per second"),
        ))
        body = [f'<div class="figures">{summary}</div><p>{esc(entry["gate"]["reason"])}</p>',
                "<h3>Loss</h3>", loss_curves(extra["history"], entry["best_epoch"]),
                "<h3>Validation error against the baseline</h3>",
                "<p>Per head, the validation error divided by the baseline's (Brier score for classes, squared "
                "error for values); the epoch kept has the lowest score, the mean of these ratios capped at 1.</p>",
                score_curves(extra["history"], extra.get("heads", ()), entry["best_epoch"]),
                "<h3>Metrics and baselines</h3>", metrics_table(entry["metrics"])]
        for head, matrix in entry["confusion"].items():
            classes = entry["dataset"]["classes"] if head == entry["dataset"]["label_key"] else None
            names = classes or [str(i) for i in range(len(matrix))]
            body.append(f"<h3>Confusion matrix: {esc(head)} (test split)</h3>{confusion_svg(matrix, names)}")
        body.append("<h3>What changed since the current model</h3>" + changes_since(entry, extra.get("champion")))
        parts.append(section(key, f"{key} {entry['version']}", "".join(body)))
    header = (f"<header><h1>Training: {esc(dataset_id)}</h1><p>{esc(created_at)}. Baselines: the majority "
              f"class of the training split for classifiers, the training mean for regression. The test split "
              f"is reported here and never used to choose.</p></header>")
    return page(f"kellyd training: {dataset_id}", header, "".join(parts))


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
