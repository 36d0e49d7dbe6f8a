"""`genrebench bench`: measure the harness against its performance targets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genrebench import progress
from genrebench.cli.options import ExperimentsDirOpt, JsonOpt, TrackingOpt, use_experiments_dir
from genrebench.cli.printing import err, print_bench, print_bench_models, print_json


def _stage_line(line: str) -> None:
    err.print(line, highlight=False, soft_wrap=True)


def bench_cmd(
    quick: Annotated[bool, typer.Option("--quick", help="CI smoke test: a few 10 s tracks and the quick model "
                                        "(under a minute). Default: GTZAN's size, the experiment's own model.")]
    = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any figure misses its target.")] = False,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    as_json: JsonOpt = False,
    work_dir: Annotated[Path | None, typer.Option(metavar="DIR", help="Keep the generated audio here and reuse it in "
                                                  "later bench runs (caches are always rebuilt).")] = None,
    experiment: Annotated[str, typer.Option(metavar="NAME|PATH", help="Experiment whose model, features and batch "
                                            "size are measured.")] = "baseline",
    experiments_dir: ExperimentsDirOpt = None,
    tracking_uri: TrackingOpt = None,
    models: Annotated[str | None, typer.Option(
        "--models", metavar="PATTERN[,PATTERN...]", help="Measure each model's cost instead of the harness "
        "stages: registered names or fnmatch patterns, comma-separated, 'all' for every model; each runs as the "
        "experiment with model.name set (--quick: the model's quick size). Extraction, cache, memory and start-up "
        "are harness figures and are skipped.")] = None,
) -> None:
    """Measure extraction, cache, loop overhead, predict latency and peak memory against their targets.

    With --models, measure each model instead: params, MACs, training loop against the bare step with
    augmentation off and on, FLOP/s against the matmul peak, evaluation, predict latency. Stage lines go to
    stderr; the figures (a table, or JSON with --json) to stdout. The result is also logged to MLflow in the
    experiment `benchmarks` (with --models: a parent run and one child run per model).
    """
    from genrebench.bench import BenchSettings, missed_targets, run_bench, run_models_bench
    from genrebench.train.checkpoint import stop_signals

    use_experiments_dir(experiments_dir)
    patterns = tuple(p.strip() for p in models.split(",") if p.strip()) if models is not None else ()
    settings = BenchSettings(quick=quick, device=device, experiment=experiment, work_dir=work_dir,
                             tracking_uri=tracking_uri, models=patterns)
    # SIGTERM unwinds as Ctrl-C does, so the memory run's process group and the worker pools are stopped.
    measure, show = (run_models_bench, print_bench_models) if models is not None else (run_bench, print_bench)
    with stop_signals():
        res = measure(settings, say=_stage_line, progress=progress.enabled())
    print_json(res) if as_json else show(res)
    failed = missed_targets(res)
    if check and failed:
        err.print(f"bench --check: {len(failed)} target(s) missed: {', '.join(failed)}", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1)
