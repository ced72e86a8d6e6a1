"""Bad MIDI input: every failure is an InvalidInput with a readable reason."""

from __future__ import annotations

import mido
import pytest

from kellyd.errors import InvalidInput
from kellyd.music.midi_features import extract_midi_file
from kellyd.music.midi_io import write_score
from tests.music.midi_builders import notes, score


def write_song(path) -> bytes:
    write_score(score(notes([(0, 0.5, 60, 90), (0.5, 1.0, 64, 90), (1.0, 2.0, 67, 90)])), path)
    return path.read_bytes()


def test_a_text_file_is_not_midi(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_text("C E G, then the bridge")
    with pytest.raises(InvalidInput, match="not a MIDI file"):
        extract_midi_file(path)


def test_an_empty_file_is_not_midi(tmp_path):
    path = tmp_path / "empty.mid"
    path.write_bytes(b"")
    with pytest.raises(InvalidInput, match="not a MIDI file"):
        extract_midi_file(path)


def test_a_truncated_file_does_not_parse(tmp_path):
    data = write_song(tmp_path / "whole.mid")
    path = tmp_path / "truncated.mid"
    path.write_bytes(data[:20])
    with pytest.raises(InvalidInput, match="does not parse"):
        extract_midi_file(path)


def test_a_file_without_notes_is_refused(tmp_path):
    mid = mido.MidiFile()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    track.append(mido.MetaMessage("end_of_track", time=10))
    mid.tracks.append(track)
    path = tmp_path / "silent.mid"
    mid.save(path)
    with pytest.raises(InvalidInput, match="no notes"):
        extract_midi_file(path)


def test_a_good_file_passes(tmp_path):
    path = tmp_path / "good.mid"
    write_song(path)
    assert extract_midi_file(path).labels["key"] == "C"
