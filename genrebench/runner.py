"""`genrebench run`: every variant x seed of an experiment through `fit()`, each as one tracked run."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from genrebench.chance import SplitCounts
from genrebench.config import ExperimentConfig
from genrebench.data import PreparedData, prepare_data
from genrebench.data.cache import default_cache_dir
from genrebench.data.prepare import ensure_cache_dir
from genrebench.data.splits import split_counts
from genrebench.errors import UserError
from genrebench.loader import RunOptions, Variant, load_variants
from genrebench.robustness import evaluate_after_fit
from genrebench.tracking.tags import QUEUE_TAG, data_tags
from genrebench.train import resolve_device
from genrebench.train.checkpoint import Interrupted, deferred_interrupts, stop_signals
from genrebench.train.select import Selection, fit_selected


def seeded(cfg: ExperimentConfig, offset: int) -> ExperimentConfig:
    """The same variant with `train.seed` moved by `offset` (for --seeds N repeats)."""
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": cfg.train.seed + offset})})


def check_before_work(cfgs: list[ExperimentConfig]) -> None:
    """Fail in seconds, before any data is prepared or run created, on what would otherwise fail later: a
    device this machine lacks (`--device cuda` without CUDA) or a cache folder that cannot be created.

    A cache folder that exists but is not writable is refused when empty; with content it may be a warm
    read-only cache (legitimate: nothing needs writing), so it only warns.
    """
    for device in dict.fromkeys(c.train.device for c in cfgs):
        resolve_device(device)
    for folder in dict.fromkeys(default_cache_dir(c.data.cache_dir) for c in cfgs):
        ensure_cache_dir(folder)
        if not os.access(folder, os.W_OK | os.X_OK):
            _unwritable_cache(folder)


def _unwritable_cache(folder: Path) -> None:
    hint = "pass --cache-dir or set GENREBENCH_CACHE"
    if not any(folder.iterdir()):
        raise UserError(f"cache folder {folder} is not writable and empty, so no feature can be cached ({hint})")
    warnings.warn(f"cache folder {folder} is not writable: only features already cached there can be used, a "
                  f"file not yet cached fails ({hint})", stacklevel=3)


def sigterm_as_interrupt():
    """SIGTERM behaves like Ctrl-C, so a killed job ends its run KILLED instead of leaving it RUNNING."""
    return stop_signals()


def data_key(cfg: ExperimentConfig) -> tuple[str, str]:
    """Configs with equal keys share prepared data (normalization is applied later, per Dataset)."""
    return cfg.data.model_dump_json(), cfg.features.model_dump_json(exclude={"normalization"})


def data_for(cfg: ExperimentConfig, memo: dict, progress: bool) -> PreparedData:
    """Prepare each distinct (data, features) setting once per invocation; the cache makes repeats cheap anyway."""
    key = data_key(cfg)
    if key not in memo:
        memo[key] = prepare_data(cfg.data, cfg.features, progress=progress, device=cfg.train.device)
    return memo[key]


def run_variants(variants: list[Variant], seeds: int, tracker, progress: bool = True) -> list[dict]:
    """Train every variant `seeds` times; returns one summary row per run (variant, seed, run id, metrics)."""
    memo: dict = {}
    rows = []
    with sigterm_as_interrupt():
        for variant in variants:
            for offset in range(seeds):
                cfg = seeded(variant.config, offset)
                rows.append(train_run(variant, cfg, data_for(cfg, memo, progress), tracker, progress))
    return rows


def variant_tags(variant: Variant) -> dict[str, str]:
    """Which variant of which experiment a run (or a k-fold parent) belongs to, and its swept values."""
    return {"genrebench.variant": variant.name, "genrebench.base_variant": str(variant.is_base).lower(),
            "genrebench.experiment": variant.experiment,
            **{f"genrebench.swept.{k}": str(v) for k, v in variant.swept.items()}}


def run_tags(variant: Variant, cfg: ExperimentConfig, prepared: PreparedData) -> dict[str, str]:
    """What a trained run says about itself when it starts: role, variant, experiment, seed, data, swept keys."""
    return {"genrebench.role": "run", **variant_tags(variant), "genrebench.seed": str(cfg.train.seed),
            **data_tags(cfg, prepared)}


def train_run(variant: Variant, cfg: ExperimentConfig, prepared: PreparedData, tracker, progress: bool,
              name: str | None = None, tags: dict[str, str] | None = None, parent_run_id: str | None = None,
              started: Callable[[str], None] | None = None) -> dict:
    """One tracked run of `cfg` (a child of `parent_run_id` when given); its summary row. `started` is told the
    run's id as soon as it exists (a run queue records it on the ticket, for whoever retries the ticket)."""
    name = name or f"{variant.name}-seed{cfg.train.seed}"
    all_tags = {**run_tags(variant, cfg, prepared), **(tags or {})}
    with tracker.run(variant.experiment, name, run_params(cfg), all_tags, parent_run_id=parent_run_id) as run_id:
        if started is not None:
            started(run_id)
        result = fit_or_checkpoint(cfg, prepared, tracker, run_id, progress)
        tracker.log_result(result, prepared)
        evaluate_after_fit(result, cfg, prepared, tracker, run_id, progress)
    return _row(variant.name, variant.experiment, cfg, run_id, result, prepared)


def run_params(cfg: ExperimentConfig) -> dict[str, str]:
    """The config as a run's params. Keys a `select.grid` searches are left out until the grid has chosen (MLflow
    keeps a param's first value, and the file's value is not what the run trains with)."""
    from genrebench.tracking.params import flatten

    return {k: v for k, v in flatten(cfg.model_dump(mode="json")).items() if k not in cfg.select.grid}


def _row(variant: str, experiment: str, cfg: ExperimentConfig, run_id: str, result, prepared: PreparedData) -> dict:
    return {"variant": variant, "seed": cfg.train.seed, "run_id": run_id, "experiment": experiment, **result.final,
            "skipped_files": len(prepared.report), "leaky": cfg.data.split.unit == "chunk",
            "counts": SplitCounts(split_counts(prepared.tracks, prepared.splits, prepared.labels),
                                  prepared.chunks_per_label("train"))}


def fit_or_checkpoint(cfg: ExperimentConfig, prepared: PreparedData, tracker, run_id: str | None,
                      progress: bool, resume: dict | None = None):
    """`fit()`; when interrupted, log the last epoch's checkpoint to the run before the run ends KILLED.

    The interruption is re-raised with `run_id` attached, so the CLI can say how to resume.
    """
    try:
        result, selection = fit_selected(cfg, prepared, tracker, progress=progress, resume=resume)
    except Interrupted as exc:
        exc.run_id = run_id
        with deferred_interrupts():  # a second Ctrl-C must not cut the upload in half
            tracker.log_checkpoint(exc.checkpoint)
        raise
    if selection is not None:
        log_selection(tracker, selection)
    return result


def log_selection(tracker, selection: Selection) -> None:
    """The grid's validation scores (`select_grid.csv`) and the chosen values as the run's params."""
    tracker.log_params(selection.chosen)
    tracker.write_table("select_grid.csv", *selection.table())
    tracker.set_tags({"genrebench.selected": ", ".join(f"{k}={v}" for k, v in selection.chosen.items())})


def resume_run(run_id: str, opts: RunOptions | None = None, tracking_uri: str | None = None,
               progress: bool = True) -> list[dict]:
    """Continue an interrupted run from its checkpoint, in the same MLflow run (see `continue_run`).

    `run_id` may be a unique prefix of the id, as tables and logs show it. (`genrebench run --resume` goes
    through `folds.resume`, which also takes the parent run of a k-fold set.)
    """
    from genrebench.tracking.run_ids import resolve_run_id
    from genrebench.tracking.tracker import MlflowTracker

    tracker = MlflowTracker(tracking_uri)
    run = tracker.get_run(resolve_run_id(tracker.client, run_id))
    check_resumable(run)
    with sigterm_as_interrupt():
        return [continue_run(run, tracker, opts, progress)]


def check_resumable(run) -> None:
    """Only an ended run that did not finish can be continued, and a queue's run only through its queue."""
    if run.info.status in ("RUNNING", "FINISHED"):
        what = "still running" if run.info.status == "RUNNING" else "already finished"
        raise UserError(f"run {run.info.run_id} is {what}: only a KILLED or FAILED run with a checkpoint can be "
                        "resumed")
    check_not_queued(run)


def check_not_queued(run) -> None:
    """A run (or fold set) of a run queue is continued by its queue: resumed here, its ticket would stay failed
    and the queue's next command would train it a second time."""
    queue = run.data.tags.get(QUEUE_TAG)
    if queue:
        raise UserError(f"run {run.info.run_id} belongs to run queue {queue}: run the queue's command again to "
                        "continue it from its checkpoint")


def continue_run(run, tracker, opts: RunOptions | None, progress: bool, memo: dict | None = None) -> dict:
    """Train the ended `run` on from its checkpoint, in the same MLflow run; its summary row.

    The config comes from the checkpoint; only where the data lives and how to compute (device, cache,
    workers) may change (`opts`), and the data must have the same fingerprint as before.
    """
    run_id = run.info.run_id
    ckpt = tracker.load_checkpoint(run_id)
    cfg = (opts or RunOptions()).apply(ckpt["config"], f"checkpoint of run {run_id}")
    check_before_work([cfg])
    prepared = data_for(cfg, {} if memo is None else memo, progress)
    if prepared.fingerprint != ckpt["fingerprint"]:
        raise UserError(f"run {run_id} was trained on dataset {ckpt['fingerprint']}, but {cfg.data.source} is now "
                        f"{prepared.fingerprint}: resuming on other data would mix two experiments")
    tags = run.data.tags
    with tracker.resumed(run_id, {"genrebench.resumed_from_epoch": str(ckpt["epoch"])}):
        result = fit_or_checkpoint(cfg, prepared, tracker, run_id, progress, resume=ckpt)
        tracker.log_result(result, prepared)
        evaluate_after_fit(result, cfg, prepared, tracker, run_id, progress)
    return _row(tags.get("genrebench.variant", cfg.name), tags.get("genrebench.experiment", ""), cfg, run_id,
                result, prepared)


def run_experiment(spec: str, sets: list[str] | None = None, quick: bool = False, epochs: int | None = None,
                   seeds: int = 1, opts: RunOptions | None = None, tracking_uri: str | None = None,
                   progress: bool = True) -> list[dict]:
    """Load an experiment file and run it with MLflow tracking (the `genrebench run` command)."""
    variants = load_variants(spec, list(sets or []), quick, epochs, opts or RunOptions())
    return run_loaded(variants, seeds, tracking_uri, progress)


def run_loaded(variants: list[Variant], seeds: int = 1, tracking_uri: str | None = None,
               progress: bool = True) -> list[dict]:
    """Run variants already loaded (and so validated, which the CLI does before importing this module).

    Devices and the cache folder are checked first, then the store is opened (and checked writable), all
    before any data is prepared: a run that cannot start fails in seconds and leaves no FAILED run behind.
    """
    check_before_work([v.config for v in variants])
    from genrebench.tracking.tracker import MlflowTracker  # after the checks: mlflow takes seconds to import

    return run_variants(variants, seeds, MlflowTracker(tracking_uri), progress)
