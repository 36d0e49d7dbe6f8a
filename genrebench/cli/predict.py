"""`genrebench predict`: classify audio files and folders with a tracked run's model or a bundle file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genrebench.cli.options import JsonOpt, TrackingOpt
from genrebench.cli.printing import print_file_errors, print_json, print_predictions
from genrebench.errors import UserError
from genrebench.store_urls import resolve_tracking_uri


def predict_cmd(
    files: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Audio files, or folders (searched "
                                                "recursively).")],
    run: Annotated[str | None, typer.Option("--run", metavar="RUN_ID", help="MLflow run id (or a unique prefix of "
                                            "it) whose model to use.")] = None,
    model: Annotated[Path | None, typer.Option("--model", metavar="FILE", help="A model_bundle.pt file instead of a "
                                               "run.")] = None,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also print the per-chunk timeline.")] = False,
    as_json: JsonOpt = False,
    top: Annotated[int, typer.Option(metavar="K", help="How many genres to show per file.")] = 3,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Chunk, classify and average: the top genres with probabilities for each file.

    A file it cannot classify gets an `error:` line on stderr; the others are still classified; exit code 2.
    """
    if (run is None) == (model is None):
        raise UserError("predict needs exactly one of --run RUN_ID or --model PATH")
    if run is not None:
        resolve_tracking_uri(tracking_uri, must_exist=True)  # a missing or unreachable store before torch and mlflow
    from genrebench.predict import predict_paths

    res = predict_paths(files, run_id=run, model_path=str(model) if model else None, tracking_uri=tracking_uri,
                        top_k=top)
    if as_json:
        print_json(res)
    else:
        print_predictions(res["results"], chunks)
    print_file_errors(res["errors"])
    if res["errors"]:
        raise typer.Exit(2)
