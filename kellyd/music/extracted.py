"""What a feature extractor returns; the `features` handler writes it to disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Extracted:
    """Features of one file.

    scalars: JSON-ready values (numbers, strings, short lists such as histograms)
        written to `processed/features/<sample_id>.json`.
    arrays: named numpy arrays written to `processed/features/<sample_id>.npz`.
    labels: annotation keys the music itself tells (key, mode, tempo_bpm,
        time_signature, groove_type, swing_ratio, articulation,
        chord_progression...). They fill annotations the folders did not set.
    flags: conditions worth a warning but not a quarantine (e.g. "clipping").
    """

    scalars: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]
    labels: Mapping[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
