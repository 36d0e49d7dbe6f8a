"""The experiment schema: validated sections with defaults that reproduce the seed's recipe.

Every section forbids unknown keys, so a typo in a YAML file or a ``--set`` override is an error
that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

import copy
import difflib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genrebench.errors import UserError


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AudioConfig(Section):
    """How audio is decoded and which files count as usable."""

    sample_rate: int = Field(22050, ge=1000, le=192000)
    # Clips shorter than one window but at least this long are padded; shorter ones are reported.
    min_seconds: float = Field(3.0, gt=0)
    # A file whose RMS level is below this (dBFS) is reported as silent rather than trained on.
    silence_db: float = Field(-60.0, le=0)


class FeatureConfig(Section):
    """Chunking and log-mel parameters (the seed's: 10 s windows, 50% overlap, 128 mels)."""

    chunk_seconds: float = Field(10.0, gt=0, le=600)
    overlap: float = Field(0.5, ge=0, lt=1)
    n_mels: int = Field(128, ge=4, le=512)
    n_fft: int = Field(2048, ge=64, le=16384)
    hop_length: int = Field(512, ge=16, le=8192)
    fmin: float = Field(0.0, ge=0)
    fmax: float | None = Field(None, gt=0)
    normalization: str = "per_chunk"

    @model_validator(mode="after")
    def _check_ranges(self) -> FeatureConfig:
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")
        if self.fmax is not None and self.fmax <= self.fmin:
            raise ValueError(f"fmax ({self.fmax}) must be greater than fmin ({self.fmin})")
        return self


class SplitConfig(Section):
    """How tracks (or groups) are assigned to train/val/test before any chunking."""

    # auto: the manifest's split column when it has one, else a stratified split.
    method: Literal["auto", "stratified", "kfold", "lists", "manifest"] = "auto"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 42
    folds: int = Field(5, ge=3, le=100)
    fold: int = Field(0, ge=0)
    lists_dir: str | None = None

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        if any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be non-negative and sum to 1, got {list(self.fractions)}")
        if self.fractions[0] <= 0:
            raise ValueError("fractions: the training fraction must be positive")
        if self.fold >= self.folds:
            raise ValueError(f"fold ({self.fold}) must be less than folds ({self.folds})")
        if self.method == "lists" and not self.lists_dir:
            raise ValueError("method 'lists' needs lists_dir (a folder with train.txt, valid.txt, test.txt)")
        return self


class SynthConfig(Section):
    """Size of the built-in synthetic dataset used when no data folder is given."""

    genres: int = Field(10, ge=2, le=10)
    tracks_per_genre: int = Field(20, ge=1)
    seconds: float = Field(30.0, gt=0)
    seed: int = 0


class DataConfig(Section):
    """Where tracks come from and how they are prepared."""

    # A folder (root/<label>/*.wav), a manifest CSV, or "synthetic" for the built-in set.
    source: str = "synthetic"
    synthetic: SynthConfig = SynthConfig()
    audio: AudioConfig = AudioConfig()
    split: SplitConfig = SplitConfig()
    cache_dir: str | None = None
    # 0 = one worker per CPU core.
    workers: int = Field(0, ge=0, le=256)
    strict: bool = False


class ModelConfig(Section):
    """Which registered model, and the builder arguments that ablations and search change."""

    name: str = "vgg_baseline"
    # None keeps the builder's default, so an experiment states only what it changes.
    channels: tuple[int, ...] | None = None
    hidden: tuple[int, ...] | None = None
    dropout: tuple[float, ...] | float | None = None

    def overrides(self) -> dict:
        return {k: v for k, v in self.model_dump(exclude={"name"}).items() if v is not None}


class TrainConfig(Section):
    """The seed's optimisation recipe by default (Adam 1e-3, batch 32, 50 epochs), plus honest extras."""

    epochs: int = Field(50, ge=1, le=10000)
    batch_size: int = Field(32, ge=1, le=65536)
    eval_batch_size: int = Field(128, ge=1, le=65536)
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["none", "cosine", "step", "plateau"] = "none"
    # Stop when `monitor` has not improved for this many epochs (None: train all epochs).
    early_stopping: int | None = Field(None, ge=1)
    monitor: Literal["val_track_acc", "val_acc", "val_loss", "val_macro_f1"] = "val_track_acc"
    seed: int = 0
    device: str = "auto"
    num_workers: int = Field(0, ge=0, le=64)
    # NHWC tensors for the convolutions: measured about 20% faster on this project's CPU and the usual
    # layout for CUDA tensor cores. Off gives the plain NCHW layout.
    channels_last: bool = True
    # torch.compile the model (inductor). Its cost shows as `compile_seconds`: the first training
    # epoch's extra time over the median of the others.
    compile: bool = False


class ExperimentConfig(Section):
    """A whole experiment: the resolved result of `base:` inheritance, sweeps and overrides."""

    name: str = "experiment"
    description: str = ""
    model: ModelConfig = ModelConfig()
    features: FeatureConfig = FeatureConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()


# ---- loading: base inheritance, quick profile, sweeps, --set --------------------------------------

EXPERIMENTS_DIR = Path("experiments")

# What `--quick` changes, applied before sweeps and --set so both still win. Chunk length and
# normalization are left alone so the ablations stay meaningful in quick checks.
QUICK_PROFILE: dict[str, Any] = {
    "features.n_mels": 32,
    "model.channels": [8, 16, 32],
    "model.hidden": [32, 16],
    "train.epochs": 2,
    "data.synthetic.tracks_per_genre": 8,
    "data.synthetic.seconds": 12,
}


@dataclass(frozen=True)
class Variant:
    """One configuration of an experiment file (a file without `sweep:` has exactly one)."""

    experiment: str
    name: str
    config: ExperimentConfig
    swept: dict[str, Any]
    # True when every swept value equals the value the file has without the sweep: the ablation's reference.
    is_base: bool = True


def find_experiment(spec: str | Path, search_dir: Path | None = None) -> Path:
    """A path to a YAML file, or a name resolved to `<experiments dir>/<name>.yaml`."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise UserError(f"experiment file not found: {path}")
        return path
    folder = search_dir or EXPERIMENTS_DIR
    for candidate in (folder / f"{spec}.yaml", folder / f"{spec}.yml"):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []
    close = difflib.get_close_matches(str(spec), known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(known) or 'none'})"
    raise UserError(f"unknown experiment {str(spec)!r} in {folder}/{hint}")


def read_yaml(path: Path) -> dict:
    """A YAML mapping read with safe_load; anything else is a one-line error naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: an experiment file must be a mapping of keys, got {type(data).__name__}")
    return data


def deep_merge(base: dict, diff: dict) -> dict:
    """`diff` laid over `base`: nested mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in diff.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_file(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The file merged over its `base:` chain (bases resolve next to the file, then in experiments/)."""
    if path.resolve() in _chain:
        raise UserError(f"{path}: circular base: {' -> '.join(p.name for p in (*_chain, path.resolve()))}")
    raw = read_yaml(path)
    base = raw.pop("base", None)
    if base is None:
        return raw
    sibling = path.parent / f"{base}.yaml"
    parent_path = sibling if sibling.is_file() else find_experiment(base)
    parent = resolve_file(parent_path, (*_chain, path.resolve()))
    parent.pop("name", None)
    return deep_merge(parent, raw)


def set_dotted(tree: dict, key: str, value: Any) -> dict:
    """Set `a.b.c` in a nested dict, creating levels as needed (validation later rejects unknown keys)."""
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return tree


def parse_sets(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--set key=value` strings to {key: value}; values are YAML scalars or lists (`[8, 16]`)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects dotted.key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise UserError(f"--set {key}: cannot parse value {raw!r}") from exc
    return out


def _did_you_mean(value: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(value), choices, n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The config section a validation error's location points into (None past a non-section field)."""
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _unknown_key_hint(loc: tuple) -> str:
    """Close matches among the keys the section does have, so a typo is fixed without reading the schema."""
    section = _section_at(loc[:-1])
    if section is None:
        return ""
    prefix = "".join(f"{p}." for p in loc[:-1])
    known = [f"{prefix}{name}" for name in section.model_fields]
    return _did_you_mean(f"{prefix}{loc[-1]}", known) or f" (known: {', '.join(known)})"


def _literal_hint(loc: tuple, value: Any) -> str:
    section = _section_at(loc[:-1])
    field = section.model_fields.get(str(loc[-1])) if section else None
    if field is None or get_origin(field.annotation) is not Literal:
        return ""
    return _did_you_mean(value, [str(c) for c in get_args(field.annotation)])


def validate(tree: dict, origin: str) -> ExperimentConfig:
    """An ExperimentConfig, or a one-line UserError naming the offending key and value."""
    try:
        return ExperimentConfig(**tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"] if not str(p).isdigit() or len(err["loc"]) == 1) or "config"
        msg = err["msg"].replace("Value error, ", "")
        if err["type"] == "extra_forbidden":
            raise UserError(f"{origin}: unknown key {key!r}{_unknown_key_hint(err['loc'])}") from exc
        hint = _literal_hint(err["loc"], err.get("input")) if err["type"] == "literal_error" else ""
        raise UserError(f"{origin}: {key}: {msg} (got {err.get('input')!r}){hint}") from exc
    except TypeError as exc:
        raise UserError(f"{origin}: {exc}") from exc


def check_registered(cfg: ExperimentConfig, origin: str) -> None:
    """Model and normalizer names must be registered: checked at load time, so a typo fails before any data
    is prepared rather than after minutes of feature extraction."""
    from genrebench.data.features import list_normalizers
    from genrebench.models import list_models  # imports torch, which every command that trains needs anyway

    for key, what, value, known, listing in (
            ("model.name", "model", cfg.model.name, list_models(), "run 'genrebench models' to list them"),
            ("features.normalization", "normalizer", cfg.features.normalization, list_normalizers(),
             f"known: {', '.join(list_normalizers())}")):
        if value not in known:
            raise UserError(f"{origin}: {key}: unknown {what} {value!r}{_did_you_mean(value, known)} ({listing})")


def _sweep_grid(sweep: Any, origin: str) -> list[dict[str, Any]]:
    if not sweep:
        return [{}]
    if not isinstance(sweep, dict) or not all(isinstance(v, list) and v for v in sweep.values()):
        raise UserError(f"{origin}: sweep must map dotted keys to non-empty lists, e.g. features.n_mels: [64, 128]")
    keys = list(sweep)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(sweep[k] for k in keys))]


def _get_dotted(tree: dict, key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _is_base(tree: dict, swept: dict[str, Any]) -> bool:
    """Whether a sweep point is the file's own value for every swept key (schema default when unset)."""
    defaults = ExperimentConfig().model_dump(mode="json")
    for key, value in swept.items():
        base = _get_dotted(tree, key)
        base = _get_dotted(defaults, key) if base is None else base
        if base != value:
            return False
    return True


def _variant_name(experiment: str, swept: dict[str, Any]) -> str:
    if not swept:
        return experiment
    return ",".join(f"{k.split('.')[-1]}={v}" for k, v in swept.items())


def load_experiment(spec: str | Path, sets: list[str] | tuple[str, ...] = (), quick: bool = False,
                    epochs: int | None = None, search_dir: Path | None = None,
                    options: dict[str, Any] | None = None) -> list[Variant]:
    """Every variant of an experiment: base chain -> quick profile -> sweep values -> options -> --set -> --epochs.

    `options` are typed overrides from CLI flags (`--data`, `--device`, ...); `sets` are `key=value` strings.
    """
    path = find_experiment(spec, search_dir)
    tree = resolve_file(path)
    tree.setdefault("name", path.stem)
    sweep = tree.pop("sweep", None)
    overrides = {**(options or {}), **parse_sets(sets)}
    if epochs is not None:
        overrides["train.epochs"] = epochs
    variants = []
    for swept in _sweep_grid(sweep, str(path)):
        variant = copy.deepcopy(tree)
        for layer in (QUICK_PROFILE if quick else {}, swept, overrides):
            for key, value in layer.items():
                set_dotted(variant, key, copy.deepcopy(value))
        cfg = validate(variant, str(path))
        check_registered(cfg, str(path))
        variants.append(Variant(experiment=cfg.name, name=_variant_name(cfg.name, swept), config=cfg, swept=swept,
                                is_base=_is_base(tree, swept)))
    return variants
