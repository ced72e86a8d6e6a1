"""Notes F1 and stem SDR of the analyze step on real data, each beside a plain baseline of the same run.

Imported by bench/accuracy_song.py (its `PARTS`); also runs alone:

    python bench/_song_notes_stems.py [--realdata DIR] [--quick]

- notes: mir_eval.transcription note F1 with onsets only (50 ms) and with offsets
  (50 ms, 20 % of the note), on POP909 001/004/005 rendered from their MIDI with
  FluidSynth (bench/_render.py; the audio is rendered, not recorded; the MIDI's
  pitched notes are the truth) and on madmom's `stereo_sample` (piano, hand-checked
  notes). kellyd: `transcribe(backend="auto")` (Basic Pitch when installed, else the
  CQT fallback; the row names which ran) and the CQT fallback on its own. Baseline:
  one note per librosa onset, at the loudest semitone of the CQT until the next onset.
- stems: mir_eval.separation SDR (bss_eval_sources) on the whole files, which the corpus
  holds as short excerpts (1 s of ChoirSet, 2 s of Saraga: figures of a check, not a benchmark). Dagstuhl
  ChoirSet: the four dynamic close microphones (S1, A2, T2, B2) summed to a mix;
  truth: the bass singer for the `bass` stem, the other three for vocals+other.
  Saraga Carnatic: the vocal, violin, mridangam and ghatam stems summed; truth:
  vocal for `vocals`, mridangam+ghatam for `drums`, violin for `other`. kellyd: the
  offline "hpss" stems (Demucs needs weights the bench does not download). Baseline:
  no separation, the mix divided equally between the sources.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._realdata import DEFAULT_REALDATA  # noqa: E402
from bench._render import RenderUnavailable, render_midi  # noqa: E402

SR_HZ = 22050
POP909_SONGS = ("001", "004", "005")
NOTES_EXCERPT_S = 60.0
CHOIR_AUDIO = "audio_more/mirdata_dagstuhl_choirset/dagstuhl_choirset/audio_wav_22050_mono"
CHOIR_TAKE = "DCS_LI_QuartetB_Take04"
CARNATIC = "audio_more/mirdata_saraga_carnatic_NC/saraga_carnatic/saraga1.5_carnatic"


def load(path: Path, *, start_s: float = 0.0, seconds: float | None = None) -> np.ndarray:
    from kellyd.music.audio_io import mix_to_mono, read_native, resample

    native = read_native(path, max_duration_s=None if seconds is None else start_s + seconds)
    y = resample(mix_to_mono(native.samples), from_hz=native.sr_hz, to_hz=SR_HZ)
    return y[int(start_s * SR_HZ):]


# ---- notes ----------------------------------------------------------------------------------

def midi_truth(path: Path, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(intervals (n, 2) s, pitches (n,) MIDI) of the pitched notes starting before `end_s`."""
    from kellyd.music.midi_io import read_score

    notes = read_score(path).pitched
    keep = notes.start_s < end_s
    return np.stack([notes.start_s[keep], np.minimum(notes.end_s[keep], end_s)], axis=1), notes.pitch[keep]


def madmom_truth(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = np.loadtxt(path, comments="#")
    return np.stack([rows[:, 0], rows[:, 0] + rows[:, 2]], axis=1), rows[:, 1]


def plain_baseline_notes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One note per librosa onset, at the loudest CQT semitone until the next onset."""
    import librosa

    hop = 512
    cqt = np.abs(librosa.cqt(y, sr=SR_HZ, hop_length=hop, fmin=librosa.midi_to_hz(28), n_bins=72))
    onsets = librosa.onset.onset_detect(y=y, sr=SR_HZ, hop_length=hop)
    edges = np.append(onsets, cqt.shape[1])
    intervals, pitches = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        if b > a:
            intervals.append((a * hop / SR_HZ, b * hop / SR_HZ))
            pitches.append(28 + int(np.argmax(cqt[:, a:b].sum(axis=1))))
    return np.array(intervals).reshape(-1, 2), np.array(pitches, dtype=float)


def note_f1(ref: tuple[np.ndarray, np.ndarray], est: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """(F1 onsets only, F1 with offsets) with mir_eval's defaults (50 ms onsets, 20 % offsets)."""
    import librosa
    import mir_eval

    if len(est[0]) == 0:
        return 0.0, 0.0
    ref_hz, est_hz = librosa.midi_to_hz(ref[1]), librosa.midi_to_hz(est[1])
    onsets = mir_eval.transcription.precision_recall_f1_overlap(ref[0], ref_hz, est[0], est_hz, offset_ratio=None)
    offsets = mir_eval.transcription.precision_recall_f1_overlap(ref[0], ref_hz, est[0], est_hz)
    return onsets[2], offsets[2]


def _notes_of(transcription) -> tuple[np.ndarray, np.ndarray]:
    n = transcription.notes
    return np.stack([n.start_s, np.maximum(n.end_s, n.start_s + 1e-3)], axis=1), n.pitch.astype(float)


def part_notes(realdata: Path, quick: bool) -> list[dict]:
    from kellyd.song.transcribe import transcribe

    cases = []
    songs = POP909_SONGS[:1] if quick else POP909_SONGS
    excerpt_s = 20.0 if quick else NOTES_EXCERPT_S
    try:
        for song in songs:
            midi = realdata / "pop909" / song / f"{song}.mid"
            cases.append(("POP909 rendered", f"pop909/{song}", load(render_midi(midi), seconds=excerpt_s),
                          midi_truth(midi, excerpt_s)))
    except RenderUnavailable as exc:
        print(f"notes on POP909 skipped: {exc}")
    cases.append(("madmom piano", "madmom/stereo_sample.flac", load(realdata / "madmom" / "stereo_sample.flac"),
                  madmom_truth(realdata / "madmom" / "stereo_sample.notes")))
    scores: dict[tuple[str, str], list] = {}
    for set_name, name, y, truth in cases:
        auto = transcribe(y, SR_HZ, backend="auto")
        for label, est in ((f"kellyd {auto.backend}", _notes_of(auto)),
                           ("kellyd cqt", _notes_of(transcribe(y, SR_HZ, backend="cqt"))),
                           ("baseline", plain_baseline_notes(y))):
            scores.setdefault((set_name, label), []).append((name, note_f1(truth, est)))
    rows = []
    for set_name in dict.fromkeys(s for s, _ in scores):
        base = scores[(set_name, "baseline")]
        files = ", ".join(name for name, _ in base)
        for label in [lab for s, lab in scores if s == set_name and lab != "baseline"]:
            ours = scores[(set_name, label)]
            for i, metric in enumerate(("note F1 (onsets)", "note F1 (onsets+offsets)")):
                rows.append({"figure": f"{metric}, {label.removeprefix('kellyd ')}", "set": set_name,
                             "kellyd": float(np.mean([f[i] for _, f in ours])),
                             "baseline": float(np.mean([f[i] for _, f in base])), "files": files})
    return rows


# ---- stems ----------------------------------------------------------------------------------

def sdr(references: np.ndarray, estimates: np.ndarray) -> list[float | None]:
    """SDR (dB) per source of (sources, n) arrays, each source scored alone with mir_eval's
    bss_eval_sources; None for a silent estimate (mir_eval refuses one: an empty stem)."""
    import mir_eval

    values: list[float | None] = []
    for ref, est in zip(references, estimates):
        if not np.any(est):
            values.append(None)
            continue
        value, _, _, _ = mir_eval.separation.bss_eval_sources(ref[None], est[None], compute_permutation=False)
        values.append(float(value[0]))
    return values


def _stems_case(sources: dict[str, np.ndarray], mapping: dict[str, tuple[str, ...]]) -> tuple[list, list]:
    """(kellyd SDR, baseline SDR) per truth source; `mapping`: truth name -> the kellyd stems summed for it."""
    from kellyd.song.stems import separate_hpss

    n = min(len(s) for s in sources.values())  # MP3 stems decode to slightly different lengths
    truth = np.stack([sources[k][:n] for k in mapping])
    mix = truth.sum(axis=0)
    stems = separate_hpss(mix, SR_HZ).signals
    ours = np.stack([sum(stems[s] for s in mapping[k]) for k in mapping])
    baseline = np.repeat(mix[None] / len(mapping), len(mapping), axis=0)
    return sdr(truth, ours), sdr(truth, baseline)


def part_stems(realdata: Path, quick: bool) -> list[dict]:
    rows = []
    choir = realdata / CHOIR_AUDIO
    voices = {v: load(choir / f"{CHOIR_TAKE}_{v}_DYN.wav")
              for v in ("S1", "A2", "T2", "B2")}
    truth = {"bass singer": voices["B2"], "upper voices": voices["S1"] + voices["A2"] + voices["T2"]}
    ours, base = _stems_case(truth, {"bass singer": ("bass",), "upper voices": ("vocals", "other", "drums")})
    for i, name in enumerate(truth):
        rows.append({"figure": f"stem SDR dB, {name}", "set": "ChoirSet mics mixed", "kellyd": ours[i],
                     "baseline": base[i], "files": f"{CHOIR_TAKE}_*_DYN.wav"})
    song = next(p for p in sorted((realdata / CARNATIC).glob("*/*")) if p.is_dir()
                and any(p.glob("*.multitrack-vocal.mp3")))
    stem = lambda part: load(next(song.glob(f"*.multitrack-{part}.mp3")))  # noqa: E731
    percussion = [stem(p) for p in ("mridangam-left", "mridangam-right", "ghatam")]
    n = min(len(p) for p in percussion)
    truth = {"vocal": stem("vocal"), "percussion": sum(p[:n] for p in percussion), "violin": stem("violin")}
    ours, base = _stems_case(truth, {"vocal": ("vocals",), "percussion": ("drums",), "violin": ("other", "bass")})
    for i, name in enumerate(truth):
        rows.append({"figure": f"stem SDR dB, {name}", "set": "Saraga Carnatic stems mixed", "kellyd": ours[i],
                     "baseline": base[i], "files": f"{song.name}/*.multitrack-*.mp3"})
    return rows


PARTS = [part_notes, part_stems]


def use_own_numba_cache() -> None:
    """numba's compiled librosa kernels cached under bench/out, as the daemon keeps them in its state
    folder (a damaged cache beside librosa's sources has crashed its peak picker on load)."""
    from kellyd.music.audio_numba import configure_numba_cache

    configure_numba_cache(Path(__file__).resolve().parent / "out")


def main(argv: list[str] | None = None) -> int:
    import argparse
    import warnings

    from bench._realdata import skipped_without_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--quick", action="store_true", help="one file per set, short excerpts")
    args = parser.parse_args(argv)
    use_own_numba_cache()
    if skipped_without_corpus("_song_notes_stems", args.realdata, "madmom/stereo_sample.notes", CHOIR_AUDIO, CARNATIC):
        return 0
    warnings.filterwarnings("ignore", module="mir_eval")
    print("| figure | set | kellyd | plain baseline | files |")
    print("|---|---|---|---|---|")
    for part in PARTS:
        for r in part(args.realdata, args.quick):
            cells = ["-" if r[k] is None else f"{r[k]:.3f}" for k in ("kellyd", "baseline")]
            print(f"| {r['figure']} | {r['set']} | {cells[0]} | {cells[1]} | {r['files']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
