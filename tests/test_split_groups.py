"""Leak-free splits by default: clips of one song, without any `group_by`, land in one split; the shipped
Groove pattern keeps a take together (not a style); validation warns about near-identical samples in
different splits."""

from __future__ import annotations

import csv
import json
import tomllib
from collections import defaultdict
from pathlib import Path

import mido
import pytest

from kellyd.sample import Sample
from kellyd.splits import SPLITS, SplitSettings, assign_splits, group_key, song_stem
from kellyd.validate.leakage import check_leakage
from tests.daemon.harness import make_tree, run_cli

REPO = Path(__file__).resolve().parents[1]


def _clips(source: Path, count: int) -> list[mido.MidiFile]:
    """`count` consecutive pieces of a real performance, each a MIDI file of its own (note events only)."""
    midi = mido.MidiFile(source)
    events, now = [], 0
    for message in mido.merge_tracks(midi.tracks):
        now += message.time
        if message.type in ("note_on", "note_off"):
            events.append((now, message))
    span = events[-1][0] // count + 1
    pieces = []
    for k in range(count):
        track, last = mido.MidiTrack(), k * span
        for tick, message in events:
            if k * span <= tick < (k + 1) * span:
                track.append(message.copy(time=tick - last))
                last = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        piece = mido.MidiFile(ticks_per_beat=midi.ticks_per_beat)
        piece.tracks.append(track)
        pieces.append(piece)
    return pieces


# How people name the clips of one song (the song name first), one style per song in turn.
NAMINGS = ("Q1_{song}_{k}.mid", "{song}_clip{k}.mid", "{song}-seg0{k}.mid", "{song}_take{k}.mid")


def test_song_clips_without_group_by_keep_every_song_in_one_split(tmp_path, corpus):
    sources = sorted((corpus / "groove_midi").rglob("*_beat_4-4.mid"))[:16]
    drop = tmp_path / "drop"
    expected: dict[str, str] = {}  # file name -> song
    for i, source in enumerate(sources):
        song = f"song{chr(ord('a') + i)}"
        folder = drop / ("happy" if i % 2 else "sad")
        folder.mkdir(parents=True, exist_ok=True)
        for k, clip in enumerate(_clips(source, 3)):
            name = NAMINGS[i % len(NAMINGS)].format(song=song, k=k)
            if i >= 12:
                # No song in the name at all: a sidecar says which song the clip is from.
                name = f"excerpt{i}{'xyz'[k]}.mid"
                (folder / f"{name}.json").write_text(json.dumps({"song_id": song}))
            clip.save(folder / name)
            expected[name] = song
    tree = make_tree(tmp_path / "tree", datasets={"clips": {"target_model": "EmotionRecognizer",
                                                            "chain": ["import", "annotate"]}})
    proc = run_cli(tree, "import", str(drop), "--dataset", "clips", "--quiet", timeout_s=240)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tree.datasets / "clips" / "manifest.json").read_text())
    splits_of_song: dict[str, set[str]] = defaultdict(set)
    for sample in manifest["samples"]:
        splits_of_song[expected[sample["original_names"][0]]].add(sample["split"])
    assert len(manifest["samples"]) == 48 and len(splits_of_song) == 16
    assert all(len(splits) == 1 for splits in splits_of_song.values()), dict(splits_of_song)
    assert len({s for splits in splits_of_song.values() for s in splits}) >= 2, "songs are spread over splits"


@pytest.mark.parametrize("name, stem", [
    ("Q1_0vLPYiPN7qY_0.mid", "0vlpyipn7qy"), ("Song_clip3.wav", "song"), ("song-seg02.mid", "song"),
    ("song_take2_part1.mid", "song"), ("1_funk_80_beat_4-4.mid", "1_funk_80_beat_4-4"),
    ("track_2019.mid", "track_2019"),
    ("42.mid", "42"), ("take3.mid", "take3"),
])
def test_song_stem(name, stem):
    assert song_stem(name) == stem


def _sample(name: str, sample_id: str, **fields) -> Sample:
    return Sample(dataset_id="d", origin_path=f"/in/{name}", sample_id=sample_id, sha256=sample_id * 4,
                  file_path=f"raw/midi/{name}", original_names=(name,), **fields)


def test_freesound_sounds_group_by_pack_else_uploader():
    settings = SplitSettings()
    freesound = {"type": "freesound", "author": "someone"}
    assert group_key(_sample("a.wav", "1" * 16, source={**freesound, "pack": "rain"}), settings) == "pack:rain"
    assert group_key(_sample("b.wav", "2" * 16, source=freesound), settings) == "uploader:someone"


def test_the_shipped_groove_pattern_keeps_a_take_together_and_spreads_the_styles(corpus):
    config = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    settings = SplitSettings(label_key="groove_type", group_by=config["datasets"]["groove_dataset_v1"]["group_by"],
                             seed="groove_dataset_v1")
    rows = list(csv.DictReader((corpus / "groove_midi" / "info.csv").open(encoding="utf-8")))
    samples, take_of, style_of = [], {}, {}
    for n, row in enumerate(rows):
        stem = Path(row["midi_filename"]).stem
        # Each take once as recorded and once as a clip cut from it: two files of one take.
        for k, name in enumerate((f"{stem}.mid", f"{stem}_clip1.mid")):
            sample = _sample(name, f"{n:08x}{k:08x}")
            samples.append(sample)
            take_of[sample.sample_id], style_of[sample.sample_id] = row["id"], row["style"].split("/")[0]
    keys = {group_key(s, settings) for s in samples}
    assert all(k.startswith("group:") for k in keys) and len(keys) == len(rows), "one group per take"
    result = assign_splits(samples, {}, settings)
    splits_of_take: dict[str, set[str]] = defaultdict(set)
    splits_of_style: dict[str, set[str]] = defaultdict(set)
    for sample in samples:
        splits_of_take[take_of[sample.sample_id]].add(result[sample.sample_id])
        splits_of_style[style_of[sample.sample_id]].add(result[sample.sample_id])
    assert all(len(s) == 1 for s in splits_of_take.values())
    # A style with many takes is no longer one group: rock and jazz each reach every split.
    for style in ("rock", "jazz", "funk"):
        assert splits_of_style[style] == set(SPLITS), (style, splits_of_style[style])


def test_validation_warns_about_one_song_or_the_same_features_in_two_splits():
    samples = [_sample("intro_clip1.mid", "a" * 16, split="train"), _sample("intro_clip2.mid", "b" * 16, split="test"),
               _sample("verse.mid", "c" * 16, split="train"), _sample("bridge.mid", "d" * 16, split="val")]
    fingerprints = {"c" * 16: "f1", "d" * 16: "f1"}
    reasons = {r.check: r for r in check_leakage(samples, {}, SplitSettings(), fingerprints=fingerprints)}
    assert reasons["song_in_many_splits"].severity == "warning" and "intro" in reasons["song_in_many_splits"].message
    assert reasons["features_in_many_splits"].severity == "warning"
    assert set(reasons["features_in_many_splits"].affected) == {"c" * 16, "d" * 16}
    same_split = [s.with_changes(split="train") for s in samples]
    assert check_leakage(same_split, {}, SplitSettings(), fingerprints=fingerprints) == []
