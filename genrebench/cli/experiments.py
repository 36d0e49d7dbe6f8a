"""`genrebench run|study|list`: train an experiment (or resume a run), search its config, list experiments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from genrebench import progress
from genrebench.cli.options import (
    CacheDirOpt,
    DataOpt,
    DeviceOpt,
    EpochsOpt,
    ExperimentsDirOpt,
    JsonOpt,
    QuickOpt,
    SetOpt,
    TrackingOpt,
    use_experiments_dir,
)
from genrebench.cli.printing import (
    print_experiments,
    print_fold_sets,
    print_json,
    print_next_steps,
    print_queue_end,
    print_runs,
    print_study,
    say,
    say_interrupted,
)
from genrebench.errors import UserError
from genrebench.store_urls import describe_store


def run_cmd(
    experiment: Annotated[str | None, typer.Argument(metavar="EXPERIMENT", help="NAME (see genrebench list) or "
                                                     "PATH.yaml.")] = None,
    resume: Annotated[str | None, typer.Option("--resume", metavar="RUN_ID", help="Continue this interrupted "
                                               "(KILLED) run from its checkpoint; its config comes from the "
                                               "checkpoint.")] = None,
    data: DataOpt = None,
    sets: SetOpt = None,
    epochs: EpochsOpt = None,
    seeds: Annotated[int, typer.Option(min=1, metavar="N", help="Repeat each variant with N consecutive seeds.")] = 1,
    folds: Annotated[str | None, typer.Option(metavar="all", help="Train every fold of a k-fold split "
                                              "(data.split.method: kfold), each fold x seed one run under one "
                                              "parent run per variant holding the mean and CI over folds.")]
    = None,
    quick: QuickOpt = False,
    device: DeviceOpt = None,
    cache_dir: CacheDirOpt = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="Feature extraction processes (0 = one per core).")]
    = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 2) on any unusable audio file.")] = False,
    evaluate: Annotated[str | None, typer.Option(metavar="SUITE", help="After each run, re-score its test tracks "
                                                 "under this suite of audio degradations (see genrebench "
                                                 "perturbations); shortcut for --set evaluate.suite=SUITE.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, metavar="K", help="Train the run set with K "
                                             "worker processes on this machine, through a queue of tickets (see "
                                             "--storage).")] = None,
    storage: Annotated[str | None, typer.Option(metavar="URL", help="The queue's storage (default "
                                                "sqlite:///mlruns/optuna.db): the same command with the same "
                                                "postgresql://... URL on other machines joins the run set.")]
    = None,
    heartbeat: Annotated[int, typer.Option(min=1, metavar="SECONDS", help="Queue workers' heartbeat; a ticket "
                                           "silent for twice this is retried (at most twice).")] = 30,
    experiments_dir: ExperimentsDirOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Train and test every variant of an experiment; each variant x seed is one MLflow run.

    With --jobs or --storage the run set becomes a queue of tickets (variant, seed, fold) that workers claim;
    running the same command again trains only what is not yet FINISHED.
    """
    from genrebench.loader import RunOptions

    use_experiments_dir(experiments_dir)
    opts = RunOptions(data=data, device=device, cache_dir=cache_dir, strict=strict, workers=workers,
                      evaluate=evaluate)
    queue = None if jobs is None and storage is None else (jobs or 1, storage, heartbeat)
    try:
        rows, fold_sets, summary = _run_or_resume(experiment, resume, sets, epochs, seeds, folds, quick, opts,
                                                  tracking_uri, queue)
    except KeyboardInterrupt as exc:
        say_interrupted(exc)
        raise
    if rows:
        print_runs(rows)
    if fold_sets:
        print_fold_sets(fold_sets)
    if summary is not None:
        print_queue_end(summary)
    print_next_steps(rows, fold_sets)
    if summary is not None and summary["failed"]:
        raise typer.Exit(1)


def _run_or_resume(experiment, resume, sets, epochs, seeds, folds, quick, opts, tracking_uri,
                   queue) -> tuple[list[dict], list[dict], dict | None]:
    """Resume the run (or fold set) `resume` when given, else run `experiment` (through a queue when `queue`);
    (one row per run trained, one summary per k-fold set, the queue's summary or None)."""
    if folds is not None and folds != "all":
        raise UserError(f"--folds {folds!r}: only 'all' is supported (one fold: --set data.split.fold=N)")
    if resume:
        # The checkpoint fixes the recipe; silently ignoring a changed one would mislabel the run.
        changed = [flag for flag, used in (("EXPERIMENT", experiment), ("--set", sets), ("--epochs", epochs),
                                           ("--quick", quick), ("--seeds", seeds != 1), ("--folds", folds),
                                           ("--jobs/--storage", queue)) if used]
        if changed:
            raise UserError(f"--resume continues a run with its own config: drop {', '.join(changed)}")
        from genrebench.folds import resume as resume_any

        say(describe_store(tracking_uri))
        return (*resume_any(resume, opts, tracking_uri, progress=progress.enabled()), None)
    if experiment is None:
        raise UserError("run needs an EXPERIMENT (e.g. genrebench run baseline) or --resume RUN_ID")
    from genrebench.loader import load_variants

    # Validated before the runner (and torch, mlflow) is imported: a mistyped flag fails in well under a second.
    variants = load_variants(experiment, list(sets or []), quick, epochs, opts)
    if folds:
        from genrebench.folds import check_kfold

        check_kfold(variants)
    say(describe_store(tracking_uri))  # before anything resolves (and so creates) the store's folder
    if queue is not None:
        return _run_queue(variants, seeds, bool(folds), queue, opts, tracking_uri)
    if folds:
        from genrebench.folds import run_fold_sets_loaded

        return (*run_fold_sets_loaded(variants, seeds, tracking_uri, progress=progress.enabled()), None)
    from genrebench.runner import run_loaded

    return run_loaded(variants, seeds, tracking_uri, progress=progress.enabled()), [], None


def _run_queue(variants, seeds: int, folds: bool, queue: tuple, opts, tracking_uri) -> tuple[list, list, dict]:
    from genrebench.runqueue import QueueSettings, run_queued
    from genrebench.search.storage import storage_url

    jobs, storage, heartbeat = queue
    threads = os.environ.get("OMP_NUM_THREADS", "")  # asked for: each worker gets it, else the cores are shared
    settings = QueueSettings(jobs=jobs, storage=storage_url(storage), heartbeat=heartbeat,
                             threads=int(threads) if threads.isdigit() and int(threads) > 0 else None)
    summary = run_queued(variants, seeds, folds, settings, opts, tracking_uri, progress=progress.enabled())
    return summary["rows"], summary["fold_sets"], summary


def study_cmd(
    experiment: Annotated[str, typer.Argument(metavar="EXPERIMENT", help="NAME (see genrebench list) or PATH.yaml "
                                              "to search around.")],
    space: Annotated[str, typer.Option(metavar="NAME|PATH", help="Search space: NAME (search/NAME.yaml beside the "
                                       "experiments, see genrebench list) or PATH.yaml.")] = "lr_dropout",
    trials: Annotated[int, typer.Option(min=1, metavar="N", help="Trials in the study in total (a re-run only adds "
                                        "missing ones).")] = 20,
    timeout: Annotated[float | None, typer.Option(metavar="SECONDS", help="Start no new trial after this long.")]
    = None,
    study_name: Annotated[str | None, typer.Option(metavar="NAME", help="Default: <experiment>-<space file name>.")]
    = None,
    storage: Annotated[str | None, typer.Option(metavar="URL", help="Optuna storage URL (default "
                                                "sqlite:///mlruns/optuna.db; postgresql://... for several "
                                                "machines).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, metavar="N", help="Trial processes on this machine "
                                      "(each trains one trial at a time).")] = 1,
    objectives: Annotated[str, typer.Option(metavar="NAMES", help="Comma-separated metrics to optimise, e.g. "
                                            "val_track_acc,macs (or predict_ms, params): several give a "
                                            "multi-objective study and its Pareto front.")] = "val_track_acc",
    pruner: Annotated[str | None, typer.Option(metavar="NAME", help="median, hyperband or none. Default: median "
                                               "for one objective with per-epoch values, else none.")] = None,
    sampler: Annotated[str, typer.Option(metavar="NAME", help="tpe, random, grid (the space's grid lists) or "
                                         "nsga2 (evolutionary, for several objectives).")] = "tpe",
    seed: Annotated[int, typer.Option(metavar="N", help="Sampler seed (trial n samples with seed + n, on any "
                                      "worker).")] = 0,
    heartbeat: Annotated[int, typer.Option(min=1, metavar="SECONDS", help="Seconds between trial heartbeats; a "
                                           "trial silent for twice this is marked failed and retried.")] = 30,
    retrain_best: Annotated[bool, typer.Option("--retrain-best", help="Then train the best config with --seeds "
                                               "seeds and test it.")] = False,
    seeds: Annotated[int, typer.Option(min=1, metavar="N", help="Seeds for --retrain-best.")] = 3,
    best_dir: Annotated[Path, typer.Option(metavar="DIR", help="Where the best config is written.")]
    = Path("experiments/generated"),
    data: DataOpt = None,
    sets: SetOpt = None,
    epochs: EpochsOpt = None,
    quick: QuickOpt = False,
    device: DeviceOpt = None,
    cache_dir: CacheDirOpt = None,
    experiments_dir: ExperimentsDirOpt = None,
    as_json: JsonOpt = False,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Optuna search (validation track accuracy, or --objectives) over a space of config keys; resumable and
    parallel.

    With several objectives the study keeps the Pareto-optimal trials: one config file each in --best-dir, a
    pareto.csv and a figure on the parent run. With --json the summary (and the retrained runs) is printed as
    one JSON object: {"study": ..., "runs": [...]}.
    """
    from genrebench.loader import RunOptions
    from genrebench.search import StudySettings, load_study_job

    use_experiments_dir(experiments_dir)
    settings = StudySettings(space=space, n_trials=trials, timeout=timeout, study_name=study_name, storage=storage,
                             workers=jobs, pruner=pruner, sampler=sampler, seed=seed, heartbeat=heartbeat,
                             tracking_uri=tracking_uri, generated_dir=best_dir, objectives=objectives)
    opts = RunOptions(data=data, device=device, cache_dir=cache_dir)
    job = load_study_job(experiment, settings, sets or [], quick, epochs, opts)
    if retrain_best and len(job.objectives) > 1:
        raise UserError("--retrain-best: a study of several objectives has no single best trial; run the "
                        f"Pareto-optimal config you choose from {best_dir} with --seeds {seeds}")
    say(describe_store(tracking_uri))  # after validation, before anything creates the store's folder
    from genrebench.search.study import run_study  # torch and MLflow: only once the input has passed its checks

    summary = run_study(job, progress=progress.enabled())
    if not as_json:
        print_study(summary)
    rows = _retrain_best(summary, seeds, tracking_uri, as_json) if retrain_best else []
    if as_json:
        print_json({"study": summary, "runs": rows})


def _retrain_best(summary: dict, seeds: int, tracking_uri: str | None, as_json: bool) -> list[dict]:
    """`study --retrain-best`: the best config with `seeds` seeds, trained and tested; its rows."""
    from genrebench.runner import run_experiment

    if not summary["best_config"]:
        raise UserError(f"study {summary['study']}: no complete trial yet, nothing to retrain")
    rows = run_experiment(summary["best_config"], seeds=seeds, tracking_uri=tracking_uri,
                          progress=progress.enabled())
    if not as_json:
        print_runs(rows)
    return rows


def list_cmd(experiments_dir: ExperimentsDirOpt = None, as_json: JsonOpt = False) -> None:
    """Experiments and their variants, and where each file comes from (shipped, ./experiments, or a folder of
    --experiments-dir / $GENREBENCH_EXPERIMENTS); a file that overrides another of its name says so."""
    from genrebench.loader import catalog, load_experiment, search_path

    use_experiments_dir(experiments_dir)
    rows = []
    for entry in catalog():
        variants = load_experiment(entry.path)
        cfg = variants[0].config
        models = ", ".join(dict.fromkeys(v.config.model.name for v in variants))  # a zoo sweeps the model
        rows.append({"name": entry.name, "variants": [v.name for v in variants], "model": models,
                     "source": _source(entry), "path": str(entry.path), "description": cfg.description})
    spaces = [{"name": e.name, "source": _source(e), "path": str(e.path)} for e in catalog("search")]
    folders = [f.label() for f in search_path()]
    if as_json:
        print_json({"search_path": folders, "experiments": rows, "search_spaces": spaces})
    else:
        print_experiments(rows, folders, spaces)


def _source(entry) -> str:
    """`shipped` or the file's path, and `(overrides ...)` when it hides files of the same name further on."""
    hidden = ", ".join(h.where() for h in entry.hides)
    return entry.where() + (f" (overrides {hidden})" if hidden else "")

