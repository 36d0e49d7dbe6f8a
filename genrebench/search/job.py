"""What a study is asked to do: the `genrebench study` flags and the job every worker process receives.

Shared by the study driver (`study`) and the workers (`workers`), so neither imports the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genrebench.config import ExperimentConfig
from genrebench.search.space import DEFAULT_SPACE, SearchSpace

# Best configs written by studies belong to the user's runs, so they go to the working directory, not the package.
GENERATED_DIR = Path("experiments") / "generated"


@dataclass(frozen=True)
class StudySettings:
    """The `genrebench study` flags."""

    space: str = DEFAULT_SPACE
    n_trials: int = 20
    timeout: float | None = None
    study_name: str | None = None
    storage: str | None = None
    workers: int = 1
    pruner: str = "median"
    sampler: str = "tpe"
    seed: int = 0
    heartbeat: int = 30
    tracking_uri: str | None = None
    generated_dir: Path = GENERATED_DIR


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
    index: int = 0
    deadline: float | None = None
    extra: dict = field(default_factory=dict)
