"""Pieces that carry an emotion: one hand-written profile per taxonomy emotion.

Every name in `kellyd.taxonomy.EMOTIONS` (base emotions, sub-emotions and
folder aliases) has its own `EmotionProfile`: mode, tempo range, velocity
range, articulation, accompaniment texture, melodic rhythm, register, meter and
a set of Roman-numeral progressions. No entry is derived from another, so a
sub-emotion never silently plays its base emotion's music (tests check that
every profile and every progression set is distinct).

The musical choices follow the usual cues of music-emotion research (major
mode and fast tempo for positive high arousal, minor and slow for sadness,
loud, fast, short notes for anger, diminished and Neapolitan colour for fear,
narrow dynamics for boredom). Valence and arousal labels come from the
taxonomy, not from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from kellyd.synth.common import (
    ARTICULATIONS, MODES, Synthesized, build_score, check_duration, check_tonic, fit_timing, key_labels, make_track,
    rng_for, timing_labels,
)
from kellyd.synth.harmony import TEXTURES, accompaniment, fill_slots, progression_labels, render_progression
from kellyd.synth.melody import CONTOURS, DENSITIES, RHYTHMS, melody_line
from kellyd.taxonomy import EMOTIONS

MELODY_SPAN_SEMITONES = 12
MELODY_LOUDER_BY = 6  # the melody sits this much above the accompaniment's level


@dataclass(frozen=True)
class EmotionProfile:
    mode: str                        # "major" | "minor"
    tempo_bpm: tuple[float, float]   # range the tempo is drawn from
    velocity: tuple[int, int]        # MIDI velocity range of the notes
    articulation: str                # "legato" | "staccato" | "mixed"
    texture: str                     # accompaniment, see harmony.TEXTURES
    density: str                     # melodic rhythm, see melody.DENSITIES
    register: int                    # melody centre, MIDI pitch
    progressions: tuple[str, ...]    # Roman numerals, one chord per slot
    chords_per_bar: int = 1
    beats_per_bar: int = 4

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode {self.mode!r}")
        if self.articulation not in ARTICULATIONS:
            problems.append(f"articulation {self.articulation!r}")
        if self.texture not in TEXTURES:
            problems.append(f"texture {self.texture!r}")
        if self.density not in DENSITIES or (self.beats_per_bar, self.density) not in RHYTHMS:
            problems.append(f"density {self.density!r} in {self.beats_per_bar}/4")
        if not 0 < self.tempo_bpm[0] <= self.tempo_bpm[1] or not 1 <= self.velocity[0] <= self.velocity[1] <= 127:
            problems.append(f"ranges {self.tempo_bpm}, {self.velocity}")
        if problems or not self.progressions:
            raise ValueError(f"malformed emotion profile: {', '.join(problems) or 'no progressions'}")
        for progression in self.progressions:
            render_progression(progression.split(), tonic_pc=0, mode=self.mode)


def _p(mode: str, tempo: tuple[float, float], velocity: tuple[int, int], articulation: str, texture: str,
       density: str, register: int, progressions: list[str], *, cpb: int = 1, meter: int = 4) -> EmotionProfile:
    return EmotionProfile(mode, tempo, velocity, articulation, texture, density, register, tuple(progressions),
                          chords_per_bar=cpb, beats_per_bar=meter)


EMOTION_PROFILES: dict[str, EmotionProfile] = {
    # --- happy and its family: major, bright registers ---
    "happy": _p("major", (108, 132), (72, 100), "staccato", "pulse", "even", 72,
                ["I IV V I", "I vi IV V", "I V vi IV"]),
    "contentment": _p("major", (72, 92), (50, 72), "legato", "arpeggio", "sparse", 67,
                      ["I IVmaj7 I V", "I iii IV I V"]),
    "joy": _p("major", (120, 148), (80, 110), "staccato", "eighths", "busy", 76,
              ["I V/V V I", "I IV I ii V", "I vi ii V7"]),
    "excitement": _p("major", (140, 172), (90, 120), "staccato", "eighths", "busy", 74,
                     ["I bVII IV I", "I V vi bVII IV V", "I IV V/V V"], cpb=2),
    "pride": _p("major", (92, 112), (80, 108), "mixed", "pulse", "dotted", 67,
                ["I IV I V", "I bVI bVII I", "I ii V/V V I"]),
    "love": _p("major", (66, 84), (48, 78), "legato", "arpeggio", "even", 69,
               ["I vi IV V7", "I V7/vi vi IV V", "I iii vi IV V"], meter=3),
    "hope": _p("major", (84, 104), (58, 86), "legato", "arpeggio", "even", 71,
               ["I Vsus4 V vi IV", "I IV vi V", "I ii7 Vsus4 V"]),
    # --- sad and its family: minor, slow, soft ---
    "sad": _p("minor", (60, 76), (40, 64), "legato", "block", "sparse", 64,
              ["i iv V i", "i VI iv V", "i iv i V7"]),
    "grief": _p("minor", (48, 62), (30, 58), "legato", "block", "sparse", 60,
                ["i iv viio7 i", "i VI iiø7 V7", "i bII V i"]),
    "despair": _p("minor", (50, 66), (36, 70), "legato", "pulse", "sparse", 57,
                  ["i VII VI V", "i iv7 VI V", "i III+ VI V"]),
    "loneliness": _p("minor", (56, 72), (28, 52), "legato", "arpeggio", "sparse", 72,
                     ["i VI i V", "i iv VI V"]),
    "disappointment": _p("minor", (64, 80), (44, 66), "mixed", "block", "even", 64,
                         ["i III iv V", "i V/V V i"]),
    "melancholy": _p("minor", (60, 78), (38, 62), "legato", "arpeggio", "even", 67,
                     ["i iv7 VII IIImaj7 VI iiø7 V7", "i VI iv V7"], meter=3),
    "hurt": _p("minor", (66, 84), (46, 80), "mixed", "block", "even", 66,
               ["i iiø7 V7 i", "i iv viio7/V V"]),
    # --- angry and its family: minor, fast, loud, short ---
    "angry": _p("minor", (130, 160), (96, 122), "staccato", "eighths", "busy", 62,
                ["i bII i V", "i VI VII i", "i iv i VI V"], cpb=2),
    "irritation": _p("minor", (108, 128), (70, 96), "staccato", "pulse", "even", 65,
                     ["i iio V i", "i iv i V"]),
    "hostility": _p("minor", (124, 148), (90, 116), "staccato", "eighths", "dotted", 58,
                    ["i bII iv V", "i viio7 i iv V"]),
    "rage": _p("minor", (160, 190), (108, 127), "staccato", "eighths", "busy", 60,
               ["i bII i viio7", "i VI bII V"], cpb=2),
    "jealousy": _p("minor", (96, 116), (64, 94), "mixed", "arpeggio", "dotted", 64,
                   ["i VI iiø7 V", "i V7/iv iv7 V7"]),
    "indignation": _p("minor", (112, 132), (84, 110), "mixed", "pulse", "dotted", 67,
                      ["i III VII V", "i iv VI V i"]),
    "vengeance": _p("minor", (138, 162), (94, 120), "staccato", "eighths", "even", 55,
                    ["i bII V i i", "i VI iio V7"], cpb=2),
    # --- fear and its family: minor, diminished and Neapolitan colour ---
    "fear": _p("minor", (90, 120), (40, 96), "mixed", "pulse", "even", 64,
               ["i viio7 i V", "i bII V i V", "i iv viio7 V"]),
    "anxiety": _p("minor", (112, 140), (50, 82), "staccato", "eighths", "busy", 67,
                  ["i iio V i V", "i viio7/V V i"]),
    "terror": _p("minor", (140, 176), (70, 127), "mixed", "eighths", "busy", 58,
                 ["i bII viio7 i", "i III+ bII V"], cpb=2),
    "dread": _p("minor", (50, 66), (30, 64), "legato", "pulse", "sparse", 55,
                ["i VI bII V7", "i iv viio7 i V"]),
    "vulnerability": _p("minor", (66, 84), (30, 56), "legato", "arpeggio", "sparse", 72,
                        ["i iv III V", "i VI viio7 i"]),
    "unease": _p("minor", (78, 96), (44, 70), "mixed", "arpeggio", "even", 66,
                 ["i V/V V i iv", "i iiø7 i V7"]),
    "phobia": _p("minor", (120, 150), (60, 110), "staccato", "pulse", "busy", 62,
                 ["i viio7 i viio7/V V", "i bII iio V"]),
    # --- surprise and its family: sudden contrasts, chromatic mediants ---
    "surprise": _p("major", (112, 140), (56, 112), "mixed", "pulse", "busy", 72,
                   ["I IV V7/vi vi V", "I bVI bVII I V"]),
    "amazement": _p("major", (96, 120), (60, 100), "legato", "arpeggio", "even", 76,
                    ["I III IV V", "I bVI IV V I"]),
    "shock": _p("minor", (128, 156), (70, 127), "staccato", "eighths", "sparse", 62,
                ["i bII i V i", "i viio7 bII V"]),
    "confusion": _p("minor", (84, 108), (48, 84), "mixed", "arpeggio", "dotted", 66,
                    ["i III+ iv V", "i V/V iiø7 V"]),
    "curiosity": _p("major", (92, 112), (52, 80), "staccato", "arpeggio", "dotted", 72,
                    ["I ii V/V V", "I V/ii ii V"]),
    "disbelief": _p("minor", (76, 96), (46, 86), "mixed", "block", "even", 64,
                    ["i III VI V", "i bII III V"]),
    "enlightenment": _p("major", (72, 92), (52, 84), "legato", "arpeggio", "sparse", 74,
                        ["I vi7 IVmaj7 Vsus4 V", "I iii vi IVmaj7 V"]),
    # --- disgust and its family: low registers, heavy, Neapolitan and diminished ---
    "disgust": _p("minor", (72, 92), (56, 86), "mixed", "pulse", "dotted", 57,
                  ["i bII i iv V", "i iv bII V"]),
    "revulsion": _p("minor", (84, 104), (70, 100), "staccato", "pulse", "dotted", 55,
                    ["i bII viio7 i V", "i iv bII V i"]),
    "contempt": _p("minor", (80, 96), (56, 84), "staccato", "pulse", "sparse", 60,
                   ["i iv i V i", "i VI bII V i"]),
    "loathing": _p("minor", (62, 80), (60, 92), "legato", "block", "sparse", 53,
                   ["i bII V i iv", "i iv7 bII V7"]),
    "aversion": _p("minor", (76, 94), (50, 76), "mixed", "arpeggio", "even", 60,
                   ["i iio V i iv", "i VI bII iio V"]),
    "moral_disgust": _p("minor", (70, 88), (58, 88), "legato", "pulse", "sparse", 58,
                        ["i iv V/V V", "i iiø7 bII V"]),
    "boredom": _p("major", (60, 76), (40, 56), "legato", "pulse", "even", 64,
                  ["I V I V", "I IV I IV V"]),
    # --- folder aliases ---
    "calm": _p("major", (60, 76), (36, 58), "legato", "arpeggio", "sparse", 67,
               ["I IVmaj7 I V I", "I vi IV I V"]),
    "peaceful": _p("major", (54, 70), (30, 52), "legato", "block", "sparse", 69,
                   ["I IV I V I", "I vi iii IV I V"]),
    "relaxed": _p("major", (66, 84), (40, 62), "legato", "arpeggio", "even", 65,
                  ["I ii7 IVmaj7 V7", "I vi7 ii7 V7"]),
    "serene": _p("major", (50, 64), (28, 50), "legato", "arpeggio", "sparse", 74,
                 ["I IV Vsus4 V", "I vi IVmaj7 V"], meter=3),
    "tender": _p("major", (60, 76), (34, 60), "legato", "arpeggio", "even", 70,
                 ["I iii IV V7", "I V7/IV IV V"], meter=3),
    "energetic": _p("major", (136, 164), (90, 118), "staccato", "eighths", "busy", 71,
                    ["I bVII IV V", "I IV V/V V I"], cpb=2),
    "uplifting": _p("major", (100, 124), (70, 104), "mixed", "pulse", "even", 74,
                    ["I V vi IV V", "I IV vi Vsus4 V"]),
    "cheerful": _p("major", (116, 136), (72, 98), "staccato", "pulse", "busy", 76,
                   ["I vi ii V", "I IV I V7"]),
    "triumphant": _p("major", (100, 120), (92, 122), "mixed", "pulse", "dotted", 72,
                     ["I bVI bVII I IV V", "I IV I V/V V"]),
    "nostalgic": _p("major", (66, 84), (40, 66), "legato", "arpeggio", "even", 67,
                    ["I iii IV iv I V", "I V7/vi vi IV iv V"], meter=3),
    "melancholic": _p("minor", (58, 74), (36, 60), "legato", "arpeggio", "even", 65,
                      ["i iv VII III iiø7 V7", "i VI iv i V"]),
    "sorrow": _p("minor", (52, 66), (34, 60), "legato", "block", "sparse", 62,
                 ["i iv i V7 i", "i VI iv iiø7 V"]),
    "gloomy": _p("minor", (56, 70), (40, 62), "legato", "pulse", "sparse", 55,
                 ["i VII VI V i", "i iv VI V7"]),
    "aggressive": _p("minor", (140, 168), (100, 125), "staccato", "eighths", "busy", 60,
                     ["i VI VII i V", "i bII i VI V"], cpb=2),
    "furious": _p("minor", (168, 196), (110, 127), "staccato", "eighths", "busy", 57,
                  ["i bII V i bII", "i iv viio7 V7"], cpb=2),
    "tense": _p("minor", (96, 120), (50, 84), "staccato", "pulse", "even", 64,
                ["i viio7 i V i", "i iio iv V"]),
    "scary": _p("minor", (70, 96), (40, 104), "mixed", "arpeggio", "dotted", 57,
                ["i bII viio7 V", "i III+ iv V i"]),
    "dark": _p("minor", (60, 80), (40, 72), "legato", "block", "sparse", 52,
               ["i VI i bII V", "i iv i V iv V"]),
    "suspense": _p("minor", (84, 104), (36, 72), "staccato", "pulse", "sparse", 62,
                   ["i viio7/V V i V", "i iv viio7 V i"]),
    "mysterious": _p("minor", (64, 84), (36, 66), "legato", "arpeggio", "dotted", 69,
                     ["i III+ VI V i", "i iv7 bII V"]),
    "neutral": _p("major", (88, 104), (60, 76), "mixed", "pulse", "even", 67,
                  ["I IV V I V", "I ii V I"]),
}


def emotion_piece(emotion: str, *, tonic_pc: int, duration_s: float, seed: int) -> Synthesized:
    """A melody over voice-led chords in the style of `emotion`'s profile, in a key on `tonic_pc`.

    Annotations: emotion, base_emotion, valence, arousal (from the taxonomy),
    key, mode, tempo_bpm, time_signature, duration_s, articulation,
    chord_progression, roman_numerals, progression.
    """
    if emotion not in EMOTION_PROFILES:
        raise ValueError(f"no profile for emotion {emotion!r}; known: {', '.join(sorted(EMOTION_PROFILES))}")
    profile = EMOTION_PROFILES[emotion]
    tonic_pc = check_tonic(tonic_pc)
    rng = rng_for(seed)
    timing = fit_timing(check_duration(duration_s), tempo_bpm=profile.tempo_bpm,
                        beats_per_bar=profile.beats_per_bar, rng=rng)
    progression = profile.progressions[int(rng.integers(len(profile.progressions)))]
    tonic = "I" if profile.mode == "major" else "i"
    numerals = fill_slots(progression.split(), timing.bars * profile.chords_per_bar, tonic,
                          closing_slots=profile.chords_per_bar)
    chords = render_progression(numerals, tonic_pc=tonic_pc, mode=profile.mode)
    upper, bass = accompaniment(chords, timing=timing, chords_per_bar=profile.chords_per_bar,
                                texture=profile.texture, articulation=profile.articulation,
                                velocity=profile.velocity, rng=rng)
    low = profile.register - MELODY_SPAN_SEMITONES // 2
    melody = melody_line(timing=timing, rng=rng, tonic_pc=tonic_pc, mode=profile.mode, low=low,
                         high=low + MELODY_SPAN_SEMITONES, contour=CONTOURS[int(rng.integers(len(CONTOURS)))],
                         density=profile.density, articulation=profile.articulation,
                         velocity=(profile.velocity[0] + MELODY_LOUDER_BY, profile.velocity[1] + MELODY_LOUDER_BY),
                         chords=chords, chords_per_bar=profile.chords_per_bar)
    score = build_score(timing, [
        make_track("melody", melody),
        make_track("chords", upper),
        make_track("bass", bass, program=32),
    ])
    feeling = EMOTIONS[emotion]
    annotations = {
        "emotion": emotion,
        "base_emotion": feeling.base,
        "valence": feeling.valence,
        "arousal": feeling.arousal,
        **key_labels(tonic_pc, profile.mode),
        **timing_labels(timing),
        "articulation": profile.articulation,
        **progression_labels(numerals, chords),
        "progression": progression,
    }
    return Synthesized(score, annotations, label=emotion)
