"""The `genrebench` command: parse, call one library function, print; user errors become one line and exit 2."""

from __future__ import annotations

import errno
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from genrebench.errors import UserError

app = typer.Typer(help="Reproducible, leak-free benchmarks for music genre classifiers.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Datasets: generate the synthetic set, inspect a folder, build the feature cache.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)
_state = {"debug": bool(os.environ.get("GENREBENCH_DEBUG"))}


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    if debug:
        _state["debug"] = True


# ---- data --------------------------------------------------------------------------------------

@data_app.command("synth")
def data_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write root/<genre>/*.wav into.")],
    genres: Annotated[int, typer.Option(help="Number of genres (2-10), GTZAN's names in order.")] = 10,
    tracks_per_genre: Annotated[int, typer.Option(help="Tracks per genre.")] = 10,
    seconds: Annotated[float, typer.Option(help="Length of each track in seconds.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Same seed -> byte-identical files.")] = 0,
    sample_rate: Annotated[int, typer.Option(help="Sample rate of the written WAVs.")] = 22050,
) -> None:
    """Write the built-in synthetic genre dataset (deterministic) as a GTZAN-style folder."""
    from genrebench.data.synth import write_synthetic_dataset

    res = write_synthetic_dataset(out_dir, genres=genres, tracks_per_genre=tracks_per_genre, seconds=seconds,
                                  seed=seed, sr=sample_rate, progress=True)
    out.print(f"wrote {res['tracks']} tracks ({len(res['genres'])} genres x {tracks_per_genre}, "
              f"{seconds:g} s each) to {res['root']}")


def _audio_cfg(sample_rate: int, min_seconds: float):
    from pydantic import ValidationError

    from genrebench.config import AudioConfig

    try:
        return AudioConfig(sample_rate=sample_rate, min_seconds=min_seconds)
    except ValidationError as exc:
        raise UserError(_one_line(exc)) from exc


def _one_line(exc) -> str:
    """First pydantic error as `key: message`."""
    e = exc.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "config"
    return f"{key}: {e['msg']} (got {e.get('input')!r})"


@data_app.command("inspect")
def data_inspect(
    root: Annotated[Path, typer.Argument(help="Dataset folder (root/<label>/*) or manifest CSV.")],
    strict: Annotated[bool, typer.Option(help="Exit 2 when any file cannot be used.")] = False,
    sample_rate: Annotated[int, typer.Option(help="Decode at this rate.")] = 22050,
    min_seconds: Annotated[float, typer.Option(help="Shorter files are reported as too short.")] = 3.0,
    workers: Annotated[int, typer.Option(help="Parallel decoders (0 = one per core).")] = 0,
) -> None:
    """Tracks per label, durations, sample rates, channels, and every problem file with its reason."""
    from genrebench.data.inspect import inspect_dataset
    from genrebench.data.prepare import strict_problems_message
    from genrebench.data.sources import open_source

    tracklist = open_source(root)
    res = inspect_dataset(tracklist, _audio_cfg(sample_rate, min_seconds), workers or (os.cpu_count() or 1))
    _print_inspection(res)
    if strict and res["problems"]:
        raise UserError(strict_problems_message(res["problems"], root))


def _print_inspection(res: dict) -> None:
    table = Table(title=f"dataset {res['root']}")
    for col in ("label", "files", "usable", "minutes", "mean s", "sample rates", "channels"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, s in res["labels"].items():
        table.add_row(label, str(s["files"]), str(s["usable"]), f"{s['minutes']:.1f}", f"{s['mean_seconds']:.1f}",
                      ",".join(map(str, s["sample_rates"])) or "?", ",".join(map(str, s["channels"])) or "?")
    out.print(table)
    if res["problems"]:
        problems = Table(title=f"{len(res['problems'])} problem file(s), skipped by runs (--strict makes them errors)")
        for col in ("file", "reason", "detail"):
            problems.add_column(col)
        for p in res["problems"]:
            problems.add_row(p["path"], p["reason"], p["detail"])
        out.print(problems)
    else:
        out.print("no problem files")
    if res["ignored"]:
        out.print(f"ignored {len(res['ignored'])} non-audio file(s), e.g. {res['ignored'][0]}")


@data_app.command("cache")
def data_cache(
    source: Annotated[str, typer.Argument(help="Dataset folder, manifest CSV, or 'synthetic'.")] = "synthetic",
    cache_dir: Annotated[Path | None, typer.Option(help="Cache folder (default $GENREBENCH_CACHE or the "
                                                        "user cache dir).")] = None,
    workers: Annotated[int, typer.Option(help="Extraction processes (0 = one per core).")] = 0,
    strict: Annotated[bool, typer.Option(help="Exit 2 when any file cannot be used.")] = False,
    n_mels: Annotated[int, typer.Option(help="Mel bands.")] = 128,
    n_fft: Annotated[int, typer.Option(help="FFT size.")] = 2048,
    hop_length: Annotated[int, typer.Option(help="Hop in samples.")] = 512,
    sample_rate: Annotated[int, typer.Option(help="Decode at this rate.")] = 22050,
    chunk_seconds: Annotated[float, typer.Option(help="Window length for the chunk count.")] = 10.0,
    overlap: Annotated[float, typer.Option(help="Window overlap for the chunk count.")] = 0.5,
) -> None:
    """Decode, check and cache log-mels for a dataset (parallel); a warm cache decodes nothing."""
    from genrebench.data import prepare_data
    from genrebench.data.cache import default_cache_dir

    data, feat = _build_data_cfg(source=source, cache_dir=str(cache_dir) if cache_dir else None, workers=workers,
                                 strict=strict, audio={"sample_rate": sample_rate},
                                 features={"n_mels": n_mels, "n_fft": n_fft, "hop_length": hop_length,
                                           "chunk_seconds": chunk_seconds, "overlap": overlap})
    prepared = prepare_data(data, feat)
    s = prepared.summary()
    out.print(f"cache {default_cache_dir(data.cache_dir)}: {s['tracks']} usable tracks, {s['skipped']} skipped; "
              f"decoded {s['decoded']}, reused {s['cached']} ({s['workers']} worker(s))")
    out.print(f"chunks per split: {s['chunks']}  fingerprint {s['fingerprint']}")


def _build_data_cfg(features: dict, audio: dict, **data):
    from pydantic import ValidationError

    from genrebench.config import AudioConfig, DataConfig, FeatureConfig

    try:
        return DataConfig(audio=AudioConfig(**audio), **data), FeatureConfig(**features)
    except ValidationError as exc:
        raise UserError(_one_line(exc)) from exc


# ---- experiments -------------------------------------------------------------------------------

SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override any config key: dotted.key=value.")]
TrackingOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow store (default "
                                                 "$MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db).")]


@app.command("run")
def run_cmd(
    experiment: Annotated[str | None, typer.Argument(help="NAME (experiments/NAME.yaml) or PATH.yaml.")] = None,
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
    tracking_uri: TrackingOpt = None,
) -> None:
    """Train and test every variant of an experiment; each variant x seed is one MLflow run."""
    from genrebench.runner import RunOptions

    opts = RunOptions(data=data, device=device, cache_dir=cache_dir, strict=strict, workers=workers)
    try:
        rows = _run_or_resume(experiment, resume, sets, epochs, seeds, quick, opts, tracking_uri)
    except KeyboardInterrupt as exc:
        _say_interrupted(exc)
        raise
    _print_runs(rows)
    out.print("compare runs: genrebench ui   (then open http://127.0.0.1:5000)")


def _run_or_resume(experiment, resume, sets, epochs, seeds, quick, opts, tracking_uri) -> list[dict]:
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


def _say_interrupted(exc: BaseException) -> None:
    run_id = getattr(exc, "run_id", None)
    if run_id:
        line = (f"interrupted: run {run_id} ended KILLED with its checkpoint after epoch "
                f"{exc.checkpoint['epoch']}; continue it with: genrebench run --resume {run_id}")
    else:
        line = "interrupted: any open run was ended KILLED"
    # Plain write, not rich: the interruption may have hit inside a rich print, whose console then
    # keeps its output in a buffer that is never flushed.
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _print_runs(rows: list[dict]) -> None:
    table = Table(title="runs (test metrics use the best validation checkpoint)")
    for col in ("variant", "seed", "test track acc", "test chunk acc", "test macro-F1", "best epoch", "run id"):
        # Fold, never truncate, the variant: sweep variants differ only at the end of their names.
        table.add_column(col, justify="left" if col in ("variant", "run id") else "right",
                         overflow="fold" if col == "variant" else "ellipsis")
    for r in rows:
        table.add_row(r["variant"], str(r["seed"]), f"{r['test_track_acc']:.3f}", f"{r['test_chunk_acc']:.3f}",
                      f"{r['test_macro_f1']:.3f}", str(int(r["best_epoch"])), r["run_id"])
    out.print(table)
    # Plain lines too: a table narrower than a 32-character id would truncate it, and ids get copied into predict.
    for r in rows:
        print(f"run id {r['variant']} seed {r['seed']}: {r['run_id']}")


@app.command("study")
def study_cmd(
    experiment: Annotated[str, typer.Argument(help="NAME (experiments/NAME.yaml) or PATH.yaml to search around.")],
    space: Annotated[str, typer.Option(help="Search space YAML.")] = "experiments/search/lr_dropout.yaml",
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
    tracking_uri: TrackingOpt = None,
) -> None:
    """Optuna search (validation track accuracy) over a space of config keys; resumable and parallel."""
    from genrebench.runner import RunOptions, run_experiment
    from genrebench.search import StudySettings, load_study_job, run_study

    settings = StudySettings(space=space, n_trials=trials, timeout=timeout, study_name=study_name, storage=storage,
                             workers=workers, pruner=pruner, sampler=sampler, seed=seed, heartbeat=heartbeat,
                             tracking_uri=tracking_uri, generated_dir=best_dir)
    opts = RunOptions(data=data, device=device, cache_dir=cache_dir)
    job = load_study_job(experiment, settings, sets or [], quick, epochs, opts)
    summary = run_study(job, progress=sys.stderr.isatty())
    _print_study(summary)
    if retrain_best:
        if not summary["best_config"]:
            raise UserError(f"study {summary['study']}: no complete trial yet, nothing to retrain")
        rows = run_experiment(summary["best_config"], seeds=seeds, tracking_uri=tracking_uri,
                              progress=sys.stderr.isatty())
        _print_runs(rows)


def _print_study(s: dict) -> None:
    def say(text: str) -> None:
        out.print(text, highlight=False, soft_wrap=True)

    counts = ", ".join(f"{v} {k.lower()}" for k, v in s["counts"].items() if v)
    say(f"study {s['study']} ({s['storage']}): {s['n_trials']} trials: {counts}; {s['new_trials']} run now; "
        f"{s['epochs_spent']} epochs spent in all")
    if s["best_value"] is None:
        say("no complete trial yet")
        return
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in s["best_params"].items())
    say(f"best: trial {s['best_trial']}, val track acc {s['best_value']:.4f}, {params}")
    say(f"best config: {s['best_config']}   (genrebench run {s['best_config']} --seeds 3)")
    print(f"parent run id: {s['parent_run_id']}")
    if s["skipped_figures"]:
        say("figures skipped: " + "; ".join(f"{k} ({v})" for k, v in s["skipped_figures"].items()))


@app.command("report")
def report_cmd(
    experiments: Annotated[list[str] | None, typer.Argument(help="MLflow experiments (experiment file names).")]
    = None,
    study: Annotated[str | None, typer.Option(help="Add the section of this study (its name).")] = None,
    runs: Annotated[list[str] | None, typer.Option("--runs", help="Only these run ids (repeat the option).")]
    = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report folder (default reports/<name>).")] = None,
    baseline: Annotated[str | None, typer.Option(help="Variant the others are tested against.")] = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write reports/<name>/index.md and index.html from the tracked runs (MLflow only)."""
    from genrebench.report import REPORTS_DIR, build_report, report_name

    experiments, runs = list(experiments or []), list(runs or [])
    if not (experiments or study or runs):
        raise UserError("report: name at least one experiment, --study NAME or --runs RUN_ID")
    folder = out_dir or REPORTS_DIR / report_name(experiments, study, runs)
    res = build_report(experiments, study, runs or None, folder, tracking_uri, baseline=baseline)
    for text in res["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {text}", highlight=False, soft_wrap=True)
    out.print(f"report of {res['runs']} run(s): {res['index_html']}  (open it in a browser; markdown: "
              f"{res['index_md']})", highlight=False, soft_wrap=True)


@app.command("runs")
def runs_cmd(
    experiments: Annotated[list[str] | None, typer.Argument(help="MLflow experiments (default: all).")] = None,
    state: Annotated[list[str] | None, typer.Option("--state", help="Only runs in this state (repeatable): "
                                                    "RUNNING, FINISHED, FAILED, KILLED.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest N runs.")] = 50,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Tracked runs with their state; RUNNING runs whose process is gone are first marked FAILED."""
    from datetime import datetime

    from genrebench.tracking.runs import list_runs

    res = list_runs(tracking_uri, list(experiments or []), list(state or []), limit)
    # Plain aligned lines rather than a table: ids are copied into --resume and predict, so they must
    # never be cut or wrapped, whatever the terminal width.
    out.print(f"runs in {res['store']} (newest first)", highlight=False, soft_wrap=True)
    rows = [("run id", "state", "started", "min", "acc", "experiment/run", "note")]
    for r in res["runs"]:
        started = datetime.fromtimestamp(r["start_ms"] / 1000).strftime("%Y-%m-%d %H:%M") if r["start_ms"] else ""
        acc = r["test_track_acc"] if r["test_track_acc"] is not None else r["val_best_track_acc"]
        note = (f"resume: genrebench run --resume {r['run_id']}" if r["status"] == "KILLED" and r["checkpoint_epoch"]
                else r["failure"] or (f"pid {r['owner']}" if r["status"] == "RUNNING" else r["role"]))
        rows.append((r["run_id"], r["status"], started, f"{r['seconds'] / 60:.1f}" if r["seconds"] is not None else "",
                     f"{acc:.3f}" if acc is not None else "", f"{r['experiment']}/{r['name']}", note or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows if res["runs"] else []:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    if not res["runs"]:
        out.print("no runs")


@app.command("list")
def list_cmd(
    folder: Annotated[Path, typer.Option(help="Folder of experiment files.")] = Path("experiments"),
) -> None:
    """Experiments and their variants."""
    from genrebench.config import load_experiment

    table = Table(title=f"experiments in {folder}/")
    for col in ("experiment", "variants", "model", "description"):
        table.add_column(col)
    for path in sorted(folder.glob("*.yaml")):
        variants = load_experiment(path)
        cfg = variants[0].config
        names = ", ".join(v.name for v in variants) if len(variants) > 1 else "(one)"
        table.add_row(path.stem, names, cfg.model.name, cfg.description)
    out.print(table)


@app.command("models")
def models_cmd(
    pattern: Annotated[str, typer.Argument(help="fnmatch pattern, e.g. 'vgg*'.")] = "*",
    n_mels: Annotated[int, typer.Option(help="Input height for the MAC count.")] = 128,
    frames: Annotated[int, typer.Option(help="Input width (431 = 10 s at 22050 Hz, hop 512).")] = 431,
) -> None:
    """Registered models: parameters, forward MACs for one 10 s chunk, description."""
    from genrebench.models import model_table

    table = Table(title=f"models (MACs for one 1 x {n_mels} x {frames} chunk)")
    for col in ("name", "params", "GMACs", "description"):
        table.add_column(col, justify="right" if col in ("params", "GMACs") else "left")
    for row in model_table(pattern, n_mels=n_mels, frames=frames):
        table.add_row(row["name"], f"{row['params']:,}", f"{row['macs'] / 1e9:.2f}", row["description"])
    out.print(table)


@app.command("bench")
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
    tracking_uri: TrackingOpt = None,
) -> None:
    """Measure extraction, cache, loop overhead, predict latency and peak memory against their targets."""
    from genrebench.bench import BenchSettings, run_bench

    settings = BenchSettings(quick=quick, device=device, experiment=experiment, work_dir=work_dir,
                             tracking_uri=tracking_uri, json_out=json_out)
    res = run_bench(settings, say=lambda line: err.print(line, highlight=False, soft_wrap=True),
                    progress=sys.stderr.isatty())
    _print_bench(res)


def _print_bench(res: dict) -> None:
    env = res["environment"]
    table = Table(title=f"genrebench bench ({res['profile']}, {env['device']}, {env['cpu_count']} CPU cores, "
                        f"torch {env['torch_version']})")
    for col in ("figure", "value", "unit", "target", "ok"):
        table.add_column(col, justify="right" if col == "value" else "left")
    verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: ""}
    for r in res["rows"]:
        table.add_row(r["label"], f"{r['value']:.4g}", r["unit"], r["target"], verdict[r["ok"]])
    out.print(table)
    # Plain lines too: greppable in CI logs and never cut by a narrow terminal.
    for r in res["rows"]:
        ok = {True: "pass", False: "FAIL", None: "-"}[r["ok"]]
        print(f"bench {r['name']} {r['value']:.6g} {r['unit'].replace(' ', '_')} target {r['target'] or '-'} {ok}")
    print(f"mlflow run id (experiment benchmarks): {res['run_id']}")

@app.command("ui")
def ui_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind; non-loopback exposes your runs.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Start `mlflow ui` on this project's store."""
    import subprocess

    from genrebench.tracking.mlflow_tracker import redact_uri, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] binding to {host}: anyone who can reach this port can read your runs",
                  highlight=False, soft_wrap=True)
    out.print(f"mlflow ui on {redact_uri(uri)} at http://{host}:{port}", highlight=False, soft_wrap=True)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    raise typer.Exit(subprocess.call(cmd))


@app.command("predict")
def predict_cmd(
    files: Annotated[list[Path], typer.Argument(help="Audio files to classify.")],
    run: Annotated[str | None, typer.Option("--run", help="MLflow run id whose model to use.")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="A model_bundle.pt file instead of a run.")] = None,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also print the per-chunk timeline.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    top: Annotated[int, typer.Option(help="How many genres to show per file.")] = 3,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Chunk, classify and average: the top genres with probabilities for each file."""
    import json

    from genrebench.predict import predict_files

    if (run is None) == (model is None):
        raise UserError("predict needs exactly one of --run RUN_ID or --model PATH")
    res = predict_files(files, run_id=run, model_path=str(model) if model else None, tracking_uri=tracking_uri,
                        top_k=top)
    if as_json:
        print(json.dumps(res, indent=2, default=float))
        return
    for r in res:
        out.print(f"[bold]{r['file']}[/bold]: " + ", ".join(f"{lab} {p:.2f}" for lab, p in r["top"]), highlight=False)
        if chunks:
            for c in r["chunks"]:
                out.print(f"  {c['start_seconds']:7.2f}-{c['end_seconds']:7.2f} s  {c['label']:<12} {c['prob']:.2f}",
                          highlight=False)


# OSErrors that describe the user's machine (full disk, permissions, a file where a folder belongs), not a bug:
# shown as one line naming the path. Any other OSError keeps its traceback.
_USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                          errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EMFILE})


def _os_error_line(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename is not None else ""
    if exc.filename2 is not None:
        where += f" -> {exc.filename2}"
    hint = " (disk full: free some space, then run the command again)" if exc.errno in (errno.ENOSPC,
                                                                                          errno.EDQUOT) else ""
    return f"{exc.strerror or exc}{where}{hint}"


# Typer raises click's exceptions (older typer) or its vendored copies (newer typer, which exports neither class);
# either way they are the bases of the exported `typer.BadParameter`.
_UsageError, _ClickException = typer.BadParameter.__mro__[1:3]


def _usage_error_line(exc: Exception) -> str:
    """A usage error (bad option value or type, unknown option) as one line instead of a framed box."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    return " ".join(exc.format_message().split()) + where


def _invoke_app() -> int:
    """Run the typer app without its standalone error handling, so usage errors can be shown as one line."""
    from typer import rich_utils

    try:
        code = app(standalone_mode=False)
    except _ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # recognised by name, as typer itself does
            return exc.exit_code  # typer has already printed the help
        if isinstance(exc, _UsageError):
            raise UserError(_usage_error_line(exc)) from exc
        rich_utils.rich_format_error(exc)
        return exc.exit_code
    except typer.Abort:
        rich_utils.rich_abort_error()
        return 1
    return code if isinstance(code, int) else 0


def main() -> None:
    """Entry point: user errors print one line and exit 2; `--debug` re-raises them with a traceback."""
    warnings.showwarning = _show_warning
    # MLflow announces at INFO level that it creates a new store's tables: noise that would crowd error lines.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    try:
        sys.exit(_invoke_app())
    except KeyboardInterrupt as exc:  # outside a command; typer turns one inside into exit code 130
        _say_interrupted(exc)
        sys.exit(130)
    except UserError as exc:
        if _state["debug"] or "--debug" in sys.argv:
            raise
        _fail(str(exc))
    except OSError as exc:
        if exc.errno not in _USER_ERRNOS or _state["debug"] or "--debug" in sys.argv:
            raise
        _fail(_os_error_line(exc))


def _fail(message: str) -> None:
    # Escaped: a path or value in brackets ("[rock]") must print as itself, not vanish as rich markup.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)
