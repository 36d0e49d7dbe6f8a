"""`--help` for people, the global flags anywhere, `--json` on stdout, and a start-up that imports only what the
command needs. Every check runs the real CLI in a fresh process, from a folder outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from conftest import make_folder
from test_docs import command_args, parse_cli

import genrebench
import genrebench.cli
from genrebench.cli.root import COMMANDS, DATA_COMMANDS

HEAVY = ("torch", "mlflow", "optuna", "librosa", "matplotlib", "sklearn")


@pytest.fixture
def cli(tmp_path):
    """`genrebench ARGS` from an empty folder, piped, in a narrow 60-column environment."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "COLUMNS": "60", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=300)

    run.cwd = cwd
    return run


def all_commands() -> list[list[str]]:
    return [[], ["data"], *[[name] for name in COMMANDS], *[["data", name] for name in DATA_COMMANDS]]


def test_short_help_and_version(cli):
    for args in ([], ["run"], ["data", "inspect"]):
        short, long = cli(*args, "-h"), cli(*args, "--help")
        assert short.returncode == long.returncode == 0, short.stderr
        assert short.stdout == long.stdout and "Usage: genrebench" in short.stdout
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"genrebench {genrebench.__version__}"


@pytest.mark.parametrize("args", all_commands(), ids=lambda a: " ".join(a) or "root")
def test_help_shows_whole_defaults_plain_switches_and_examples(cli, args):
    res = cli(*args, "--help")
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert "<bool>" not in text and "--no-" not in text  # switches are plain flags
    assert "…" not in text and "│" not in text  # plain help: nothing cut at the 60 columns, no framed panels
    if args and args != ["data"]:
        examples = text.split("Examples:\n", 1)[1].splitlines()
        assert examples, text
        for line in examples:  # each example is a real command line for this very command
            parsed = command_args(line)
            assert parsed[:len(args)] == args, line
            parse_cli(parsed)


def test_default_store_url_is_shown_in_full(cli):
    res = cli("runs", "--help")
    assert "sqlite:///mlruns/mlflow.db" in res.stdout


def test_debug_anywhere_and_user_errors_exit_2_with_or_without_it(cli):
    plain = cli("run", "baseline", "--epochs", "0")
    after = cli("run", "baseline", "--epochs", "0", "--debug")
    before = cli("--debug", "run", "baseline", "--epochs", "0")
    for res in (plain, after, before):
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().splitlines()[-1] == "error: --epochs: must be >= 1 (got 0)"
    assert "Traceback" not in plain.stderr
    assert "Traceback" in after.stderr and "Traceback" in before.stderr


def test_quiet_and_verbose_are_accepted_anywhere(cli):
    from concurrent.futures import ThreadPoolExecutor

    # `perturbations`: a listing that needs no torch, so the four commands take a second each, not four.
    cases = (["-q", "perturbations"], ["perturbations", "--quiet"], ["perturbations", "-v"],
             ["--verbose", "perturbations"])
    with ThreadPoolExecutor(max_workers=2) as pool:  # each mostly waits on its imports
        done = list(pool.map(lambda args: cli(*args), cases))
    for args, res in zip(cases, done, strict=True):
        assert res.returncode == 0, (args, res.stderr)
        assert "lowpass" in res.stdout and "reverb" in res.stdout


def test_study_takes_jobs_not_workers(cli):
    assert "-j, --jobs N" in cli("study", "-h").stdout
    res = cli("study", "baseline", "--workers", "2")
    assert res.returncode == 2 and "--workers" in res.stderr


def test_list_and_models_print_json(cli):
    listed = json.loads(cli("list", "--json").stdout)
    baseline = next(e for e in listed["experiments"] if e["name"] == "baseline")
    assert baseline["source"] == "shipped" and Path(baseline["path"]).is_file()
    assert any(s["name"] == "lr_dropout" for s in listed["search_spaces"])
    models = json.loads(cli("models", "--json").stdout)
    assert models["input"] == [1, 128, 431]
    assert {m["name"] for m in models["models"]} >= {"vgg_baseline", "mel_linear", "mel_mlp", "short_chunk_cnn",
                                                      "short_chunk_resnet", "musicnn", "crnn", "spec_transformer"}
    assert all(m["params"] > 0 and m["macs"] > 0 for m in models["models"])
    by_name = {m["name"]: m for m in models["models"]}
    assert by_name["mel_linear"]["macs"] == 2 * 128 * 10  # mean and std of 128 bands -> 10 logits
    assert by_name["mel_linear"]["macs"] < by_name["vgg_small"]["macs"] < by_name["vgg_baseline"]["macs"]
    assert listed["experiments"][-1]["name"] == "zoo" and "crnn" in listed["experiments"][-1]["model"]


def test_data_inspect_prints_json(cli, tmp_path):
    root = make_folder(tmp_path / "data", labels=("a", "b"), per_label=2, seconds=4.0)
    (root / "a" / "broken.wav").write_bytes(b"not audio")
    res = cli("data", "inspect", str(root), "--json", "--workers", "1")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["labels"]["a"]["files"] == 3 and report["labels"]["a"]["usable"] == 2
    assert [Path(p["path"]).name for p in report["problems"]] == ["broken.wav"]


def test_runs_never_creates_a_store(cli):
    res = cli("runs")
    assert res.returncode == 2
    assert res.stderr.startswith("error: no store at ") and "mlflow.db" in res.stderr
    assert not (cli.cwd.parent / "store").exists()


def test_a_three_slash_sqlite_path_that_looks_absolute_gets_a_hint(cli, tmp_path):
    # The first folder of the path exists at / (tmp_path is absolute) but not under the working directory.
    db = tmp_path / "x.db"
    res = cli("runs", "--tracking-uri", f"sqlite://{db}")  # sqlite:// + /abs/x.db = three slashes: relative
    assert res.returncode == 2
    assert f"did you mean sqlite:///{db}?" in res.stderr
    assert not (cli.cwd / db.relative_to("/")).exists()


def _imported_after(args: list[str], cwd: Path) -> list[str]:
    """Heavy modules imported by `genrebench ARGS` by the time it exits (in a fresh interpreter)."""
    code = ("import sys\nfrom genrebench.cli import main\nsys.argv = ['genrebench', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('IMPORTED', [m for m in {HEAVY!r} if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    line = next(line for line in res.stdout.splitlines() if line.startswith("IMPORTED"))
    return eval(line.removeprefix("IMPORTED "))  # a list literal of names we printed ourselves


def test_start_up_imports_no_heavy_library_for_help_usage_errors_or_runs(cli, tmp_path):
    assert _imported_after(["--help"], cli.cwd) == []
    assert _imported_after(["run", "--help"], cli.cwd) == []
    assert _imported_after(["run", "baseline", "--epochs", "0"], cli.cwd) == []
    assert _imported_after(["run", "nosuch"], cli.cwd) == []
    # A study's own checks come before its training stack (Optuna is light: its spaces and samplers are checked).
    assert _imported_after(["study", "baseline", "--objectives", "test_track_acc"], cli.cwd) == ["optuna"]
    # Reading commands check their store first: a missing or unreachable one is refused before any import.
    for args in (["predict", "--run", "abc", "song.wav"], ["report", "baseline"], ["leaderboard"],
                 ["evaluate", "abc"], ["report", "x", "--tracking-uri", "postgresql://u@127.0.0.1:1/db"]):
        assert _imported_after(args, cli.cwd) == [], args
    # `runs` on a SQLite store reads its tables directly: not even mlflow.
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'runs-store' / 'mlflow.db'}"
    (tmp_path / "runs-store").mkdir()
    client = MlflowClient(uri)
    client.set_terminated(client.create_run(client.create_experiment("e")).info.run_id, "FINISHED")
    assert _imported_after(["runs", "--tracking-uri", uri], cli.cwd) == []


def test_every_registered_command_has_an_example():
    group = typer.main.get_command(genrebench.cli.app)
    names = set(group.commands) - {"data"}
    assert names == set(COMMANDS)
    assert set(group.commands["data"].commands) == set(DATA_COMMANDS)
