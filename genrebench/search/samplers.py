"""The `--sampler` and `--pruner` choices as Optuna objects: how trials are proposed and when one is stopped."""

from __future__ import annotations

import optuna

from genrebench.errors import UserError
from genrebench.search.objectives import Objective
from genrebench.search.space import SearchSpace


class TicketGridSampler(optuna.samplers.GridSampler):
    """Grid sampling where the ticket count ends the study, not the sampler: Optuna's GridSampler calls
    `Study.stop()` once the grid is covered, which only works inside `Study.optimize`."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def nsga2_population(n_trials: int) -> int:
    """NSGA-II's generation size for a study of `n_trials`: Optuna's default of 50 would leave a study of 20
    trials one random first generation and no evolution at all; a quarter of the trials gives about four
    generations, never fewer than 4 parents to recombine."""
    return max(4, min(50, n_trials // 4))


def make_sampler(kind: str, space: SearchSpace, seed: int, origin: str,
                 n_trials: int = 200) -> optuna.samplers.BaseSampler:
    """The sampler named by `--sampler` (tpe, random, grid, nsga2); `origin` names the space file in grid errors.

    TPE handles several objectives itself (MOTPE); NSGA-II is the evolutionary alternative for them.
    """
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return TicketGridSampler(space.grid(origin), seed=seed)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=nsga2_population(n_trials), seed=seed)
    raise UserError(f"--sampler: unknown sampler {kind!r} (tpe, random, grid, nsga2)")


def resolve_pruner(kind: str | None, objectives: tuple[Objective, ...]) -> str:
    """`--pruner` as given, or its default: median when the study follows one objective with per-epoch values,
    none otherwise. An explicit pruner on a study Optuna cannot prune is a one-line error."""
    prunable = len(objectives) == 1 and objectives[0].per_epoch is not None
    if kind is None:
        return "median" if prunable else "none"
    if kind != "none" and not prunable:
        why = ("Optuna prunes single-objective studies only" if len(objectives) > 1
               else f"{objectives[0].name} has no per-epoch value to compare")
        raise UserError(f"--pruner {kind}: {why}; use --pruner none (the default here)")
    return kind


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
