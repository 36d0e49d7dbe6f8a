"""`genrebench run`: every variant x seed of an experiment through `fit()`, each as one tracked run."""

from __future__ import annotations

from dataclasses import dataclass

from genrebench.config import ExperimentConfig, set_dotted, validate
from genrebench.data import PreparedData, prepare_data
from genrebench.errors import UserError
from genrebench.loader import Variant, load_experiment
from genrebench.train import fit
from genrebench.train.checkpoint import Interrupted, deferred_interrupts, stop_signals


@dataclass(frozen=True)
class RunOptions:
    """What the CLI adds on top of the experiment file; every field maps to one config key."""

    data: str | None = None
    device: str | None = None
    cache_dir: str | None = None
    strict: bool = False
    workers: int | None = None

    def sets(self) -> dict[str, object]:
        pairs = {"data.source": self.data, "train.device": self.device, "data.cache_dir": self.cache_dir,
                 "data.strict": True if self.strict else None, "data.workers": self.workers}
        return {k: v for k, v in pairs.items() if v is not None}


def load_variants(spec: str, sets: list[str], quick: bool, epochs: int | None, opts: RunOptions) -> list[Variant]:
    """The experiment's variants with CLI options applied (the user's own --set still wins)."""
    return load_experiment(spec, sets=sets, quick=quick, epochs=epochs, options=opts.sets())


def seeded(cfg: ExperimentConfig, offset: int) -> ExperimentConfig:
    """The same variant with `train.seed` moved by `offset` (for --seeds N repeats)."""
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": cfg.train.seed + offset})})


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
        memo[key] = prepare_data(cfg.data, cfg.features, progress=progress)
    return memo[key]


def run_variants(variants: list[Variant], seeds: int, tracker, progress: bool = True) -> list[dict]:
    """Train every variant `seeds` times; returns one summary row per run (variant, seed, run id, metrics)."""
    from genrebench.tracking.params import flatten

    memo: dict = {}
    rows = []
    with sigterm_as_interrupt():
        for variant in variants:
            for offset in range(seeds):
                cfg = seeded(variant.config, offset)
                prepared = data_for(cfg, memo, progress)
                tags = {"genrebench.role": "run", "genrebench.variant": variant.name,
                        "genrebench.base_variant": str(variant.is_base).lower(),
                        "genrebench.experiment": variant.experiment,
                        "genrebench.seed": str(cfg.train.seed), "dataset.fingerprint": prepared.fingerprint,
                        **{f"genrebench.swept.{k}": str(v) for k, v in variant.swept.items()}}
                name = f"{variant.name}-seed{cfg.train.seed}"
                with tracker.run(variant.experiment, name, flatten(cfg.model_dump(mode="json")), tags) as run_id:
                    result = fit_or_checkpoint(cfg, prepared, tracker, run_id, progress)
                    tracker.log_result(result, prepared)
                rows.append(_row(variant.name, variant.experiment, cfg, run_id, result, prepared))
    return rows


def _row(variant: str, experiment: str, cfg: ExperimentConfig, run_id: str, result, prepared: PreparedData) -> dict:
    return {"variant": variant, "seed": cfg.train.seed, "run_id": run_id, "experiment": experiment, **result.final,
            "skipped_files": len(prepared.report)}


def fit_or_checkpoint(cfg: ExperimentConfig, prepared: PreparedData, tracker, run_id: str | None,
                      progress: bool, resume: dict | None = None):
    """`fit()`; when interrupted, log the last epoch's checkpoint to the run before the run ends KILLED.

    The interruption is re-raised with `run_id` attached, so the CLI can say how to resume.
    """
    try:
        return fit(cfg, prepared, tracker, progress=progress, resume=resume)
    except Interrupted as exc:
        exc.run_id = run_id
        with deferred_interrupts():  # a second Ctrl-C must not cut the upload in half
            tracker.log_checkpoint(exc.checkpoint)
        raise


def resume_run(run_id: str, opts: RunOptions | None = None, tracking_uri: str | None = None,
               progress: bool = True) -> list[dict]:
    """Continue an interrupted run from its checkpoint, in the same MLflow run (`genrebench run --resume`).

    `run_id` may be a unique prefix of the id, as tables and logs show it.

    The config comes from the checkpoint; only where the data lives and how to compute (device, cache,
    workers) may change, and the data must have the same fingerprint as before.
    """
    from genrebench.tracking.run_ids import resolve_run_id
    from genrebench.tracking.tracker import MlflowTracker

    tracker = MlflowTracker(tracking_uri)
    run_id = resolve_run_id(tracker.client, run_id)
    run = tracker.get_run(run_id)
    if run.info.status in ("RUNNING", "FINISHED"):
        what = "still running" if run.info.status == "RUNNING" else "already finished"
        raise UserError(f"run {run_id} is {what}: only a KILLED or FAILED run with a checkpoint can be resumed")
    ckpt = tracker.load_checkpoint(run_id)
    tree = ckpt["config"]
    for key, value in (opts or RunOptions()).sets().items():
        tree = set_dotted(tree, key, value)
    cfg = validate(tree, f"checkpoint of run {run_id}")
    prepared = prepare_data(cfg.data, cfg.features, progress=progress)
    if prepared.fingerprint != ckpt["fingerprint"]:
        raise UserError(f"run {run_id} was trained on dataset {ckpt['fingerprint']}, but {cfg.data.source} is now "
                        f"{prepared.fingerprint}: resuming on other data would mix two experiments")
    tags = run.data.tags
    with sigterm_as_interrupt(), tracker.resumed(run_id, {"genrebench.resumed_from_epoch": str(ckpt["epoch"])}):
        result = fit_or_checkpoint(cfg, prepared, tracker, run_id, progress, resume=ckpt)
        tracker.log_result(result, prepared)
    return [_row(tags.get("genrebench.variant", cfg.name), tags.get("genrebench.experiment", ""), cfg, run_id,
                 result, prepared)]


def run_experiment(spec: str, sets: list[str] | None = None, quick: bool = False, epochs: int | None = None,
                   seeds: int = 1, opts: RunOptions | None = None, tracking_uri: str | None = None,
                   progress: bool = True) -> list[dict]:
    """Load an experiment file and run it with MLflow tracking (the `genrebench run` command)."""
    from genrebench.tracking.tracker import MlflowTracker

    variants = load_variants(spec, list(sets or []), quick, epochs, opts or RunOptions())
    return run_variants(variants, seeds, MlflowTracker(tracking_uri), progress)
