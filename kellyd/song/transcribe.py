"""Audio to notes, so that songs also feed the MIDI-domain models.

Backends:
- "basic_pitch": Spotify's Basic Pitch (Apache-2.0; its small model ships in
  the package), run through onnxruntime. Its wheel declares a TensorFlow pin
  that cannot live with numpy 2, so it is installed without its declared
  dependencies (`pip install --no-deps basic-pitch==0.4.0`) next to the
  `kellyd[notes]` extra, which holds what its ONNX path really imports.
- "cqt": the fallback when Basic Pitch is not installed: notes start at
  librosa onsets, at the semitones of a constant-Q spectrum near the loudest
  (partials of a louder pitch below removed), and end when their pitch
  decays. Weaker than Basic Pitch (bench/_song_notes_stems.py measures
  both); the sample's analysis names the backend that produced its notes.
`transcribe(y, sr_hz, backend="auto")` picks Basic Pitch when it imports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kellyd.music.audio_io import resample
from kellyd.music.notes import Notes, Score, TempoMap, TimeSignature, Track

TRANSCRIBE_SR_HZ = 22050  # Basic Pitch's own input rate
MIN_NOTE_S = 0.06
# CQT fallback settings.
CQT_HOP = 256
CQT_FMIN_MIDI = 28  # E1
CQT_N_SEMITONES = 72
FRAME_RANGE_DB = 12.0
FLOOR_DB = -50.0
PARTIAL_LAGS_SEMITONES = (12, 19, 24)
PARTIAL_MARGIN_DB = 3.0
ONSET_LOOK_FRAMES = 4
NOTE_DECAY_DB = 15.0
MAX_NOTE_S = 4.0
MAX_NOTES_PER_ONSET = 4
ONSET_DELTA = 0.07  # librosa onset_detect's own threshold over the normalised envelope
ONSET_WAIT_FRAMES = 3


@dataclass(frozen=True)
class Transcription:
    notes: Notes
    backend: str
    # Why the asked-for backend did not run (e.g. Basic Pitch not installed).
    note: str = ""


def basic_pitch_available() -> str:
    """'' when Basic Pitch and onnxruntime import, else the reason they do not."""
    import importlib.util

    missing = [m for m in ("basic_pitch", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return (f"Basic Pitch is not usable here ({' and '.join(missing)} not installed); install it with "
                "`pip install 'kellyd[notes]'` and `pip install --no-deps basic-pitch==0.4.0`")
    return ""


def transcribe_basic_pitch(y: np.ndarray) -> Notes:
    """Notes of mono `y` at TRANSCRIBE_SR_HZ with Basic Pitch's ONNX model (its own defaults)."""
    import logging

    # Its import logs a warning for each runtime it does not find (TensorFlow, TFLite, CoreML): noise here.
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        from basic_pitch import FilenameSuffix, build_icassp_2022_model_path
        from basic_pitch import note_creation
        from basic_pitch.constants import AUDIO_N_SAMPLES, FFT_HOP
        from basic_pitch.inference import Model, unwrap_output, window_audio_file
    finally:
        logging.disable(before)

    model = Model(build_icassp_2022_model_path(FilenameSuffix.onnx))
    overlap_frames = 30  # Basic Pitch's own window overlap
    overlap_len = overlap_frames * FFT_HOP
    padded = np.concatenate([np.zeros(overlap_len // 2, dtype=np.float32), y.astype(np.float32)])
    output: dict[str, list] = {"note": [], "onset": [], "contour": []}
    for window, _ in window_audio_file(padded, AUDIO_N_SAMPLES - overlap_len):
        for key, value in model.predict(window[None]).items():
            output[key].append(value)
    unwrapped = {k: unwrap_output(np.concatenate(v), len(y), overlap_frames) for k, v in output.items()}
    min_frames = int(round(0.1277 * TRANSCRIBE_SR_HZ / FFT_HOP))
    _, events = note_creation.model_output_to_notes(unwrapped, onset_thresh=0.5, frame_thresh=0.3,
                                                    min_note_len=min_frames, melodia_trick=True)
    if not events:
        return Notes.empty()
    start, end, pitch, amp = (np.array([e[i] for e in events], dtype=float) for i in range(4))
    velocity = np.clip(np.round(127 * amp), 1, 127)
    return Notes.from_lists(start, np.maximum(end, start + 1e-3), pitch.astype(int), velocity.astype(int))


def onset_frames_of(envelope: np.ndarray) -> np.ndarray:
    """Pure: frames of the onset-strength peaks that stand ONSET_DELTA above the envelope's mean,
    at least ONSET_WAIT_FRAMES apart (scipy's peak finder: librosa's numba-cached peak picker
    has crashed on loading a damaged cache, and a worker must not)."""
    from scipy.signal import find_peaks

    if not len(envelope) or envelope.max() <= 0:
        return np.zeros(0, dtype=int)
    normalised = envelope / envelope.max()
    peaks, _ = find_peaks(normalised, height=normalised.mean() + ONSET_DELTA, distance=ONSET_WAIT_FRAMES)
    return peaks


def transcribe_cqt(y: np.ndarray) -> Notes:
    """Pure: notes of mono `y` at TRANSCRIBE_SR_HZ from a semitone CQT (the fallback described above).

    At each librosa onset, the pitches whose level just after it is within
    FRAME_RANGE_DB of the loudest, that are peaks across pitch and not partials
    of a louder pitch below, start a note; a note ends when its pitch falls
    NOTE_DECAY_DB below where it started (at most MAX_NOTE_S later).
    """
    import librosa

    sr = TRANSCRIBE_SR_HZ
    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=CQT_HOP, fmin=librosa.midi_to_hz(CQT_FMIN_MIDI),
                             n_bins=CQT_N_SEMITONES, bins_per_octave=12))
    if not cqt.size or cqt.max() <= 0:
        return Notes.empty()
    db = librosa.amplitude_to_db(cqt, ref=np.max(cqt))
    onset_frames = onset_frames_of(librosa.onset.onset_strength(y=y, sr=sr, hop_length=CQT_HOP))
    frame_s = CQT_HOP / sr
    max_frames = int(MAX_NOTE_S / frame_s)
    starts, ends, pitches, velocities = [], [], [], []
    for frame in onset_frames:
        level = db[:, frame:frame + ONSET_LOOK_FRAMES].max(axis=1)
        peak = np.r_[False, (level[1:-1] >= level[:-2]) & (level[1:-1] >= level[2:]), False]
        chosen = peak & (level > level.max() - FRAME_RANGE_DB) & (level > FLOOR_DB)
        for lag in PARTIAL_LAGS_SEMITONES:  # a partial of a louder note below is not a note
            chosen[lag:] &= ~(chosen[:-lag] & (level[:-lag] > level[lag:] + PARTIAL_MARGIN_DB))
        for row in np.flatnonzero(chosen)[-MAX_NOTES_PER_ONSET:]:
            after = db[row, frame:frame + max_frames]
            below = np.flatnonzero(after < level[row] - NOTE_DECAY_DB)
            length = int(below[0]) if len(below) else len(after)
            if length * frame_s >= MIN_NOTE_S:
                starts.append(frame * frame_s)
                ends.append((frame + length) * frame_s)
                pitches.append(CQT_FMIN_MIDI + int(row))
                velocities.append(int(np.clip(127 + 2 * level[row], 20, 127)))
    return Notes.from_lists(starts, ends, pitches, velocities) if starts else Notes.empty()


def transcribe(y: np.ndarray, sr_hz: int, *, backend: str = "auto") -> Transcription:
    """Notes of mono `y` at `sr_hz`; backend "auto" | "basic_pitch" | "cqt"."""
    if backend not in ("auto", "basic_pitch", "cqt"):
        raise ValueError(f"backend must be 'auto', 'basic_pitch' or 'cqt', got {backend!r}")
    y = resample(np.asarray(y, dtype=np.float32), from_hz=int(sr_hz), to_hz=TRANSCRIBE_SR_HZ)
    if backend in ("auto", "basic_pitch"):
        missing = basic_pitch_available()
        if not missing:
            return Transcription(transcribe_basic_pitch(y), "basic_pitch")
        return Transcription(transcribe_cqt(y), "cqt", note=missing)
    return Transcription(transcribe_cqt(y), "cqt")


def notes_score(notes: Notes, *, tempo_bpm: float | None, meter: int | None, duration_s: float,
                program: int = 0) -> Score:
    """Pure: a one-track Score of transcribed `notes`, with the song's tempo and meter when known,
    so the MIDI features count beats where the song has them."""
    bpm = float(tempo_bpm) if tempo_bpm and tempo_bpm > 0 else 120.0
    tempo = TempoMap(time_s=np.zeros(1), bpm=np.array([bpm]), is_default_only=not tempo_bpm)
    signatures = (TimeSignature(0.0, int(meter), 4),) if meter else ()
    return Score(tracks=(Track(name="transcribed", program=program, is_drum=False, notes=notes),), tempo=tempo,
                 time_signatures=signatures, duration_s=max(duration_s, float(notes.end_s.max()) if len(notes) else 0.0))
