"""Accuracy of the MIDI features on real music, printed as markdown tables.

    python bench/accuracy_midi.py [--realdata DIR] [--groove-limit N]

Sources (all under the real data corpus, see its README for licences):
- Groove MIDI Dataset v1.0.0 (Magenta, CC BY 4.0): tempo against `info.csv`
  (the label, then the onset-based estimator alone), swing ratio by style;
- POP909 songs 001, 004, 005 (MIT): key against `key_audio.txt` (MIREX
  weighted score), chords against `chord_midi.txt` (root and triad, share of time);
- every MIDI file of the corpus: processed without error and without NaN/inf.

The corpus readers below are also what the tests use on their fast subsets.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kellyd.music.chords import QUALITY_NAMES, chord_symbol
from kellyd.music.key import PROFILES, estimate_key
from kellyd.music.midi_features import extract_midi
from kellyd.music.midi_io import read_score
from kellyd.music.mir_scores import (
    LabelledSpan,
    chord_root_triad_accuracy,
    mirex_key_score,
    parse_harte_key,
    read_spans,
    tempo_acc1,
    tempo_acc2,
)
from kellyd.music.pitch_classes import parse_pitch_name
from kellyd.music.stats import pitch_class_histogram
from kellyd.music.tempo import estimate_tempo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._realdata, when run as a script
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402

# Styles the Groove README lists as swing feels (info.csv spells them with "/").
SWING_STYLES = frozenset({"jazz/swing", "jazz", "blues/shuffle", "rock/shuffle", "neworleans/secondline"})
STRAIGHT_FAMILIES = frozenset({"rock", "funk", "pop"})
POP909_SONGS = ("001", "004", "005")


@dataclass(frozen=True)
class GrooveEntry:
    path: Path
    style: str
    bpm: float
    beat_type: str
    time_signature: str
    duration_s: float

    @property
    def feel(self) -> str | None:
        """"swing" for the swing-feel styles, "straight" for plain rock/funk/pop, else None."""
        if self.style in SWING_STYLES:
            return "swing"
        family = self.style.split("/")[0]
        if family in STRAIGHT_FAMILIES and "shuffle" not in self.style:
            return "straight"
        return None


def groove_entries(realdata: Path) -> list[GrooveEntry]:
    """Every Groove MIDI file with its `info.csv` row, in the csv's order."""
    root = realdata / "groove_midi"
    with open(root / "info.csv", newline="") as f:
        return [
            GrooveEntry(root / row["midi_filename"], row["style"], float(row["bpm"]), row["beat_type"],
                        row["time_signature"], float(row["duration"]))  # fmt: skip
            for row in csv.DictReader(f)
        ]


def every_kth(items: list, count: int) -> list:
    """`count` items spread evenly over `items` (deterministic), all of them if there are fewer."""
    if count >= len(items):
        return list(items)
    idx = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in idx]


# ---------------------------------------------------------------- Groove: tempo and swing


@dataclass(frozen=True)
class GrooveResult:
    entry: GrooveEntry
    label_bpm: float
    onset_bpm: float
    swing_ratio: float | None
    groove_type: str | None


def measure_groove(entry: GrooveEntry) -> GrooveResult:
    score = read_score(entry.path)
    extracted = extract_midi(score)
    notes = score.all_notes
    onset = estimate_tempo(notes.start_s, notes.velocity / 127.0)
    return GrooveResult(entry, float(extracted.labels["tempo_bpm"]), onset.bpm,
                        extracted.labels.get("swing_ratio"), extracted.labels.get("groove_type"))  # fmt: skip


def tempo_table(results: list[GrooveResult]) -> list[tuple[str, int, float, float]]:
    """Rows (what, files, acc1, acc2) for the tempo label and the onset estimator, by beat/fill."""
    rows = []
    for what, bpm_of in (("tempo label (tempo map)", lambda r: r.label_bpm), ("onset estimator alone", lambda r: r.onset_bpm)):
        for subset, pick in (("all", lambda r: True), ("beats", lambda r: r.entry.beat_type == "beat"),
                             ("fills", lambda r: r.entry.beat_type == "fill")):  # fmt: skip
            chosen = [r for r in results if pick(r)]
            if not chosen:
                continue
            acc1 = float(np.mean([tempo_acc1(bpm_of(r), r.entry.bpm) for r in chosen]))
            acc2 = float(np.mean([tempo_acc2(bpm_of(r), r.entry.bpm) for r in chosen]))
            rows.append((f"{what}, {subset}", len(chosen), acc1, acc2))
    return rows


@dataclass(frozen=True)
class SwingSeparation:
    swing_mean: float
    straight_mean: float
    swing_n: int
    straight_n: int
    auc: float
    cohen_d: float


def swing_separation(results: list[GrooveResult]) -> SwingSeparation:
    """Mean swing ratio of the swing-feel vs the straight files (those with a defined ratio), the
    ROC AUC (chance a swing file measures higher than a straight one) and Cohen's d."""
    swing = np.array([r.swing_ratio for r in results if r.entry.feel == "swing" and r.swing_ratio is not None])
    straight = np.array([r.swing_ratio for r in results if r.entry.feel == "straight" and r.swing_ratio is not None])
    if len(swing) == 0 or len(straight) == 0:
        raise ValueError(f"need both groups, got {len(swing)} swing and {len(straight)} straight ratios")
    greater = (swing[:, None] > straight[None, :]).mean() + 0.5 * (swing[:, None] == straight[None, :]).mean()
    return SwingSeparation(float(swing.mean()), float(straight.mean()), len(swing), len(straight), float(greater),
                           cohen_d(swing, straight))  # fmt: skip


def cohen_d(a: np.ndarray, b: np.ndarray) -> float:
    """Difference of means in units of the pooled standard deviation; 0 when it is undefined."""
    if len(a) < 2 or len(b) < 2:
        return 0.0
    pooled_var = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return float((a.mean() - b.mean()) / math.sqrt(pooled_var)) if pooled_var > 0 else 0.0


# ---------------------------------------------------------------- POP909: key and chords


@dataclass(frozen=True)
class Pop909Result:
    song: str
    reference_key: str
    estimated_key: str
    key_score: float
    key_score_by_profile: dict[str, float]
    chord_accuracy: float


def pop909_paths(realdata: Path, song: str) -> tuple[Path, Path, Path]:
    folder = realdata / "pop909" / song
    return folder / f"{song}.mid", folder / "key_audio.txt", folder / "chord_midi.txt"


def reference_key(key_text: str) -> str:
    """The key label ("Gb:maj") covering the most time in a POP909 key file."""
    return max(read_spans(key_text), key=lambda s: s.end_s - s.start_s).label


def measure_pop909(realdata: Path, song: str) -> Pop909Result:
    midi, key_file, chord_file = pop909_paths(realdata, song)
    score = read_score(midi)
    extracted = extract_midi(score)
    ref_label = reference_key(key_file.read_text())
    ref_tonic, ref_mode = parse_harte_key(ref_label)
    est_tonic = parse_pitch_name(extracted.labels["key"])
    key_score = mirex_key_score(est_tonic, extracted.labels["mode"], ref_tonic, ref_mode)
    by_profile = {}
    hist = pitch_class_histogram(score.pitched)
    for profile in PROFILES:
        k = estimate_key(hist, profile)
        by_profile[profile] = mirex_key_score(k.tonic_pc, k.mode, ref_tonic, ref_mode) if k else 0.0
    a = extracted.arrays
    frames_est = [
        LabelledSpan(float(s), float(e), chord_symbol(int(r), None if q < 0 else QUALITY_NAMES[int(q)]))
        for s, e, r, q in zip(a["chord_start_s"], a["chord_end_s"], a["chord_root"], a["chord_quality"])
    ]
    accuracy = chord_root_triad_accuracy(read_spans(chord_file.read_text()), frames_est)
    estimated = f"{extracted.labels['key']}:{extracted.labels['mode'][:3]}"
    return Pop909Result(song, ref_label, estimated, key_score, by_profile, accuracy)


# ---------------------------------------------------------------- every MIDI file


def all_midi_files(realdata: Path) -> list[Path]:
    return sorted(p for p in realdata.rglob("*") if p.suffix.lower() in (".mid", ".midi") and "holdout" not in p.parts)


def non_finite_features(path: Path) -> list[str]:
    """Names of scalars/arrays that hold NaN or inf after extracting `path` (empty when all finite)."""
    extracted = extract_midi(read_score(path))
    bad = [f"array {k}" for k, v in extracted.arrays.items()
           if np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v))]  # fmt: skip

    def walk(value, where):
        if isinstance(value, float) and not math.isfinite(value):
            bad.append(where)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    walk(dict(extracted.scalars), "scalars")
    walk(dict(extracted.labels), "labels")
    return bad


# ---------------------------------------------------------------- report


def _md_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--groove-limit", type=int, default=0, help="use N Groove files spread evenly (0: all)")
    args = parser.parse_args(argv)
    realdata: Path = args.realdata
    if skipped_without_corpus("accuracy_midi", realdata, "groove_midi/info.csv", "pop909"):
        return 0
    t0 = time.perf_counter()

    entries = groove_entries(realdata)
    if args.groove_limit:
        entries = every_kth(entries, args.groove_limit)
    results = [measure_groove(e) for e in entries]
    print(f"## MIDI tempo: Groove MIDI Dataset ({len(results)} files, ground truth info.csv bpm)\n")
    print(_md_table(["what", "files", "acc1 (4 %)", "acc2 (x2, x3)"], [list(r) for r in tempo_table(results)]))

    sep = swing_separation(results)
    print(f"\n## Swing ratio by style (Groove; ratio defined on {sep.swing_n + sep.straight_n} files)\n")
    print(_md_table(["group", "files with a ratio", "mean swing ratio"],
                    [["swing feels: " + ", ".join(sorted(SWING_STYLES)), sep.swing_n, sep.swing_mean],
                     ["straight: rock, funk, pop (no shuffles)", sep.straight_n, sep.straight_mean]]))  # fmt: skip
    print(f"\nSeparation: ROC AUC {sep.auc:.3f} (chance that a swing-feel file measures higher), Cohen's d {sep.cohen_d:.2f}.")
    by_style: dict[str, list[float]] = {}
    for r in results:
        if r.swing_ratio is not None:
            by_style.setdefault(r.entry.style, []).append(r.swing_ratio)
    style_rows = [[s, len(v), float(np.mean(v))] for s, v in sorted(by_style.items()) if s in SWING_STYLES or len(v) >= 20]
    print("\n" + _md_table(["style", "files", "mean swing ratio"], style_rows))
    types: dict[str, dict[str, int]] = {}
    for r in results:
        if r.entry.feel:
            types.setdefault(r.entry.feel, {}).setdefault(r.groove_type or "none", 0)
            types[r.entry.feel][r.groove_type or "none"] += 1
    print("\nGroove type by feel: " + "; ".join(f"{feel}: {dict(sorted(c.items()))}" for feel, c in sorted(types.items())))

    pop = [measure_pop909(realdata, song) for song in POP909_SONGS]
    print("\n## Key and chords: POP909 (key_audio.txt, chord_midi.txt)\n")
    print(_md_table(
        ["song", "reference key", "estimated key", "MIREX key score"] + [f"score ({p})" for p in PROFILES] + ["chord root+triad accuracy"],
        [[p.song, p.reference_key, p.estimated_key, p.key_score] + [p.key_score_by_profile[k] for k in PROFILES] + [p.chord_accuracy] for p in pop],
    ))  # fmt: skip
    print(f"\nMean MIREX key score {np.mean([p.key_score for p in pop]):.3f}; mean chord accuracy {np.mean([p.chord_accuracy for p in pop]):.3f}.")

    files = all_midi_files(realdata)
    failures = []
    for path in files:
        try:
            bad = non_finite_features(path)
        except Exception as exc:  # the report lists every failure instead of stopping at the first
            failures.append(f"{path.relative_to(realdata)}: {type(exc).__name__}: {exc}")
            continue
        if bad:
            failures.append(f"{path.relative_to(realdata)}: non-finite {bad[:5]}")
    print(f"\n## Robustness: {len(files)} MIDI files of the corpus, {len(failures)} failing\n")
    for line in failures:
        print(f"- {line}")

    print("\n## Files used\n")
    print("Sources: Groove MIDI Dataset v1.0.0 (Magenta, CC BY 4.0); POP909 (Wang et al., ISMIR 2020, MIT);"
          " madmom test data (CC BY-NC-SA 4.0); Slakh2100 Track00001 (CC BY 4.0).\n")
    print(f"- Groove: {len(entries)} files listed in groove_midi/info.csv" + (" (evenly spread subset)" if args.groove_limit else " (all)"))
    print("- POP909: " + ", ".join(f"pop909/{s}/{s}.mid" for s in POP909_SONGS))
    others = [str(p.relative_to(realdata)) for p in files if "groove_midi" not in p.parts and "pop909" not in p.parts]
    print("- Also processed: " + ", ".join(others))
    print(f"\n(ran in {time.perf_counter() - t0:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
