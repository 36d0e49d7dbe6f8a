"""Front-ends: what turns a track's audio into the model's per-chunk inputs, selected by `features.frontend`.

Three kinds, one SPEC string each:
- `mel` (the default): the log-mel chunk itself, (n_mels, frames); what every from-scratch model reads.
- `embedding:<name>[?param=value&...]`: a built-in embedder from the registry below, one vector per chunk. Both
  built-ins need no download, so every dataset gets a probe baseline on a fresh machine: `mel_stats` (each band's
  mean and standard deviation over the chunk) and `random_cnn` (a seeded, never trained CNN, after Pons & Serra,
  "Randomly weighted CNNs for (music) audio classification", ICASSP 2019).
- `hear:<module>[?model_file=PATH]`: any installed package implementing the HEAR 2021 common API
  (`genrebench.data.hear`), so a pretrained model the user has is probed under the same split and report.

An embedding front-end gives one vector per chunk window of the mel layout (`data.embed` computes and caches
them); a probe model then trains on those vectors through the same `fit()` as every other model.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl

import numpy as np

from genrebench.errors import UserError, did_you_mean

MEL = "mel"
KINDS = ("mel", "embedding", "hear")
# What `hear:<module>?...` takes: a model file for `load_model`, and which embedding to read (scene or timestamp).
HEAR_PARAMS = ("model_file", "embedding")


@dataclass(frozen=True)
class FrontendSpec:
    """A parsed `features.frontend`: kind, name (embedder or module) and parameters as typed."""

    kind: str
    name: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def is_mel(self) -> bool:
        return self.kind == MEL


def parse_spec(text: str) -> FrontendSpec:
    """`mel`, `embedding:<name>[?k=v&...]` or `hear:<module>[?k=v&...]`; the form only (names are checked by
    `create_frontend`). A malformed SPEC is one line naming it."""
    text = text.strip()
    if text == MEL:
        return FrontendSpec(MEL)
    kind, sep, rest = text.partition(":")
    name, _, query = rest.partition("?")
    if not sep or kind not in KINDS[1:] or not name:
        raise UserError(f"features.frontend {text!r}: expected mel, embedding:<name> or hear:<module> "
                        f"(run 'genrebench frontends' to list the built-in embedders)")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError as exc:
        raise UserError(f"features.frontend {text!r}: parameters must read ?key=value&key=value") from exc
    return FrontendSpec(kind, name, params)


class Frontend(ABC):
    """An embedding front-end: chunks in, one float32 vector per chunk out.

    `reads` says which: `mel` front-ends get the track's cached log-mel chunks (n, n_mels, frames) and need no
    decoding; `audio` front-ends get the chunks' samples (n, samples) at `sample_rate` (their model's rate)."""

    reads: ClassVar[str] = "mel"
    spec: str = ""

    @abstractmethod
    def key(self) -> dict:
        """Everything the vectors depend on besides the input (name, parameters, model file), for the cache key."""

    @abstractmethod
    def dim(self, n_mels: int) -> int:
        """The vector's length for inputs of `n_mels` bands."""

    @abstractmethod
    def embed(self, chunks: np.ndarray) -> np.ndarray:
        """(n, dim) float32 for a batch of chunks."""

    def to(self, device: str) -> Frontend:
        """Move any network to `device` (a GPU when training runs on one); the default has none to move."""
        return self


# ---- the registry of built-in embedders ---------------------------------------------------------

_F = TypeVar("_F", bound=type[Frontend])
_EMBEDDERS: dict[str, type[Frontend]] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_embedder(name: str) -> Callable[[_F], _F]:
    """Class decorator: make an embedder selectable as `embedding:<name>`. Its `__init__` keyword arguments
    (ints or floats, with defaults) are the SPEC's parameters; the docstring's first line describes it."""

    def decorator(cls: _F) -> _F:
        if name in _EMBEDDERS:
            raise ValueError(f"embedder {name!r} is already registered")
        _EMBEDDERS[name] = cls
        _DESCRIPTIONS[name] = (inspect.getdoc(cls) or "").splitlines()[0]
        return cls

    return decorator


def list_embedders() -> list[dict[str, Any]]:
    """Each built-in embedder: name, description and parameters with their defaults."""
    return [{"name": name, "description": _DESCRIPTIONS[name], "params": _defaults(cls)}
            for name, cls in sorted(_EMBEDDERS.items())]


def _defaults(cls: type[Frontend]) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self"}


def _typed(where: str, name: str, value: str, default: Any) -> Any:
    """A SPEC parameter converted to its default's type, or one line naming it."""
    try:
        return type(default)(value)
    except ValueError as exc:
        raise UserError(f"{where}: parameter {name}={value!r} must be {type(default).__name__}") from exc


def create_frontend(text: str) -> Frontend | None:
    """The front-end a `features.frontend` SPEC names, ready to embed (a HEAR module is imported and its model
    loaded); None for `mel`. Unknown embedders, parameters and modules are one-line errors."""
    spec = parse_spec(text)
    if spec.is_mel:
        return None
    if spec.kind == "hear":
        from genrebench.data.hear import HearFrontend

        _known_params(spec, text, HEAR_PARAMS)
        frontend: Frontend = HearFrontend(spec.name, **spec.params)  # type: ignore[assignment]  # same members
    else:
        frontend = _embedder(spec, text)
    frontend.spec = text
    return frontend


def check_frontend(text: str) -> None:
    """Check a SPEC when an experiment loads, without loading any model: the form, a built-in embedder's name and
    parameters, and that a HEAR module can be found."""
    spec = parse_spec(text)
    if spec.kind == "embedding":
        _embedder(spec, text)
    elif spec.kind == "hear":
        from genrebench.data.hear import find_module

        _known_params(spec, text, HEAR_PARAMS)
        if spec.params.get("embedding", "scene") not in ("scene", "timestamp"):
            raise UserError(f"features.frontend {text!r}: embedding={spec.params['embedding']!r} must be scene or "
                            "timestamp")
        find_module(spec.name, text)


def _known_params(spec: FrontendSpec, text: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(spec.params) - set(allowed))
    if unknown:
        raise UserError(f"features.frontend {text!r}: unknown parameter(s) {', '.join(unknown)} "
                        f"(allowed: {', '.join(allowed) or 'none'})")


def _embedder(spec: FrontendSpec, text: str) -> Frontend:
    cls = _EMBEDDERS.get(spec.name)
    if cls is None:
        raise UserError(f"features.frontend {text!r}: unknown embedder {spec.name!r}"
                        f"{did_you_mean(spec.name, list(_EMBEDDERS))} (built in: {', '.join(sorted(_EMBEDDERS))}; "
                        "a pretrained model goes through hear:<module>)")
    defaults = _defaults(cls)
    _known_params(spec, text, tuple(defaults))
    kwargs = {k: _typed(f"features.frontend {text!r}", k, v, defaults[k]) for k, v in spec.params.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise UserError(f"features.frontend {text!r}: {exc}") from exc


# ---- built-in embedders -----------------------------------------------------------------------------

@register_embedder("mel_stats")
class MelStatsEmbedder(Frontend):
    """Each mel band's mean and standard deviation over the chunk (2 x n_mels values): the bag-of-frames floor."""

    reads = "mel"

    def __init__(self) -> None:
        pass

    def key(self) -> dict:
        return {"name": "mel_stats", "version": 1}

    def dim(self, n_mels: int) -> int:
        return 2 * n_mels

    def embed(self, chunks: np.ndarray) -> np.ndarray:
        chunks = np.asarray(chunks, dtype=np.float64)
        return np.concatenate([chunks.mean(axis=2), chunks.std(axis=2)], axis=1).astype(np.float32)


# Pons & Serra 2019 found wider random networks better and a VGG-like stack of small filters competitive; five
# 3x3 blocks, each max-pooled 2x2, with every block's channel mean and max concatenated (their "all layers" setup).
_RANDOM_CNN_CHANNELS = (32, 64, 64, 128, 128)


@register_embedder("random_cnn")
class RandomCNNEmbedder(Frontend):
    """A randomly initialised, never trained VGG-like CNN on the log-mel; every block's channel mean and max.

    Pons & Serra, "Randomly weighted CNNs for (music) audio classification", ICASSP 2019: random CNN features
    with a trained classifier on top are a strong no-training baseline. The weights come from `seed` alone (a
    torch.Generator), so the same SPEC gives the same features on every machine and run.
    """

    reads = "mel"

    def __init__(self, seed: int = 0, width: int = 1) -> None:
        if width < 1 or width > 8:
            raise ValueError(f"width must be 1..8 (a multiplier of {list(_RANDOM_CNN_CHANNELS)}), got {width}")
        self.seed, self.width = seed, width
        self.channels = tuple(c * width for c in _RANDOM_CNN_CHANNELS)
        self.device = "cpu"
        self._net = None

    def key(self) -> dict:
        return {"name": "random_cnn", "version": 1, "seed": self.seed, "width": self.width}

    def dim(self, n_mels: int) -> int:
        return 2 * sum(self.channels)

    def _network(self):
        import torch
        from torch import nn

        if self._net is None:
            gen = torch.Generator().manual_seed(self.seed)
            convs, c_in = [], 1
            for c_out in self.channels:
                conv = nn.Conv2d(c_in, c_out, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=gen)
                nn.init.zeros_(conv.bias)
                convs.append(conv)
                c_in = c_out
            self._net = nn.ModuleList(convs).eval().requires_grad_(False).to(self.device)
        return self._net

    def to(self, device: str) -> RandomCNNEmbedder:
        self.device = device
        if self._net is not None:
            self._net = self._net.to(device)
        return self

    def embed(self, chunks: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(np.asarray(chunks, dtype=np.float32), device=self.device).unsqueeze(1)
        # Each chunk z-scored on its own: random filters assume inputs of unit scale, and dB levels are not.
        flat = x.flatten(1)
        x = (x - flat.mean(1)[:, None, None, None]) / flat.std(1, correction=0).clamp_min(1e-6)[:, None, None, None]
        parts = []
        with torch.no_grad():
            for conv in self._network():
                x = F.relu(conv(x))
                parts += [x.mean(dim=(2, 3)), x.amax(dim=(2, 3))]
                if min(x.shape[2:]) >= 2:
                    x = F.max_pool2d(x, 2)
        return torch.cat(parts, dim=1).cpu().numpy().astype(np.float32)
