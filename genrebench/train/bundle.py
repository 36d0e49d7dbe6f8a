"""A self-contained model bundle: weights plus everything needed to turn new audio into predictions.

Saved with `torch.save` and read back with `torch.load(weights_only=True)`: only tensors and plain
Python values inside, so loading a bundle never unpickles arbitrary objects. The architecture is rebuilt
through the model registry from its name, never from a pickled class.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genrebench import __version__
from genrebench.errors import UserError
from genrebench.models import create_model

BUNDLE_FORMAT = "genrebench-model/1"


def make_bundle(model: torch.nn.Module, model_name: str, model_kwargs: dict, labels: list[str],
                audio: dict, features: dict, normalizer: dict, config: dict, temperature: float = 1.0) -> dict:
    """Weights (on CPU), the preprocessing that produced the model's inputs, and the temperature its logits are
    divided by before the softmax (1.0 unless `train.calibrate: temperature` fitted one)."""
    return {"format": BUNDLE_FORMAT, "genrebench_version": __version__, "model_name": model_name,
            "model_kwargs": model_kwargs, "labels": list(labels), "audio": audio, "features": features,
            "normalizer": normalizer, "config": config, "temperature": float(temperature),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}


def save_bundle(bundle: dict, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(bundle, tmp)
    tmp.replace(path)  # atomic: a reader never sees half a bundle
    return path


def load_bundle(path: Path | str) -> dict:
    """Read a bundle safely (weights_only); a wrong or damaged file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a usable bundle"
        raise UserError(f"cannot load model {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise UserError(f"{path} is not a genrebench model bundle ({BUNDLE_FORMAT})")
    return bundle


def chunk_shape(bundle: dict) -> tuple[int, int]:
    """(rows, frames) of one model input: the mel chunk, or one column of an embedding front-end's vector."""
    from genrebench.config import AudioConfig, FeatureConfig
    from genrebench.data.features import chunk_layout

    feat = FeatureConfig(**bundle["features"])
    rows = int(bundle["model_kwargs"].get("n_mels", feat.n_mels))
    return rows, 1 if feat.embeds else chunk_layout(feat, AudioConfig(**bundle["audio"]).sample_rate).frames


def model_from_bundle(bundle: dict) -> torch.nn.Module:
    """The bundle's architecture from the registry, with its weights, in eval mode."""
    model = create_model(bundle["model_name"], **bundle["model_kwargs"])
    model.load_state_dict(bundle["state_dict"])
    return model.eval()
