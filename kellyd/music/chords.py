"""Chords per beat by template matching, smoothed over time, with Roman numerals.

Each frame (a beat of the beat grid) gets a pitch-class vector: the seconds
each pitch class sounds in it. Its cosine similarity with a binary template of
every root x quality is the chord score, plus `BASS_ROOT_BONUS` when the
frame's bass (lowest note held for a quarter of the frame) is the root, which
tells Fmaj7 from Am over F and sus2 from the sus4 a fourth below. A frame with
fewer than two pitch classes (silence, a lone melody note) scores only "N"
(no chord). A Viterbi pass with `CHANGE_PENALTY` per change keeps a passing
tone from flipping the chord for one beat.

Symbols are Harte-style: `root:quality` (`F#:maj`, `C#:min7`, `B:hdim7`) or `N`,
roots in the canonical spelling of `kellyd.music.pitch_classes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kellyd.music.pitch_classes import Mode, pitch_name
from kellyd.music.viterbi import runs, viterbi_constant_switch

QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "7": (0, 4, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}
QUALITY_NAMES: tuple[str, ...] = tuple(QUALITIES)
NO_CHORD = "N"
BASS_ROOT_BONUS = 0.1
# Score of "N" in a frame with notes: below any template that matches at least a dyad.
NO_CHORD_SCORE = 0.3
CHANGE_PENALTY = 0.15
# A pitch class counts as present in a frame with at least this share of the strongest one's time.
PRESENT_SHARE = 0.1
# Symmetric chords (aug, dim7) repeat every few semitones; a small price keeps them for real evidence.
SYMMETRIC_PENALTY = 0.05

_MINOR_LIKE = {"min", "dim", "min7", "hdim7", "dim7"}
# Upper-case numeral of the root's offset (semitones) from the tonic: the major or the natural
# minor scale's degrees; chromatic roots take the usual altered name (bVII in major, #VII in minor).
_DEGREES = {
    "major": ("I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII"),
    "minor": ("I", "bII", "II", "III", "#III", "IV", "#IV", "V", "VI", "#VI", "VII", "#VII"),
}
_NUMERAL_SUFFIX = {"maj": "", "min": "", "dim": "o", "aug": "+", "sus2": "sus2", "sus4": "sus4",
                   "maj7": "maj7", "min7": "7", "7": "7", "hdim7": "ø7", "dim7": "o7"}  # fmt: skip


@dataclass(frozen=True)
class ChordFrames:
    """One chord per frame: `start_s`, `end_s` (m,) seconds; `root` (m,) pitch class or -1 for N;
    `quality` (m,) index into QUALITY_NAMES or -1 for N."""

    start_s: np.ndarray
    end_s: np.ndarray
    root: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return len(self.root)


@dataclass(frozen=True)
class ChordSegment:
    start_s: float
    end_s: float
    root: int
    quality: str | None

    @property
    def symbol(self) -> str:
        return chord_symbol(self.root, self.quality)


@lru_cache(maxsize=None)
def template_matrix() -> np.ndarray:
    """(12 * q, 12) unit-norm binary templates; row r * q + j is root r with quality QUALITY_NAMES[j]."""
    rows = []
    for root in range(12):
        for intervals in QUALITIES.values():
            row = np.zeros(12)
            row[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(row / np.linalg.norm(row))
    matrix = np.array(rows)
    matrix.flags.writeable = False
    return matrix


def chord_scores(pc_weight: np.ndarray, bass_pc: np.ndarray, quality_penalty: dict[str, float] | None = None) -> np.ndarray:
    """(m, 12 * q + 1) score of every chord per frame from pitch-class weights (m, 12) and bass (m,) (-1 none);
    the last column is N. `quality_penalty` lowers the score of the named qualities (audio chroma,
    whose overtones fill in sevenths, asks stronger evidence for four-note chords)."""
    w = np.asarray(pc_weight, dtype=np.float64)
    n_q = len(QUALITY_NAMES)
    if len(w) == 0:
        return np.zeros((0, 12 * n_q + 1))
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    unit = np.divide(w, norm, out=np.zeros_like(w), where=norm > 0)
    score = unit @ template_matrix().T
    roots = np.repeat(np.arange(12), n_q)
    score += BASS_ROOT_BONUS * (bass_pc[:, None] == roots[None, :])
    symmetric = np.tile([q in ("aug", "dim7") for q in QUALITY_NAMES], 12)
    score -= SYMMETRIC_PENALTY * symmetric[None, :]
    if quality_penalty:
        unknown = set(quality_penalty) - set(QUALITY_NAMES)
        if unknown:
            raise ValueError(f"unknown chord qualities {sorted(unknown)}; known: {QUALITY_NAMES}")
        score -= np.tile([quality_penalty.get(q, 0.0) for q in QUALITY_NAMES], 12)[None, :]
    # One pitch class (a melody note, octaves) names no chord: such frames get N only.
    present = (w > 0) & (w >= PRESENT_SHARE * w.max(axis=1, keepdims=True))
    no_chord_only = np.count_nonzero(present, axis=1) < 2
    score[no_chord_only] = 0.0
    no_chord = np.where(no_chord_only, 1.0, NO_CHORD_SCORE)
    return np.hstack((score, no_chord[:, None]))


def detect_chords(
    pc_weight: np.ndarray, bass_pc: np.ndarray, boundaries_s: np.ndarray, quality_penalty: dict[str, float] | None = None
) -> ChordFrames:
    """Chords of m frames from pitch-class weights (m, 12), bass pitch classes (m,) and boundaries (m+1,) s
    (`quality_penalty`: see `chord_scores`)."""
    boundaries_s = np.asarray(boundaries_s, dtype=np.float64)
    m = len(boundaries_s) - 1
    if np.shape(pc_weight) != (max(m, 0), 12) or np.shape(bass_pc) != (max(m, 0),):
        raise ValueError(
            f"need (m, 12) weights and (m,) bass for {max(m, 0)} frames, got {np.shape(pc_weight)} and {np.shape(bass_pc)}"
        )
    if m <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return ChordFrames(np.zeros(0), np.zeros(0), empty, empty)
    path = viterbi_constant_switch(chord_scores(pc_weight, np.asarray(bass_pc), quality_penalty), CHANGE_PENALTY)
    n_q = len(QUALITY_NAMES)
    is_chord = path < 12 * n_q
    return ChordFrames(
        boundaries_s[:-1].copy(),
        boundaries_s[1:].copy(),
        np.where(is_chord, path // n_q, -1),
        np.where(is_chord, path % n_q, -1),
    )


def chord_symbol(root: int, quality: str | None) -> str:
    """Harte-style symbol, e.g. (1, "min7") -> "C#:min7"; N when root < 0."""
    if root < 0 or quality is None:
        return NO_CHORD
    if quality not in QUALITIES:
        raise ValueError(f"unknown chord quality {quality!r}; known: {QUALITY_NAMES}")
    return f"{pitch_name(root)}:{quality}"


def chord_segments(frames: ChordFrames) -> tuple[ChordSegment, ...]:
    """Runs of the same chord merged into segments (N included)."""
    code = frames.root * 100 + frames.quality
    starts, ends = runs(code)
    return tuple(
        ChordSegment(
            float(frames.start_s[s]),
            float(frames.end_s[e - 1]),
            int(frames.root[s]),
            QUALITY_NAMES[int(frames.quality[s])] if frames.quality[s] >= 0 else None,
        )
        for s, e in zip(starts, ends)
    )


def collapse_progression(symbols: list[str]) -> list[str]:
    """Drop N and merge repeats: ["N", "C:maj", "C:maj", "G:7", "C:maj"] -> ["C:maj", "G:7", "C:maj"]."""
    out: list[str] = []
    for s in symbols:
        if s != NO_CHORD and (not out or out[-1] != s):
            out.append(s)
    return out


def roman_numeral(root: int, quality: str, tonic_pc: int, mode: Mode) -> str:
    """Roman numeral of a chord in a key: the degree of its root in the key's scale (major, or
    natural minor), b/# for chromatic roots (bVII in major, #VII in minor), upper case for
    chords with a major third, lower case for minor and diminished ones.

    (7, "7", 0, "major") -> "V7"; (9, "min", 0, "major") -> "vi"; (10, "maj", 0, "major") -> "bVII";
    (11, "dim", 9, "minor") -> "iio".
    """
    if quality not in QUALITIES:
        raise ValueError(f"unknown chord quality {quality!r}; known: {QUALITY_NAMES}")
    if mode not in _DEGREES:
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    numeral = _DEGREES[mode][(root - tonic_pc) % 12]
    if quality in _MINOR_LIKE:
        numeral = numeral.lower()
    return f"{numeral}{_NUMERAL_SUFFIX[quality]}"


# Cadences between consecutive chords, named by the Roman numerals' degrees (quality suffixes ignored).
_DOMINANT_DEGREES = {"V", "VII"}  # V, V7 and the leading-tone chord viio/viiø7 resolve to the tonic
_TONIC_DEGREE = "I"
_SUBDOMINANT_DEGREE = "IV"
_SUBMEDIANT_DEGREES = {"VI", "bVI"}


@dataclass(frozen=True)
class Cadence:
    """`kind` ("authentic", "plagal", "half", "deceptive") arriving at chord `index` of the progression."""

    index: int
    kind: str
    numerals: tuple[str, str]


@dataclass(frozen=True)
class ProgressionComplexity:
    """How varied a chord progression is.

    `distinct_chords` different chord symbols (N excluded); `transition_entropy_bits` the
    conditional entropy of the next chord given the current one over the collapsed progression
    (0 for a loop that always moves the same way); `chromatic_share` the share of numerals
    whose root lies outside the key's scale (b/# degrees).
    """

    distinct_chords: int
    changes: int
    transition_entropy_bits: float
    chromatic_share: float

    def to_json(self) -> dict:
        return {"distinct_chords": self.distinct_chords, "changes": self.changes,
                "transition_entropy_bits": round(self.transition_entropy_bits, 4),
                "chromatic_share": round(self.chromatic_share, 4)}


def numeral_degree(numeral: str) -> str:
    """The upper-case degree of a Roman numeral with its accidental: "V7" -> "V", "bVII" -> "bVII", "viio" -> "VII"."""
    accidental = numeral[0] if numeral[:1] in ("b", "#") else ""
    body = numeral[len(accidental):]
    letters = ""
    for ch in body:
        if ch.upper() not in "IV":
            break
        letters += ch
    return accidental + letters.upper()


def find_cadences(numerals: list[str]) -> tuple[Cadence, ...]:
    """Cadences in a sequence of Roman numerals (one per chord run):
    authentic V/viio -> I; plagal IV -> I; deceptive V -> vi (VI/bVI); half: a V reached from
    a non-dominant chord and left without resolving (the next chord is neither I nor vi, or there is none)."""
    degrees = [numeral_degree(n) for n in numerals]
    out: list[Cadence] = []
    for i in range(1, len(degrees)):
        prev, here = degrees[i - 1], degrees[i]
        if prev == here:
            continue
        kind = None
        if here == _TONIC_DEGREE and prev in _DOMINANT_DEGREES:
            kind = "authentic"
        elif here == _TONIC_DEGREE and prev == _SUBDOMINANT_DEGREE:
            kind = "plagal"
        elif prev == "V" and here in _SUBMEDIANT_DEGREES:
            kind = "deceptive"
        elif here == "V" and prev not in _DOMINANT_DEGREES:
            following = next((d for d in degrees[i + 1:] if d != here), None)
            if following != _TONIC_DEGREE and following not in _SUBMEDIANT_DEGREES:
                kind = "half"
        if kind is not None:
            out.append(Cadence(i, kind, (numerals[i - 1], numerals[i])))
    return tuple(out)


def progression_complexity(symbols: list[str], numerals: list[str] | None = None) -> ProgressionComplexity:
    """Complexity figures of a chord progression given as symbols (one per chord run or per beat)."""
    progression = collapse_progression(symbols)
    transitions: dict[str, dict[str, int]] = {}
    for a, b in zip(progression, progression[1:]):
        transitions.setdefault(a, {}).setdefault(b, 0)
        transitions[a][b] += 1
    total = sum(sum(row.values()) for row in transitions.values())
    entropy = 0.0
    for row in transitions.values():
        n = sum(row.values())
        p = np.array(list(row.values()), dtype=np.float64) / n
        entropy += n / total * float(-(p * np.log2(p)).sum())
    numerals = [n for n in (numerals or []) if n]
    chromatic = sum(1 for n in numerals if n[:1] in ("b", "#")) / len(numerals) if numerals else 0.0
    return ProgressionComplexity(len(set(progression)), max(len(progression) - 1, 0), entropy, chromatic)
