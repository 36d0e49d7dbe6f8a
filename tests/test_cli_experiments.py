"""Experiments from anywhere: the shipped set is package data, and `--experiments-dir`, $GENREBENCH_EXPERIMENTS and
./experiments add to it and override it, in that order.

Every check runs the real CLI in a working folder outside the repository, with the store and the cache in tmp;
the commands either only list or fail on their arguments, so none prepares data or trains.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import without_progress

from genrebench.loader import SHIPPED_DIR

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ["ablation_augment", "ablation_chunk_length", "ablation_normalization", "baseline", "demo", "leak_check",
           "probe", "seed_model", "small", "zoo"]


@dataclass(frozen=True)
class Layout:
    """Three working folders: an empty one, and one with a local experiments/ folder, an --experiments-dir
    folder (`flag/`) and a $GENREBENCH_EXPERIMENTS folder (`env/`)."""

    empty: Path
    work: Path
    flag: Path
    env: Path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Layout:
    base = tmp_path_factory.mktemp("experiments_anywhere")
    assert not base.resolve().is_relative_to(REPO)
    empty, work, flag, env = base / "empty", base / "work", base / "flag", base / "env"
    empty.mkdir()
    # Overrides the shipped baseline and extends it (`base: baseline` skips the file itself).
    _write(work / "experiments" / "baseline.yaml",
           'base: baseline\ndescription: "local baseline"\ntrain: {epochs: 3}\n')
    # Overrides the shipped space; its bad range shows which file was read.
    _write(work / "experiments" / "search" / "lr_dropout.yaml",
           "params:\n  train.lr: {type: float, low: 1, high: 0.5}\n")
    # Its base is in the env folder, not next to it: bases resolve along the search path too.
    _write(flag / "mine.yaml", 'base: small_base\ndescription: "from the flag folder"\n')
    _write(env / "small_base.yaml", 'description: "env base"\nmodel: {name: vgg_small}\n')
    # Hidden by the flag folder's mine.yaml, so never loaded: its bad value would be the error otherwise.
    _write(env / "mine.yaml", 'description: "hidden by the flag folder"\ntrain: {lr: 0}\n')
    _write(env / "demo.yaml", 'base: baseline\ndescription: "env demo"\n')
    return Layout(empty, work, flag, env)


def _cli(*args: str, cwd: Path, env_dirs: list[Path] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GENREBENCH_EXPERIMENTS", "GENREBENCH_DEBUG")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{cwd.parent / 'store' / 'mlflow.db'}",
               GENREBENCH_CACHE=str(cwd.parent / "cache"), COLUMNS="400")
    if env_dirs:
        env["GENREBENCH_EXPERIMENTS"] = os.pathsep.join(str(d) for d in env_dirs)
    return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def results(layout: Layout) -> dict[str, subprocess.CompletedProcess]:
    """Every command of this file, run a few at a time (each mostly waits on imports)."""
    lay = layout
    commands = {
        "list_empty": dict(args=["list"], cwd=lay.empty),
        "list_all": dict(args=["list", "--experiments-dir", str(lay.flag)], cwd=lay.work, env_dirs=[lay.env]),
        "unknown": dict(args=["run", "nope", "--experiments-dir", str(lay.flag)], cwd=lay.empty, env_dirs=[lay.env]),
        # Found through the flag folder, its base through the env folder: it gets as far as checking --epochs.
        "run_from_flag": dict(args=["run", "mine", "--experiments-dir", str(lay.flag), "--epochs", "0"],
                              cwd=lay.empty, env_dirs=[lay.env]),
        # The default --space (lr_dropout) resolves from an empty folder: the study gets as far as --sampler.
        "study_default_space": dict(args=["study", "baseline", "--sampler", "bogus"], cwd=lay.empty),
        # ... and a local search/lr_dropout.yaml overrides it (its unknown key names the local file).
        "study_local_space": dict(args=["study", "baseline"], cwd=lay.work),
        "study_unknown_space": dict(args=["study", "baseline", "--space", "nope"], cwd=lay.empty),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_cli, *c.pop("args"), **c) for name, c in commands.items()}
        return {name: f.result() for name, f in futures.items()}


def _rows(stdout: str) -> dict[str, list[str]]:
    """The `list` table's rows by experiment name: [variants, model, source, description]."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 5:
            rows[cells[0]] = cells[1:]
    return rows


def _error(res: subprocess.CompletedProcess) -> str:
    lines = without_progress(res.stderr)
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_list_from_an_empty_folder_shows_the_shipped_experiments(results, layout):
    res = results["list_empty"]
    assert res.returncode == 0, res.stderr
    rows = _rows(res.stdout)
    assert sorted(rows) == SHIPPED
    assert all(row[2] == "shipped" for row in rows.values())
    assert rows["baseline"][1] == "vgg_baseline" and rows["ablation_chunk_length"][0].count("chunk_seconds=") == 5
    assert f"{SHIPPED_DIR}/ (shipped)" in res.stdout and "experiments/ (local, not found)" in res.stdout
    assert "search spaces (genrebench study --space NAME): lr_dropout: shipped" in res.stdout
    assert list(layout.empty.iterdir()) == []  # listing writes nothing: no store, no cache


def test_list_shows_sources_and_marks_overrides_in_search_order(results, layout):
    res = results["list_all"]
    assert res.returncode == 0, res.stderr
    rows = _rows(res.stdout)
    assert sorted(rows) == sorted([*SHIPPED, "mine", "small_base"])
    assert rows["baseline"][2:] == ["experiments/baseline.yaml (overrides shipped)", "local baseline"]
    assert rows["mine"][1:] == ["vgg_small", f"{layout.flag}/mine.yaml (overrides {layout.env}/mine.yaml)",
                                "from the flag folder"]
    assert rows["demo"][2:] == [f"{layout.env}/demo.yaml (overrides shipped)", "env demo"]
    assert rows["seed_model"][2] == "shipped"
    order = [f"{layout.flag}/", f"{layout.env}/", "experiments/ (local)", f"{SHIPPED_DIR}/ (shipped)"]
    positions = [res.stdout.index(folder) for folder in order]
    assert positions == sorted(positions), res.stdout
    assert "lr_dropout: experiments/search/lr_dropout.yaml (overrides shipped)" in res.stdout


def test_an_unknown_name_says_every_folder_it_looked_in(results, layout):
    line = _error(results["unknown"])
    assert line.startswith("error: unknown experiment 'nope' (known: ")
    for folder in (f"{layout.flag}/", f"{layout.env}/", "experiments/ (local, not found)", f"{SHIPPED_DIR}/ (shipped)"):
        assert folder in line, line


def test_a_name_resolves_through_the_flag_folder_and_its_base_through_the_env_folder(results):
    assert _error(results["run_from_flag"]) == "error: --epochs: must be >= 1 (got 0)"


def test_study_spaces_are_names_resolved_like_experiments(results, layout):
    assert _error(results["study_default_space"]) == (
        "error: --sampler: unknown sampler 'bogus' (tpe, random, grid, nsga2)")
    assert _error(results["study_local_space"]).startswith(
        "error: experiments/search/lr_dropout.yaml: params.train.lr: low (1.0) must be less than high (0.5)")
    line = _error(results["study_unknown_space"])
    assert line.startswith("error: unknown search space 'nope' (known: lr_dropout, zoo_cost)")
    assert "experiments/search/ (local, not found)" in line and f"{SHIPPED_DIR}/search/ (shipped)" in line
    for folder in (layout.empty, layout.work):
        assert not (folder / "mlruns").exists()
