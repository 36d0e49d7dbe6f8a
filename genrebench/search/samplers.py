"""The `--sampler` and `--pruner` choices as Optuna objects: how trials are proposed and when one is stopped."""

from __future__ import annotations

import optuna

from genrebench.errors import UserError
from genrebench.search.space import SearchSpace


class TicketGridSampler(optuna.samplers.GridSampler):
    """Grid sampling where the ticket count ends the study, not the sampler: Optuna's GridSampler calls
    `Study.stop()` once the grid is covered, which only works inside `Study.optimize`."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def make_sampler(kind: str, space: SearchSpace, seed: int, origin: str) -> optuna.samplers.BaseSampler:
    """The sampler named by `--sampler` (tpe, random, grid); `origin` names the space file in grid errors."""
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return TicketGridSampler(space.grid(origin), seed=seed)
    raise UserError(f"--sampler: unknown sampler {kind!r} (tpe, random, grid)")


def make_pruner(kind: str, space: SearchSpace, epochs: int) -> optuna.pruners.BasePruner:
    """The pruner named by `--pruner` (median, hyperband, none), tuned by the space's `pruning` section."""
    p = space.pruning
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=p.startup_trials, n_warmup_steps=p.warmup_epochs)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, p.warmup_epochs), max_resource=epochs,
                                              reduction_factor=3)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"--pruner: unknown pruner {kind!r} (median, hyperband, none)")
