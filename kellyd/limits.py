"""The `[limits]` checks: what one input may cost, decided in one place.

Pure functions over numbers the caller already has (a size from `stat`, a
note count from the parser), so a file over a limit is refused before it is
read. Each refusal is an `InvalidInput` whose reason names the measured value,
the limit and the config key that sets it, so a user knows what to raise.
"""

from __future__ import annotations

from kellyd.config import LimitsConfig
from kellyd.errors import InvalidInput

BYTES_PER_MIB = 1 << 20
BYTES_PER_KIB = 1 << 10


def over_limit(what: str, value: str, limit: str, key: str) -> InvalidInput:
    """The one wording of a limit refusal: `<what> is <value>, over the limit of <limit> (limits.<key>)`."""
    return InvalidInput(f"{what} is {value}, over the limit of {limit} (limits.{key})")


def max_bytes_for(limits: LimitsConfig, kind: str | None) -> tuple[int, str]:
    """(largest size in bytes, config key) for a file of `kind` ('midi', 'audio' or None when not known yet)."""
    if kind == "midi" and limits.max_midi_mb < limits.max_file_mb:
        return int(limits.max_midi_mb * BYTES_PER_MIB), "max_midi_mb"
    return int(limits.max_file_mb * BYTES_PER_MIB), "max_file_mb"


def check_file_size(size_bytes: int, limits: LimitsConfig, *, kind: str | None = None) -> None:
    """Raise InvalidInput when a file of `size_bytes` (from stat, never from reading) is over its limit."""
    max_bytes, key = max_bytes_for(limits, kind)
    if size_bytes > max_bytes:
        label = "MIDI file" if key == "max_midi_mb" else "file"
        raise over_limit(f"the {label}", f"{size_bytes / BYTES_PER_MIB:.1f} MiB",
                         f"{max_bytes / BYTES_PER_MIB:g} MiB", key)


def check_sidecar_size(size_bytes: int, limits: LimitsConfig, *, name: str) -> None:
    """Raise InvalidInput when a sidecar of `size_bytes` is over `limits.max_sidecar_kb`."""
    max_bytes = int(limits.max_sidecar_kb * BYTES_PER_KIB)
    if size_bytes > max_bytes:
        raise over_limit(f"sidecar {name}", f"{size_bytes / BYTES_PER_KIB:.1f} KiB",
                         f"{limits.max_sidecar_kb:g} KiB", "max_sidecar_kb")


def check_midi_notes(n_notes: int, limits: LimitsConfig) -> None:
    """Raise InvalidInput when parsed MIDI holds more than `limits.max_midi_notes` notes."""
    if n_notes > limits.max_midi_notes:
        raise over_limit("the MIDI note count", str(n_notes), str(limits.max_midi_notes), "max_midi_notes")


def check_midi_duration(duration_s: float, limits: LimitsConfig) -> None:
    """Raise InvalidInput when parsed MIDI lasts longer than `limits.max_midi_duration_s`."""
    if duration_s > limits.max_midi_duration_s:
        raise over_limit("the MIDI duration", f"{duration_s:.1f} s", f"{limits.max_midi_duration_s:g} s",
                         "max_midi_duration_s")
