"""The `[limits]` checks as pure functions: each refusal names the value, the limit and the key."""

from __future__ import annotations

import pytest

from kellyd.config import LimitsConfig
from kellyd.errors import InvalidInput
from kellyd.limits import (
    BYTES_PER_KIB, BYTES_PER_MIB, check_file_size, check_midi_duration, check_midi_notes, check_sidecar_size,
    max_bytes_for,
)

LIMITS = LimitsConfig(max_file_mb=100.0, max_midi_mb=2.0, max_midi_duration_s=60.0, max_midi_notes=10,
                      max_sidecar_kb=4.0)


@pytest.mark.parametrize("size_bytes, kind, key", [
    (100 * BYTES_PER_MIB + 1, None, "limits.max_file_mb"),
    (100 * BYTES_PER_MIB + 1, "audio", "limits.max_file_mb"),
    (2 * BYTES_PER_MIB + 1, "midi", "limits.max_midi_mb"),
    (3 * 1024 * BYTES_PER_MIB, "midi", "limits.max_midi_mb"),
])
def test_a_file_over_its_size_limit_is_refused_naming_the_key(size_bytes, kind, key):
    with pytest.raises(InvalidInput, match=key.replace(".", r"\.")):
        check_file_size(size_bytes, LIMITS, kind=kind)


@pytest.mark.parametrize("size_bytes, kind", [
    (0, None), (100 * BYTES_PER_MIB, None), (100 * BYTES_PER_MIB, "audio"), (2 * BYTES_PER_MIB, "midi"),
    (3 * BYTES_PER_MIB, None),  # the MIDI limit applies once the kind is known, not before
])
def test_a_file_at_or_under_its_limit_passes(size_bytes, kind):
    check_file_size(size_bytes, LIMITS, kind=kind)


def test_the_midi_limit_never_exceeds_the_file_limit():
    limits = LimitsConfig(max_file_mb=1.0, max_midi_mb=32.0)
    assert max_bytes_for(limits, "midi") == (BYTES_PER_MIB, "max_file_mb")


def test_the_reason_shows_the_size_and_the_limit():
    with pytest.raises(InvalidInput) as caught:
        check_file_size(3 * 1024 * BYTES_PER_MIB, LIMITS)
    assert caught.value.reason == "the file is 3072.0 MiB, over the limit of 100 MiB (limits.max_file_mb)"


@pytest.mark.parametrize("check, value, match", [
    (lambda v: check_sidecar_size(v, LIMITS, name="a.mid.json"), 4 * BYTES_PER_KIB + 1,
     r"sidecar a\.mid\.json is 4\.0 KiB, over the limit of 4 KiB \(limits\.max_sidecar_kb\)"),
    (lambda v: check_midi_notes(v, LIMITS), 11, r"11, over the limit of 10 \(limits\.max_midi_notes\)"),
    (lambda v: check_midi_duration(v, LIMITS), 60.5, r"60\.5 s, over the limit of 60 s \(limits\.max_midi_duration_s\)"),
], ids=["sidecar", "notes", "duration"])
def test_one_over_the_limit_is_refused_and_the_limit_itself_passes(check, value, match):
    with pytest.raises(InvalidInput, match=match):
        check(value)
    check(value - 1 if isinstance(value, int) else value - 0.5)  # at the limit
