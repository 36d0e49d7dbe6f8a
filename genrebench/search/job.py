"""What a study is asked to do: the `genrebench study` flags and the job every worker process receives.

Shared by the study driver (`study`) and the workers (`workers`), so neither imports the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genrebench.config import ExperimentConfig
from genrebench.search.objectives import DEFAULT_OBJECTIVES, Objective
from genrebench.search.space import DEFAULT_SPACE, SearchSpace

# Best configs written by studies belong to the user's runs, so they go to the working directory, not the package.
GENERATED_DIR = Path("experiments") / "generated"
# Settings that change where or how fast a study or run queue runs, not what it trains: free to differ on resume
# and between the machines that work on one queue.
RUNTIME_KEYS = ("train.device", "train.num_workers", "data.workers", "data.cache_dir")


@dataclass(frozen=True)
class StudySettings:
    """The `genrebench study` flags."""

    space: str = DEFAULT_SPACE
    n_trials: int = 20
    timeout: float | None = None
    study_name: str | None = None
    storage: str | None = None
    workers: int = 1
    # None: median for one objective that has per-epoch values, none otherwise (Optuna cannot prune the rest).
    pruner: str | None = None
    sampler: str = "tpe"
    seed: int = 0
    heartbeat: int = 30
    tracking_uri: str | None = None
    generated_dir: Path = GENERATED_DIR
    objectives: str = DEFAULT_OBJECTIVES


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker process needs (picklable: spawned workers rebuild storage and tracker)."""

    settings: StudySettings
    study_name: str
    url: str
    experiment: str
    cfg: ExperimentConfig
    space: SearchSpace
    parent_run_id: str | None
    objectives: tuple[Objective, ...]
    # {model name: the experiment loaded with that model} when the space searches `model.name`: each trial
    # starts from its model's own config, as `--set model.name=X` gives it (with `--quick`, X's quick preset).
    bases: dict[str, ExperimentConfig] = field(default_factory=dict)
    index: int = 0
    deadline: float | None = None
    extra: dict = field(default_factory=dict)
