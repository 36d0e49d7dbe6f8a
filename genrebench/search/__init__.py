"""Optuna search over any config keys, through the same `fit()` as `genrebench run`."""

from genrebench.search.job import StudySettings
from genrebench.search.space import DEFAULT_SPACE, SearchSpace, load_space
from genrebench.search.study import load_study_job, run_study

__all__ = ["DEFAULT_SPACE", "SearchSpace", "StudySettings", "load_space", "load_study_job", "run_study"]
