"""The HEAR 2021 common API as a front-end: `features.frontend: hear:<module>[?model_file=PATH]`.

HEAR (Turian et al., "HEAR: Holistic Evaluation of Audio Representations", PMLR 2022) fixed one interface that
many pretrained audio models have wrappers for: a module with `load_model(model_file_path="")` returning a model
that has `sample_rate` and `scene_embedding_size` (and `timestamp_embedding_size`), plus
`get_scene_embeddings(audio, model)` (audio: float tensor (n_sounds, n_samples) in [-1, 1] at the model's rate
-> (n_sounds, scene_embedding_size)) and `get_timestamp_embeddings(audio, model)` (-> (n_sounds, n_timestamps,
timestamp_embedding_size), timestamps). Any installed package with them is a front-end here; a module with only
timestamp embeddings (or `?embedding=timestamp`) is mean-pooled over time.

What goes wrong is said in one line naming the module: not installed, no HEAR API, a model without its
attributes, an output of the wrong shape or with NaNs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import numpy as np

from genrebench.errors import UserError

_API = ("load_model",)
_EMBEDDINGS = ("scene", "timestamp")


def find_module(name: str, spec: str) -> None:
    """Whether `name` can be imported, without importing it (a UserError naming it when not)."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        found, why = None, f" ({exc})"
    else:
        why = ""
    if found is None:
        raise UserError(f"features.frontend {spec!r}: no module named {name!r}{why}; install a package that "
                        "implements the HEAR API (see docs/probes.md)")


def _import(name: str, spec: str) -> ModuleType:
    find_module(name, spec)
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any failure while importing a user's package is theirs to fix
        raise UserError(f"features.frontend {spec!r}: importing {name!r} failed: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    missing = [f for f in _API if not callable(getattr(module, f, None))]
    has = [e for e in _EMBEDDINGS if callable(getattr(module, f"get_{e}_embeddings", None))]
    if missing or not has:
        lacks = ", ".join(missing + ([] if has else ["get_scene_embeddings or get_timestamp_embeddings"]))
        raise UserError(f"features.frontend {spec!r}: module {name!r} does not implement the HEAR API "
                        f"(missing {lacks})")
    return module


def _positive_attr(model: object, attr: str, spec: str) -> int:
    value = getattr(model, attr, None)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise UserError(f"features.frontend {spec!r}: the model needs a positive integer {attr} (HEAR API), "
                        f"got {value!r}")
    return int(value)


def _stamp(path: str, where: str) -> list[int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UserError(f"features.frontend {where!r}: model_file {path}: {exc.strerror or exc}") from exc
    return [st.st_size, st.st_mtime_ns]


class HearFrontend:
    """A HEAR-API module's model; audio chunks at the model's own rate in, its scene embedding out.

    It has `data.frontends.Frontend`'s members without subclassing it: `frontends` imports this module to build
    one, and the reverse import would make the two a cycle."""

    reads = "audio"
    spec = ""

    def __init__(self, module: str, model_file: str = "", embedding: str = "") -> None:
        self.module_name = module
        self.model_file = model_file
        where = f"hear:{module}"
        self.module = _import(module, where)
        if embedding and embedding not in _EMBEDDINGS:
            raise UserError(f"features.frontend {where!r}: embedding={embedding!r} must be scene or timestamp")
        # Scene embeddings when the module has them (what HEAR's scene tasks, genre among them, use).
        self.embedding = embedding or ("scene" if callable(getattr(self.module, "get_scene_embeddings", None))
                                       else "timestamp")
        if not callable(getattr(self.module, f"get_{self.embedding}_embeddings", None)):
            raise UserError(f"features.frontend {where!r}: module {module!r} has no get_{self.embedding}_embeddings")
        # The model file as it was when loaded: a retrained model saved over the same path must not hit the old
        # vectors, nor may the old model's vectors be stored under the new file's key.
        self.stamp = _stamp(model_file, where) if model_file else None
        try:
            self.model = self.module.load_model(model_file) if model_file else self.module.load_model()
        except Exception as exc:  # noqa: BLE001 - the user's model failing to load is a one-line error
            raise UserError(f"features.frontend {where!r}: load_model({model_file!r}) failed: "
                            f"{type(exc).__name__}: {exc}") from exc
        self.sample_rate = _positive_attr(self.model, "sample_rate", where)
        self.size = _positive_attr(self.model, f"{self.embedding}_embedding_size", where)
        self.where = where
        self.device = "cpu"

    def key(self) -> dict:
        version = getattr(self.module, "__version__", None)
        return {"name": "hear", "module": self.module_name, "version": version, "model_file": self.model_file,
                "model_file_stamp": self.stamp, "embedding": self.embedding, "sample_rate": self.sample_rate}

    def dim(self, n_mels: int) -> int:
        return self.size

    def to(self, device: str) -> HearFrontend:
        if hasattr(self.model, "to"):
            self.model = self.model.to(device)
        self.device = device
        return self

    def embed(self, chunks: np.ndarray) -> np.ndarray:
        import torch

        audio = torch.as_tensor(np.asarray(chunks, dtype=np.float32), device=self.device)
        with torch.no_grad():
            out = getattr(self.module, f"get_{self.embedding}_embeddings")(audio, self.model)
        if self.embedding == "timestamp":
            out = out[0] if isinstance(out, tuple) else out
            out = self._checked(out, 3, len(chunks)).mean(axis=1)
        return self._checked(out, 2, len(chunks))

    def _checked(self, out: object, ndim: int, n: int) -> np.ndarray:
        """The module's output as float32 numpy, or one line saying how it breaks the API."""
        arr = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
        want = (n, "T", self.size) if ndim == 3 else (n, self.size)
        if arr.ndim != ndim or arr.shape[0] != n or arr.shape[-1] != self.size:
            raise UserError(f"features.frontend {self.where!r}: get_{self.embedding}_embeddings returned shape "
                            f"{tuple(arr.shape)} for {n} clip(s); expected {want} "
                            f"({self.embedding}_embedding_size {self.size})")
        if not np.all(np.isfinite(arr)):
            raise UserError(f"features.frontend {self.where!r}: get_{self.embedding}_embeddings returned NaN or inf")
        return arr.astype(np.float32)
