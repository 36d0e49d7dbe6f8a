"""Option types shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

from typing import Annotated

import typer

SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override any config key: dotted.key=value.")]
TrackingOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow store (default "
                                                 "$MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")]
