"""`genrebench run --folds all`: every fold x seed of a k-fold variant as one run, under one parent run per
variant that holds the aggregate over folds; and `run --resume`, which continues a run or a whole fold set.

The parent (tag `genrebench.role=folds`) keeps the variant's config as `config.yaml`, the fold runs' scores as
`folds.csv`, and `test_track_acc_mean|std|ci_low|ci_high` (the same for macro-F1): the mean over folds of each
fold's seed-averaged score, with the Nadeau & Bengio corrected t interval (folds share most training tracks,
so a plain t interval over folds is too narrow).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import fmean

from genrebench.config import ExperimentConfig
from genrebench.errors import UserError
from genrebench.loader import RunOptions, Variant
from genrebench.metrics import FOLD_AGGREGATED
from genrebench.report.stats import corrected_mean_ci
from genrebench.runner import (
    check_before_work,
    check_not_queued,
    check_resumable,
    continue_run,
    data_for,
    seeded,
    sigterm_as_interrupt,
    train_run,
    variant_tags,
)
from genrebench.tracking.tags import SPLIT_SIZE_TAG

FOLDS_ROLE = "folds"
FOLD_TAG = "genrebench.fold"
SEEDS_TAG = "genrebench.seeds"
CONFIG_ARTIFACT = "config.yaml"
FOLDS_TABLE = "folds.csv"
ROLE_TAG = "genrebench.role"
PARENT_TAG = "mlflow.parentRunId"


@dataclass
class FoldScore:
    """One finished fold run: which fold and seed, its test scores and its split sizes."""

    fold: int
    seed: int
    run_id: str
    scores: dict[str, float]
    n_train: int
    n_test: int


def check_kfold(variants: list[Variant]) -> None:
    """`--folds all` trains the folds of a k-fold split: any other split method is a one-line error."""
    for v in variants:
        method = v.config.data.split.method
        if method != "kfold":
            raise UserError(f"--folds all needs data.split.method: kfold, but variant {v.name} splits by "
                            f"{method!r} (add --set data.split.method=kfold, and data.split.folds=K)")


def fold_config(cfg: ExperimentConfig, fold: int, offset: int) -> ExperimentConfig:
    """The variant's config on fold `fold`, with `train.seed` moved by `offset`."""
    split = cfg.data.split.model_copy(update={"fold": fold})
    data = cfg.data.model_copy(update={"split": split})
    return seeded(cfg.model_copy(update={"data": data}), offset)


def run_fold_sets(variants: list[Variant], seeds: int, tracker, progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Every variant's folds x seeds, each variant under one parent run; (one row per fold run trained, one
    summary per variant: parent run id and the aggregate metrics)."""
    check_kfold(variants)
    rows, sets, memo = [], [], {}
    with sigterm_as_interrupt():
        for v in variants:
            params, tags = _parent_params_tags(v, seeds)
            with tracker.run(v.experiment, f"{v.name}-folds", params, tags) as parent_id, _naming(parent_id):
                tracker.log_yaml(v.config.model_dump(mode="json"), CONFIG_ARTIFACT)
                trained, scores = _fill(v, seeds, parent_id, {}, tracker, None, progress, memo)
                sets.append(_finish(v, parent_id, scores, tracker))
            rows += trained
    return rows, sets


def _parent_params_tags(v: Variant, seeds: int) -> tuple[dict, dict[str, str]]:
    """A fold set's parent run: the variant's config with `data.split.fold: all`, its role, variant and sizes."""
    from genrebench.tracking.params import flatten

    params = {**flatten(v.config.model_dump(mode="json")), "data.split.fold": "all"}
    tags = {ROLE_TAG: FOLDS_ROLE, **variant_tags(v), SEEDS_TAG: str(seeds),
            "genrebench.folds": str(v.config.data.split.folds)}
    return params, tags


def open_fold_parent(v: Variant, seeds: int, tracker, tags: dict[str, str] | None = None) -> str:
    """Start a fold set's parent run and leave it RUNNING but detached, for fold runs trained elsewhere (the
    workers of a run queue) to name as their parent; `finish_fold_set` ends it."""
    params, own = _parent_params_tags(v, seeds)
    parent_id = tracker.start_run(v.experiment, f"{v.name}-folds", params, {**own, **(tags or {})})
    try:
        tracker.log_yaml(v.config.model_dump(mode="json"), CONFIG_ARTIFACT)
    finally:
        tracker.detach(parent_id)
    return parent_id


def fold_children(tracker, parent_id: str) -> dict[tuple[int, int], object]:
    """The fold runs under `parent_id` by (fold, seed); where one was tried twice, the later attempt."""
    children = {}
    for child in tracker.child_runs(parent_id):  # oldest first: a later attempt of one fold and seed wins
        if FOLD_TAG in child.data.tags:
            children[(int(child.data.tags[FOLD_TAG]), int(child.data.tags.get("genrebench.seed", -1)))] = child
    return children


def finish_fold_set(v: Variant, parent_id: str, seeds: int, tracker) -> dict:
    """Log the aggregate of a fold set whose every fold x seed run has FINISHED (trained by anyone) to its
    parent run and end the parent FINISHED; the set's summary."""
    children = fold_children(tracker, parent_id)
    scores = []
    for fold in range(v.config.data.split.folds):
        for offset in range(seeds):
            seed = fold_config(v.config, fold, offset).train.seed
            run = children.get((fold, seed))
            if run is None or run.info.status != "FINISHED":
                raise UserError(f"fold set {parent_id}: fold {fold} seed {seed} has no FINISHED run")
            scores.append(_score_of_run(run, fold, seed))
    with tracker.resumed(parent_id):
        return _finish(v, parent_id, scores, tracker)


def run_fold_sets_loaded(variants: list[Variant], seeds: int = 1, tracking_uri: str | None = None,
                         progress: bool = True) -> tuple[list[dict], list[dict]]:
    """`run_fold_sets` with the checks and the store of `runner.run_loaded` (the CLI has checked the method)."""
    check_before_work([v.config for v in variants])
    from genrebench.tracking.tracker import MlflowTracker  # after the checks: mlflow takes seconds to import

    return run_fold_sets(variants, seeds, MlflowTracker(tracking_uri), progress)


@contextmanager
def _naming(parent_id: str) -> Iterator[None]:
    """Names the fold set on an interruption, so the CLI says to resume the set rather than one fold run."""
    try:
        yield
    except KeyboardInterrupt as exc:
        exc.fold_set = parent_id
        raise


def _fill(v: Variant, seeds: int, parent_id: str, children: dict, tracker, opts: RunOptions | None,
          progress: bool, memo: dict) -> tuple[list[dict], list[FoldScore]]:
    """Bring every (fold, seed) of the set to FINISHED: keep finished runs, continue interrupted ones from their
    checkpoint, train missing ones; (rows of the runs trained now, the scores of all)."""
    trained, scores = [], []
    for fold in range(v.config.data.split.folds):
        for offset in range(seeds):
            cfg = fold_config(v.config, fold, offset)
            old = children.get((fold, cfg.train.seed))
            if old is not None and old.info.status == "FINISHED":
                scores.append(_score_of_run(old, fold, cfg.train.seed))
                continue
            if old is not None and old.info.status == "RUNNING":
                raise UserError(f"fold run {old.info.run_id} (fold {fold}, seed {cfg.train.seed}) is still running")
            if old is not None and "genrebench.checkpoint_epoch" in old.data.tags:
                row = continue_run(old, tracker, opts, progress, memo)
            else:
                row = train_run(v, cfg, data_for(cfg, memo, progress), tracker, progress,
                                name=f"{v.name}-fold{fold}-seed{cfg.train.seed}", tags={FOLD_TAG: str(fold)},
                                parent_run_id=parent_id)
            trained.append({**row, "fold": fold})
            scores.append(_score_of_row(row, fold))
    return trained, scores


def _score_of_row(row: dict, fold: int) -> FoldScore:
    counts = row["counts"]
    return FoldScore(fold, int(row["seed"]), row["run_id"], {m: float(row[m]) for m in FOLD_AGGREGATED},
                     counts.total("train"), counts.total("test"))


def _score_of_run(run, fold: int, seed: int) -> FoldScore:
    tags, metrics = run.data.tags, run.data.metrics
    missing = [m for m in FOLD_AGGREGATED if m not in metrics]
    if missing:
        raise UserError(f"fold run {run.info.run_id} is FINISHED but has no {missing[0]} metric")
    size = {s: int(tags.get(SPLIT_SIZE_TAG.format(split=s), 0)) for s in ("train", "test")}
    return FoldScore(fold, seed, run.info.run_id, {m: float(metrics[m]) for m in FOLD_AGGREGATED},
                     size["train"], size["test"])


def aggregate(scores: list[FoldScore]) -> dict[str, float]:
    """Per score: the mean over folds of each fold's seed-averaged value, the std of those fold values, and the
    corrected 95% CI with n_test / n_train averaged over the runs."""
    folds = sorted({s.fold for s in scores})
    n_train = sum(s.n_train for s in scores) / len(scores)
    n_test = sum(s.n_test for s in scores) / len(scores)
    out: dict[str, float] = {}
    for metric in FOLD_AGGREGATED:
        per_fold = [fmean(s.scores[metric] for s in scores if s.fold == f) for f in folds]
        ci = corrected_mean_ci(per_fold, n_train, n_test)
        out.update({f"{metric}_{k}": ci[k] for k in ("mean", "std", "ci_low", "ci_high")})
    return out


def _finish(v: Variant, parent_id: str, scores: list[FoldScore], tracker) -> dict:
    """Log the aggregate and `folds.csv` to the (active) parent run; the set's summary."""
    summary = aggregate(scores)
    tracker.log_metrics(summary)
    tracker.write_table(FOLDS_TABLE, ["fold", "seed", "run_id", *FOLD_AGGREGATED, "n_train", "n_test"],
                        [[s.fold, s.seed, s.run_id, *(s.scores[m] for m in FOLD_AGGREGATED), s.n_train, s.n_test]
                         for s in sorted(scores, key=lambda s: (s.fold, s.seed))])
    return {"variant": v.name, "experiment": v.experiment, "run_id": parent_id,
            "folds": v.config.data.split.folds, "seeds": len({s.seed for s in scores}), **summary}


def resume(run_id: str, opts: RunOptions | None = None, tracking_uri: str | None = None,
           progress: bool = True) -> tuple[list[dict], list[dict]]:
    """`genrebench run --resume ID`: a plain run continues from its checkpoint; a k-fold parent, or any of its
    fold runs, continues the whole set (interrupted folds from their checkpoints, missing ones trained, the
    aggregate logged). Returns (rows of the runs trained, fold-set summaries)."""
    from genrebench.tracking.run_ids import resolve_run_id
    from genrebench.tracking.tracker import MlflowTracker

    tracker = MlflowTracker(tracking_uri)
    run = tracker.get_run(resolve_run_id(tracker.client, run_id))
    parent = _fold_parent(run, tracker)
    if parent is not None:
        return _resume_set(parent, tracker, opts, progress)
    check_resumable(run)
    with sigterm_as_interrupt():
        return [continue_run(run, tracker, opts, progress)], []


def _fold_parent(run, tracker):
    """The k-fold parent run of `run` (itself, or its parent), or None for a run outside any fold set."""
    if run.data.tags.get(ROLE_TAG) == FOLDS_ROLE:
        return run
    parent_id = run.data.tags.get(PARENT_TAG)
    if FOLD_TAG in run.data.tags and parent_id:
        parent = tracker.get_run(parent_id)
        return parent if parent.data.tags.get(ROLE_TAG) == FOLDS_ROLE else None
    return None


def _resume_set(parent, tracker, opts: RunOptions | None, progress: bool) -> tuple[list[dict], list[dict]]:
    parent_id, tags = parent.info.run_id, parent.data.tags
    check_not_queued(parent)
    if parent.info.status in ("RUNNING", "FINISHED"):
        what = "still running" if parent.info.status == "RUNNING" else "already finished: every fold has run"
        raise UserError(f"fold set {parent_id} ({tags.get('genrebench.variant', '?')}) is {what}")
    cfg = (opts or RunOptions()).apply(tracker.load_yaml(parent_id, CONFIG_ARTIFACT), f"config of fold set {parent_id}")
    check_before_work([cfg])
    swept = {k.removeprefix("genrebench.swept."): val for k, val in tags.items() if k.startswith("genrebench.swept.")}
    v = Variant(tags.get("genrebench.experiment", cfg.name), tags.get("genrebench.variant", cfg.name), cfg, swept,
                tags.get("genrebench.base_variant") == "true")
    children = fold_children(tracker, parent_id)
    with sigterm_as_interrupt(), tracker.resumed(parent_id), _naming(parent_id):
        trained, scores = _fill(v, int(tags.get(SEEDS_TAG, "1")), parent_id, children, tracker, opts, progress, {})
        summary = _finish(v, parent_id, scores, tracker)
    return trained, [summary]
