"""Model registry, factory and cost counters (modelled on timm's ``_registry.py`` / ``_factory.py``).

A builder is registered under its function name with ``@register_model``; everything else (the CLI,
training, hyper-parameter search) refers to models by that name, so adding a model never needs an
``if name == ...`` branch anywhere.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from genrebench.errors import UserError

ModelBuilder = Callable[..., nn.Module]
_B = TypeVar("_B", bound=ModelBuilder)

_model_entrypoints: dict[str, ModelBuilder] = {}
_model_descriptions: dict[str, str] = {}
_model_quick: dict[str, dict[str, Any]] = {}
_model_vectors: set[str] = set()


def register_model(fn: _B | None = None, *, name: str | None = None, quick: dict[str, Any] | None = None,
                   vectors: bool = False) -> Any:
    """Register a model builder, as ``@register_model`` or ``@register_model(name="...", quick={...})``.

    Args:
        fn: The builder; its first docstring line becomes the model's description.
        name: Registry key; defaults to the builder's ``__name__``.
        quick: The ``model.*`` config keys that make a tiny version of this model for ``--quick`` smoke
            runs (``{"channels": [8, 16, 32]}``, ``{"args": {"depth": 1}}``); the model's own knowledge,
            since what "smaller" means differs between a CNN, a recurrent net and a transformer.
        vectors: Whether the model also reads one vector per chunk (an embedding front-end's input, shaped
            ``(B, 1, dim, 1)``); a model that needs time-frequency chunks leaves it False.

    Returns:
        The builder unchanged (or a decorator when called with only keywords).

    Raises:
        ValueError: If the name is already registered; silently replacing a model would make two
            runs under the same name train different networks.
    """

    def decorator(builder: _B) -> _B:
        key = name or builder.__name__
        if key in _model_entrypoints:
            raise ValueError(f"model {key!r} is already registered")
        _model_entrypoints[key] = builder
        doc = inspect.getdoc(builder) or ""
        _model_descriptions[key] = doc.splitlines()[0].strip() if doc else ""
        _model_quick[key] = dict(quick or {})
        if vectors:
            _model_vectors.add(key)
        return builder

    return decorator if fn is None else decorator(fn)


def quick_overrides(name: str) -> dict[str, Any]:
    """The ``model.*`` keys (without the prefix) of a registered model's ``--quick`` version; {} if unknown."""
    return dict(_model_quick.get(name, {}))


def reads_vectors(name: str) -> bool:
    """Whether a registered model takes an embedding front-end's vectors (the probes) as well as mel chunks."""
    return name in _model_vectors


def list_models(pattern: str = "*") -> list[str]:
    """Return the sorted names of registered models matching a shell-style ``pattern`` (fnmatch)."""
    return sorted(n for n in _model_entrypoints if fnmatch.fnmatchcase(n, pattern))


def select_models(patterns: Sequence[str]) -> list[str]:
    """Registered names matching any of ``patterns`` (fnmatch; ``all`` means every model), each once, in the order
    the patterns give them (sorted within one pattern).

    Raises:
        UserError: If a pattern matches no model (naming close matches), or no pattern is given.
    """
    if not patterns:
        raise UserError("no model named; give names or patterns, or 'all' (run 'genrebench models' to list them)")
    names: list[str] = []
    for pattern in patterns:
        matched = list_models("*" if pattern == "all" else pattern)
        if not matched:
            raise _unknown_model_error(pattern)
        names += [n for n in matched if n not in names]
    return names


def _unknown_model_error(name: str) -> UserError:
    """Build a one-line error naming close matches, so a typo is fixed without reading a table."""
    matches = difflib.get_close_matches(name, list(_model_entrypoints), n=3)
    hint = f"; did you mean {', '.join(matches)}?" if matches else "."
    return UserError(f"unknown model {name!r}{hint} Run 'genrebench models' to list the available models.")


def create_model(name: str, num_classes: int = 10, **overrides: Any) -> nn.Module:
    """Build a registered model by name.

    Args:
        name: A name from ``list_models()``.
        num_classes: Number of output logits.
        **overrides: Builder keyword arguments (e.g. ``channels``, ``dropout``, ``n_mels``). ``None`` values
            are dropped so that CLI/config fields the user left unset never clobber the builder's defaults;
            ``n_mels`` (the input's mel count) reaches only builders that declare it.

    Returns:
        The freshly initialised model.

    Raises:
        UserError: If the name is unknown or an override is invalid (one line, for the CLI).
    """
    builder = _model_entrypoints.get(name)
    if builder is None:
        raise _unknown_model_error(name)
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    if "n_mels" in kwargs and "n_mels" not in inspect.signature(builder).parameters:
        # Every caller passes the input's mel count; only builders that size a layer from it take it.
        del kwargs["n_mels"]
    try:
        return builder(num_classes=num_classes, **kwargs)
    except ValueError as err:
        # Builders validate their arguments with ValueError; re-raise as a user error so the CLI
        # shows which value was wrong instead of a traceback.
        raise UserError(f"model {name!r}: {err}") from err


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Return the number of parameter elements (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def forward_macs(model: nn.Module, input_shape: Sequence[int] = (1, 1, 128, 431)) -> int:
    """Count the multiply-accumulates of one forward pass, with torch's own ``FlopCounterMode``.

    FlopCounterMode sees the aten operations that actually run (convolutions, matrix products, the
    matmuls inside a GRU), so a defined-but-unused layer costs nothing and no per-layer rule has to be
    kept in step with new architectures. It counts a multiply-accumulate as two FLOPs; bias additions,
    activations, pooling and normalisation are not counted, as in the usual MAC conventions. Operations
    it has no formula for (fused attention kernels, for one) count zero, which is why the transformer
    here spells its attention out as matrix products.

    Args:
        model: The model; it runs once in eval mode on zeros and its training mode is restored.
        input_shape: Full input shape including the batch dimension.

    Returns:
        Total MACs for that input (proportional to the batch size).
    """
    from torch.utils.flop_counter import FlopCounterMode

    first_param = next(model.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    was_training = model.training
    try:
        # Eval mode: BatchNorm would refuse a batch of one in train mode, and dropout is irrelevant.
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(tuple(input_shape), device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def model_table(
    pattern: str = "*", n_mels: int = 128, frames: int = 431, num_classes: int = 10
) -> list[dict[str, Any]]:
    """Describe every registered model matching ``pattern`` at its default settings.

    Args:
        pattern: fnmatch pattern over model names.
        n_mels: Mel bands of the input chunk.
        frames: Time frames of the input chunk.
        num_classes: Number of output logits.

    Returns:
        One row per model, sorted by name: ``{"name", "params", "macs", "description"}``, where
        ``macs`` is for a single ``(1, in_channels, n_mels, frames)`` chunk.
    """
    rows = []
    for name in list_models(pattern):
        model = create_model(name, num_classes=num_classes, n_mels=n_mels)
        in_channels = getattr(model, "in_channels", 1)
        rows.append(
            {
                "name": name,
                "params": count_parameters(model),
                "macs": forward_macs(model, (1, in_channels, n_mels, frames)),
                "description": _model_descriptions[name],
            }
        )
    return rows
