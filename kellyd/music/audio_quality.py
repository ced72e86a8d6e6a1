"""Is there a usable signal, and is it clipped?

Silence: a frame is active when its RMS, after removing the frame's own DC, is
above `SILENCE_FRAME_DBFS`; a recording with less than `MIN_ACTIVE_S` of active
frames holds no usable signal and is rejected (`InvalidInput("silent: ...")`),
as is one shorter than `MIN_DURATION_S`.

Clipping: a clip event is a run of at least `CLIP_RUN_SAMPLES` consecutive
samples whose magnitude is at least `CLIP_LEVEL` of full scale and whose
neighbours differ by at most `CLIP_FLAT_TOLERANCE`: the flat top a converter or
a hard limit leaves. A waveform that merely peaks near full scale changes from sample to
sample and does not count. Run it on the samples as decoded, at the file's own
rate: resampling rounds a flat top into ripples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kellyd.errors import InvalidInput
from kellyd.music.audio_loudness import amplitude_to_dbfs
from kellyd.music.audio_spectral import HOP_LENGTH, N_FFT, frame_ac_rms

MIN_DURATION_S = 0.1
SILENCE_FRAME_DBFS = -60.0
MIN_ACTIVE_S = 0.1

CLIP_LEVEL = 0.99
CLIP_RUN_SAMPLES = 3
CLIP_FLAT_TOLERANCE = 1e-4
# One clip event is enough to flag: the flag is a warning, and real clipping comes in many.
CLIP_MIN_EVENTS = 1


@dataclass(frozen=True)
class ActivityReport:
    """Which frames of a recording carry signal.

    `active_frames` (n_frames,) bool on the shared frame grid; `active_s` their
    time (frames times hop, at most `duration_s`); `loudest_frame_dbfs` the
    DC-free RMS of the loudest frame.
    """

    duration_s: float
    active_s: float
    loudest_frame_dbfs: float
    active_frames: np.ndarray

    @property
    def active_fraction(self) -> float:
        return self.active_s / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class ClipReport:
    """Clip events and the samples they cover, counted over all channels."""

    events: int
    clipped_samples: int
    total_samples: int

    @property
    def clipped_fraction(self) -> float:
        return self.clipped_samples / self.total_samples if self.total_samples else 0.0

    @property
    def is_clipped(self) -> bool:
        return self.events >= CLIP_MIN_EVENTS


def measure_activity(y: np.ndarray, *, sr_hz: int, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> ActivityReport:
    """Active time of mono `y` (n,): frames whose DC-free RMS exceeds SILENCE_FRAME_DBFS, times the hop."""
    frame_level = frame_ac_rms(y, n_fft=n_fft, hop_length=hop_length)
    active = frame_level > 10.0 ** (SILENCE_FRAME_DBFS / 20.0)
    return ActivityReport(
        duration_s=len(y) / sr_hz,
        active_s=min(int(np.count_nonzero(active)) * hop_length / sr_hz, len(y) / sr_hz),
        loudest_frame_dbfs=amplitude_to_dbfs(float(frame_level.max())),
        active_frames=active,
    )


def require_usable_signal(y: np.ndarray, *, sr_hz: int) -> ActivityReport:
    """The activity of `y`, or InvalidInput when it is too short or (nearly) silent."""
    duration_s = len(y) / sr_hz
    if duration_s < MIN_DURATION_S:
        raise InvalidInput(f"too short: {duration_s:.3f} s of audio, at least {MIN_DURATION_S} s needed")
    activity = measure_activity(y, sr_hz=sr_hz)
    if activity.active_s < MIN_ACTIVE_S:
        raise InvalidInput(
            f"silent: {activity.active_s:.2f} s of {duration_s:.2f} s above {SILENCE_FRAME_DBFS:g} dBFS "
            f"(loudest frame {activity.loudest_frame_dbfs:.1f} dBFS)"
        )
    return activity


def _clip_runs(channel: np.ndarray) -> tuple[int, int]:
    """(events, samples in them) of one channel; only the samples near full scale are looked at."""
    near_full_scale = (channel >= CLIP_LEVEL) | (channel <= -CLIP_LEVEL)
    pairs = np.flatnonzero(near_full_scale[:-1] & near_full_scale[1:])
    # links[k]: samples links[k] and links[k] + 1 both sit near full scale and level with each other.
    links = pairs[np.abs(channel[pairs + 1] - channel[pairs]) <= CLIP_FLAT_TOLERANCE]
    if links.size == 0:
        return 0, 0
    breaks = np.flatnonzero(np.diff(links) != 1)
    first = np.concatenate(([0], breaks + 1))
    last = np.concatenate((breaks, [links.size - 1]))
    samples_per_run = last - first + 2  # a run of k consecutive links joins k + 1 samples
    long_runs = samples_per_run >= CLIP_RUN_SAMPLES
    return int(np.count_nonzero(long_runs)), int(samples_per_run[long_runs].sum())


def detect_clipping(samples: np.ndarray) -> ClipReport:
    """Clip events of `samples`, (n,) mono or (n, channels), full scale at +-1.0."""
    if samples.ndim not in (1, 2):
        raise ValueError(f"samples must be (n,) or (n, channels), got shape {samples.shape}")
    channels = samples[:, None] if samples.ndim == 1 else samples
    events = clipped = 0
    for c in range(channels.shape[1]):
        e, s = _clip_runs(channels[:, c])
        events += e
        clipped += s
    return ClipReport(events=events, clipped_samples=clipped, total_samples=int(channels.size))
