"""The Demucs stems backend: learned separation, used only when its weights are on disk.

kellyd never downloads weights. A model is looked for, in order, at:
1. the dataset's `demucs_model` setting: a model file as Demucs saves them
   (`<signature>-<checksum>.th`, a dict with `klass`, `args`, `kwargs`, `state`),
   or a folder of such files (with `<name>.yaml` bags, Demucs' local repository);
2. torch's hub cache (`torch.hub.get_dir()/checkpoints`), where Demucs' own
   download of the default model `DEFAULT_MODEL` lands.
When none is there, or the `demucs` package is missing (`pip install
'kellyd[stems]'`), `demucs_unavailable_reason` says which and where it looked,
and the caller falls back to the offline default. Needs torch, so this module
is imported only in worker processes, and only when Demucs is asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kellyd.song.stems import STEM_NAMES, Stems

DEFAULT_MODEL = "htdemucs"
# Demucs' pretrained files, named by signature in the package's remote/files.txt.
_REMOTE_FILES = "remote/files.txt"
SEGMENT_OVERLAP = 0.25


class DemucsUnavailable(RuntimeError):
    """No Demucs model can be loaded here; the message says why and what to do."""


def _demucs_root() -> Path:
    try:
        import demucs
    except ImportError:
        raise DemucsUnavailable("the demucs package is not installed (pip install 'kellyd[stems]')") from None
    return Path(demucs.__file__).parent


def hub_checkpoints_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def pretrained_files(name: str = DEFAULT_MODEL) -> list[str]:
    """The checkpoint file names the pretrained bag `name` needs (from the demucs package's own lists)."""
    import yaml

    root = _demucs_root() / "remote"
    bag = root / f"{name}.yaml"
    if not bag.is_file():
        raise DemucsUnavailable(f"demucs has no pretrained model named {name!r}")
    signatures = yaml.safe_load(bag.read_text())["models"]
    names = [line.strip() for line in (root / "files.txt").read_text().splitlines()
             if line.strip() and not line.startswith(("#", "root:"))]
    return [next((n for n in names if n.split("-", 1)[0] == sig), f"{sig}-<checksum>.th") for sig in signatures]


def find_model(configured: str) -> list[Path]:
    """The model files to load (one model, or the members of a bag); DemucsUnavailable says why none."""
    _demucs_root()
    if configured:
        path = Path(configured).expanduser()
        if path.is_file():
            return [path]
        if path.is_dir():
            files = sorted(path.glob("*.th"))
            if files:
                return files
            raise DemucsUnavailable(f"no Demucs model file (*.th) in the folder {path} (datasets.<id>.demucs_model)")
        raise DemucsUnavailable(f"no Demucs model at {path} (datasets.<id>.demucs_model)")
    folder = hub_checkpoints_dir()
    wanted = pretrained_files()
    missing = [name for name in wanted if not (folder / name).is_file()]
    if missing:
        raise DemucsUnavailable(
            f"the {DEFAULT_MODEL} weights are not on disk: {', '.join(missing)} missing from {folder}; "
            f"kellyd never downloads them: run demucs once by hand, or set datasets.<id>.demucs_model")
    return [folder / name for name in wanted]


def load_models(files: list[Path]) -> list:
    """Demucs models from their saved files, in evaluation mode."""
    from demucs.states import load_model

    models = []
    for path in files:
        try:
            model = load_model(path)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: say which, fall back
            raise DemucsUnavailable(f"{path} is not a loadable Demucs model: {type(exc).__name__}: {exc}") from None
        missing = set(STEM_NAMES) - set(model.sources)
        if missing:
            raise DemucsUnavailable(f"{path} separates {list(model.sources)}, not {list(STEM_NAMES)}")
        models.append(model.eval())
    return models


def separate_demucs(models: list, samples: np.ndarray, sr_hz: int) -> Stems:
    """Stems of `samples` (n, channels) at `sr_hz` from `models` (averaged when a bag).

    The audio is resampled to the model's rate and given the model's channel
    count (mono is doubled, more channels are mixed down); stems come back at
    the model's rate with its channels.
    """
    import torch
    from demucs.apply import apply_model

    from kellyd.music.audio_io import mix_to_mono, resample

    model_sr = int(models[0].samplerate)
    channels = int(models[0].audio_channels)
    if samples.ndim != 2:
        raise ValueError(f"samples must be (n, channels), got shape {samples.shape}")
    if samples.shape[1] != channels:
        mono = mix_to_mono(samples)
        samples = np.repeat(mono[:, None], channels, axis=1)
    wav = np.stack([resample(samples[:, c], from_hz=sr_hz, to_hz=model_sr) for c in range(channels)])
    mix = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
    # Demucs normalises the mix by its own statistics before separating (as its CLI does).
    ref = mix.mean(0)
    scale = float(ref.std()) or 1.0
    total = None
    with torch.inference_mode():
        for model in models:
            # shifts=0: no random time shift, so a song always gets the same stems.
            out = apply_model(model, ((mix - ref.mean()) / scale)[None], shifts=0, overlap=SEGMENT_OVERLAP,
                              progress=False, split=True, device="cpu")[0]
            out = out * scale + ref.mean()
            by_name = {name: out[model.sources.index(name)] for name in STEM_NAMES}
            total = by_name if total is None else {k: total[k] + by_name[k] for k in STEM_NAMES}
    signals = {k: (v / len(models)).numpy().T.astype(np.float32) for k, v in total.items()}
    return Stems(sr_hz=model_sr, signals=signals, backend="demucs",
                 details={"model_sr_hz": model_sr, "models": len(models)})
