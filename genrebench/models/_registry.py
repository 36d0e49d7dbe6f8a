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


def register_model(fn: _B | None = None, *, name: str | None = None) -> Any:
    """Register a model builder, as ``@register_model`` or ``@register_model(name="...")``.

    Args:
        fn: The builder; its first docstring line becomes the model's description.
        name: Registry key; defaults to the builder's ``__name__``.

    Returns:
        The builder unchanged (or a decorator when called with only ``name``).

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
        return builder

    return decorator if fn is None else decorator(fn)


def list_models(pattern: str = "*") -> list[str]:
    """Return the sorted names of registered models matching a shell-style ``pattern`` (fnmatch)."""
    return sorted(n for n in _model_entrypoints if fnmatch.fnmatchcase(n, pattern))


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
        **overrides: Builder keyword arguments (e.g. ``channels``, ``dropout``). ``None`` values are
            dropped so that CLI/config fields the user left unset never clobber the builder's defaults.

    Returns:
        The freshly initialised model.

    Raises:
        UserError: If the name is unknown or an override is invalid (one line, for the CLI).
    """
    builder = _model_entrypoints.get(name)
    if builder is None:
        raise _unknown_model_error(name)
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    try:
        return builder(num_classes=num_classes, **kwargs)
    except ValueError as err:
        # Builders validate their arguments with ValueError; re-raise as a user error so the CLI
        # shows which value was wrong instead of a traceback.
        raise UserError(f"model {name!r}: {err}") from err


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Return the number of parameter elements (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _conv_macs(module: nn.Conv2d, _inputs: Any, output: torch.Tensor) -> int:
    """Each output element costs (in_channels / groups) * kh * kw multiply-accumulates."""
    kh, kw = module.kernel_size
    return output.numel() * (module.in_channels // module.groups) * kh * kw


def _linear_macs(module: nn.Linear, _inputs: Any, output: torch.Tensor) -> int:
    """Each output element costs in_features multiply-accumulates (batch = all leading dims)."""
    return output.numel() * module.in_features


_MAC_RULES: dict[type[nn.Module], Callable[[Any, Any, torch.Tensor], int]] = {
    nn.Conv2d: _conv_macs,
    nn.Linear: _linear_macs,
}


def forward_macs(model: nn.Module, input_shape: Sequence[int] = (1, 1, 128, 431)) -> int:
    """Count the multiply-accumulates of one forward pass (Conv2d and Linear layers only).

    Uses forward hooks, so it follows the actual data path (a defined-but-unused layer costs nothing)
    and needs no external profiler. Bias additions, activations, pooling and BatchNorm are ignored,
    as in the usual MAC conventions.

    Args:
        model: The model; it runs once in eval mode on zeros and its training mode is restored.
        input_shape: Full input shape including the batch dimension.

    Returns:
        Total MACs for that input (proportional to the batch size).
    """
    total = 0

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        total += _MAC_RULES[type(module)](module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) in _MAC_RULES]
    first_param = next(model.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    was_training = model.training
    try:
        # Eval mode: BatchNorm would refuse a batch of one in train mode, and dropout is irrelevant.
        model.eval()
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape), device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total


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
        model = create_model(name, num_classes=num_classes)
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
