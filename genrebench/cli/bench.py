"""`genrebench bench`: measure the harness against its performance targets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genrebench.cli.options import ExperimentsDirOpt, TrackingOpt, use_experiments_dir
from genrebench.cli.printing import err, print_bench


def bench_cmd(
    quick: Annotated[bool, typer.Option(help="CI smoke test: a few 10 s tracks and the quick model (under a "
                                        "minute). Default: GTZAN's size, the experiment's own model.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every figure to this JSON file.")]
    = None,
    work_dir: Annotated[Path | None, typer.Option(help="Keep the generated audio here and reuse it in later bench "
                                                  "runs (caches are always rebuilt).")] = None,
    experiment: Annotated[str, typer.Option(help="NAME or PATH.yaml whose model, features and batch size are "
                                            "measured.")] = "baseline",
    experiments_dir: ExperimentsDirOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Measure extraction, cache, loop overhead, predict latency and peak memory against their targets."""
    from genrebench.bench import BenchSettings, run_bench

    use_experiments_dir(experiments_dir)
    settings = BenchSettings(quick=quick, device=device, experiment=experiment, work_dir=work_dir,
                             tracking_uri=tracking_uri, json_out=json_out)
    res = run_bench(settings, say=lambda line: err.print(line, highlight=False, soft_wrap=True),
                    progress=sys.stderr.isatty())
    print_bench(res)
