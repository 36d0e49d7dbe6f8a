"""A study's input checked before any work: the objectives, the experiment, the space, the sampler and pruner, each
model's base config, the device and cache folder, each a one-line error. This module imports neither torch nor
MLflow itself (the study driver does), so a mistyped objective is refused in about a second; the model registry
(a model name, `--quick`'s presets) and the device check, last, bring torch in."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

from genrebench.config import ExperimentConfig
from genrebench.errors import UserError
from genrebench.loader import RunOptions, load_variants
from genrebench.search import storage as tickets
from genrebench.search.job import StudySettings, WorkerJob
from genrebench.search.objectives import parse_objectives
from genrebench.search.samplers import make_pruner, make_sampler, resolve_pruner
from genrebench.search.space import SearchSpace, check_space, load_space


def load_study_job(spec: str, settings: StudySettings, sets: list[str], quick: bool, epochs: int | None,
                   opts: RunOptions) -> WorkerJob:
    """Validate everything a study needs before any work starts (bad input -> one-line UserError)."""
    if settings.n_trials < 1:
        raise UserError(f"--trials must be at least 1, got {settings.n_trials}")
    if settings.workers < 1:
        raise UserError(f"--jobs must be at least 1, got {settings.workers}")
    objectives = parse_objectives(settings.objectives)
    variants = load_variants(spec, sets, quick, epochs, opts)
    if len(variants) != 1:
        raise UserError(f"{spec}: a study searches one configuration, but this file sweeps into {len(variants)} "
                        "variants; search its base experiment instead")
    cfg = variants[0].config
    if cfg.select.grid:
        # A trial trains one configuration; a grid inside it would choose on validation what the study chooses.
        raise UserError(f"{spec}: select.grid chooses settings inside each run, and a study searches its own "
                        "space; drop the grid (--set 'select.grid={}') and search those keys in the space")
    space = load_space(settings.space)
    settings = replace(settings, pruner=resolve_pruner(settings.pruner, objectives))
    make_sampler(settings.sampler, space, settings.seed, settings.space, settings.n_trials)
    if settings.sampler == "grid":
        points = math.prod(len(v) for v in space.grid(settings.space).values())
        if settings.n_trials > points:
            warnings.warn(f"the grid has {points} points but --trials is {settings.n_trials}: "
                          f"{settings.n_trials - points} trial(s) will repeat points", stacklevel=2)
    make_pruner(settings.pruner, space, cfg.train.epochs)
    bases = _model_bases(spec, space, settings.space, sets, quick, epochs, opts)
    check_space(cfg, space, settings.space, bases)
    # The device and cache folder, before the data is prepared. Imported here: the runner brings torch with it.
    from genrebench.runner import check_before_work

    check_before_work([cfg, *bases.values()])
    name = settings.study_name or f"{cfg.name}-{Path(settings.space).stem}"
    return WorkerJob(settings=settings, study_name=name, url=tickets.storage_url(settings.storage),
                     experiment=cfg.name, cfg=cfg, space=space, parent_run_id=None, objectives=objectives,
                     bases=bases)


def _model_bases(spec: str, space: SearchSpace, space_origin: str, sets: list[str], quick: bool,
                 epochs: int | None, opts: RunOptions) -> dict[str, ExperimentConfig]:
    """When the space searches `model.name`: the experiment loaded once per choice, as `--set model.name=X`
    would (after the user's own --set), so each model gets its own arguments and `--quick` preset."""
    choices = space.params["model.name"].choices if "model.name" in space.params else None
    bases = {}
    for m in choices or []:
        try:
            bases[str(m)] = load_variants(spec, [*sets, f"model.name={m}"], quick, epochs, opts)[0].config
        except UserError as exc:  # e.g. the experiment sets `model.channels`, which this model does not take
            raise UserError(f"{space_origin}: params.model.name={m!r} on {spec}: {exc}".replace(
                "--set model.name: ", "")) from exc
    return bases
