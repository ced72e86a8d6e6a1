"""Accuracy of the MIDI features on real music, printed as markdown tables.

    python bench/accuracy_midi.py [--realdata DIR] [--groove-limit N]

Sources (all under the real data corpus, see its README for licences):
- Groove MIDI Dataset v1.0.0 (Magenta, CC BY 4.0): tempo against `info.csv`
  (the label, then the onset-based estimator alone), swing ratio by style;
- POP909 songs 001, 004, 005 (MIT): key against `key_audio.txt` (MIREX
  weighted score), chords against `chord_midi.txt` (root and triad, share of time);
  beat and downbeat F-measure (mir_eval) against `beat_midi.txt` and chord majmin
  (mir_eval) on the estimated, the old and the annotated grid, for each song as
  published, with its notes 0.2 and 0.47 beat off the tempo map, and with one
  wrong tempo event; Groove tempo again with the tempo events stripped;
- every MIDI file of the corpus: processed without error and without NaN/inf.

The corpus readers below are also what the tests use on their fast subsets.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from kellyd.music.chords import QUALITY_NAMES, ChordFrames, chord_symbol
from kellyd.music.chords import detect_chords as chord_detect
from kellyd.music.key import PROFILES, estimate_key
from kellyd.music.midi_analysis import MidiAnalysis, analyse_harmony, analyse_midi
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
from kellyd.music.midi_beats import downbeat_shift, note_salience
from kellyd.music.notes import DEFAULT_TEMPO_BPM, Notes, Score, TempoMap
from kellyd.music.pitch_classes import bass_pitch_class, parse_pitch_name, pitch_class_time
from kellyd.music.stats import pitch_class_histogram
from kellyd.music.tempo import BeatGrid, estimate_tempo, grid_fit, grid_fit_threshold, phase_offset_beats

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


# ---------------------------------------------------------------- POP909: beats, downbeats, chords on each grid


@dataclass(frozen=True)
class BeatScores:
    """F-measures (70 ms window, mir_eval) of one grid's beats and downbeats, and chord majmin on it."""

    beat_f: float
    downbeat_f: float
    downbeat_f_4_4: float
    chord_majmin: float


@dataclass(frozen=True)
class Pop909Beats:
    song: str
    estimated: BeatScores
    old: BeatScores
    annotated_chord_majmin: float
    source: str
    grid_shift_beats: float
    downbeat_shift_beats: int


def read_pop909_beats(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beat times, downbeats of the file's meter, downbeats of 4/4 bars) from a beat_midi.txt:
    rows "time flag_in_file_meter flag_in_4_4", flags 1 on a bar's first beat."""
    rows = np.loadtxt(text.splitlines(), ndmin=2)
    return rows[:, 0], rows[rows[:, 1] == 1, 0], rows[rows[:, 2] == 1, 0]


def legacy_grid(score: Score) -> BeatGrid:
    """The grid of the previous resolver, for the "old grid" figures: the tempo map's grid, re-phased
    only when the onsets missed its sixteenths and triplets, or a steady onset estimate for a
    default-only map the onsets did not fit."""
    notes = score.all_notes
    onset, weight = notes.start_s, notes.velocity / 127.0
    grid = BeatGrid.from_tempo_map(score.tempo)
    threshold = grid_fit_threshold(weight)
    if len(onset) < 4 or grid_fit(onset, weight, grid) >= threshold:
        return grid
    shifted = grid.shifted(phase_offset_beats(grid.to_beats(onset), weight))
    if grid_fit(onset, weight, shifted) >= threshold:
        return shifted
    if score.tempo.is_default_only and len(onset) >= 16:
        estimate = estimate_tempo(onset, weight)
        if estimate.strength > 0:
            return BeatGrid.constant(estimate.bpm, estimate.phase_s)
    return grid


def grid_beats(grid: BeatGrid, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, beat numbers) of a grid's whole beats from half a beat before the first onset to the end."""
    numbers = np.arange(np.ceil(grid.to_beats(start_s) - 0.5), np.floor(grid.to_beats(end_s)) + 1)
    return grid.to_seconds(numbers), numbers


def majmin(ref: list[LabelledSpan], frames: ChordFrames) -> float:
    """mir_eval's majmin chord score (time-weighted) of per-beat chord frames against reference spans."""
    import mir_eval

    est_labels = [chord_symbol(int(r), None if q < 0 else QUALITY_NAMES[int(q)]) for r, q in zip(frames.root, frames.quality)]
    return float(mir_eval.chord.evaluate(
        np.array([[s.start_s, s.end_s] for s in ref]), [s.label for s in ref],
        np.stack([frames.start_s, frames.end_s], axis=1), est_labels)["majmin"])  # fmt: skip


def score_grid(grid: BeatGrid, bar_beats: float, a: MidiAnalysis, ref: tuple[np.ndarray, np.ndarray, np.ndarray],
               chords_ref: list[LabelledSpan], *, estimate_4_4: bool) -> BeatScores:  # fmt: skip
    """Scores of one grid; the 4/4 downbeats are the grid's own multiples of 4 beats, or with
    `estimate_4_4` the downbeat estimator's answer for 4-beat bars on that grid."""
    import mir_eval

    beats, numbers = grid_beats(grid, a.start_s, a.end_s)
    downbeats = beats[np.isclose(np.mod(numbers, bar_beats), 0)]
    shift_4_4 = downbeat_shift(grid, a.notes, a.is_drum, note_salience(a.notes, a.is_drum), 4.0) if estimate_4_4 else 0
    downbeats_4_4 = beats[np.isclose(np.mod(numbers - shift_4_4, 4.0), 0)]
    frames = analyse_harmony(a.pitched, grid, bar_beats, a.end_s).frames
    return BeatScores(
        float(mir_eval.beat.f_measure(ref[0], beats)), float(mir_eval.beat.f_measure(ref[1], downbeats)),
        float(mir_eval.beat.f_measure(ref[2], downbeats_4_4)), majmin(chords_ref, frames))  # fmt: skip


def delayed(score: Score, delay_s: float) -> Score:
    """The score with every note `delay_s` later and the tempo map unchanged: a file whose grid is
    off the music by a fraction of a beat (leading silence that is not a whole number of beats)."""
    tracks = tuple(replace(t, notes=Notes(t.notes.start_s + delay_s, t.notes.end_s + delay_s, t.notes.pitch,
                                          t.notes.velocity)) for t in score.tracks)  # fmt: skip
    return replace(score, tracks=tracks, duration_s=score.duration_s + delay_s)


def measure_pop909_beats(realdata: Path, song: str, *, delay_beats: float = 0.0, tempo_bpm: float | None = None,
                         strip_tempo: bool = False) -> Pop909Beats:  # fmt: skip
    """Beat and downbeat F-measure of the estimated and of the old grid against beat_midi.txt, and
    chord majmin (chord_midi.txt) with chords detected on each grid and on the annotated beats.

    `delay_beats` delays the notes (and the annotations) by that fraction of the file's first beat;
    `tempo_bpm` replaces the tempo map by one wrong tempo event, `strip_tempo` by none at all (note
    times unchanged either way: a performance)."""
    folder = realdata / "pop909" / song
    score = read_score(folder / f"{song}.mid")
    delay_s = delay_beats * 60.0 / float(score.tempo.bpm[0])
    score = delayed(score, delay_s)
    if tempo_bpm is not None:
        score = replace(score, tempo=TempoMap(np.zeros(1), np.array([float(tempo_bpm)]), False))
    if strip_tempo:
        score = without_tempo_map(score)
    a = analyse_midi(score)
    beats, bar_1, bar_4_4 = read_pop909_beats((folder / "beat_midi.txt").read_text())
    ref = (beats + delay_s, bar_1 + delay_s, bar_4_4 + delay_s)
    chords_ref = [LabelledSpan(c.start_s + delay_s, c.end_s + delay_s, c.label)
                  for c in read_spans((folder / "chord_midi.txt").read_text())]  # fmt: skip
    bounds = np.concatenate(([0.0], ref[0], [max(a.end_s, float(ref[0][-1]) + 1e-3)]))
    annotated = chord_detect(pitch_class_time(a.pitched, bounds), bass_pitch_class(a.pitched, bounds), bounds)
    return Pop909Beats(song, score_grid(a.tempo.grid, a.bar_beats, a, ref, chords_ref, estimate_4_4=True),
                       score_grid(legacy_grid(score), a.bar_beats, a, ref, chords_ref, estimate_4_4=False),
                       majmin(chords_ref, annotated), a.tempo.source, a.tempo.grid_shift_beats,
                       a.tempo.downbeat_shift_beats)  # fmt: skip


# ---------------------------------------------------------------- performance MIDI: tempo without a tempo map


def without_tempo_map(score: Score) -> Score:
    """The same performance (note times in seconds unchanged) as if its file carried no tempo event."""
    return replace(score, tempo=TempoMap(np.zeros(1), np.array([DEFAULT_TEMPO_BPM]), True))


def performance_tempo(entry: GrooveEntry) -> tuple[float, str]:
    """(tempo label, its source) of a Groove performance with its tempo events stripped."""
    a = analyse_midi(without_tempo_map(read_score(entry.path)))
    return a.tempo.bpm, a.tempo.source


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


# Ways a POP909 file is put off its beats for the beat tables: (row name, measure_pop909_beats keywords).
POP909_BEAT_CASES = (
    ("as published", {}),
    ("notes 0.2 beat late", {"delay_beats": 0.2}),
    ("notes 0.47 beat late", {"delay_beats": 0.47}),
    ("one wrong tempo event (117 bpm)", {"tempo_bpm": 117.0}),
    ("no tempo event (a performance)", {"strip_tempo": True}),
)


def print_beat_tables(realdata: Path, entries: list[GrooveEntry]) -> None:
    """Beat/downbeat F-measure and chord majmin on POP909 (new grid beside the old), and tempo on
    Groove performances with their tempo events stripped."""
    print("\n## Beats, downbeats and chords on the grid: POP909 (beat_midi.txt, chord_midi.txt; mir_eval)\n")
    rows, new_beat_f, chord_gap = [], [], []
    for case, kwargs in POP909_BEAT_CASES:
        for song in POP909_SONGS:
            r = measure_pop909_beats(realdata, song, **kwargs)
            e, o = r.estimated, r.old
            rows.append([case, song, r.source, e.beat_f, o.beat_f, e.downbeat_f, o.downbeat_f, e.downbeat_f_4_4,
                         o.downbeat_f_4_4, r.annotated_chord_majmin, e.chord_majmin, o.chord_majmin])  # fmt: skip
            new_beat_f.append(e.beat_f)
            chord_gap.append(r.annotated_chord_majmin - e.chord_majmin)
    print(_md_table(["file", "song", "tempo source", "beat F", "beat F (old)", "downbeat F (file meter)",
                     "downbeat F (old)", "downbeat F (4/4)", "downbeat F 4/4 (old)", "chord majmin, annotated beats",
                     "chord majmin", "chord majmin (old)"], rows))  # fmt: skip
    print(f"\nMean beat F {np.mean(new_beat_f):.3f} (min {np.min(new_beat_f):.3f}); largest chord majmin gap to the "
          f"annotated grid {np.max(chord_gap):.3f}. F-measure: mir_eval.beat.f_measure, 70 ms window, no trimming.")
    stripped = [(e, *performance_tempo(e)) for e in entries]
    print(f"\n## Tempo of performances without a tempo map: Groove ({len(stripped)} files, tempo events stripped, "
          "note times kept)\n")
    table = []
    for subset, pick in (("all", lambda e: True), ("beats", lambda e: e.beat_type == "beat"),
                         ("fills", lambda e: e.beat_type == "fill")):  # fmt: skip
        chosen = [(e, bpm, src) for e, bpm, src in stripped if pick(e)]
        if chosen:
            table.append([subset, len(chosen), float(np.mean([tempo_acc1(b, e.bpm) for e, b, _ in chosen])),
                          float(np.mean([tempo_acc2(b, e.bpm) for e, b, _ in chosen])),
                          float(np.mean([src == "onsets" for _, _, src in chosen]))])  # fmt: skip
    print(_md_table(["files", "n", "acc1 (4 %)", "acc2", "share tempo from onsets"], table))


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

    print_beat_tables(realdata, entries)

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
