"""The validation report as one self-contained HTML page: the verdict and its reasons first, then
the figures behind them (classes against targets, split composition, key / mode / tempo spread),
the files with problems, the quarantine, and what changed since the last report."""

from __future__ import annotations

from typing import Any

from kellyd.splits import SPLITS
from kellyd.validate.html import esc, figure, page, section, size_text, table
from kellyd.validate.report import Change, Reason, ValidationReport
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

VERDICT_TEXT = {"ready": "Ready", "usable_with_warnings": "Usable with warnings", "invalid": "Invalid"}
VERDICT_LINE = {
    "ready": "Nothing stands in the way of training.",
    "usable_with_warnings": "Training can run; the warnings below are worth fixing.",
    "invalid": "Do not train on this dataset until the errors below are fixed.",
}
LISTED_IN_PAGE = 50
HEADLINE_CHARS = 180
DISTRIBUTION_COLORS = {"key": PALETTE[0], "mode": PALETTE[2], "tempo": PALETTE[5]}
DISTRIBUTION_WIDTHS = {"key": 520, "mode": 220, "tempo": 680}


def _count_words(report: ValidationReport) -> str:
    parts = []
    for severity, word in (("error", "error"), ("warning", "warning"), ("info", "note")):
        n = len(report.reasons_of(severity))  # type: ignore[arg-type]
        if n:
            parts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return ", ".join(parts) if parts else "no findings"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip(" ,;") + "…"


def _verdict(report: ValidationReport) -> str:
    first = next((r for r in report.reasons if r.severity != "info"), None)
    lead = f"<p><b>{esc(_shorten(first.message, HEADLINE_CHARS))}</b></p>" if first else ""
    content = (f'<div class="badge">{esc(VERDICT_TEXT[report.verdict])}</div>'
               f"<div><p>{esc(VERDICT_LINE[report.verdict])} ({esc(_count_words(report))})</p>{lead}</div>")
    return f'<section id="verdict" class="verdict {esc(report.verdict)}">{content}</section>'


def _affected(reason: Reason) -> str:
    if not reason.affected:
        return ""
    shown = reason.affected[:LISTED_IN_PAGE]
    more = reason.affected_count - len(shown)
    items = "".join(f'<li class="mono">{esc(a)}</li>' for a in shown)
    if more > 0:
        items += f"<li>... and {more:,} more (all in the JSON report up to its limit)</li>"
    return f"<details><summary>{reason.affected_count:,} affected</summary><ul>{items}</ul></details>"


def _reasons(report: ValidationReport) -> str:
    if not report.reasons:
        return section("reasons", "Findings", '<p class="empty">No findings: every check passed.</p>')
    items = "".join(
        f'<li class="{esc(r.severity)}"><span class="pill {esc(r.severity)}">{esc(r.severity)}</span>'
        f"<code>{esc(r.name)}</code> {esc(r.message)}{_affected(r)}</li>"
        for r in report.reasons)
    return section("reasons", "Findings", f'<ul class="reasons">{items}</ul>')


def _figures(report: ValidationReport) -> str:
    storage = size_text(report.storage.used_bytes)
    if report.storage.budget_bytes:
        storage += f" of {size_text(report.storage.budget_bytes)}"
    mode = "full: every file hashed" if report.mode == "full" else "cheap: unchanged files trusted"
    cells = [
        figure(f"{report.sample_count:,}", "samples"),
        figure(f"{report.original_count:,}", "originals"),
        figure(f"{report.augmented_count:,}", "augmented"),
        figure(f"{sum(1 for c in report.class_counts if c.total):,}", f"classes of {report.class_key}"),
        figure(storage, "storage used"),
        figure(f"{len(report.quarantined):,}", "quarantined files"),
        figure(f"{report.files_hashed:,} / {report.files_trusted:,}", f"files hashed / trusted ({mode})"),
    ]
    return section("figures", "At a glance", f'<div class="figures">{"".join(cells)}</div>')


def _classes(report: ValidationReport, colors: dict[str, str]) -> str:
    if not report.class_counts:
        return section("classes", "Classes against targets",
                       f'<p class="empty">No sample has a {esc(report.class_key)} label.</p>')
    rows = [BarRow(c.label, (Segment(c.originals, colors[c.label], "originals"),
                             Segment(c.augmented, colors[c.label], "augmented", AUGMENTED_OPACITY)), c.target)
            for c in report.class_counts]
    chart = bar_chart(rows, title=f"samples per {report.class_key} against the target")
    note = ("Solid: originals; light: augmented copies; dashed line: the target per class."
            if any(c.target for c in report.class_counts) else "Solid: originals; light: augmented copies.")
    if report.total_target:
        note += f" {report.target_model} wants {report.total_target:,}+ samples in all; it has {report.sample_count:,}."
    tab = table(["class", "originals", "augmented", "total", "target", "missing"],
                [(c.label, f"{c.originals:,}", f"{c.augmented:,}", f"{c.total:,}",
                  f"{c.target:,}" if c.target else "-", f"{c.missing:,}" if c.target else "-")
                 for c in report.class_counts], numeric=(1, 2, 3, 4, 5))
    return section("classes", f"Classes against targets ({report.class_key})",
                   f'{chart}<p class="meta">{esc(note)}</p>{tab}')


def _splits(report: ValidationReport, colors: dict[str, str]) -> str:
    labels = sorted({label for per in report.split_counts.values() for label in per})
    bar_colors = {label: colors.get(label, PALETTE[-1]) for label in labels}
    rows = [(split, [(label, report.split_counts.get(split, {}).get(label, 0)) for label in labels])
            for split in SPLITS]
    chart = share_bars(rows, bar_colors, title="class composition of each split")
    total = sum(sum(per.values()) for per in report.split_counts.values())
    table_rows = []
    for split, ratio in zip(SPLITS, report.split_ratios):
        per = report.split_counts.get(split, {})
        n = sum(per.values())
        share = f"{n / total:.0%}" if total else "-"
        table_rows.append((split, f"{n:,}", share, f"{ratio:.0%}",
                           ", ".join(f"{label or '(unlabelled)'} {count:,}" for label, count in per.items()) or "-"))
    tab = table(["split", "samples", "share", "wanted", "per class"], table_rows, numeric=(1, 2, 3))
    return section("splits", "Split composition", f"{legend(bar_colors)}{chart}{tab}")


def _distributions(report: ValidationReport) -> str:
    cells = []
    for dist in report.distributions:
        width = DISTRIBUTION_WIDTHS.get(dist.name, 400)
        if dist.coverage:
            chart = column_chart(dist.counts, title=f"{dist.name} distribution", width=width,
                                 color=DISTRIBUTION_COLORS.get(dist.name, PALETTE[0]))
            caption = (f"normalised entropy {dist.entropy:.2f} over {dist.categories} categories; "
                       f"{dist.coverage:,} samples")
        else:
            chart, caption = '<p class="empty">No sample has this annotation.</p>', ""
        cells.append(f'<div class="dist-{esc(dist.name)}"><h3>{esc(dist.name.capitalize())}</h3>{chart}'
                     f"<p class='meta'>{esc(caption)}</p></div>")
    return section("distributions", "Keys, modes and tempi (originals)", f'<div class="dists">{"".join(cells)}</div>')


def _quality(report: ValidationReport) -> str:
    problems = [r for r in report.reasons if r.family in ("quality", "structure") and r.severity != "info"]
    if not problems:
        return section("quality", "Quality problems", '<p class="empty">No quality problems found.</p>')
    rows = []
    for reason in problems:
        shown = reason.affected[:12]
        files = "<br>".join(f'<span class="mono">{esc(a)}</span>' for a in shown)
        if reason.affected_count > len(shown):
            files += f"<br>... and {reason.affected_count - len(shown):,} more"
        rows.append((f'<span class="pill {esc(reason.severity)}">{esc(reason.severity)}</span>'
                     f"<code>{esc(reason.check)}</code>", esc(reason.message), files or "-"))
    return section("quality", "Quality problems", table(["problem", "details", "files"], rows, raw=True))


def _quarantine(report: ValidationReport) -> str:
    if not report.quarantined:
        return section("quarantine", "Quarantined files", '<p class="empty">No quarantined files.</p>')
    rows = [(f'<span class="mono">{esc(q.path)}</span>', esc(q.reason), esc(q.handler), esc(q.when))
            for q in report.quarantined]
    return section("quarantine", f"Quarantined files ({len(report.quarantined):,})",
                   table(["file", "reason", "step", "when"], rows, raw=True))


def _change_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _change_row(change: Change, kind_names: dict[str, str]) -> tuple[str, str, str, str]:
    before, after = change.before, change.after
    is_storage = change.kind == "storage"
    show = size_text if is_storage else _change_value
    arrow = ""
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        delta = after - before
        if is_storage:
            text = ("+" if delta > 0 else "-") + size_text(abs(delta))
        else:
            text = f"{delta:+,}" if isinstance(delta, int) else f"{delta:+.3f}"
        arrow = f' <span class="{"up" if delta > 0 else "down"}">({esc(text)})</span>'
    subject = "bytes used" if is_storage else change.subject
    return (esc(kind_names.get(change.kind, change.kind)), f"<code>{esc(subject)}</code>", esc(show(before)),
            esc(show(after)) + arrow)


def _changes(report: ValidationReport) -> str:
    if report.previous_created_at is None:
        return section("changes", "Changes since the last report",
                       '<p class="empty">This is the first report of this dataset (nothing to compare with).</p>')
    since = f"Compared with the report of {report.previous_created_at}."
    if not report.changes:
        return section("changes", "Changes since the last report",
                       f'<p class="meta">{esc(since)}</p><p class="empty">Nothing changed.</p>')
    kind_names = {"verdict": "verdict", "samples": "samples", "class": "class total", "split": "split total",
                  "new_problem": "new problem", "resolved": "resolved", "storage": "storage",
                  "diversity": "diversity"}
    rows = [_change_row(c, kind_names) for c in report.changes]
    return section("changes", "Changes since the last report",
                   f'<p class="meta">{esc(since)}</p>' + table(["what", "subject", "before", "after"], rows,
                                                               raw=True))


def render_validation_report(report: ValidationReport) -> str:
    """The whole page for one report (UTF-8 text of a complete HTML document)."""
    colors = class_colors([c.label for c in report.class_counts])
    header = (f'<header class="top"><h1>Validation of {esc(report.dataset_id)}</h1>'
              f'<div class="meta">{esc(report.target_model)} · {esc(report.created_at)} · {esc(report.mode)} check'
              f" · {report.elapsed_s:.1f} s</div></header>")
    body = "".join((
        _verdict(report), _reasons(report), _figures(report), _classes(report, colors), _splits(report, colors),
        _distributions(report), _quality(report), _quarantine(report), _changes(report),
    ))
    return page(f"{report.dataset_id}: {VERDICT_TEXT[report.verdict]}", header, body)
