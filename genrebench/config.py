"""The experiment schema: validated sections with defaults that reproduce the seed's recipe.

Loading files (`base:` inheritance, sweeps, `--set`) lives in `genrebench.loader`; this module knows only the
schema and how to turn a validation error into one line naming the key.

Every section forbids unknown keys, so a typo in a YAML file or a ``--set`` override is an error
that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genrebench import metrics
from genrebench.errors import UserError, did_you_mean


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
    # What the model reads (`genrebench.data.frontends`): `mel` chunks, or one vector per chunk from a built-in
    # embedder (`embedding:random_cnn`, `embedding:mel_stats`) or an installed HEAR-API model (`hear:<module>`).
    frontend: str = "mel"

    @property
    def embeds(self) -> bool:
        """Whether chunks become vectors (a front-end other than mel)."""
        return self.frontend != "mel"

    @model_validator(mode="after")
    def _check_ranges(self) -> FeatureConfig:
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")
        if self.fmax is not None and self.fmax <= self.fmin:
            raise ValueError(f"fmax ({self.fmax}) must be greater than fmin ({self.fmin})")
        return self


# The split methods built into `data.splits`; named protocols (`data.protocols`) add to them.
SPLIT_METHODS = ("auto", "stratified", "kfold", "lists", "manifest")


class SplitConfig(Section):
    """How tracks (or groups) are assigned to train/val/test before any chunking."""

    # auto: the manifest's split column when it has one, else a stratified split. Also a named protocol
    # (`genrebench protocols`); the name is checked against that registry at load time, as model names are.
    method: str = "auto"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 42
    folds: int = Field(5, ge=3, le=100)
    fold: int = Field(0, ge=0)
    lists_dir: str | None = None
    # A group (artist) spanning splits of a manifest or split lists is an error unless this is true (then a warning).
    allow_split_groups: bool = False
    # What is assigned to a split. `chunk` deals out chunks at random as the seed did, so windows of one song sit
    # in train and test: inflated numbers, kept only to measure the leak. Such runs are tagged and marked LEAKY.
    unit: Literal["track", "chunk"] = "track"

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        if any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be non-negative and sum to 1, got {list(self.fractions)}")
        if self.fractions[0] <= 0:
            raise ValueError("fractions: the training fraction must be positive")
        if self.fold >= self.folds:
            raise ValueError(f"fold ({self.fold}) must be less than folds ({self.folds})")
        if self.unit == "chunk" and self.method not in ("auto", "stratified"):
            raise ValueError(f"unit 'chunk' deals out chunks at random; it cannot follow method {self.method!r}")
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
    # Twins (one recording twice: a copy, a re-encode, another gain, a shifted excerpt) on both sides of a split
    # let a model recognise the recording instead of the genre. `group` merges them into one group before a
    # split genrebench decides (stratified, kfold); `warn` only lists those a split puts apart; `off` skips the search.
    duplicates: Literal["group", "warn", "off"] = "group"

    @field_validator("duplicates", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` (in a file or `--set data.duplicates=off`) as false.
        return "off" if value is False else value


class ModelConfig(Section):
    """Which registered model, and the builder arguments that ablations and search change."""

    name: str = "vgg_baseline"
    # None keeps the builder's default, so an experiment states only what it changes.
    channels: tuple[int, ...] | None = None
    hidden: tuple[int, ...] | None = None
    dropout: tuple[float, ...] | float | None = None
    # The builder's own arguments (`depth`, `heads` of spec_transformer...): free-form here, checked by the
    # builder when the experiment loads, which names the ones it accepts.
    args: dict[str, Any] = {}

    def overrides(self) -> dict:
        """The builder keyword arguments this config sets (unset fields keep the builder's defaults)."""
        fields = {k: v for k, v in self.model_dump(exclude={"name", "args"}).items() if v is not None}
        return {**fields, **self.args}


class SpecAugmentConfig(Section):
    """SpecAugment's masks (Park et al., Interspeech 2019): how many of each, and their largest width."""

    time_masks: int = Field(0, ge=0, le=100)
    time_width: int = Field(0, ge=0)
    freq_masks: int = Field(0, ge=0, le=100)
    freq_width: int = Field(0, ge=0)


class AugmentConfig(Section):
    """Augmentation of training batches only (validation and test are never augmented); all off by default."""

    # Each training chunk's start drawn anew every epoch anywhere in its track, instead of the fixed windows.
    random_crop: bool = False
    specaugment: SpecAugmentConfig = SpecAugmentConfig()
    # Mixup (Zhang et al., ICLR 2018): mixing weights drawn from Beta(alpha, alpha); 0 turns it off.
    mixup_alpha: float = Field(0.0, ge=0, le=10)
    # A random gain drawn uniformly in [-gain_db, +gain_db] per chunk, added to the log-mel (dB).
    gain_db: float = Field(0.0, ge=0, le=60)


class EvaluateConfig(Section):
    """Robustness evaluation at the end of a run (`genrebench evaluate` does the same for a finished run): its
    test tracks re-scored under audio degradations. Names are checked against the perturbation registry when
    the experiment loads."""

    # A named suite of perturbations (`default`), or None for none.
    suite: str | None = None
    # Further perturbation SPECs (`noise:snr=10`), after the suite's.
    perturb: list[str] = []


def known_metric(value: str, choices: list[str]) -> str:
    """A metric name (old names translated) that must be one of `choices`; a ValueError listing them otherwise."""
    name = metrics.canonical(value)
    if name not in choices:
        raise ValueError(f"unknown metric {value!r}{did_you_mean(value, choices)} (known: {', '.join(choices)})")
    return name


class SelectConfig(Section):
    """Model selection inside one run, as the HEAR and MARBLE probe protocols do it: every point of `grid` (dotted
    keys to lists, their product) is trained and scored on validation only, the best by `metric` is trained again
    as the run, and only it is scored on test. Empty `grid`: no selection, the run trains its config once."""

    grid: dict[str, list[Any]] = {}
    # A final validation metric of the registry, higher or lower better as the registry says.
    metric: str = "val_best_track_acc"

    @field_validator("grid")
    @classmethod
    def _non_empty_lists(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"grid key {key!r} needs at least one value")
            if any(v in values[:i] for i, v in enumerate(values)):
                raise ValueError(f"grid key {key!r} lists a value twice: {values}")
            if key.split(".")[0] in ("select", "data", "features", "evaluate", "name", "description"):
                raise ValueError(f"grid key {key!r}: a grid searches model and train settings only (the data and "
                                 "features stay those of the run)")
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        return known_metric(value, metrics.selection_choices())


class TrainConfig(Section):
    """The seed's optimisation recipe by default (Adam 1e-3, batch 32, 50 epochs), plus honest extras."""

    epochs: int = Field(50, ge=1, le=10000)
    batch_size: int = Field(32, ge=1, le=65536)
    eval_batch_size: int = Field(128, ge=1, le=65536)
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["none", "cosine", "step", "plateau"] = "none"
    # `temperature`: after training, fit one temperature on validation (never test) that divides the logits
    # before the softmax (Guo et al. 2017); reports, the bundle and predict then use the calibrated model.
    calibrate: Literal["none", "temperature"] = "none"
    # Stop when `monitor` has not improved for this many epochs (None: train all epochs).
    early_stopping: int | None = Field(None, ge=1)
    # A directed per-epoch validation metric of the registry; old names (`val_acc`) are translated.
    monitor: str = "val_track_acc"
    seed: int = 0
    device: str = "auto"
    num_workers: int = Field(0, ge=0, le=64)
    # NHWC tensors for the convolutions: measured about 20% faster on this project's CPU and the usual
    # layout for CUDA tensor cores. Off gives the plain NCHW layout.
    channels_last: bool = True
    # torch.compile the model (inductor). Its cost shows as `compile_seconds`: the first training
    # epoch's extra time over the median of the others.
    compile: bool = False

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        # Only the form is checked here, so a typo fails at load time; whether the device exists is the loop's call.
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return value

    @field_validator("monitor")
    @classmethod
    def _known_monitor(cls, value: str) -> str:
        return known_metric(value, metrics.monitor_choices())


class ExperimentConfig(Section):
    """A whole experiment: the resolved result of `base:` inheritance, sweeps and overrides."""

    name: str = "experiment"
    description: str = ""
    model: ModelConfig = ModelConfig()
    features: FeatureConfig = FeatureConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    augment: AugmentConfig = AugmentConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    select: SelectConfig = SelectConfig()

    @model_validator(mode="after")
    def _augment_means_something(self) -> ExperimentConfig:
        # Checked here, when the experiment loads, rather than when training starts after the data is prepared.
        if self.augment.gain_db and self.features.normalization == "per_chunk":
            raise ValueError("augment.gain_db has no effect under features.normalization per_chunk: each chunk's "
                             "z-score removes a constant gain in dB; use per_band, global or none, or gain_db 0")
        if self.augment.random_crop and self.data.split.unit == "chunk":
            raise ValueError("augment.random_crop cannot follow data.split.unit chunk: a crop anywhere in a track "
                             "would reach windows that split put in validation or test")
        if (self.evaluate.suite or self.evaluate.perturb) and self.data.split.unit == "chunk":
            raise ValueError("evaluate cannot follow data.split.unit chunk: a degraded track is cut into chunks "
                             "anew, and those of a chunk split's test tracks were also trained on")
        if self.features.embeds:
            self._check_vector_inputs()
        return self

    def _check_vector_inputs(self) -> None:
        """An embedding front-end gives one stored vector per fixed window: nothing to crop, mask or amplify."""
        aug, spec = self.augment, self.augment.specaugment
        used = [name for name, on in (("augment.random_crop", aug.random_crop), ("augment.gain_db", aug.gain_db),
                                      ("augment.specaugment", spec.time_masks or spec.freq_masks)) if on]
        if used:
            raise ValueError(f"{', '.join(used)} cannot follow features.frontend {self.features.frontend}: an "
                             "embedding is computed once per fixed chunk (augment.mixup_alpha still works)")

    def model_kwargs(self, num_classes: int) -> dict[str, Any]:
        """What `create_model` is called with for this experiment (and what a model bundle stores): the input's
        mel count goes to builders that size layers from it."""
        return {"num_classes": num_classes, "n_mels": self.features.n_mels, **self.model.overrides()}


# ---- validation with one-line errors ---------------------------------------------------------------

# Names people reach for that the schema spells otherwise, by the last part of the key they typed: the
# unknown-key hint offers these before close spellings. A name the schema uses in another section
# (`model.lr`) is found without an entry here.
KEY_SYNONYMS: dict[str, str] = {
    "learning_rate": "train.lr", "lr_rate": "train.lr",
    "batch": "train.batch_size",
    "chunk_length": "features.chunk_seconds", "chunk_len": "features.chunk_seconds",
    "window": "features.chunk_seconds",
    "mels": "features.n_mels", "n_mel": "features.n_mels",
    "epoch": "train.epochs", "num_epochs": "train.epochs",
    "seed": "train.seed",
}

# Pydantic's bound errors, said the way the docs and `--help` say them.
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


class ConfigError(UserError):
    """A value or key the schema refuses, as one line: `origin: key: problem`, or `origin: problem` when the
    origin already names the key (`--epochs`, `--set train.lr`) or the problem does (an unknown key)."""

    def __init__(self, origin: str, key: str, problem: str, loc: tuple = (), unknown_key: bool = False,
                 origin_names_key: bool = False) -> None:
        self.origin, self.key, self.problem, self.loc, self.unknown_key = origin, key, problem, loc, unknown_key
        # A check across sections (located at the whole config) names its keys in the problem itself.
        show_key = not (unknown_key or origin_names_key or key == "config")
        super().__init__(f"{origin}: {key}: {problem}" if show_key else f"{origin}: {problem}")

    def blamed_on(self, origin: str, origin_names_key: bool) -> ConfigError:
        """The same problem with another origin (a command-line flag rather than the file)."""
        return ConfigError(origin, self.key, self.problem, self.loc, self.unknown_key, origin_names_key)


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


def field_path(loc: tuple) -> tuple[str, ...]:
    """The config keys of a validation error's location, without list indices and union branch names."""
    return tuple(str(p) for p in loc if str(p).isidentifier())


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The config section a validation error's location points into (None past a non-section field)."""
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def config_keys(model: type[BaseModel] = ExperimentConfig, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, sections first-class (`train`, `train.lr`, ...)."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(f"{prefix}{name}")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += config_keys(field.annotation, f"{prefix}{name}.")
    return keys


def suggest_keys(key: str) -> list[str]:
    """Up to three keys the user may have meant by the unknown `key`: a synonym or the same name in another
    section, else close spellings in the same section."""
    parts = key.split(".")
    last = parts[-1].lower().replace("-", "_")
    section = _section_at(tuple(parts[:-1]))
    prefix = "".join(f"{p}." for p in parts[:-1])
    siblings = [f"{prefix}{name}" for name in section.model_fields] if section else []
    elsewhere = [k for k in config_keys() if k.rsplit(".", 1)[-1] == last]
    synonym = [KEY_SYNONYMS[last]] if last in KEY_SYNONYMS else []
    # A known meaning beats a near spelling: `train.learning_rate` is `train.lr`, not `train.early_stopping`.
    meant = [k for k in dict.fromkeys([*synonym, *elsewhere]) if k != key]
    return (meant or difflib.get_close_matches(key, siblings, n=3))[:3]


def _unknown_key_hint(key: str, loc: tuple) -> str:
    """Keys the user may have meant, so a typo is fixed without reading the schema; else the section's keys."""
    close = suggest_keys(key)
    if close:
        return f"; did you mean {', '.join(close)}?"
    section = _section_at(loc[:-1])
    if section is None:
        return ""
    prefix = "".join(f"{p}." for p in loc[:-1])
    return f" (known: {', '.join(prefix + name for name in section.model_fields)})"


def _literal_hint(loc: tuple, value: Any) -> str:
    section = _section_at(loc[:-1])
    field = section.model_fields.get(str(loc[-1])) if section else None
    if field is None or get_origin(field.annotation) is not Literal:
        return ""
    return did_you_mean(value, [str(c) for c in get_args(field.annotation)])


def _problem(err: dict) -> str:
    """A pydantic error's message without its boilerplate; ranges as `must be >= 1`."""
    if err["type"] in _BOUNDS and err.get("ctx"):
        limit = next(iter(err["ctx"].values()))
        msg = f"must be {_BOUNDS[err['type']]} {format(limit, 'g') if isinstance(limit, float) else limit}"
    else:
        msg = err["msg"].replace("Value error, ", "")
    hint = _literal_hint(err["loc"], err.get("input")) if err["type"] == "literal_error" else ""
    # A whole section as the input (a check across its keys) is noise: the message names the values.
    got = "" if isinstance(err.get("input"), dict) else f" (got {err.get('input')!r})"
    return f"{msg}{got}{hint}"


def validate(tree: dict, origin: str) -> ExperimentConfig:
    """An ExperimentConfig, or a one-line ConfigError (a UserError) naming `origin` and the offending key."""
    try:
        return ExperimentConfig(**tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        key = ".".join(field_path(loc)) or "config"
        if err["type"] == "extra_forbidden":
            problem = f"unknown key {key!r}{_unknown_key_hint(key, loc)}"
            raise ConfigError(origin, key, problem, loc, unknown_key=True) from exc
        raise ConfigError(origin, key, _problem(err), loc) from exc
    except TypeError as exc:
        raise UserError(f"{origin}: {exc}") from exc


def grid_points(cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """The points of `select.grid` (the product of its lists, in the order written); [] without a grid."""
    import itertools

    keys = list(cfg.select.grid)
    if not keys:
        return []
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(cfg.select.grid[k] for k in keys))]


def at_point(cfg: ExperimentConfig, point: dict[str, Any]) -> ExperimentConfig:
    """`cfg` with one grid point's values set, and without the grid (a point trains once); a value the schema
    refuses is one line naming the grid key."""
    tree = cfg.model_dump(mode="json")
    tree["select"] = {"metric": cfg.select.metric}
    for key, value in point.items():
        set_dotted(tree, key, value)
    return validate(tree, f"select.grid {', '.join(f'{k}={v}' for k, v in point.items())}")
