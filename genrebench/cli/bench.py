"""`genrebench bench`: measure the harness against its performance targets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genrebench import progress
from genrebench.cli.options import ExperimentsDirOpt, JsonOpt, TrackingOpt, use_experiments_dir
from genrebench.cli.printing import err, print_bench, print_json


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
) -> None:
    """Measure extraction, cache, loop overhead, predict latency and peak memory against their targets.

    Stage lines go to stderr; the figures (a table, or JSON with --json) to stdout. The result is also logged
    as an MLflow run in the experiment `benchmarks`.
    """
    from genrebench.bench import BenchSettings, run_bench

    use_experiments_dir(experiments_dir)
    settings = BenchSettings(quick=quick, device=device, experiment=experiment, work_dir=work_dir,
                             tracking_uri=tracking_uri)
    res = run_bench(settings, say=lambda line: err.print(line, highlight=False, soft_wrap=True),
                    progress=progress.enabled())
    print_json(res) if as_json else print_bench(res)
    failed = [r["name"] for r in res["rows"] if r["ok"] is False]
    if check and failed:
        err.print(f"bench --check: {len(failed)} target(s) missed: {', '.join(failed)}", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1)
