"""The root typer app and `data` group, the `--debug` option, and every command registered in `--help` order."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from genrebench.cli import bench, data, experiments, models, predict, results

app = typer.Typer(help="Reproducible, leak-free benchmarks for music genre classifiers.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Datasets: generate the synthetic set, inspect a folder, build the feature cache.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")

_state = {"debug": bool(os.environ.get("GENREBENCH_DEBUG"))}


def debug_enabled() -> bool:
    """Whether user errors should keep their traceback: `--debug` or $GENREBENCH_DEBUG."""
    return _state["debug"] or "--debug" in sys.argv


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    if debug:
        _state["debug"] = True


data_app.command("synth")(data.data_synth)
data_app.command("inspect")(data.data_inspect)
data_app.command("cache")(data.data_cache)

app.command("run")(experiments.run_cmd)
app.command("study")(experiments.study_cmd)
app.command("report")(results.report_cmd)
app.command("runs")(results.runs_cmd)
app.command("list")(experiments.list_cmd)
app.command("models")(models.models_cmd)
app.command("bench")(bench.bench_cmd)
app.command("ui")(results.ui_cmd)
app.command("predict")(predict.predict_cmd)
