"""Option types shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

SetOpt = Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="Override any config key "
                                                  "(dotted.key=value; repeat the option).")]
TrackingOpt = Annotated[str | None, typer.Option("--tracking-uri", metavar="URI", help="MLflow store (default "
                                                 "$MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")]
DataOpt = Annotated[str | None, typer.Option("--data", metavar="PATH", help="Dataset folder, manifest CSV, or "
                                             "'synthetic'.")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", metavar="N", help="Shortcut for --set train.epochs=N.")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="The quick profile: tiny features, model and data (see "
                                        "docs/experiments.md).")]
DeviceOpt = Annotated[str | None, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps.")]
CacheDirOpt = Annotated[str | None, typer.Option("--cache-dir", metavar="DIR", help="Feature cache folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
ExperimentsDirOpt = Annotated[Path | None, typer.Option(
    "--experiments-dir", metavar="DIR", help="Look here first for experiment files (NAME.yaml) and search spaces "
    "(search/NAME.yaml), before $GENREBENCH_EXPERIMENTS, ./experiments and the shipped ones.")]


def use_experiments_dir(folder: Path | None) -> None:
    """Put `--experiments-dir` in front of $GENREBENCH_EXPERIMENTS, so names (and `base:`) resolve there first, in
    this process and in those it starts (study workers, the bench's measured run)."""
    if folder is None:
        return
    from genrebench.errors import UserError
    from genrebench.loader import EXPERIMENTS_ENV

    if not folder.is_dir():
        raise UserError(f"--experiments-dir: no such folder: {folder}")
    rest = os.environ.get(EXPERIMENTS_ENV, "")
    os.environ[EXPERIMENTS_ENV] = os.pathsep.join([str(folder.absolute()), *([rest] if rest else [])])
