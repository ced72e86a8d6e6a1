"""Accuracy of the audio features on real recordings, printed as markdown tables.

    python bench/accuracy_audio.py [--realdata DIR]

Sources (all under the real data corpus; see its README for licences):
- madmom test recordings (CC BY-NC-SA 4.0): `sample.wav` with hand-annotated
  tempo (87.5 bpm, or 175 at strength 0.3) and beats; `stereo_sample.flac` with
  annotated piano notes (for chroma);
- BeatNet's 808 kick pattern (CC BY 4.0): 120 bpm;
- Sonic Pi loops and hits (CC0): tempi derived from the loop lengths (weak
  labels, so acc2 is the fair measure), the drone named G, the Em9 chord, the
  E5 power chord and the bass hit on F;
- every audio file of the corpus (also the librosa example recordings and the
  MTG-Jamendo excerpt): processed without error and without NaN/inf.

Each figure is given for kellyd's extractor and for the old way: librosa's
defaults at 22,050 Hz (`beat_track` for tempo, `chroma_stft` for chroma, with
the same key profiles). acc1: within 4 % of the reference; acc2: also at 2x,
1/2x, 3x or 1/3x (MIREX).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

from kellyd.errors import InvalidInput
from kellyd.music.audio_features import extract_audio_file
from kellyd.music.audio_key import estimate_key
from kellyd.music.extracted import Extracted
from kellyd.music.mir_scores import tempo_acc1, tempo_acc2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._realdata, when run as a script
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
OLD_SR_HZ = 22050
REFUSED_LABELS = {"key": "refused", "mode": ""}  # a labelled clip kellyd refused counts as wrong
# MIREX beat tracking: an estimated beat matches a reference beat within +-70 ms.
BEAT_WINDOW_S = 0.07


@dataclass(frozen=True)
class TempoClip:
    source: str
    relative: str
    reference_bpm: float
    note: str


@dataclass(frozen=True)
class KeyClip:
    relative: str
    reference: str
    tonic: str
    mode: str | None  # None: the recording states no third


KEY_CLIPS = (
    KeyClip("sonic_pi/loop_drone_g_97.flac", "G (name)", "G", None),
    KeyClip("sonic_pi/guit_em9.flac", "E minor-ish (Em9 chord)", "E", "minor"),
    KeyClip("sonic_pi/bass_dnb_f.flac", "F (pitch of the hit)", "F", None),
    KeyClip("sonic_pi/guit_e_fifths.flac", "E (E5 power chord)", "E", None),
)


def tempo_clips(realdata: Path) -> list[TempoClip]:
    clips = [
        TempoClip("madmom", "madmom/sample.wav", 87.5, "hand-annotated; 175 at strength 0.3"),
        TempoClip("beatnet", "beatnet/808kick120bpm.mp3", 120.0, "from the file name"),
    ]
    with open(realdata / "sonic_pi" / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["tempo_bpm"]:
                clips.append(TempoClip("sonic_pi", f"sonic_pi/{row['file']}", float(row["tempo_bpm"]),
                                       row["label_source"]))
    return clips


def old_tempo_and_beats(path: Path) -> tuple[float, np.ndarray]:
    y, sr = librosa.load(path, sr=OLD_SR_HZ)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    return float(np.atleast_1d(tempo)[0]), beats


def old_chroma_profile(path: Path) -> np.ndarray:
    y, sr = librosa.load(path, sr=OLD_SR_HZ)
    return librosa.feature.chroma_stft(y=y, sr=sr).mean(axis=1)


def beat_f_measure(estimate_s: np.ndarray, reference_s: np.ndarray, window_s: float = BEAT_WINDOW_S) -> float:
    """F-measure of estimated beats against reference beats, each reference matched at most once."""
    if len(estimate_s) == 0 or len(reference_s) == 0:
        return 0.0
    unused = list(reference_s)
    hits = 0
    for beat in estimate_s:
        distances = [abs(beat - r) for r in unused]
        if distances and min(distances) <= window_s:
            unused.pop(int(np.argmin(distances)))
            hits += 1
    precision, recall = hits / len(estimate_s), hits / len(reference_s)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def fmt_bpm(bpm: float | None) -> str:
    return "none" if bpm is None else f"{bpm:.2f}"


def tempo_report(realdata: Path, extracted: dict[str, Extracted]) -> list[str]:
    lines = ["## Tempo", ""]
    clips = tempo_clips(realdata)
    for source in dict.fromkeys(c.source for c in clips):
        chosen = [c for c in clips if c.source == source]
        lines += [f"### {source}", "",
                  "| file | reference bpm | kellyd bpm | acc1 | acc2 | old librosa bpm | acc1 | acc2 | label |",
                  "|---|---|---|---|---|---|---|---|---|"]
        totals = np.zeros(4, dtype=int)
        for clip in chosen:
            ours = extracted[clip.relative].labels["tempo_bpm"] if clip.relative in extracted else None  # refused
            old, _ = old_tempo_and_beats(realdata / clip.relative)
            row = [ours is not None and tempo_acc1(ours, clip.reference_bpm),
                   ours is not None and tempo_acc2(ours, clip.reference_bpm),
                   tempo_acc1(old, clip.reference_bpm), tempo_acc2(old, clip.reference_bpm)]
            totals += np.array(row, dtype=int)
            lines.append(f"| {clip.relative} | {clip.reference_bpm:g} | {fmt_bpm(ours)} | {mark(row[0])} | "
                         f"{mark(row[1])} | {old:.2f} | {mark(row[2])} | {mark(row[3])} | {clip.note} |")
        n = len(chosen)
        lines += [f"| **{source}: {n} clips** | | | **{totals[0]}/{n}** | **{totals[1]}/{n}** | | "
                  f"**{totals[2]}/{n}** | **{totals[3]}/{n}** | |", ""]
    reference_beats = np.loadtxt(realdata / "madmom" / "sample.beats", comments="#", ndmin=2)[:, 0]
    ours_beats = extracted["madmom/sample.wav"].arrays["beat_times_s"]
    _, old_beats = old_tempo_and_beats(realdata / "madmom" / "sample.wav")
    lines += [f"Beat F-measure on madmom/sample.wav (+-70 ms, {len(reference_beats)} annotated beats): "
              f"kellyd {beat_f_measure(ours_beats, reference_beats):.2f} ({len(ours_beats)} beats), "
              f"old librosa {beat_f_measure(old_beats, reference_beats):.2f} ({len(old_beats)} beats).", ""]
    return lines


def key_report(realdata: Path, extracted: dict[str, Extracted]) -> list[str]:
    lines = ["## Key (Krumhansl-Kessler profiles on the clip's summed chroma)", "",
             "| file | reference | kellyd (peak chroma) | confidence | tonic right | "
             "old (librosa chroma_stft) | tonic right |",
             "|---|---|---|---|---|---|---|"]
    for clip in KEY_CLIPS:
        labels = extracted[clip.relative].labels if clip.relative in extracted else REFUSED_LABELS
        ours_ok = labels["key"] == clip.tonic and (clip.mode is None or labels["mode"] == clip.mode)
        old = estimate_key(old_chroma_profile(realdata / clip.relative))
        old_ok = old is not None and old.tonic == clip.tonic and (clip.mode is None or old.mode == clip.mode)
        old_text = "none" if old is None else f"{old.tonic} {old.mode}"
        lines.append(f"| {clip.relative} | {clip.reference} | {labels['key']} {labels['mode']} | "
                     f"{labels['key_confidence']:.2f} | {mark(ours_ok)} | {old_text} | {mark(old_ok)} |")
    notes = np.loadtxt(realdata / "madmom" / "stereo_sample.notes", comments="#", ndmin=2)
    reference = np.bincount(notes[:, 1].astype(int) % 12, weights=notes[:, 2], minlength=12)
    ours = np.array(extracted["madmom/stereo_sample.flac"].scalars["chroma_mean"])
    old = old_chroma_profile(realdata / "madmom" / "stereo_sample.flac")
    note_key = estimate_key(reference)
    ours_key = extracted["madmom/stereo_sample.flac"].labels
    r_ours, r_old = np.corrcoef(ours, reference)[0, 1], np.corrcoef(old, reference)[0, 1]
    lines += ["", "Chroma against madmom's annotated piano notes (stereo_sample, duration-weighted pitch classes): "
              f"Pearson r kellyd {r_ours:.2f}, old {r_old:.2f}. "
              f"Key of the annotated notes {note_key.tonic} {note_key.mode}; kellyd's audio key "
              f"{ours_key['key']} {ours_key['mode']}.", ""]
    return lines


def coverage_report(extracted: dict[str, Extracted], refused: dict[str, str], seconds: dict[str, float]) -> list[str]:
    lines = ["## Every audio file of the corpus", "",
             "| file | format | duration s | tempo bpm | key | loudness LUFS | flags | all finite | extract s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for relative, e in extracted.items():
        finite = all(np.all(np.isfinite(a)) for a in e.arrays.values())
        lines.append(f"| {relative} | {e.scalars['source_format']} | {e.labels['duration_s']:.2f} | "
                     f"{fmt_bpm(e.labels['tempo_bpm'])} | {e.labels['key']} {e.labels['mode']} | "
                     f"{e.scalars['loudness_lufs']:.1f} | {', '.join(e.flags) or '-'} | {mark(finite)} | "
                     f"{seconds[relative]:.3f} |")
    for relative, reason in refused.items():  # kellyd refuses these with a clear error (the daemon quarantines them)
        lines.append(f"| {relative} | - | - | - | - | - | refused: {reason} | - | {seconds[relative]:.3f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    args = parser.parse_args(argv)
    realdata: Path = args.realdata
    if skipped_without_corpus("accuracy_audio", realdata, "sonic_pi/labels.csv", "madmom/sample.wav", "beatnet"):
        return 0
    files = sorted(p for p in realdata.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    extracted: dict[str, Extracted] = {}
    refused: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for path in files:
        relative = str(path.relative_to(realdata))
        started = time.perf_counter()
        try:
            extracted[relative] = extract_audio_file(path)
        except InvalidInput as exc:  # silent, too short, unreadable: counted as wrong where it has a label
            refused[relative] = str(exc)
        seconds[relative] = time.perf_counter() - started
    lines = ["# Audio feature accuracy on the real data corpus", ""]
    lines += tempo_report(realdata, extracted)
    lines += key_report(realdata, extracted)
    lines += coverage_report(extracted, refused, seconds)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
