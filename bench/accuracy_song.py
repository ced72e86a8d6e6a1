"""Accuracy of the whole-song analysis (`kellyd.song.music.analyze_music`) on real data, beside librosa.

    python bench/accuracy_song.py [--realdata DIR] [--quick] [--music-only]

Every figure is scored with mir_eval and printed with the same metric for the plain
librosa baseline measured in the same run, and the files it was measured on:
- beats and tempo: beat F-measure (+-70 ms, no trimming: the clips are short), tempo
  acc1 (within 4 %) and acc2 (also 2x, 1/2x, 3x, 1/3x), downbeat F-measure; sets: madmom's
  `sample.wav` (hand-annotated, CC BY-NC-SA), BeatNet's 808 pattern (120 bpm), BRID
  (beats, downbeats; CC BY-NC-SA), Dagstuhl ChoirSet (beats), Sonic Pi loops (tempo from
  the loop length: weak labels), POP909 001/004/005 rendered (below) against `beat_midi.txt`.
  Baseline: `librosa.beat.beat_track` with its defaults.
- key: MIREX weighted score on POP909 001/004/005 rendered from their MIDI with FluidSynth
  (bench/_render.py; the audio is rendered, not recorded), against `key_audio.txt`; tonic
  accuracy on the key-named Sonic Pi clips. Baseline: librosa `chroma_stft` summed over the
  song, correlated with the Krumhansl-Kessler profiles (the chroma template key).
- chords: weighted chord symbol recall (WCSR), majmin and sevenths, on the same renderings
  against `chord_midi.txt` (the MIDI's timeline, which the rendering keeps). Baseline:
  librosa `chroma_cqt` per beat of `beat_track`, the best major/minor triad template per beat.
- sections: boundary F-measure at 0.5 s and 3 s on the Sargon excerpt (msaf's JAMS
  reference). Baseline: `librosa.segment.agglomerative` on beat-synchronous `chroma_cqt`
  with as many sections as kellyd found.

`PARTS` holds the scoring functions; each takes (realdata, quick) and returns rows
`{"figure", "set", "kellyd", "baseline", "files"}` (numbers or None, files a string).
bench/_song_notes_stems.py, when present, adds its own `PARTS` (notes F1, stem SDR).
`--quick` scores one file per set (a check that the script runs); `--music-only` leaves out
the extra parts.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._realdata, when run as a script
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402
from bench._render import RenderUnavailable, render_midi  # noqa: E402

SR_HZ = 22050
BRID = "audio_more/mirdata_brid_NC/brid/BRID_1.0"
CHOIR = "audio_more/mirdata_dagstuhl_choirset/dagstuhl_choirset"
SARGON = "audio_more/msaf_sargon"
POP909_SONGS = ("001", "004", "005")
KEY_CLIPS = (("sonic_pi/loop_drone_g_97.flac", "G"), ("sonic_pi/guit_em9.flac", "E"),
             ("sonic_pi/bass_dnb_f.flac", "F"), ("sonic_pi/guit_e_fifths.flac", "E"))
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
Row = dict
Part = Callable[[Path, bool], list[Row]]

_analyses: dict[str, Any] = {}
_seconds: dict[str, float] = {}


def load(path: Path) -> np.ndarray:
    import librosa

    y, _ = librosa.load(path, sr=SR_HZ, mono=True)
    return y


def analysis(path: Path):
    """kellyd's analysis of `path`, computed once per run (and timed)."""
    from kellyd.song.music import analyze_music

    key = str(path)
    if key not in _analyses:
        y = load(path)
        start = time.perf_counter()
        _analyses[key] = analyze_music(y, SR_HZ)
        _seconds[key] = time.perf_counter() - start
    return _analyses[key]


def librosa_beats(y: np.ndarray) -> tuple[float, np.ndarray]:
    import librosa

    tempo, beats = librosa.beat.beat_track(y=y, sr=SR_HZ, units="time")
    return float(np.atleast_1d(tempo)[0]), np.asarray(beats)


def tempo_scores(estimate_bpm: float | None, truth_bpm: float) -> tuple[float, float]:
    import mir_eval

    if estimate_bpm is None:
        return 0.0, 0.0
    # mir_eval's tempo metric takes two reference tempi and a weight; one tempo: both the same.
    _, one, _ = mir_eval.tempo.detection(np.array([truth_bpm, truth_bpm]), 0.5,
                                         np.array([estimate_bpm, estimate_bpm]), tol=0.04)
    related = [estimate_bpm * f for f in (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)]
    two = max(mir_eval.tempo.detection(np.array([truth_bpm, truth_bpm]), 0.5, np.array([r, r]), tol=0.04)[1]
              for r in related)
    return float(one), float(two)


def beat_sets(realdata: Path) -> list[tuple[str, Path, np.ndarray | None, np.ndarray | None, float]]:
    """(set, audio, beats or None, downbeats or None, tempo bpm) per clip."""
    out = []
    madmom = np.loadtxt(realdata / "madmom" / "sample.beats", comments="#", ndmin=2)
    out.append(("madmom", realdata / "madmom" / "sample.wav", madmom[:, 0], madmom[madmom[:, 1] == 1, 0], 87.5))
    out.append(("beatnet", realdata / "beatnet" / "808kick120bpm.mp3", None, None, 120.0))
    for beats_file in sorted((realdata / BRID / "Annotations" / "beats").glob("*.beats")):
        name = beats_file.stem
        # No glob pattern: BRID names hold brackets ("[0001] M4-01-SA").
        audio = next((p for p in (realdata / BRID / "Data").rglob("*.wav") if p.stem == name), None)
        if audio is None:
            continue
        b = np.loadtxt(beats_file, ndmin=2)
        bpm = float((realdata / BRID / "Annotations" / "tempo" / f"{name}.bpm").read_text().split()[0])
        out.append(("brid", audio, b[:, 0], b[b[:, 1] == 1, 0], bpm))
    for beats_file in sorted((realdata / CHOIR / "annotations_csv_beat").glob("*.csv")):
        audio = realdata / CHOIR / "audio_wav_22050_mono" / f"{beats_file.stem}.wav"
        if audio.exists():
            b = np.loadtxt(beats_file, delimiter=",", ndmin=2)
            down = b[np.isclose(b[:, 1] % 1.0, 0.0), 0]  # bar.beat numbering: whole numbers start bars
            out.append(("choirset", audio, b[:, 0], down, 60.0 / float(np.median(np.diff(b[:, 0])))))
    with open(realdata / "sonic_pi" / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["tempo_bpm"]:
                out.append(("sonic_pi (weak)", realdata / "sonic_pi" / row["file"], None, None, float(row["tempo_bpm"])))
    return out


def pop909_beat_sets(realdata: Path, quick: bool) -> list[tuple[str, Path, np.ndarray | None, np.ndarray | None, float]]:
    """The rendered POP909 songs with the beats of `beat_midi.txt` (first column: the MIDI's beat times)."""
    try:
        songs = rendered_pop909(realdata, quick)
    except RenderUnavailable as e:
        print(f"accuracy_song: beats on POP909 skipped: {e}", flush=True)
        return []
    out = []
    for song, wav in songs:
        beats = np.loadtxt(realdata / "pop909" / song / "beat_midi.txt", ndmin=2)[:, 0]
        out.append(("POP909 rendered", wav, beats, None, 60.0 / float(np.median(np.diff(beats)))))
    return out


def part_rhythm(realdata: Path, quick: bool) -> list[Row]:
    import mir_eval

    sets = beat_sets(realdata)
    if quick:
        sets = [next(s for s in sets if s[0] == name) for name in dict.fromkeys(s[0] for s in sets)]
    sets += pop909_beat_sets(realdata, quick)
    per_set: dict[str, dict[str, list]] = {}
    for name, path, beats, down, bpm in sets:
        y = load(path)
        ours = analysis(path)
        base_bpm, base_beats = librosa_beats(y)
        acc = per_set.setdefault(name, {"files": [], "acc1": [], "acc2": [], "bacc1": [], "bacc2": [],
                                         "f": [], "bf": [], "df": []})
        # A rendering is named by its MIDI file (cache names are <song>-<hash>.wav).
        acc["files"].append(str(path.relative_to(realdata)) if path.is_relative_to(realdata)
                            else f"pop909/{path.stem.split('-')[0]}/{path.stem.split('-')[0]}.mid (rendered)")
        a1, a2 = tempo_scores(ours.rhythm.tempo_bpm, bpm)
        b1, b2 = tempo_scores(base_bpm, bpm)
        acc["acc1"].append(a1), acc["acc2"].append(a2), acc["bacc1"].append(b1), acc["bacc2"].append(b2)
        if beats is not None:
            duration_s = len(y) / SR_HZ
            reference = beats[beats < duration_s]
            acc["f"].append(mir_eval.beat.f_measure(reference, ours.rhythm.beats_s))
            acc["bf"].append(mir_eval.beat.f_measure(reference, base_beats))
            if down is not None and len(down[down < duration_s]):
                acc["df"].append(mir_eval.beat.f_measure(down[down < duration_s], ours.rhythm.downbeats_s))
    rows = []
    for name, acc in per_set.items():
        files = ", ".join(acc["files"])
        rows.append({"figure": "tempo acc1", "set": name, "kellyd": np.mean(acc["acc1"]),
                     "baseline": np.mean(acc["bacc1"]), "files": files})
        rows.append({"figure": "tempo acc2", "set": name, "kellyd": np.mean(acc["acc2"]),
                     "baseline": np.mean(acc["bacc2"]), "files": files})
        if acc["f"]:
            rows.append({"figure": "beat F-measure (70 ms)", "set": name, "kellyd": np.mean(acc["f"]),
                         "baseline": np.mean(acc["bf"]), "files": files})
        if acc["df"]:
            rows.append({"figure": "downbeat F-measure (70 ms)", "set": name, "kellyd": np.mean(acc["df"]),
                         "baseline": None, "files": files})
    return rows


def rendered_pop909(realdata: Path, quick: bool) -> list[tuple[str, Path]]:
    songs = POP909_SONGS[:1] if quick else POP909_SONGS
    return [(song, render_midi(realdata / "pop909" / song / f"{song}.mid")) for song in songs]


def baseline_key(y: np.ndarray) -> tuple[int, str]:
    """librosa chroma_stft summed over the song, best Krumhansl-Kessler key."""
    import librosa

    from kellyd.music.key import key_correlations

    correlations = key_correlations(librosa.feature.chroma_stft(y=y, sr=SR_HZ).sum(axis=1), "krumhansl_kessler")
    best = int(np.argmax(correlations))
    return best % 12, ("major", "minor")[best // 12]


def mirex_key(ref_label: str, tonic: int | None, mode: str | None) -> float:
    import mir_eval

    if tonic is None:
        return 0.0
    root, quality = ref_label.split(":")
    reference = f"{root} {'minor' if quality.startswith('min') else 'major'}"
    return float(mir_eval.key.weighted_score(reference, f"{PITCH_NAMES[tonic]} {mode}"))


def main_key_label(path: Path) -> str:
    """The key that holds longest in a POP909 key_audio.txt."""
    spans = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return max(spans, key=lambda s: float(s[1]) - float(s[0]))[2]


def part_key(realdata: Path, quick: bool) -> list[Row]:
    try:
        songs = rendered_pop909(realdata, quick)
    except RenderUnavailable as e:
        print(f"accuracy_song: key on POP909 skipped: {e}", flush=True)
        songs = []
    rows = []
    if songs:
        ours, base = [], []
        for song, wav in songs:
            label = main_key_label(realdata / "pop909" / song / "key_audio.txt")
            key = analysis(wav).key
            ours.append(mirex_key(label, None if key is None else key.tonic_pc, None if key is None else key.mode))
            base.append(mirex_key(label, *baseline_key(load(wav))))
        rows.append({"figure": "key MIREX weighted", "set": "POP909 rendered",
                     "kellyd": np.mean(ours), "baseline": np.mean(base),
                     "files": ", ".join(f"pop909/{s}/{s}.mid" for s, _ in songs)})
    ours_ok, base_ok = [], []
    clips = KEY_CLIPS[:2] if quick else KEY_CLIPS
    for relative, tonic in clips:
        key = analysis(realdata / relative).key
        ours_ok.append(key is not None and PITCH_NAMES[key.tonic_pc] == tonic)
        base_ok.append(PITCH_NAMES[baseline_key(load(realdata / relative))[0]] == tonic)
    rows.append({"figure": "key tonic accuracy", "set": "Sonic Pi named clips", "kellyd": np.mean(ours_ok),
                 "baseline": np.mean(base_ok), "files": ", ".join(r for r, _ in clips)})
    return rows


def baseline_chords(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """librosa chroma_cqt per beat_track beat, the best major/minor triad template per beat."""
    import librosa

    _, beats = librosa.beat.beat_track(y=y, sr=SR_HZ)
    chroma = librosa.feature.chroma_cqt(y=y, sr=SR_HZ)
    synced = librosa.util.sync(chroma, beats, aggregate=np.median)
    edges = librosa.frames_to_time(librosa.util.fix_frames(beats, x_max=chroma.shape[1]), sr=SR_HZ)
    templates, labels = [], []
    for root in range(12):
        for quality, third in (("maj", 4), ("min", 3)):
            t = np.zeros(12)
            t[[root, (root + third) % 12, (root + 7) % 12]] = 1.0
            templates.append(t / np.linalg.norm(t))
            labels.append(f"{PITCH_NAMES[root]}:{quality}")
    best = np.argmax(np.array(templates) @ synced, axis=0)
    intervals = np.stack([edges[:-1], edges[1:]], axis=1)
    return intervals, [labels[i] for i in best[: len(intervals)]]


def wcsr(ref_file: Path, intervals: np.ndarray, labels: list[str]) -> tuple[float, float]:
    import mir_eval

    ref_intervals, ref_labels = mir_eval.io.load_labeled_intervals(str(ref_file))
    est_intervals, est_labels = mir_eval.util.adjust_intervals(
        intervals, labels, ref_intervals.min(), ref_intervals.max(), mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD)
    merged, ref, est = mir_eval.util.merge_labeled_intervals(ref_intervals, ref_labels, est_intervals, est_labels)
    durations = mir_eval.util.intervals_to_durations(merged)
    return (float(mir_eval.chord.weighted_accuracy(mir_eval.chord.majmin(ref, est), durations)),
            float(mir_eval.chord.weighted_accuracy(mir_eval.chord.sevenths(ref, est), durations)))


def part_chords(realdata: Path, quick: bool) -> list[Row]:
    try:
        songs = rendered_pop909(realdata, quick)
    except RenderUnavailable as e:
        print(f"accuracy_song: chords skipped: {e}", flush=True)
        return []
    ours, base = [], []
    for song, wav in songs:
        reference = realdata / "pop909" / song / "chord_midi.txt"
        chords = analysis(wav).chords
        ours.append(wcsr(reference, np.array([[c.start_s, c.end_s] for c in chords]), [c.label for c in chords]))
        base.append(wcsr(reference, *baseline_chords(load(wav))))
    files = ", ".join(f"pop909/{s}/{s}.mid" for s, _ in songs)
    ours_a, base_a = np.array(ours), np.array(base)
    return [{"figure": "chord WCSR majmin", "set": "POP909 rendered", "kellyd": ours_a[:, 0].mean(),
             "baseline": base_a[:, 0].mean(), "files": files},
            {"figure": "chord WCSR sevenths", "set": "POP909 rendered", "kellyd": ours_a[:, 1].mean(),
             "baseline": base_a[:, 1].mean(), "files": files}]


def part_sections(realdata: Path, quick: bool) -> list[Row]:
    import librosa
    import mir_eval

    audio = realdata / SARGON / "Mindless_cut.mp3"
    jams = json.loads((realdata / SARGON / "Mindless_cut.reference.jams").read_text())
    segments = next(a for a in jams["annotations"] if a["namespace"].startswith("segment"))
    reference = np.array([[d["time"], d["time"] + d["duration"]] for d in segments["data"]])
    sections = analysis(audio).sections
    ours = np.array([[s.start_s, s.end_s] for s in sections])
    y = load(audio)
    _, beats = librosa.beat.beat_track(y=y, sr=SR_HZ)
    chroma = librosa.util.sync(librosa.feature.chroma_cqt(y=y, sr=SR_HZ), beats)
    bounds = librosa.segment.agglomerative(chroma, max(len(sections), 2))
    beat_times = librosa.frames_to_time(librosa.util.fix_frames(beats), sr=SR_HZ)
    starts = np.unique(np.concatenate(([0.0], beat_times[np.clip(bounds, 0, len(beat_times) - 1)])))
    base = np.stack([starts, np.append(starts[1:], len(y) / SR_HZ)], axis=1)
    rows = []
    for window_s in (0.5, 3.0):
        rows.append({"figure": f"section boundary F@{window_s:g}s", "set": "Sargon (msaf)",
                     "kellyd": mir_eval.segment.detection(reference, ours, window=window_s)[2],
                     "baseline": mir_eval.segment.detection(reference, base, window=window_s)[2],
                     "files": f"{SARGON}/Mindless_cut.mp3"})
    return rows


PARTS: list[Part] = [part_rhythm, part_key, part_chords, part_sections]


def extra_parts() -> list[Part]:
    """PARTS of bench/_song_notes_stems.py (notes F1, stem SDR), when that file exists."""
    path = Path(__file__).resolve().parent / "_song_notes_stems.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location("bench._song_notes_stems", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(getattr(module, "PARTS", []))


def fmt(value) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--quick", action="store_true", help="one file per set: check that the script runs")
    parser.add_argument("--music-only", action="store_true",
                        help="only the parts of this file (not bench/_song_notes_stems.py's notes and stems)")
    args = parser.parse_args(argv)
    if skipped_without_corpus("accuracy_song", args.realdata, "madmom/sample.wav", "pop909", SARGON):
        return 0
    warnings.filterwarnings("ignore", module="mir_eval")
    warnings.filterwarnings("ignore", message="n_fft=")
    print("| figure | set | kellyd | librosa baseline | files |")
    print("|---|---|---|---|---|", flush=True)
    # Each part's rows are printed as soon as it ends, so a later part that fails loses none of them.
    for part in PARTS + ([] if args.music_only else extra_parts()):
        for r in part(args.realdata, args.quick):
            print(f"| {r['figure']} | {r['set']} | {fmt(r['kellyd'])} | {fmt(r['baseline'])} | {r['files']} |",
                  flush=True)
    analysed_s = sum(_seconds.values())
    audio_s = sum(a.duration_s for a in _analyses.values())
    print(f"\nanalyze_music: {len(_seconds)} files, {audio_s:.1f} s of audio in {analysed_s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
