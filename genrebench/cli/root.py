"""The root typer app and `data` group, the global flags, and every command registered in `--help` order.

Global flags (`--debug`, `--quiet`/`-q`, `--verbose`/`-v`) may be written before or after the command
(`genrebench run baseline --debug`): `main` takes them out of the arguments wherever they are.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from genrebench import __version__
from genrebench.cli import bench, data, evaluate, experiments, models, predict, protocols, results

# Click's plain help, not typer's framed rich panels: those cut defaults and help at the console width when
# piped (`sqlite:///mlruns/mlflo…`) and show switches as `<bool>`. Plain help wraps, never cuts.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
app = typer.Typer(help="Reproducible, leak-free benchmarks for music genre classifiers.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None, context_settings=CONTEXT)
data_app = typer.Typer(help="Datasets: synthesize, inspect, cache, audit for duplicates.",
                       no_args_is_help=True, rich_markup_mode=None, context_settings=CONTEXT)
app.add_typer(data_app, name="data")

GLOBAL_FLAGS = {"--debug": ("debug", True), "--quiet": ("verbosity", -1), "-q": ("verbosity", -1),
                "--verbose": ("verbosity", 1), "-v": ("verbosity", 1)}
_state: dict = {"debug": bool(os.environ.get("GENREBENCH_DEBUG")), "verbosity": 0}


def debug_enabled() -> bool:
    """Whether user errors should also print their traceback: `--debug` or $GENREBENCH_DEBUG."""
    return _state["debug"]


def take_global_flags(args: list[str]) -> list[str]:
    """`args` without the global flags, which are applied; anything after `--` is left alone."""
    end = args.index("--") if "--" in args else len(args)
    kept = []
    for arg in args[:end]:
        if arg in GLOBAL_FLAGS:
            key, value = GLOBAL_FLAGS[arg]
            _state[key] = value
        else:
            kept.append(arg)
    _apply_verbosity()
    return kept + args[end:]


def _apply_verbosity() -> None:
    from genrebench import progress

    progress.set_verbosity(_state["verbosity"])


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"genrebench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Also print the traceback of an error (exit code unchanged)."
                                        )] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or lines; results and errors only.")]
    = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail in progress lines.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Reproducible, leak-free benchmarks for music genre classifiers.

    The flags below may also be written after the command. Every command has -h.
    """
    # Normally `main` has taken these flags out already; here for callers that invoke `app` directly.
    if debug:
        _state["debug"] = True
    if quiet or verbose:
        _state["verbosity"] = -1 if quiet else 1
        _apply_verbosity()


# name -> (function, one-line summary for the command list, example lines shown at the end of its --help).
COMMANDS = {
    "run": (experiments.run_cmd, "Train and test an experiment's variants (each variant x seed is one run).",
            ["genrebench run baseline --data ~/gtzan --seeds 3", "genrebench run baseline --quick --epochs 2",
             "genrebench run --resume 0d18"]),
    "study": (experiments.study_cmd, "Optuna search over config keys (resumable, parallel).",
              ["genrebench study baseline --trials 30 --jobs 2", "genrebench study baseline --retrain-best"]),
    "report": (results.report_cmd, "Write a Markdown + HTML report from tracked runs.",
               ["genrebench report baseline", "genrebench report --study baseline-lr_dropout"]),
    "leaderboard": (results.leaderboard_cmd, "One page ranking every experiment's variants, per dataset.",
                    ["genrebench leaderboard", "genrebench leaderboard --out site/index.html"]),
    "runs": (results.runs_cmd, "List tracked runs with their state, newest first.",
             ["genrebench runs --state FAILED", "genrebench runs baseline --json"]),
    "list": (experiments.list_cmd, "List experiments, their variants and search spaces.", ["genrebench list"]),
    "models": (models.models_cmd, "List registered models with parameters and MACs.", ["genrebench models 'vgg*'"]),
    "frontends": (models.frontends_cmd, "List front-ends: mel, built-in embedders, the HEAR adapter (probes).",
                  ["genrebench frontends", "genrebench frontends --json"]),
    "protocols": (protocols.protocols_cmd, "List named split protocols (published splits such as gtzan-ff).",
                  ["genrebench protocols", "genrebench protocols --json"]),
    "evaluate": (evaluate.evaluate_cmd, "Re-score a run's test tracks under audio degradations (robustness).",
                 ["genrebench evaluate 0d18",
                  "genrebench evaluate 0d18 --perturb noise:snr=10 --perturb mp3:quality=9"]),
    "perturbations": (evaluate.perturbations_cmd, "List the audio degradations evaluate applies, and the suites.",
                      ["genrebench perturbations", "genrebench perturbations --json"]),
    "bench": (bench.bench_cmd, "Measure speed and memory against the harness's targets.",
              ["genrebench bench --quick --check", "genrebench bench --json > bench.json",
               "genrebench bench --models all"]),
    "ui": (results.ui_cmd, "Open the MLflow UI on this project's runs (stops with Ctrl-C, server and all).",
           ["genrebench ui --port 5001", "genrebench ui --open"]),
    "predict": (predict.predict_cmd, "Classify audio files or folders with a trained model.",
                ["genrebench predict song.wav --run 0d18", "genrebench predict music/ --model model_bundle.pt --json"]),
}
DATA_COMMANDS = {
    "synth": (data.data_synth, "Write the built-in synthetic genre dataset.",
              ["genrebench data synth --out data/synth --genres 4 --tracks-per-genre 8"]),
    "inspect": (data.data_inspect, "Tracks per label, durations, and every problem file.",
                ["genrebench data inspect ~/gtzan", "genrebench data inspect ~/gtzan --json"]),
    "cache": (data.data_cache, "Decode and cache log-mels for a dataset (parallel).",
              ["genrebench data cache ~/gtzan --workers 2"]),
    "audit": (data.data_audit, "Find duplicate tracks (copies, re-encodes, gain changes, shifted excerpts).",
              ["genrebench data audit ~/gtzan", "genrebench data audit ~/gtzan --json --out gtzan-duplicates.csv"]),
}


def _register(target: typer.Typer, commands: dict) -> None:
    for name, (func, summary, examples) in commands.items():
        # "\b" keeps click from re-wrapping the example lines into one paragraph.
        epilog = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in examples)
        target.command(name, short_help=summary, epilog=epilog)(func)


_register(data_app, DATA_COMMANDS)
_register(app, COMMANDS)
