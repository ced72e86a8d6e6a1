"""Chord progressions written in Roman numerals, rendered in any key and voice-led.

Numeral grammar (one chord): ``[b|#] numeral [o|ø|h|+] [7|maj7] [sus2|sus4] [/target]``.

- Case gives the triad: ``IV`` major, ``ii`` minor; ``o`` diminished (``viio``,
  ``viio7`` = diminished seventh), ``ø`` or ``h`` half-diminished seventh
  (``iiø7``), ``+`` augmented (``III+``). ``7`` on an upper-case numeral is a
  dominant seventh (``V7``), on a lower-case one a minor seventh (``ii7``);
  ``maj7`` is a major seventh (``IVmaj7``).
- Degrees count along the key's own scale: major, or natural minor in a minor
  key, so ``VII`` in A minor is G major and ``III`` is C major. The one classical
  exception: a diminished chord on degree 7 of a minor key stands on the raised
  leading tone (``viio7`` in A minor is G#dim7). ``b``/``#`` alter the root:
  ``bVII``, ``bVI``, ``iv`` (borrowed) in major, ``bII`` (Neapolitan) in minor.
- ``X/Y`` is X in the key of Y (secondary chords): ``V/V``, ``V7/vi``,
  ``viio7/V``. Y's key is major when Y is a major or dominant chord, else minor.

Chord symbols are Harte-style `root:quality`, the form the MIDI feature
extractor writes (`C:maj`, `A:min`, `G:7`, `F#:dim7`, `D:hdim7`), with roots
spelled by `PITCH_CLASS_NAMES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from kellyd.synth.common import (
    SCALES, Event, Synthesized, Timing, build_score, check_duration, check_mode, check_tonic, clamp_velocity,
    fit_timing, key_labels, make_track, rng_for, sounding_ratio, timing_labels,
)
from kellyd.taxonomy import PITCH_CLASS_NAMES

QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8),
    "sus2": (0, 2, 7), "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9),
}
_MAJOR_LIKE = frozenset({"maj", "aug", "sus2", "sus4", "7", "maj7"})
_DIMINISHED = frozenset({"dim", "hdim7", "dim7"})
_DEGREES = ("I", "II", "III", "IV", "V", "VI", "VII")
_NUMERAL = re.compile(
    r"^(?P<accidental>[b#]?)(?P<numeral>[IViv]+)(?P<marker>o|ø|h|\+)?(?P<seventh>maj7|7)?(?P<sus>sus[24])?$"
)

# Voice ranges (MIDI pitches): three upper voices over a bass on the root.
UPPER_LOW, UPPER_HIGH = 52, 76
BASS_LOW, BASS_HIGH = 36, 52
MAX_UPPER_SPAN = 14  # semitones between the lowest and highest upper voice


@dataclass(frozen=True)
class Chord:
    root_pc: int
    quality: str

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root_pc + i) % 12 for i in QUALITY_INTERVALS[self.quality])

    @property
    def symbol(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.root_pc]}:{self.quality}"

    @property
    def is_major_like(self) -> bool:
        return self.quality in _MAJOR_LIKE


def parse_roman(numeral: str, *, tonic_pc: int, mode: str) -> Chord:
    """The chord `numeral` names in the key of `tonic_pc` (0 = C) and `mode`."""
    tonic_pc, mode = check_tonic(tonic_pc), check_mode(mode)
    head, slash, target = numeral.partition("/")
    if slash:
        target_chord = parse_roman(target, tonic_pc=tonic_pc, mode=mode)
        target_mode = "major" if target_chord.is_major_like else "minor"
        return parse_roman(head, tonic_pc=target_chord.root_pc, mode=target_mode)
    match = _NUMERAL.match(head)
    if not match or match["numeral"].upper() not in _DEGREES:
        raise ValueError(f"not a Roman numeral chord: {numeral!r}")
    upper = match["numeral"].isupper()
    if not upper and not match["numeral"].islower():
        raise ValueError(f"Roman numeral {numeral!r} mixes upper and lower case")
    quality = _quality(numeral, upper, match["marker"], match["seventh"], match["sus"])
    degree = _DEGREES.index(match["numeral"].upper())
    root = tonic_pc + SCALES[mode][degree] + {"b": -1, "#": 1, "": 0}[match["accidental"]]
    if mode == "minor" and degree == 6 and quality in _DIMINISHED and not match["accidental"]:
        root += 1  # leading-tone chord of minor: on the raised seventh degree
    return Chord(root % 12, quality)


def _quality(numeral: str, upper: bool, marker: str | None, seventh: str | None, sus: str | None) -> str:
    if sus:
        if not upper or marker or seventh:
            raise ValueError(f"{numeral!r}: sus chords are written on a plain upper-case numeral (Vsus4)")
        return sus
    if marker == "o":
        if upper or seventh == "maj7":
            raise ValueError(f"{numeral!r}: a diminished chord is lower case, with 7 at most (viio7)")
        return "dim7" if seventh else "dim"
    if marker in ("ø", "h"):
        if upper or seventh != "7":
            raise ValueError(f"{numeral!r}: half-diminished is written lower case with 7 (iiø7)")
        return "hdim7"
    if marker == "+":
        if not upper or seventh:
            raise ValueError(f"{numeral!r}: augmented is an upper-case triad (III+)")
        return "aug"
    if upper:
        return {None: "maj", "7": "7", "maj7": "maj7"}[seventh]
    if seventh == "maj7":
        raise ValueError(f"{numeral!r}: minor-major sevenths are not supported")
    return "min7" if seventh else "min"


def render_progression(numerals: Sequence[str], *, tonic_pc: int, mode: str) -> list[Chord]:
    return [parse_roman(n, tonic_pc=tonic_pc, mode=mode) for n in numerals]


def voice_lead(chords: Sequence[Chord], *, low: int = UPPER_LOW, high: int = UPPER_HIGH) -> list[tuple[int, ...]]:
    """Three upper voices per chord, each chord voiced to move least from the last.

    Triads are complete; a seventh chord's upper voices take its third, fifth
    and seventh (the root is in the bass). The first chord is the voicing
    closest to the middle of the range. Ties go to the lower voicing.
    """
    voicings: list[tuple[int, ...]] = []
    centre = (low + high) / 2.0
    previous = np.array([centre - 4, centre, centre + 4])
    for chord in chords:
        pcs = chord.pitch_classes
        upper_pcs = pcs[1:] if len(pcs) == 4 else pcs
        candidates = _close_voicings(upper_pcs, low, high)
        if not candidates:
            raise ValueError(f"no voicing of {chord.symbol} fits MIDI {low}..{high}")
        best = min(candidates, key=lambda v: (float(np.abs(np.array(v) - previous).sum()), v))
        voicings.append(best)
        previous = np.array(best, dtype=np.float64)
    return voicings


def _close_voicings(pcs: Sequence[int], low: int, high: int) -> list[tuple[int, ...]]:
    positions = [[p for p in range(low, high + 1) if p % 12 == pc] for pc in pcs]
    voicings = set()
    for a in positions[0]:
        for b in positions[1]:
            for c in positions[2]:
                v = tuple(sorted((a, b, c)))
                if v[-1] - v[0] <= MAX_UPPER_SPAN:
                    voicings.add(v)
    return sorted(voicings)


def bass_line(chords: Sequence[Chord], *, low: int = BASS_LOW, high: int = BASS_HIGH) -> list[int]:
    """Each chord's root in [low, high], nearest to the previous bass note (first: nearest the middle)."""
    notes: list[int] = []
    previous = (low + high) / 2.0
    for chord in chords:
        options = [p for p in range(low, high + 1) if p % 12 == chord.root_pc]
        best = min(options, key=lambda p: (abs(p - previous), p))
        notes.append(best)
        previous = best
    return notes


def collapse(items: Sequence[str]) -> list[str]:
    """Consecutive repeats merged: ["C", "C", "G"] -> ["C", "G"]."""
    return [x for i, x in enumerate(items) if i == 0 or x != items[i - 1]]


CADENCE_DOMINANT = "V7"
_DOMINANTS = frozenset({"V", "V7"})
MIN_SLOTS_FOR_CADENCE = 4


def fill_slots(progression: Sequence[str], slots: int, tonic: str, *, closing_slots: int = 1) -> list[str]:
    """`slots` numerals: the progression repeated, a V7 -> tonic cadence, the tonic held `closing_slots`.

    The cadence is what makes the key unmistakable at the end, whatever
    colour the progression has; it is left out when the progression already
    reaches a dominant there, or when the piece is too short to carry it.
    """
    closing = min(closing_slots, slots)
    body = [progression[i % len(progression)] for i in range(slots - closing)]
    if slots >= MIN_SLOTS_FOR_CADENCE and len(body) >= 2 and body[-1] not in _DOMINANTS:
        body[-1] = CADENCE_DOMINANT
    return body + [tonic] * closing


TEXTURES: tuple[str, ...] = ("block", "pulse", "eighths", "arpeggio")
_TEXTURE_STEP_BEATS = {"block": None, "pulse": 1.0, "eighths": 0.5, "arpeggio": 0.5}
_ARPEGGIO_ORDER = (0, 1, 2, 1)
ACCOMPANIMENT_SOFTER_BY = 8  # upper voices sit this much below the velocity range
BAR_ACCENT = 6


def accompaniment(
    chords: Sequence[Chord],
    *,
    timing: Timing,
    chords_per_bar: int,
    texture: str,
    articulation: str,
    velocity: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[list[Event], list[Event]]:
    """(upper-voice events, bass events) playing `chords`, one per slot of `bar / chords_per_bar`.

    Textures: block (one attack per chord), pulse (every beat), eighths (every
    half beat), arpeggio (the voices broken in eighths over a held bass). The
    last chord is one held attack that ends exactly at the end of the piece.
    """
    if texture not in TEXTURES:
        raise ValueError(f"unknown texture {texture!r}; known: {', '.join(TEXTURES)}")
    if chords_per_bar not in (1, 2):
        raise ValueError(f"chords_per_bar must be 1 or 2, got {chords_per_bar!r}")
    low, high = velocity
    slot_beats = timing.beats_per_bar / chords_per_bar
    step = _TEXTURE_STEP_BEATS[texture]
    upper, bass = [], []
    for i, (chord_voicing, root) in enumerate(zip(voice_lead(chords), bass_line(chords))):
        slot_start = i * slot_beats
        bar = int(slot_start // timing.beats_per_bar)
        if i == len(chords) - 1 or step is None:
            onsets = [(0.0, slot_beats)]
        else:
            onsets = [(k * step, min(step, slot_beats - k * step)) for k in range(int(np.ceil(slot_beats / step)))]
        for k, (offset, length) in enumerate(onsets):
            beat = slot_start + offset
            start = timing.time_at(beat)
            is_final = i == len(chords) - 1
            ratio = 1.0 if is_final else sounding_ratio(articulation, bar, rng)
            end = timing.time_at(beat + length * ratio)
            accent = BAR_ACCENT if beat % timing.beats_per_bar == 0 else 0
            level = float(rng.uniform(low, high)) + accent
            voices = chord_voicing if texture != "arpeggio" or is_final else \
                (chord_voicing[_ARPEGGIO_ORDER[k % len(_ARPEGGIO_ORDER)]],)
            for pitch in voices:
                upper.append((start, end, pitch, clamp_velocity(level - ACCOMPANIMENT_SOFTER_BY)))
            if texture in ("pulse", "eighths") or k == 0:
                bass_length = length if texture in ("pulse", "eighths") or is_final else slot_beats
                bass_end = timing.time_at(beat + bass_length * ratio)
                bass.append((start, bass_end, root, clamp_velocity(level)))
    return upper, bass


# --- the harmony generator ---------------------------------------------------------

# Progressions the harmony generator draws from, per mode: diatonic cadences,
# borrowed chords (iv, bVI, bVII in major), secondary dominants, leading-tone sevenths.
HARMONY_PROGRESSIONS: dict[str, tuple[str, ...]] = {
    "major": (
        "I IV V I", "I vi IV V", "I vi ii V7", "I ii7 V7 I", "I IV ii V", "I V vi IV",
        "I iii IV V", "I iv I V7", "I bVII IV V I", "I bVI V7 I", "I V/V V I", "I vi V7/V V7",
        "I V7/vi vi IV V", "I IVmaj7 V7 I", "I viio7/V V I", "I V7/IV IV V7", "I IV ii V/V V7 I",
        "I vi IV viio I", "I iiø7 V7 I", "I Vsus4 V I",
    ),
    "minor": (
        "i iv V i", "i VI III VII V", "i iv VII III", "i iiø7 V7 i", "i VI iv V", "i bII V i",
        "i iv viio7 i", "i VII VI V", "i III iv V", "i VI iio V7", "i iv7 VII7 IIImaj7 iiø7 V7",
        "i V7/iv iv V", "i VI V/V V", "i viio7/V V i", "i III+ VI V", "i iv i V7",
    ),
}
# Plain cadential progressions, for pieces whose point is not the harmony (melodies, dynamics).
PLAIN_PROGRESSIONS: dict[str, tuple[str, ...]] = {
    "major": ("I IV V I", "I vi IV V", "I ii V I"),
    "minor": ("i iv V i", "i VI iv V", "i iio V i"),
}
HARMONY_TEMPO_BPM = (66.0, 120.0)
HARMONY_VELOCITY = (64, 84)


def harmony_piece(progression: str, *, tonic_pc: int, mode: str, duration_s: float, seed: int,
                  chords_per_bar: int = 1) -> Synthesized:
    """Block chords of `progression` (space-separated numerals) over a root bass, closing on the tonic.

    Annotations: key, mode, chord_progression (symbols, repeats merged),
    roman_numerals (the same chords as numerals), progression (as given),
    tempo_bpm, time_signature, duration_s.
    """
    tonic_pc, mode = check_tonic(tonic_pc), check_mode(mode)
    duration_s = check_duration(duration_s)
    numerals_in = progression.split()
    if not numerals_in:
        raise ValueError(f"empty progression {progression!r}")
    rng = rng_for(seed)
    timing = fit_timing(duration_s, tempo_bpm=HARMONY_TEMPO_BPM, beats_per_bar=4, rng=rng)
    numerals = fill_slots(numerals_in, timing.bars * chords_per_bar, "I" if mode == "major" else "i",
                          closing_slots=chords_per_bar)
    chords = render_progression(numerals, tonic_pc=tonic_pc, mode=mode)
    upper, bass = accompaniment(chords, timing=timing, chords_per_bar=chords_per_bar, texture="block",
                                articulation="legato", velocity=HARMONY_VELOCITY, rng=rng)
    score = build_score(timing, [make_track("chords", upper), make_track("bass", bass, program=32)])
    annotations = {
        **key_labels(tonic_pc, mode),
        **timing_labels(timing),
        **progression_labels(numerals, chords),
        "progression": progression,
    }
    return Synthesized(score, annotations, label=f"{PITCH_CLASS_NAMES[tonic_pc]}_{mode}")


def progression_labels(numerals: Sequence[str], chords: Sequence[Chord]) -> dict[str, list[str]]:
    """`chord_progression` (symbols) and `roman_numerals`, repeats merged where the symbols repeat."""
    symbols = [c.symbol for c in chords]
    return {"chord_progression": collapse(symbols), "roman_numerals": _collapse_with(numerals, symbols)}


def _collapse_with(numerals: Sequence[str], symbols: Sequence[str]) -> list[str]:
    """Numerals merged where the sounding chord symbols repeat, so both lists align."""
    return [n for i, n in enumerate(numerals) if i == 0 or symbols[i] != symbols[i - 1]]
