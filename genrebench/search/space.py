"""Search spaces as YAML: dotted config keys mapped to Optuna distributions.

A space file looks like::

    params:
      train.lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
      model.dropout: {type: float, low: 0.0, high: 0.6}          # one rate for both head layers (tied)
      # model.dropout.0 / model.dropout.1 instead search the two head dropouts separately
    pruning: {startup_trials: 5, warmup_epochs: 2}

The Optuna parameter name is the dotted key itself, so the optuna CLI, the dashboard and MLflow all show
`train.lr`, and a trial's params apply to the config with no mapping table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genrebench.config import ExperimentConfig, set_dotted, validate
from genrebench.errors import UserError
from genrebench.loader import find_space, read_yaml

# A name, resolved like an experiment name but in the `search/` folders (`genrebench list` shows them).
DEFAULT_SPACE = "lr_dropout"


class ParamSpec(BaseModel):
    """One searched key: a float/int range (optionally log or stepped) or a list of choices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Any] | None = None
    # Values for `--sampler grid`; categorical params use their choices.
    grid: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical param needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} param needs 'low' and 'high'")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be less than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("'log' and 'step' cannot be combined (an Optuna rule)")
        return self

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.type == "categorical":
            return optuna.distributions.CategoricalDistribution(self.choices)
        if self.type == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log,
                                                        step=int(self.step or 1))
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def probe_values(self) -> list[Any]:
        """Values that must all produce a valid config (checked before any trial runs)."""
        if self.type == "categorical":
            return list(self.choices)
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high), *(self.grid or [])]


class PruningConfig(BaseModel):
    """Median/hyperband settings: trials are never pruned before these many are complete / epochs done."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    startup_trials: int = Field(5, ge=0)
    warmup_epochs: int = Field(2, ge=0)


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    params: dict[str, ParamSpec] = Field(min_length=1)
    pruning: PruningConfig = PruningConfig()

    def grid(self, origin: str) -> dict[str, list[Any]]:
        """The grid for `--sampler grid`: every param needs `grid:` values or `choices`."""
        out = {}
        for key, spec in self.params.items():
            values = spec.grid if spec.grid else (spec.choices if spec.type == "categorical" else None)
            if not values:
                raise UserError(f"{origin}: params.{key}: --sampler grid needs a 'grid' list of values")
            out[key] = list(values)
        return out


def load_space(spec: Path | str) -> SearchSpace:
    """A validated search space (a NAME on the search path, or a PATH.yaml), or a one-line UserError naming the
    file and key."""
    path = find_space(spec)
    try:
        return SearchSpace(**read_yaml(path))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "space"
        msg = err["msg"].replace("Value error, ", "")
        if err["type"] == "extra_forbidden":
            raise UserError(f"{path}: unknown key {key!r}") from exc
        raise UserError(f"{path}: {key}: {msg}") from exc


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Ask the trial for every param of the space; returns {dotted key: value}."""
    out: dict[str, Any] = {}
    for key, spec in space.params.items():
        if spec.type == "categorical":
            out[key] = trial.suggest_categorical(key, spec.choices)
        elif spec.type == "int":
            out[key] = trial.suggest_int(key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
        else:
            out[key] = trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)
    return out


def apply_params(cfg: ExperimentConfig, params: dict[str, Any], origin: str) -> ExperimentConfig:
    """`cfg` with the searched values set; `key.N` entries (e.g. `model.dropout.1`) are gathered into a list."""
    tree = cfg.model_dump(mode="json")
    indexed: dict[str, dict[int, Any]] = {}
    for key, value in params.items():
        parent, _, last = key.rpartition(".")
        if parent and last.isdigit():
            indexed.setdefault(parent, {})[int(last)] = value
        else:
            set_dotted(tree, key, value)
    for parent, items in indexed.items():
        if sorted(items) != list(range(len(items))):
            raise UserError(f"{origin}: {parent}.N keys must be numbered 0..{len(items) - 1}, got {sorted(items)}")
        set_dotted(tree, parent, [items[i] for i in range(len(items))])
    return validate(tree, origin)


def trial_config(cfg: ExperimentConfig, bases: dict[str, ExperimentConfig], params: dict[str, Any],
                 origin: str) -> ExperimentConfig:
    """A trial's config: its searched values set on the experiment, or, when the space searches `model.name`, on
    the experiment as loaded for the chosen model (`bases`), so a model never inherits another's arguments."""
    return apply_params(bases.get(params.get("model.name"), cfg), params, origin)


def check_space(cfg: ExperimentConfig, space: SearchSpace, origin: str,
                bases: dict[str, ExperimentConfig] | None = None) -> None:
    """Fail before any trial runs when a searched key is unknown or a bound gives an invalid config."""
    from genrebench.models import create_model

    lows = {k: s.probe_values()[0] for k, s in space.params.items()}
    for key, spec in space.params.items():
        for value in spec.probe_values():
            where = f"{origin}: params.{key}={value!r}"
            probe = trial_config(cfg, bases or {}, {**lows, key: value}, where)
            if key.startswith("model."):  # the builder, not the schema, knows e.g. that a dropout must be < 1
                try:
                    create_model(probe.model.name, **probe.model_kwargs(2))
                except (UserError, ValueError, TypeError) as exc:
                    raise UserError(f"{where}: {exc}") from exc
