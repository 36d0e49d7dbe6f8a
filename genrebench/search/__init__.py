"""Optuna search over any config keys, through the same `fit()` as `genrebench run`.

`run_study` is imported on first use (PEP 562): the package's other parts, the study's checks
(`load_study_job`) and the storage helpers the run queue shares, need neither torch nor MLflow, so a command
that only checks its input or reads a queue never waits for them.
"""

from genrebench.search.job import StudySettings
from genrebench.search.space import DEFAULT_SPACE, SearchSpace, load_space
from genrebench.search.validate import load_study_job

__all__ = ["DEFAULT_SPACE", "SearchSpace", "StudySettings", "load_space", "load_study_job", "run_study"]


def __getattr__(name: str):
    if name == "run_study":
        from genrebench.search.study import run_study

        return run_study
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
