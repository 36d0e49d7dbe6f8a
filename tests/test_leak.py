"""`data.split.unit: chunk`: the seed's leak on purpose, tagged and marked LEAKY everywhere, measured by the report."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from conftest import make_folder, tracked_experiment
from mlflow import MlflowClient
from pydantic import ValidationError

from genrebench.config import DataConfig, FeatureConfig, SplitConfig
from genrebench.data import prepare_data
from genrebench.report import build_report
from genrebench.tracking.runs import list_runs

EXPERIMENT = "leak_tiny"
YAML = f"""name: {EXPERIMENT}
description: track vs chunk split, tiny
features: {{chunk_seconds: 1, overlap: 0.5}}
train: {{batch_size: 8, lr: 0.01}}
sweep:
  data.split.unit: [track, chunk]
"""
HONEST, LEAKY = "unit=track", "unit=chunk"


def _prepared(root, unit: str):
    return prepare_data(DataConfig(source=str(root), workers=1, split=SplitConfig(unit=unit)),
                        FeatureConfig(chunk_seconds=1.0, overlap=0.5, n_mels=16), progress=False)


def test_chunk_unit_deals_every_chunk_once_by_label_fractions(tmp_path):
    root = make_folder(tmp_path / "d", per_label=6, seconds=4.0)
    honest, leaky = _prepared(root, "track"), _prepared(root, "chunk")
    # Every chunk of every track is dealt exactly once.
    whole = {t.path: set(s) for t, s in zip(honest.tracks, honest.starts, strict=True)}
    dealt: dict = defaultdict(list)
    for track, starts in zip(leaky.tracks, leaky.starts, strict=True):
        dealt[track.path] += starts
    assert {p: sorted(s) for p, s in dealt.items()} == {p: sorted(s) for p, s in whole.items()}
    # Per label, 15% / 15% of its chunks (rounded) go to val / test, the rest to train.
    per_label = Counter(t.label for t, s in zip(honest.tracks, honest.starts, strict=True) for _ in s)
    for split, fraction in (("val", 0.15), ("test", 0.15)):
        got = Counter(leaky.tracks[int(i)].label for i, _ in leaky.chunk_index(split))
        assert got == {label: max(1, round(n * fraction)) for label, n in per_label.items()}
    # The leak itself: songs with chunks in both train and test.
    splits_of = defaultdict(set)
    for track, split in zip(leaky.tracks, leaky.splits, strict=True):
        splits_of[track.path].add(split)
    assert sum({"train", "test"} <= s for s in splits_of.values()) >= 3
    assert len({t.path for t in honest.tracks}) == len(honest.tracks)  # split by track: each song once


def test_chunk_unit_cannot_follow_a_fixed_split():
    with pytest.raises(ValidationError, match="unit 'chunk' deals out chunks at random"):
        SplitConfig(unit="chunk", method="lists", lists_dir="x")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    out = tracked_experiment(tmp_path_factory.mktemp("leak"), EXPERIMENT, YAML, per_label=6, seconds=4.0)
    return {**out, "report": build_report([EXPERIMENT], None, None, out["root"] / "reports" / "leak", out["uri"])}


def test_leaky_runs_are_tagged_and_listed_leaky(store):
    client = MlflowClient(store["uri"])
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert len(runs) == 4
    for run in runs:
        leaky = run.data.tags["genrebench.variant"] == LEAKY
        assert (run.data.tags.get("genrebench.leaky") == "true") == leaky
    assert {r["variant"]: r["leaky"] for r in store["rows"]} == {HONEST: False, LEAKY: True}
    listed = list_runs(store["uri"], [EXPERIMENT])["runs"]
    assert sorted(r["leaky"] for r in listed) == [False, False, True, True]
    done = subprocess.run([sys.executable, "-m", "genrebench", "runs", "--tracking-uri", store["uri"]],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    marked = [ln for ln in done.stdout.splitlines() if "LEAKY (split by chunk)" in ln]
    assert len(marked) == 2 and all(LEAKY in ln for ln in marked)
    as_json = subprocess.run([sys.executable, "-m", "genrebench", "runs", "--json", "--tracking-uri", store["uri"]],
                             capture_output=True, text=True, timeout=120)
    assert sum(r["leaky"] for r in json.loads(as_json.stdout)["runs"]) == 2


def _correct(client: MlflowClient, run_id: str, tmp) -> np.ndarray:
    frame = pd.read_csv(client.download_artifacts(run_id, "predictions_test.csv", str(tmp / run_id)))
    return (frame["predicted"] == frame["true"]).to_numpy()


def test_report_marks_leaky_runs_and_measures_the_inflation(store, tmp_path):
    report = store["report"]
    md = report["index_md"].read_text(encoding="utf-8")
    assert f"| {LEAKY} LEAKY |" in md and f"{HONEST} (baseline)" in md
    assert "## Leak: split by chunk (LEAKY)" in md
    sig = report["significance"].set_index("variant").loc[LEAKY]
    assert sig["matched_seeds"] == [] and sig["verdict"].startswith("not tested: LEAKY")
    # Inflation = mean LEAKY correctness - mean honest correctness over each side's own tracks and seeds.
    client = MlflowClient(store["uri"])
    by = defaultdict(list)
    for run in client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id]):
        by[run.data.tags["genrebench.variant"]].append(_correct(client, run.info.run_id, tmp_path))
    inflation = np.mean(np.concatenate(by[LEAKY])) - np.mean(np.concatenate(by[HONEST]))
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {LEAKY} LEAKY | 0, 1 |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert float(cells[4]) == pytest.approx(inflation, abs=5e-4)
    low, high = (float(x) for x in cells[5].strip("[]").split(","))
    assert low - 5e-4 <= inflation <= high + 5e-4
    # The best run is chosen among honest runs only.
    best = next(ln for ln in md.splitlines() if "Chosen by validation track accuracy" in ln)
    assert f"(variant {HONEST}," in best
