"""Make the test corpus (this folder) again from the full real-data corpus.

    python tests/corpus/build.py --source DIR

DIR is the full corpus that bench/ uses (see its README). Only folders whose licence allows
redistribution are read (CC0, CC BY, MIT); nothing marked non-commercial is opened. The
Groove MIDI files are the ones the tests pick, so that their picks and figures stay what they
were on the full corpus. Most Sonic Pi loops are stored as mono 16 kHz FLAC, the rate kellyd
analyses at, to keep the folder small: tempo, key and pitch survive that. The clipped Amen
break keeps its 44.1 kHz samples, since resampling would smooth the flat tops that make it
clipped, and the bass hit stays as it was (stereo, 44.1 kHz). LICENSES.md says what was taken
from where and what was changed; it is written by hand, not by this script.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.train.conftest import groove_files as train_groove_files  # noqa: E402

# The drum-only file tests/handlers/test_augment.py names.
NAMED_GROOVE_FILES = ("drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid",)
# Styles the validation tests read as swing or shuffle: every such file is kept (the tests pick
# up to 55 of the 60 swung and all 39 shuffled ones).
SWUNG_OR_SHUFFLED = frozenset({"jazz", "jazz/swing", "neworleans/secondline", "blues/shuffle", "rock/shuffle",
                               "neworleans/shuffle", "funk/purdieshuffle"})
POP909_SONGS = ("001", "004", "005")
SONIC_PI_MONO = ("guit_em9", "loop_amen", "loop_breakbeat", "loop_compus", "loop_drone_g_97",
                 "loop_garzul", "loop_mehackit1", "loop_mika", "loop_perc1", "loop_safari", "loop_tabla")
SONIC_PI_NATIVE_RATE = ("loop_amen_full",)
# Copied unchanged: the corpus keeps one stereo 44.1 kHz FLAC (a 64 KB hit).
SONIC_PI_AS_IS = ("bass_dnb_f",)
# The rate kellyd analyses at by default: what the tests measure is the same as on the originals.
MONO_SR_HZ = 16000
DAGSTUHL = "audio_more/mirdata_dagstuhl_choirset"
DAGSTUHL_TAKE = "DCS_LI_QuartetB_Take04"
DAGSTUHL_MICS = ("S1_DYN", "A2_DYN", "T2_DYN", "B2_DYN", "Stereo_STM")
VIBE_ACE = "Kevin_MacLeod_-_Vibe_Ace"
VIBE_ACE_KEEP_S = 30.0


def copy(source: Path, out: Path, relative: str) -> None:
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / relative, target)


def filtered_csv(source: Path, out: Path, relative: str, keep) -> int:
    """Copy a csv (one record a line) with only the lines whose row `keep(row)` accepts, byte for byte."""
    header, *lines = (source / relative).read_bytes().decode("utf-8").splitlines(keepends=True)
    kept = [line for line in lines if keep(next(csv.DictReader([header, line])))]
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes("".join([header, *kept]).encode("utf-8"))
    return len(kept)


def groove(source: Path, out: Path) -> int:
    root = source / "groove_midi"
    with open(root / "info.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keep = {r["midi_filename"] for r in rows if r["beat_type"] == "fill" or r["style"] in SWUNG_OR_SHUFFLED}
    keep |= {path.relative_to(root).as_posix() for path, _ in train_groove_files(source)}
    keep |= set(NAMED_GROOVE_FILES)
    for name in sorted(keep):
        copy(source, out, f"groove_midi/{name}")
    copy(source, out, "groove_midi/LICENSE")
    return filtered_csv(source, out, "groove_midi/info.csv", lambda r: r["midi_filename"] in keep)


def to_mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def write_flac(path: Path, samples: np.ndarray, sr_hz: int) -> None:
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), pcm, sr_hz, format="FLAC", subtype="PCM_16")


def sonic_pi(source: Path, out: Path) -> None:
    for name in SONIC_PI_MONO:
        samples, sr_hz = sf.read(str(source / "sonic_pi" / f"{name}.flac"), dtype="float64")
        g = math.gcd(sr_hz, MONO_SR_HZ)
        mono = scipy.signal.resample_poly(to_mono(samples), MONO_SR_HZ // g, sr_hz // g)
        write_flac(out / "sonic_pi" / f"{name}.flac", mono, MONO_SR_HZ)
    for name in SONIC_PI_NATIVE_RATE:
        # Its two channels agree to within one step of 16 bits, so the mono copy keeps every flat top.
        samples, sr_hz = sf.read(str(source / "sonic_pi" / f"{name}.flac"), dtype="float64")
        write_flac(out / "sonic_pi" / f"{name}.flac", to_mono(samples), sr_hz)
    for name in SONIC_PI_AS_IS:
        copy(source, out, f"sonic_pi/{name}.flac")
    kept = set(SONIC_PI_MONO) | set(SONIC_PI_NATIVE_RATE) | set(SONIC_PI_AS_IS)
    filtered_csv(source, out, "sonic_pi/labels.csv", lambda r: r["file"].removesuffix(".flac") in kept)
    copy(source, out, "sonic_pi/README.md")


def librosa_clip(source: Path, out: Path) -> None:
    """Vibe Ace (CC BY 3.0): its first VIBE_ACE_KEEP_S seconds, still Ogg Vorbis.

    The encoder gives each Ogg stream a random serial number, so the bytes differ from one run to the next.
    """
    samples, sr_hz = sf.read(str(source / "librosa" / f"{VIBE_ACE}.ogg"), dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, samples[: int(VIBE_ACE_KEEP_S * sr_hz)], sr_hz, format="OGG", subtype="VORBIS")
    target = out / "librosa" / f"{VIBE_ACE}.ogg"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    copy(source, out, f"librosa/{VIBE_ACE}.txt")
    filtered_csv(source, out, "librosa/labels.csv", lambda r: r["file"] == f"{VIBE_ACE}.ogg")


def dagstuhl(source: Path, out: Path) -> None:
    base = f"{DAGSTUHL}/dagstuhl_choirset"
    for mic in DAGSTUHL_MICS:
        copy(source, out, f"{base}/audio_wav_22050_mono/{DAGSTUHL_TAKE}_{mic}.wav")
    for voice in "SATB":
        copy(source, out, f"{base}/annotations_csv_scorerepresentation/{DAGSTUHL_TAKE}_Stereo_STM_{voice}.csv")
    copy(source, out, f"{base}/annotations_csv_beat/{DAGSTUHL_TAKE}_Stereo_STM.csv")
    copy(source, out, f"{DAGSTUHL}/LICENSE.txt")


def build(source: Path, out: Path) -> None:
    print(f"groove_midi: {groove(source, out)} files")
    for song in POP909_SONGS:
        for path in sorted((source / "pop909" / song).iterdir()):
            copy(source, out, f"pop909/{song}/{path.name}")
    for name in ("LICENSE", "README.md", "index_subset.csv"):
        copy(source, out, f"pop909/{name}")
    for name in ("all_src.mid", "metadata.yaml"):
        copy(source, out, f"mirdata/slakh_Track00001/{name}")
    filtered_csv(source, out, "mirdata/labels.csv", lambda r: r["file"].startswith("slakh_Track00001/"))
    for name in ("808kick120bpm.mp3", "labels.csv", "LICENSE"):
        copy(source, out, f"beatnet/{name}")
    sonic_pi(source, out)
    librosa_clip(source, out)
    dagstuhl(source, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="the full real-data corpus")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: this folder)")
    args = parser.parse_args(argv)
    if not (args.source / "groove_midi" / "info.csv").is_file():
        print(f"no real-data corpus at {args.source}", file=sys.stderr)
        return 2
    build(args.source, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
