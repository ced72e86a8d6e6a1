"""Stems: the offline default adds back to the mix and puts each part where it belongs; the Demucs
backend loads a model saved the way Demucs saves its own and separates with it; a missing model
says where it looked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kellyd.song.stems import STEM_NAMES, separate_hpss, write_stems
from tests.song.synth_audio import SR_HZ, add, click, tone

pytest.importorskip("demucs", reason="the demucs package (kellyd[stems], in the test extra) is not installed")


def _parts(seconds: float = 6.0) -> dict[str, np.ndarray]:
    """A sustained high tone (no percussion, not bass), a 55 Hz bass tone, and clicks every half second."""
    n = int(seconds * SR_HZ)
    t = np.arange(n) / SR_HZ
    clicks = np.zeros(n, np.float32)
    for at in np.arange(0.25, seconds, 0.5):
        add(clicks, click(amplitude=0.5), at)
    return {"bass": (0.2 * np.sin(2 * np.pi * 55.0 * t)).astype(np.float32), "clicks": clicks,
            "pad": np.tile(tone(440.0, 2.0, amplitude=0.2), int(seconds / 2) + 1)[:n]}


def _energy(y: np.ndarray) -> float:
    return float(np.sum(np.asarray(y, np.float64) ** 2))


def test_hpss_stems_sum_to_the_mix_and_sort_the_parts():
    parts = _parts()
    mix = parts["bass"] + parts["clicks"] + parts["pad"]
    stems = separate_hpss(mix, SR_HZ)
    assert set(stems.signals) == set(STEM_NAMES) and stems.backend == "hpss"
    assert all(s.shape == mix.shape for s in stems.signals.values())
    np.testing.assert_allclose(sum(stems.signals.values()), mix, atol=1e-5)
    # Most of the 55 Hz tone is in the bass stem, most of the clicks in drums.
    bass_share = np.dot(stems.signals["bass"], parts["bass"]) / _energy(parts["bass"])
    drum_share = np.dot(stems.signals["drums"], parts["clicks"]) / _energy(parts["clicks"])
    assert bass_share > 0.8, bass_share
    assert drum_share > 0.5, drum_share
    assert _energy(stems.signals["drums"] * 0) == 0 and _energy(stems.signals["bass"]) < 1.2 * _energy(parts["bass"])


def test_stems_are_written_as_flac(tmp_path):
    stems = separate_hpss(_parts(3.0)["pad"], SR_HZ)
    paths = write_stems(stems, tmp_path, "processed/stems/abc")
    assert paths == {name: f"processed/stems/abc/{name}.flac" for name in STEM_NAMES}
    for rel in paths.values():
        info = sf.info(tmp_path / rel)
        assert info.format == "FLAC" and info.samplerate == SR_HZ and info.frames == int(3.0 * SR_HZ)


def save_tiny_demucs(folder: Path) -> Path:
    """A small HTDemucs (Demucs' own class, random weights) saved as Demucs saves its models."""
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state, save_with_checksum

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=4, depth=2, t_layers=1, t_heads=2,
                     nfft=1024, samplerate=SR_HZ, segment=2, dconv_comp=2, t_hidden_scale=1.0)
    args, kwargs = model._init_args_kwargs
    folder.mkdir(parents=True, exist_ok=True)
    save_with_checksum({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": get_state(model, None, half=True),
                        "training_args": {}}, folder / "tiny.th")
    (saved,) = folder.glob("tiny-*.th")
    return saved


def test_demucs_loads_a_saved_model_and_separates(tmp_path):
    from demucs.apply import apply_model

    from kellyd.song.stems_demucs import find_model, load_models, separate_demucs

    saved = save_tiny_demucs(tmp_path / "models")
    assert find_model(str(tmp_path / "models")) == [saved]
    models = load_models(find_model(str(saved)))
    mix = _parts(2.0)["pad"][:, None]
    stems = separate_demucs(models, mix, SR_HZ)
    assert stems.backend == "demucs" and stems.sr_hz == SR_HZ
    assert all(s.shape == (len(mix), 2) for s in stems.signals.values())
    assert all(np.isfinite(s).all() and np.abs(s).max() > 0 for s in stems.signals.values())
    # The loaded weights are the saved ones: the same model run directly gives the same drums.
    import torch

    wav = torch.from_numpy(np.repeat(mix.T, 2, axis=0))
    ref = wav.mean(0)
    direct = apply_model(models[0], ((wav - ref.mean()) / ref.std())[None], shifts=0, overlap=0.25, split=True)[0]
    drums = (direct[models[0].sources.index("drums")] * ref.std() + ref.mean()).numpy().T
    np.testing.assert_allclose(stems.signals["drums"], drums, atol=1e-4)


def test_missing_demucs_model_says_where_it_looked(tmp_path, monkeypatch):
    from kellyd.song.stems_demucs import DemucsUnavailable, find_model, load_models

    with pytest.raises(DemucsUnavailable, match="no Demucs model at .*nowhere"):
        find_model(str(tmp_path / "nowhere"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty hub cache
    with pytest.raises(DemucsUnavailable, match=r"htdemucs weights are not on disk: 955717e8-\w+\.th missing from "
                                                r".*torch-home.*never downloads"):
        find_model("")
    (tmp_path / "junk.th").write_bytes(b"not a model")
    with pytest.raises(DemucsUnavailable, match="junk.th is not a loadable Demucs model"):
        load_models(find_model(str(tmp_path / "junk.th")))
