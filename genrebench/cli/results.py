"""`genrebench report|leaderboard|runs|ui`: look at tracked runs as a report, a ranking, a list, or in the MLflow UI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genrebench.cli.options import JsonOpt, TrackingOpt
from genrebench.cli.printing import out, print_json, print_queues, print_run_list, warn
from genrebench.errors import UserError
from genrebench.store_urls import resolve_tracking_uri, sqlite_path


def report_cmd(
    experiments: Annotated[list[str] | None, typer.Argument(metavar="EXPERIMENT...", help="MLflow experiments "
                                                            "(experiment file names).")] = None,
    study: Annotated[str | None, typer.Option(metavar="NAME", help="Add the section of this study.")] = None,
    runs: Annotated[list[str] | None, typer.Option("--runs", metavar="RUN_ID", help="Only these run ids or unique "
                                                   "prefixes (repeat the option).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Report folder (default "
                                                 "reports/<name>).")] = None,
    baseline: Annotated[str | None, typer.Option(metavar="VARIANT", help="Variant the others are tested against.")]
    = None,
    embedding_map: Annotated[str, typer.Option(metavar="pca|tsne|umap", help="How the embedding maps go to 2-D "
                                               "(umap needs umap-learn).")] = "pca",
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write reports/<name>/index.md and index.html from the tracked runs (MLflow only)."""
    experiments, runs = list(experiments or []), list(runs or [])
    if not (experiments or study or runs):
        raise UserError("report: name at least one experiment, --study NAME or --runs RUN_ID")
    resolve_tracking_uri(tracking_uri, must_exist=True)  # a missing or unreachable store before mlflow and plots
    from genrebench.report import REPORTS_DIR, build_report, report_name

    folder = out_dir or REPORTS_DIR / report_name(experiments, study, runs)
    res = build_report(experiments, study, runs or None, folder, tracking_uri, baseline=baseline,
                       embedding_map=embedding_map)
    for text in res["warnings"]:
        warn(text)
    out.print(f"report of {res['runs']} run(s): {res['index_html']}  (open it in a browser; markdown: "
              f"{res['index_md']})", highlight=False, soft_wrap=True)


def leaderboard_cmd(
    out_file: Annotated[Path, typer.Option("--out", metavar="FILE", help="The page to write (leaderboard.csv goes "
                                           "beside it).")] = Path("reports/index.html"),
    ui_url: Annotated[str, typer.Option("--ui-url", metavar="URL", help="Where the MLflow UI the page links to "
                                        "runs (genrebench ui's default).")] = "http://127.0.0.1:5000",
    tracking_uri: TrackingOpt = None,
) -> None:
    """One page over every experiment in the store: variants ranked by test track accuracy per dataset."""
    resolve_tracking_uri(tracking_uri, must_exist=True)  # a missing or unreachable store before mlflow and plots
    from genrebench.report.leaderboard import build_leaderboard

    res = build_leaderboard(out_file, tracking_uri, ui_url.rstrip("/"))
    out.print(f"leaderboard of {res['entries']} variant(s) from {res['experiments']} experiment(s) on "
              f"{res['datasets']} dataset(s): {res['html']}  (open it in a browser; numbers: {res['csv']})",
              highlight=False, soft_wrap=True)


def runs_cmd(
    experiments: Annotated[list[str] | None, typer.Argument(metavar="EXPERIMENT...", help="MLflow experiments "
                                                            "(default: all).")] = None,
    state: Annotated[list[str] | None, typer.Option("--state", metavar="STATE", help="Only runs in this state "
                                                    "(repeatable): RUNNING, FINISHED, FAILED, KILLED.")] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="Newest N runs.")] = 50,
    queue: Annotated[str | None, typer.Option("--queue", metavar="URL", help="Instead: the run queues in this "
                                              "storage (genrebench run --jobs/--storage), each ticket's state, "
                                              "worker and run.")] = None,
    name: Annotated[str | None, typer.Option("--name", metavar="QUEUE", help="With --queue: only this queue.")]
    = None,
    as_json: JsonOpt = False,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Tracked runs with their state, newest first; RUNNING runs whose process is gone are first marked FAILED.

    Read-only: a store that does not exist is an error (exit 2), not created.
    """
    from genrebench.tracking.runs import list_runs

    if queue is not None:
        _print_queues(queue, name, as_json)
        return
    if name is not None:
        raise UserError("--name picks a run queue: use it with --queue URL")
    res = list_runs(tracking_uri, list(experiments or []), list(state or []), limit)
    print_json(res) if as_json else print_run_list(res)


def _print_queues(url: str, name: str | None, as_json: bool) -> None:
    db = sqlite_path(url if "://" in url else f"sqlite:///{Path(url).resolve()}")
    if db is not None and not db.exists():  # read-only: opening would create an empty database
        raise UserError(f"--queue {url}: no such database file {db}")
    from genrebench.runqueue.tickets import queue_tickets  # after the check: optuna and torch take seconds
    from genrebench.search.storage import storage_url

    url = storage_url(url)
    queues = queue_tickets(url, name)
    print_json({"queues": queues}) if as_json else print_queues(queues)


def ui_cmd(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to bind; non-loopback exposes your runs.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port (must be free: a busy one is an error).")] = 5000,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the UI in a browser once it answers.")] = False,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Start `mlflow ui` on this project's store; Ctrl-C (or SIGTERM, SIGHUP) stops the whole server.

    The URL is printed once the server answers. A server that ends on its own ends this command with its code.
    """
    from genrebench.cli.printing import error_line
    from genrebench.ui import check_port, serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"binding to {host}: anyone who can reach this port can read your runs")
    check_port(host, port)  # first: a busy port is an error in a second, before a remote store is even probed
    uri = resolve_tracking_uri(tracking_uri)
    raise typer.Exit(serve(uri, host, port, open_browser,
                           say=lambda text: out.print(text, highlight=False, soft_wrap=True), warn=error_line))
