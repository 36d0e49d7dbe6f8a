"""`genrebench evaluate|perturbations`: re-score a finished run under audio degradations; list the degradations."""

from __future__ import annotations

from typing import Annotated

import typer

from genrebench import progress
from genrebench.cli.options import CacheDirOpt, DataOpt, DeviceOpt, JsonOpt, TrackingOpt
from genrebench.cli.printing import print_json, print_perturbations, print_robustness, say, warn
from genrebench.store_urls import describe_store, resolve_tracking_uri


def evaluate_cmd(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A FINISHED run (id or unique prefix).")],
    suite: Annotated[str | None, typer.Option(metavar="NAME", help="A named suite of perturbations (default: "
                                              "'default' when no --perturb is given).")] = None,
    perturb: Annotated[list[str] | None, typer.Option("--perturb", metavar="SPEC", help="A perturbation, "
                                                      "name[:param=value,...] (repeat the option; see genrebench "
                                                      "perturbations).")] = None,
    as_json: JsonOpt = False,
    data: DataOpt = None,
    device: DeviceOpt = None,
    cache_dir: CacheDirOpt = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="Feature extraction processes (0 = one per core).")]
    = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Re-score a run's test tracks under audio degradations, with its own model; results go into the run.

    Identity (the clean audio) is always scored first: every other row's delta is against it. Degraded features
    are cached, so a second evaluation decodes nothing.
    """
    from genrebench.data.perturb import parse_specs
    from genrebench.loader import RunOptions

    specs = list(perturb or [])
    parse_specs(specs, suite)  # a typo fails here, before torch or mlflow is imported
    resolve_tracking_uri(tracking_uri, must_exist=True)  # and so does a missing or unreachable store
    say(describe_store(tracking_uri))
    from genrebench.robustness import evaluate_run

    opts = RunOptions(data=data, device=device, cache_dir=cache_dir, workers=workers)
    res = evaluate_run(run_id, specs, suite, opts, tracking_uri, progress=progress.enabled())
    clean, logged = res["rows"][0].test_track_acc, res["test_track_acc"]
    if logged is not None and clean != logged:
        warn(f"identity scores {clean!r} but run {res['run_id']} logged test_track_acc {logged!r}: the model or the "
             "data is not what it was")
    if as_json:
        print_json({"run_id": res["run_id"], "rows": [_row(r) for r in res["rows"]]})
    else:
        print_robustness(res)


def _row(row) -> dict:
    from genrebench.train.robustness import COLUMNS

    return {**dict(zip(COLUMNS, row.cells(), strict=True)), "spec": row.spec, "decoded": row.decoded,
            "seconds": row.seconds}


def perturbations_cmd(as_json: JsonOpt = False) -> None:
    """Registered audio degradations (name, parameters with defaults, what it does) and the named suites."""
    from genrebench.data.perturb import SUITES, list_perturbations

    rows = [{"name": p.name, "params": p.params, "description": p.description} for p in list_perturbations()]
    suites = {name: list(specs) for name, specs in SUITES.items()}
    print_json({"perturbations": rows, "suites": suites}) if as_json else print_perturbations(rows, suites)
