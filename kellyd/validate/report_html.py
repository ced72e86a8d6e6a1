"""The validation report as one self-contained HTML page (template `validation.html`): the verdict
and the finding behind it first, then the figures behind the findings (classes against targets,
split composition on originals, where the samples come from, key / mode / tempo / duration /
density spread), the problems, the quarantine grouped by reason, and what changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kellyd.quarantine_groups import group_quarantine
from kellyd.splits import SPLITS
from kellyd.validate.html import size_text
from kellyd.validate.report import Change, Distribution, ValidationReport
from kellyd.validate.svg import (
    AUGMENTED_OPACITY,
    PALETTE,
    BarRow,
    Segment,
    bar_chart,
    class_colors,
    column_chart,
    legend,
    share_bars,
)
from kellyd.validate.templating import render

VERDICT_TEXT = {"ready": "Ready", "usable_with_warnings": "Usable with warnings", "invalid": "Invalid"}
VERDICT_LINE = {
    "ready": "Nothing stands in the way of training.",
    "usable_with_warnings": "Training can run; the warnings below are worth fixing.",
    "invalid": "Do not train on this dataset until the errors below are fixed.",
}
LISTED_IN_PAGE = 50
DISTRIBUTION_COLORS = {"key": PALETTE[0], "mode": PALETTE[2], "tempo": PALETTE[5], "duration": PALETTE[3],
                       "density": PALETTE[4]}
DISTRIBUTION_WIDTHS = {"key": 520, "mode": 220, "tempo": 680, "duration": 440, "density": 400}
DISTRIBUTION_TITLES = {"key": "Key", "mode": "Mode", "tempo": "Tempo (BPM)", "duration": "Duration",
                       "density": "Note density (notes per second)"}
KIND_NAMES = {"verdict": "verdict", "samples": "samples", "class": "class total", "split": "split originals",
              "new_problem": "new problem", "resolved": "resolved", "storage": "storage", "diversity": "diversity"}


def _count_words(report: ValidationReport) -> str:
    parts = []
    for severity, word in (("error", "error"), ("warning", "warning"), ("info", "note")):
        n = len(report.reasons_of(severity))  # type: ignore[arg-type]
        if n:
            parts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return ", ".join(parts) if parts else "no findings"


def _class_chart(report: ValidationReport, colors: dict[str, str]) -> tuple[str, str]:
    rows = [BarRow(c.label, (Segment(c.originals, colors[c.label], "originals"),
                             Segment(c.augmented, colors[c.label], "augmented", AUGMENTED_OPACITY)), c.target)
            for c in report.class_counts]
    chart = bar_chart(rows, title=f"samples per {report.class_key} against the target")
    note = ("Solid: originals; light: augmented copies; dashed line: the target per class, which counts "
            "originals only." if any(c.target for c in report.class_counts)
            else "Solid: originals; light: augmented copies.")
    if "log scale" in chart:
        note += " The axis is logarithmic: the counts differ by orders of magnitude."
    if report.total_target:
        note += (f" {report.target_model} wants {report.total_target:,}+ original samples in all; it has "
                 f"{report.original_count:,}.")
    return chart, note


@dataclass(frozen=True)
class SplitRow:
    split: str
    originals: int
    share: float | None
    wanted: float
    augmented: int
    per_class: str


def _splits(report: ValidationReport, colors: dict[str, str]) -> tuple[str, str, list[SplitRow]]:
    labels = sorted({label for per in report.split_counts.values() for label in per})
    bar_colors = {label: colors.get(label, PALETTE[-1]) for label in labels}
    rows = [(split, [(label, report.split_counts.get(split, {}).get(label, 0)) for label in labels])
            for split in SPLITS]
    chart = share_bars(rows, bar_colors, title="class composition of each split (originals)")
    total = sum(sum(per.values()) for per in report.split_counts.values())
    table_rows = []
    for split, ratio in zip(SPLITS, report.split_ratios):
        per = report.split_counts.get(split, {})
        n = sum(per.values())
        table_rows.append(SplitRow(split, n, n / total if total else None, ratio,
                                   sum(report.split_augmented.get(split, {}).values()),
                                   ", ".join(f"{label or '(unlabelled)'} {count:,}" for label, count in per.items())
                                   or "-"))
    return legend(bar_colors), chart, table_rows


def _distributions(report: ValidationReport) -> list[dict[str, str]]:
    cells = []
    dists: tuple[Distribution, ...] = (*report.distributions, *report.spreads)
    for dist in dists:
        chart = caption = ""
        if dist.coverage:
            chart = column_chart(dist.counts, title=f"{dist.name} distribution",
                                 width=DISTRIBUTION_WIDTHS.get(dist.name, 400),
                                 color=DISTRIBUTION_COLORS.get(dist.name, PALETTE[0]))
            caption = (f"normalised entropy {dist.entropy:.2f} over {dist.categories} categories; "
                       f"{dist.coverage:,} originals")
        cells.append({"name": dist.name, "title": DISTRIBUTION_TITLES.get(dist.name, dist.name.capitalize()),
                       "chart": chart, "caption": caption})
    return cells


def _source_chart(report: ValidationReport) -> str:
    colors = class_colors([s for s, _ in report.source_counts])
    rows = [BarRow(source, (Segment(n, colors[source], source),)) for source, n in report.source_counts]
    return bar_chart(rows, title="samples per source")


def _change_value(value: Any, *, storage: bool) -> str:
    if value is None:
        return "-"
    if storage and isinstance(value, (int, float)):
        return size_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _change(change: Change) -> dict[str, str]:
    storage = change.kind == "storage"
    before, after = change.before, change.after
    delta = direction = ""
    if isinstance(before, (int, float)) and isinstance(after, (int, float)) and not isinstance(before, bool):
        diff = after - before
        if storage:
            delta = ("+" if diff > 0 else "-") + size_text(abs(diff))
        else:
            delta = f"{diff:+,}" if isinstance(diff, int) else f"{diff:+.3f}"
        direction = "up" if diff > 0 else "down"
    return {"what": KIND_NAMES.get(change.kind, change.kind), "subject": "bytes used" if storage else change.subject,
            "before": _change_value(before, storage=storage), "after": _change_value(after, storage=storage),
            "delta": delta, "direction": direction}


def render_validation_report(report: ValidationReport) -> str:
    """The whole page for one report (UTF-8 text of a complete HTML document)."""
    colors = class_colors([c.label for c in report.class_counts])
    class_chart, class_note = _class_chart(report, colors) if report.class_counts else ("", "")
    split_legend, split_chart, split_rows = _splits(report, colors)
    storage = size_text(report.storage.used_bytes)
    if report.storage.budget_bytes:
        storage += f" of {size_text(report.storage.budget_bytes)}"
    return render(
        "validation.html", r=report, verdict_text=VERDICT_TEXT[report.verdict],
        verdict_line=VERDICT_LINE[report.verdict], count_words=_count_words(report),
        headline=next((r for r in report.reasons if r.severity != "info"), None), listed=LISTED_IN_PAGE,
        classes_present=sum(1 for c in report.class_counts if c.total), storage_text=storage,
        class_chart=class_chart, class_note=class_note, split_legend=split_legend, split_chart=split_chart,
        split_rows=split_rows, source_chart=_source_chart(report) if report.source_counts else "",
        dists=_distributions(report),
        quality=[r for r in report.reasons if r.family in ("quality", "structure") and r.severity != "info"],
        quarantine=group_quarantine((q.path, q.handler, q.reason) for q in report.quarantined),
        changes=[_change(c) for c in report.changes],
    )
