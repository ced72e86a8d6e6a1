"""The shared front end of the song analysis: one resample, one STFT, one CQT.

Every analysis of a song reads the same few representations, computed once
here at `ANALYSIS_SR_HZ`:
- `power` (1 + N_FFT // 2, T) and `mel_db` (N_MELS, T), hop `HOP_LENGTH`
  (11.6 ms), for onsets and rhythm;
- `cqt_db` (N_CQT_BINS, F) log-magnitude constant-Q spectrum, three bins per
  semitone centred on each semitone from C1 (bins 3k, 3k+1, 3k+2 are a third of a
  semitone below, on, and above semitone k), hop `CQT_HOP_LENGTH` (46 ms), for chroma, bass and sections.
The rates are low on purpose: a 3-minute song costs about a second here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kellyd.music.audio_chroma import estimate_tuning_semitones, spectral_peaks
from kellyd.music.audio_io import resample

ANALYSIS_SR_HZ = 22050
N_FFT = 2048
HOP_LENGTH = 256
N_MELS = 80
CQT_HOP_LENGTH = 1024
TUNING_FRAME_STEP = 8
CQT_BINS_PER_SEMITONE = 3
CQT_FMIN_MIDI = 24  # C1, 32.7 Hz
CQT_OCTAVES = 7
N_CQT_BINS = 12 * CQT_BINS_PER_SEMITONE * CQT_OCTAVES
MIN_SONG_S = 0.5
SILENT_PEAK = 1e-4


@dataclass(frozen=True)
class SongSignal:
    """`y` mono float32 at `ANALYSIS_SR_HZ`; the spectra described in the module docstring."""

    y: np.ndarray
    power: np.ndarray
    mel_db: np.ndarray
    cqt_db: np.ndarray
    tuning_semitones: float

    @property
    def is_silent(self) -> bool:
        """True when no sample reaches SILENT_PEAK (-80 dBFS): nothing to hear, so nothing to name."""
        return float(np.max(np.abs(self.y))) < SILENT_PEAK

    @property
    def duration_s(self) -> float:
        return len(self.y) / ANALYSIS_SR_HZ

    @property
    def frame_rate_hz(self) -> float:
        return ANALYSIS_SR_HZ / HOP_LENGTH

    @property
    def cqt_frame_rate_hz(self) -> float:
        return ANALYSIS_SR_HZ / CQT_HOP_LENGTH

    def cqt_times_s(self) -> np.ndarray:
        return np.arange(self.cqt_db.shape[1]) / self.cqt_frame_rate_hz


def check_signal(y: np.ndarray, sr_hz: int) -> np.ndarray:
    """`y` as float32 mono; ValueError for a wrong shape, rate, NaN/inf or a signal shorter than MIN_SONG_S."""
    if isinstance(sr_hz, bool) or not isinstance(sr_hz, (int, np.integer)) or sr_hz < 8000:
        raise ValueError(f"sr_hz must be an integer of at least 8000, got {sr_hz!r}")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"y must be a 1-D float signal, got {y.dtype} with shape {y.shape}")
    if len(y) < MIN_SONG_S * sr_hz:
        raise ValueError(f"a song needs at least {MIN_SONG_S} s of audio, got {len(y) / sr_hz:.3f} s")
    if not np.all(np.isfinite(y)):
        raise ValueError("the signal holds NaN or infinite samples")
    return y.astype(np.float32, copy=False)


def song_signal(y: np.ndarray, sr_hz: int) -> SongSignal:
    """The front end of mono `y` at `sr_hz` (resampled once to ANALYSIS_SR_HZ when it differs)."""
    import librosa  # heavy import, only for the song analysis

    y = check_signal(y, int(sr_hz))
    if sr_hz != ANALYSIS_SR_HZ:
        y = resample(y, from_hz=int(sr_hz), to_hz=ANALYSIS_SR_HZ).astype(np.float32, copy=False)
    stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH, center=True)
    power = np.square(np.abs(stft))
    mel = librosa.feature.melspectrogram(S=power, sr=ANALYSIS_SR_HZ, n_mels=N_MELS, fmax=ANALYSIS_SR_HZ / 2)
    # An 80 dB floor under the loudest frame: a rise out of digital silence is not a thousand-dB onset.
    mel_db = librosa.power_to_db(mel, ref=np.max, top_db=80.0).astype(np.float32)
    # Tuning from the refined spectral peaks of every TUNING_FRAME_STEP-th frame (the clip features' estimator).
    peaks = spectral_peaks(np.sqrt(power[:, ::TUNING_FRAME_STEP]), sr_hz=ANALYSIS_SR_HZ)
    tuning = float(np.clip(estimate_tuning_semitones(peaks), -0.5, 0.5))
    cqt = np.abs(librosa.cqt(
        y, sr=ANALYSIS_SR_HZ, hop_length=CQT_HOP_LENGTH, fmin=librosa.midi_to_hz(CQT_FMIN_MIDI - 1.0 / CQT_BINS_PER_SEMITONE),
        n_bins=N_CQT_BINS, bins_per_octave=12 * CQT_BINS_PER_SEMITONE, tuning=tuning, res_type="soxr_hq",
    ))
    cqt_db = librosa.amplitude_to_db(cqt, ref=np.max, top_db=80.0).astype(np.float32)
    return SongSignal(y=y, power=power, mel_db=mel_db, cqt_db=cqt_db, tuning_semitones=tuning)
