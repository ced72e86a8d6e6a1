"""Songs dropped into a `kind = "song"` dataset's inbox of the real daemon come out analysed:
analysis, stems, transcribed notes and tags in the manifest; a song with broken or no tags is
still analysed; a silent one is quarantined with the reason; `kellyd export --format songs` writes
one record per song, per split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.song.song_files import song, write_mp3_with_broken_tag, write_tagged_flac, write_untagged_ogg

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_songs_dropped_in_a_song_dataset_are_analysed(tmp_path):
    # One worker: the first song analysis in a fresh state folder compiles librosa's numba kernels
    # (tens of seconds of CPU); a second worker would compile them again at the same time.
    tree = make_tree(tmp_path, datasets={"songs": {"target_model": "HarmonyPredictor", "kind": "song",
                                                   "splits": [0.34, 0.33, 0.33]}},
                     extra={"executor": {"workers": 1}})
    y, sr = song(8.0)
    staged = tmp_path / "staged"
    staged.mkdir()
    write_tagged_flac(staged / "tagged.flac", y, sr, title="Blue", artist="Kay", album="Days", date="2001",
                      genre="Pop", tracknumber="3/9")
    write_mp3_with_broken_tag(staged / "broken.mp3", y[::-1].copy(), sr)
    write_untagged_ogg(staged / "plain.ogg", 0.7 * y, sr)
    sf.write(staged / "silent.wav", np.zeros(8 * sr, np.float32), sr)
    (tree.inbox / "songs" / "happy").mkdir(parents=True)

    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        for path in staged.iterdir():  # a rename into the inbox, as a finished download lands
            path.rename(tree.inbox / "songs" / "happy" / path.name)
        def finished() -> bool:
            samples = tree.manifest_samples("songs")
            return (len(samples) == 3 and all(s.get("outputs") and s["features_path"] for s in samples)
                    and len(tree.quarantine_errors("songs")) == 1)

        wait_for(finished, 420, "three analysed songs in the manifest and one in quarantine")
    finally:
        assert daemon.stop() == 0

    root = tree.datasets / "songs"
    by_name = {s["original_names"][0]: s for s in tree.manifest_samples("songs")}
    assert set(by_name) == {"tagged.flac", "broken.mp3", "plain.ogg"}
    for name, sample in by_name.items():
        outputs, ann = sample["outputs"], sample["annotations"]
        assert ann["emotion"] == "happy"  # the folder label
        assert 40 <= ann["tempo_bpm"] <= 210 and ann["key"] and ann["mode"] and ann["time_signature"]
        analysis = json.loads((root / outputs["analysis"]).read_text())
        assert analysis["music"]["beats_s"] and analysis["music"]["chords"] and analysis["music"]["sections"]
        for stem in ("vocals", "drums", "bass", "other"):
            assert sf.info(root / outputs[f"stem_{stem}"]).format == "FLAC"
        assert (root / outputs["notes_midi"]).read_bytes()[:4] == b"MThd" and analysis["notes"]["count"] > 0
        assert sample["features_path"]  # the features step ran after the analysis
    tagged = by_name["tagged.flac"]["annotations"]
    assert (tagged["title"], tagged["artist"], tagged["album"], tagged["year"], tagged["genre"],
            tagged["track_number"]) == ("Blue", "Kay", "Days", 2001, "Pop", 3)
    broken = json.loads((root / by_name["broken.mp3"]["outputs"]["analysis"]).read_text())
    assert "unreadable tags" in broken["tags"]["reason"] and "title" not in by_name["broken.mp3"]["annotations"]
    plain = json.loads((root / by_name["plain.ogg"]["outputs"]["analysis"]).read_text())
    assert plain["tags"]["reason"] and plain["tags"]["codec"] == "vorbis"
    (error,) = tree.quarantine_errors("songs")
    assert "silent" in json.dumps(error)

    out = tmp_path / "export"
    done = run_cli(tree, "export", "--format", "songs", "--dataset", "songs", str(out))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for split in ("train", "val", "test", "unassigned") if (out / f"{split}.jsonl").exists()
               for line in (out / f"{split}.jsonl").read_text().splitlines()]
    assert sorted(r["sample_id"] for r in records) == sorted(s["sample_id"] for s in by_name.values())
    for record in records:
        assert set(record["stems"]) == {"vocals", "drums", "bass", "other"}
        assert record["dataset_root"] == str(root)
        assert all((root / path).is_file() for path in record["stems"].values())
        assert record["analysis"]["tempo_bpm"] and record["labels"]["emotion"] == "happy"
        assert record["features"]["scalars"] and record["notes"]["midi_path"]
