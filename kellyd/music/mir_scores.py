"""Standard MIR accuracy measures, for tests and bench scripts that check features against ground truth.

- tempo: acc1 (within 4 %) and acc2 (also at 2x, 1/2x, 3x, 1/3x), as in MIREX;
- key: the MIREX weighted score (1 same key, 0.5 a fifth apart in the same mode,
  0.3 relative, 0.2 parallel, else 0);
- chords: the share of reference time where the estimate has the same root and
  triad (maj7 and 7 count as maj, min7 as min, hdim7 and dim7 as dim; N matches N),
  from Harte-style labels such as `B:maj`, `C#:min7`, `Db:maj7/5`, `N`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from kellyd.music.pitch_classes import Mode, parse_pitch_name
from kellyd.music.tempo import ACC1_TOLERANCE, metrically_related

# Harte qualities and their triads; a label without a quality is major.
HARTE_TRIAD = {
    "maj": "maj", "min": "min", "dim": "dim", "aug": "aug", "sus2": "sus2", "sus4": "sus4",
    "maj7": "maj", "7": "maj", "maj6": "maj", "9": "maj", "maj9": "maj", "11": "maj", "13": "maj",
    "min7": "min", "minmaj7": "min", "min6": "min", "min9": "min", "min11": "min",
    "dim7": "dim", "hdim7": "dim", "7sus4": "sus4", "aug7": "aug", "5": None, "1": None,
}  # fmt: skip


@dataclass(frozen=True)
class LabelledSpan:
    start_s: float
    end_s: float
    label: str


def tempo_acc1(estimate_bpm: float, truth_bpm: float) -> bool:
    return abs(estimate_bpm / truth_bpm - 1.0) <= ACC1_TOLERANCE


def tempo_acc2(estimate_bpm: float, truth_bpm: float) -> bool:
    return metrically_related(estimate_bpm, truth_bpm)


def mirex_key_score(est_tonic: int, est_mode: Mode, ref_tonic: int, ref_mode: Mode) -> float:
    """MIREX weighted key score of an estimated key against a reference (tonics are pitch classes)."""
    if est_mode == ref_mode:
        if est_tonic == ref_tonic:
            return 1.0
        if (est_tonic - ref_tonic) % 12 in (5, 7):
            return 0.5
        return 0.0
    if est_tonic == ref_tonic:
        return 0.2
    # Relative keys: the minor tonic is three semitones below the major tonic.
    major, minor = (est_tonic, ref_tonic) if est_mode == "major" else (ref_tonic, est_tonic)
    return 0.3 if (major - minor) % 12 == 3 else 0.0


def parse_harte_key(label: str) -> tuple[int, Mode]:
    """"Gb:maj" -> (6, "major"); "Eb:min" -> (3, "minor")."""
    root, _, quality = label.partition(":")
    if quality not in ("maj", "min"):
        raise ValueError(f"key label must be ROOT:maj or ROOT:min, got {label!r}")
    return parse_pitch_name(root), ("major" if quality == "maj" else "minor")


def parse_harte_chord(label: str) -> tuple[int, str | None]:
    """(root pitch class, triad) of a Harte chord label; (-1, None) for N; triad None for power chords."""
    if label in ("N", "X"):
        return -1, None
    head = label.split("/")[0]
    root, _, quality = head.partition(":")
    quality = quality.split("(")[0] or "maj"
    if quality not in HARTE_TRIAD:
        raise ValueError(f"unknown chord quality {quality!r} in {label!r}")
    return parse_pitch_name(root), HARTE_TRIAD[quality]


def read_spans(text: str) -> list[LabelledSpan]:
    """Spans from "start end label" lines (whitespace separated), as in POP909's annotation files."""
    spans = []
    for line_no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"line {line_no}: expected 'start end label', got {line!r}")
        spans.append(LabelledSpan(float(parts[0]), float(parts[1]), parts[2]))
    return spans


def chord_root_triad_accuracy(reference: Sequence[LabelledSpan], estimate: Sequence[LabelledSpan]) -> float:
    """Share of reference time (N included) where the estimate has the same root and triad.

    Both are Harte-labelled spans; estimate time outside the reference is
    ignored, reference time the estimate does not cover counts as wrong.
    """
    if not reference:
        raise ValueError("reference has no spans")
    ref = [(s.start_s, s.end_s, parse_harte_chord(s.label)) for s in reference]
    est = sorted((s.start_s, s.end_s, parse_harte_chord(s.label)) for s in estimate)
    est_start = np.array([e[0] for e in est]) if est else np.zeros(0)
    total = right = 0.0
    for r_start, r_end, r_chord in ref:
        total += max(r_end - r_start, 0.0)
        first = max(int(np.searchsorted(est_start, r_start, side="right")) - 1, 0)
        for e_start, e_end, e_chord in est[first:]:
            if e_start >= r_end:
                break
            overlap = min(r_end, e_end) - max(r_start, e_start)
            if overlap > 0 and e_chord == r_chord:
                right += overlap
    return right / total if total > 0 else 0.0
