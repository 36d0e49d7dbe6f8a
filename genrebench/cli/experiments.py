"""`genrebench run|study|list`: train an experiment (or resume a run), search its config, list experiments."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genrebench.cli.options import ExperimentsDirOpt, SetOpt, TrackingOpt, use_experiments_dir
from genrebench.cli.printing import out, print_experiments, print_runs, print_study, say_interrupted
from genrebench.errors import UserError


def run_cmd(
    experiment: Annotated[str | None, typer.Argument(help="NAME (see genrebench list) or PATH.yaml.")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue this interrupted (KILLED) run from its "
                                               "checkpoint; its config comes from the checkpoint.")] = None,
    data: Annotated[str | None, typer.Option(help="Dataset folder, manifest CSV, or 'synthetic'.")] = None,
    sets: SetOpt = None,
    epochs: Annotated[int | None, typer.Option(help="Shortcut for --set train.epochs=N.")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Repeat each variant with N consecutive seeds.")] = 1,
    quick: Annotated[bool, typer.Option(help="The quick profile: tiny features, model and data (see README).")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = None,
    cache_dir: Annotated[str | None, typer.Option(help="Feature cache folder.")] = None,
    workers: Annotated[int | None, typer.Option(help="Feature extraction processes (0 = one per core).")] = None,
    strict: Annotated[bool, typer.Option(help="Fail (exit 2) on any unusable audio file.")] = False,
    experiments_dir: ExperimentsDirOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Train and test every variant of an experiment; each variant x seed is one MLflow run."""
    from genrebench.runner import RunOptions

    use_experiments_dir(experiments_dir)
    opts = RunOptions(data=data, device=device, cache_dir=cache_dir, strict=strict, workers=workers)
    try:
        rows = _run_or_resume(experiment, resume, sets, epochs, seeds, quick, opts, tracking_uri)
    except KeyboardInterrupt as exc:
        say_interrupted(exc)
        raise
    print_runs(rows)
    out.print("compare runs: genrebench ui   (then open http://127.0.0.1:5000)")


def _run_or_resume(experiment, resume, sets, epochs, seeds, quick, opts, tracking_uri) -> list[dict]:
    """Resume the run `resume` when given, else run `experiment`; returns one row per run."""
    from genrebench.runner import resume_run, run_experiment

    if resume:
        # The checkpoint fixes the recipe; silently ignoring a changed one would mislabel the run.
        changed = [flag for flag, used in (("EXPERIMENT", experiment), ("--set", sets), ("--epochs", epochs),
                                           ("--quick", quick), ("--seeds", seeds != 1)) if used]
        if changed:
            raise UserError(f"--resume continues a run with its own config: drop {', '.join(changed)}")
        return resume_run(resume, opts, tracking_uri, progress=sys.stderr.isatty())
    if experiment is None:
        raise UserError("run needs an EXPERIMENT (e.g. genrebench run baseline) or --resume RUN_ID")
    return run_experiment(experiment, sets or [], quick=quick, epochs=epochs, seeds=seeds, opts=opts,
                          tracking_uri=tracking_uri, progress=sys.stderr.isatty())


def study_cmd(
    experiment: Annotated[str, typer.Argument(help="NAME (see genrebench list) or PATH.yaml to search around.")],
    space: Annotated[str, typer.Option(help="Search space: NAME (search/NAME.yaml beside the experiments, see "
                                       "genrebench list) or PATH.yaml.")] = "lr_dropout",
    trials: Annotated[int, typer.Option(min=1, help="Trials in the study in total (a re-run only adds missing ones).")]
    = 20,
    timeout: Annotated[float | None, typer.Option(help="Start no new trial after S seconds.")] = None,
    study_name: Annotated[str | None, typer.Option(help="Default: <experiment>-<space file name>.")] = None,
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL (default sqlite:///mlruns/optuna.db; "
                                                "postgresql://... for several machines).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes on this machine.")] = 1,
    pruner: Annotated[str, typer.Option(help="median, hyperband or none.")] = "median",
    sampler: Annotated[str, typer.Option(help="tpe, random or grid (grid uses the space's grid lists).")] = "tpe",
    seed: Annotated[int, typer.Option(help="Sampler seed (trial n samples with seed + n, on any worker).")] = 0,
    heartbeat: Annotated[int, typer.Option(min=1, help="Seconds between trial heartbeats; a trial silent for "
                                           "twice this is marked failed and retried.")] = 30,
    retrain_best: Annotated[bool, typer.Option(help="Then train the best config with --seeds seeds and test it.")]
    = False,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds for --retrain-best.")] = 3,
    best_dir: Annotated[Path, typer.Option(help="Where the best config is written.")] = Path("experiments/generated"),
    data: Annotated[str | None, typer.Option(help="Dataset folder, manifest CSV, or 'synthetic'.")] = None,
    sets: SetOpt = None,
    epochs: Annotated[int | None, typer.Option(help="Shortcut for --set train.epochs=N.")] = None,
    quick: Annotated[bool, typer.Option(help="The quick profile (see README).")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = None,
    cache_dir: Annotated[str | None, typer.Option(help="Feature cache folder.")] = None,
    experiments_dir: ExperimentsDirOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Optuna search (validation track accuracy) over a space of config keys; resumable and parallel."""
    from genrebench.runner import RunOptions, run_experiment
    from genrebench.search import StudySettings, load_study_job, run_study

    use_experiments_dir(experiments_dir)
    settings = StudySettings(space=space, n_trials=trials, timeout=timeout, study_name=study_name, storage=storage,
                             workers=workers, pruner=pruner, sampler=sampler, seed=seed, heartbeat=heartbeat,
                             tracking_uri=tracking_uri, generated_dir=best_dir)
    opts = RunOptions(data=data, device=device, cache_dir=cache_dir)
    job = load_study_job(experiment, settings, sets or [], quick, epochs, opts)
    summary = run_study(job, progress=sys.stderr.isatty())
    print_study(summary)
    if retrain_best:
        if not summary["best_config"]:
            raise UserError(f"study {summary['study']}: no complete trial yet, nothing to retrain")
        rows = run_experiment(summary["best_config"], seeds=seeds, tracking_uri=tracking_uri,
                              progress=sys.stderr.isatty())
        print_runs(rows)


def list_cmd(experiments_dir: ExperimentsDirOpt = None) -> None:
    """Experiments and their variants, and where each file comes from (shipped, ./experiments, or a folder of
    --experiments-dir / $GENREBENCH_EXPERIMENTS); a file that overrides another of its name says so."""
    from genrebench.loader import catalog, load_experiment, search_path

    use_experiments_dir(experiments_dir)
    rows = []
    for entry in catalog():
        variants = load_experiment(entry.path)
        cfg = variants[0].config
        names = ", ".join(v.name for v in variants) if len(variants) > 1 else "(one)"
        rows.append((entry.name, names, cfg.model.name, _source(entry), cfg.description))
    spaces = [f"{e.name}: {_source(e)}" for e in catalog("search")]
    print_experiments(rows, [f.label() for f in search_path()], spaces)


def _source(entry) -> str:
    """`shipped` or the file's path, and `(overrides ...)` when it hides files of the same name further on."""
    hidden = ", ".join(h.where() for h in entry.hides)
    return entry.where() + (f" (overrides {hidden})" if hidden else "")

