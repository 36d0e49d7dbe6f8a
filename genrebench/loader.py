"""Finding and loading experiment files: `base:` inheritance, the quick profile, sweeps, `--set` overrides.

Every variant is validated against the schema in `genrebench.config` and its model and normalizer names are
checked against their registries here, at load time, so a typo fails before any data is prepared.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from genrebench.config import ConfigError, ExperimentConfig, at_point, field_path, grid_points, set_dotted, validate
from genrebench.errors import UserError, did_you_mean

# Shipped with the package (found from any working directory); a local folder adds to and overrides them.
SHIPPED_DIR = Path(__file__).resolve().parent / "experiments"
LOCAL_DIR = Path("experiments")
# Folders searched before ./experiments, os.pathsep-separated; `--experiments-dir` puts its folder in front.
EXPERIMENTS_ENV = "GENREBENCH_EXPERIMENTS"
# Search spaces live in this subfolder of each experiments folder.
SPACES_SUBDIR = "search"
SUFFIXES = (".yaml", ".yml")

# The command-line flags that set one config key each (`options` of `load_experiment`): what an error blames.
OPTION_FLAGS = {"data.source": "--data", "train.device": "--device", "data.cache_dir": "--cache-dir",
                "data.strict": "--strict", "data.workers": "--workers", "evaluate.suite": "--evaluate"}

# What `--quick` changes, applied before sweeps and --set so both still win. Chunk length and
# normalization are left alone so the ablations stay meaningful in quick checks. The model is shrunk by
# its own `quick` preset (`genrebench.models.quick_overrides`): what "tiny" means differs per architecture.
QUICK_PROFILE: dict[str, Any] = {
    "features.n_mels": 32,
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


@dataclass(frozen=True)
class Folder:
    """One folder of the search path, and where it came from: `shipped`, `local` or the environment."""

    path: Path
    source: str

    def label(self) -> str:
        notes = [n for n in (self.source if self.source in ("local", "shipped") else "",
                             "" if self.path.is_dir() else "not found") if n]
        return f"{self.path}/" + (f" ({', '.join(notes)})" if notes else "")


@dataclass(frozen=True)
class Found:
    """A file found by name: the first match along the search path, and the files of that name it hides."""

    name: str
    path: Path
    folder: Folder
    hides: tuple[Found, ...] = ()

    def where(self) -> str:
        return "shipped" if self.folder.source == "shipped" else str(self.path)


def search_path(subdir: str = "") -> list[Folder]:
    """Where names resolve, first match wins: $GENREBENCH_EXPERIMENTS (which `--experiments-dir` extends at the
    front), ./experiments, then the shipped set. `subdir` (`search`) gives the search-space folders instead."""
    env = [Path(p) for p in os.environ.get(EXPERIMENTS_ENV, "").split(os.pathsep) if p.strip()]
    folders = [*(Folder(p, f"${EXPERIMENTS_ENV}") for p in env), Folder(LOCAL_DIR, "local"),
               Folder(SHIPPED_DIR, "shipped")]
    seen: set[Path] = set()
    out = []
    for f in folders:  # one folder named twice (./experiments also in the variable) is searched once
        key = f.path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(Folder(f.path / subdir if subdir else f.path, f.source))
    return out


def _files_in(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in SUFFIXES and path.is_file():
                found.setdefault(path.stem, path)
    return found


def catalog(subdir: str = "") -> list[Found]:
    """Every name on the search path (`subdir="search"`: search spaces), sorted, each with the file that wins."""
    entries: dict[str, Found] = {}
    for folder in search_path(subdir):
        for name, path in _files_in(folder.path).items():
            found = Found(name, path, folder)
            first = entries.setdefault(name, found)
            if first is not found:
                entries[name] = replace(first, hides=(*first.hides, found))
    return [entries[name] for name in sorted(entries)]


def _find(spec: str | Path, what: str, subdir: str = "", skip: Path | None = None) -> Path:
    """A path to a YAML file as given, or a name looked up along the search path (`skip`: a file to pass over)."""
    path = Path(spec)
    if path.suffix in SUFFIXES or path.is_file():
        if not path.is_file():
            raise UserError(f"{what} file not found: {path}")
        return path
    folders = search_path(subdir)
    for folder in folders:
        for suffix in SUFFIXES:
            candidate = folder.path / f"{spec}{suffix}"
            if candidate.is_file() and not (skip is not None and candidate.resolve() == skip.resolve()):
                return candidate
    known = [f.name for f in catalog(subdir)]
    hint = did_you_mean(spec, known) or f" (known: {', '.join(known) or 'none'})"
    looked = ", ".join(f.label() for f in folders)
    raise UserError(f"unknown {what} {str(spec)!r}{hint}{' ' if hint.endswith('?') else '. '}Looked in: {looked}")


def find_experiment(spec: str | Path) -> Path:
    """A path to a YAML file, or a name resolved along the search path (see `search_path`)."""
    return _find(spec, "experiment")


def find_space(spec: str | Path) -> Path:
    """A search space: a path to a YAML file, or a name resolved in the `search/` folder of each search path entry."""
    return _find(spec, "search space", SPACES_SUBDIR)


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
    """The file merged over its `base:` chain. A base resolves next to the file, then along the search path; a
    file never resolves to itself, so a local `baseline.yaml` may say `base: baseline` to extend the shipped one."""
    if path.resolve() in _chain:
        raise UserError(f"{path}: circular base: {' -> '.join(p.name for p in (*_chain, path.resolve()))}")
    raw = read_yaml(path)
    base = raw.pop("base", None)
    if base is None:
        return raw
    parent_path = _base_path(path, str(base))
    parent = resolve_file(parent_path, (*_chain, path.resolve()))
    parent.pop("name", None)
    return deep_merge(parent, raw)


def _base_path(path: Path, base: str) -> Path:
    if Path(base).suffix in SUFFIXES:  # a file name: relative to the file that names it
        return _find(path.parent / base, "base")
    for suffix in SUFFIXES:
        sibling = path.parent / f"{base}{suffix}"
        if sibling.is_file() and sibling.resolve() != path.resolve():
            return sibling
    return _find(base, "experiment", skip=path)


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


def check_registered(cfg: ExperimentConfig, where: Callable[[str], str]) -> None:
    """Model, normalizer and split protocol names must be registered: checked at load time, so a typo fails before
    any data is prepared rather than after minutes of feature extraction. `where(key)` names who set the key."""
    from genrebench.data.features import list_normalizers
    from genrebench.data.protocols import check_split_method
    from genrebench.models import list_models  # imports torch, which every command that trains needs anyway

    for key, what, value, known, listing in (
            ("model.name", "model", cfg.model.name, list_models(), "run 'genrebench models' to list them"),
            ("features.normalization", "normalizer", cfg.features.normalization, list_normalizers(),
             f"known: {', '.join(list_normalizers())}")):
        if value not in known:
            raise UserError(f"{where(key)}: unknown {what} {value!r}{did_you_mean(value, known)} ({listing})")
    check_split_method(cfg.data.split.method, where("data.split.method"))
    check_frontend_and_model(cfg, where)
    check_model_arguments(cfg, where)
    for point in grid_points(cfg):  # a grid may change the model: each point must build and read the front-end
        chosen = at_point(cfg, point)
        check_frontend_and_model(chosen, lambda key: where("select.grid"))
        check_model_arguments(chosen, lambda key: where("select.grid"))
    check_perturbations(cfg, where)


def check_frontend_and_model(cfg: ExperimentConfig, where: Callable[[str], str]) -> None:
    """The front-end must parse and exist (a HEAR module found, not yet loaded), and the model must read what it
    gives: only probes take one vector per chunk."""
    from genrebench.data.frontends import check_frontend
    from genrebench.models import list_models, reads_vectors

    try:
        check_frontend(cfg.features.frontend)
    except UserError as exc:
        # `--set features.frontend: 'hear:x': no module named 'x'`, not the key twice.
        raise UserError(f"{where('features.frontend')}: {str(exc).removeprefix('features.frontend ')}") from None
    if cfg.features.embeds and not reads_vectors(cfg.model.name):
        probes = ", ".join(n for n in list_models() if reads_vectors(n))
        raise UserError(f"{where('model.name')}: model {cfg.model.name!r} reads mel chunks, but features.frontend "
                        f"{cfg.features.frontend} gives one vector per chunk; use a probe ({probes}) or "
                        "features.frontend mel")


def check_perturbations(cfg: ExperimentConfig, where: Callable[[str], str]) -> None:
    """The robustness suite and SPECs of `evaluate:` must parse, so a typo fails before any training."""
    from genrebench.data.perturb import parse_specs

    for key, specs, suite in (("evaluate.suite", (), cfg.evaluate.suite),
                              ("evaluate.perturb", cfg.evaluate.perturb, None)):
        try:
            parse_specs(specs, suite)
        except UserError as exc:
            raise UserError(f"{where(key)}: {exc}") from None


def check_model_arguments(cfg: ExperimentConfig, where: Callable[[str], str]) -> None:
    """Build the model once on the meta device (no memory, no compute), so an argument the builder refuses
    (`model.args.depht`, a dropout of 1.5) fails at load time with the builder's own message."""
    import torch

    from genrebench.models import create_model

    try:
        with torch.device("meta"):
            create_model(cfg.model.name, **cfg.model_kwargs(2))
    except UserError as exc:
        # The builder's message starts with `model 'NAME':`; the origin says which file or flag set it.
        raise UserError(f"{where('model').removesuffix(': model')}: {exc}") from None


@dataclass(frozen=True)
class Override:
    """One value set on the command line, and the flag that set it (what an error about the key blames)."""

    key: str
    value: Any
    flag: str

    def origin(self, unknown_key: bool = False) -> str:
        # `--set train.lr: must be > 0`, but `--set: unknown key 'train.lrr'` (the problem names the key).
        return f"--set {self.key}" if self.flag == "--set" and not unknown_key else self.flag


def command_line_overrides(options: dict[str, Any] | None, sets: list[str] | tuple[str, ...],
                           epochs: int | None) -> list[Override]:
    """The flags' overrides in the order they apply (last wins): options, then `--set`, then `--epochs`."""
    out = [Override(k, v, OPTION_FLAGS.get(k, f"option {k}")) for k, v in (options or {}).items()]
    out += [Override(k, v, "--set") for k, v in parse_sets(sets).items()]
    if epochs is not None:
        out.append(Override("train.epochs", epochs, "--epochs"))
    return out


def _culprit(overrides: list[Override], loc: tuple) -> Override | None:
    """The last flag whose key can be what broke the value at `loc`: one key is a prefix of the other (a section
    check such as `hop_length <= n_fft` is located at the section, `features`)."""
    where = tuple(str(p) for p in loc)
    for o in reversed(overrides):
        parts = tuple(o.key.split("."))
        n = min(len(parts), len(where))
        if n and parts[:n] == where[:n]:
            return o
    return None


def _names(o: Override, loc: tuple) -> bool:
    """Whether the flag itself names the key at `loc` (`--epochs` for train.epochs, `--set model.channels` for
    model.channels.0), so the message need not repeat it."""
    return field_path(loc) == tuple(o.key.split("."))


def _where(key: str, path: Path, overrides: list[Override]) -> str:
    """What a problem with `key` is blamed on, key included: `--set model.name`, `--device`, or `PATH: key`."""
    o = _culprit(overrides, tuple(key.split(".")))
    if o is None:
        return f"{path}: {key}"
    return o.origin() if _names(o, tuple(key.split("."))) else f"{o.origin()}: {key}"


def _validate_variant(tree: dict, overrides: list[Override], path: Path) -> ExperimentConfig:
    """The variant with the flags applied, validated; an error blames the flag that set the bad value, and
    the file when the file alone is already wrong."""
    full = copy.deepcopy(tree)
    for o in overrides:
        set_dotted(full, o.key, copy.deepcopy(o.value))
    try:
        return validate(full, str(path))
    except ConfigError as exc:
        if not overrides:
            raise
        validate(tree, str(path))  # raises when the problem is the file's own
        # A check across sections is located at the whole config; its message names the keys it read.
        o = _culprit(overrides, exc.loc) if exc.loc else next(
            (x for x in reversed(overrides) if x.key in exc.problem), None)
        if o is None:  # not traceable to one flag: name them all
            raise exc.blamed_on(f"{path} with {', '.join(x.origin() for x in overrides)}", False) from None
        raise exc.blamed_on(o.origin(exc.unknown_key), _names(o, exc.loc)) from None


def _sweep_grid(sweep: Any, origin: str) -> list[dict[str, Any]]:
    """The sweep's points: a mapping of dotted keys to lists is their grid; a list of mappings is taken as it is
    (variants that differ in several keys at once, such as a model and the input its paper used)."""
    if not sweep:
        return [{}]
    if isinstance(sweep, list):
        return _sweep_points(sweep, origin)
    if not isinstance(sweep, dict) or not all(isinstance(v, list) and v for v in sweep.values()):
        raise UserError(f"{origin}: sweep must map dotted keys to non-empty lists, e.g. features.n_mels: [64, 128], "
                        f"or list variants, e.g. - {{model.name: crnn, features.n_mels: 96}}")
    keys = list(sweep)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(sweep[k] for k in keys))]


def _sweep_points(points: list, origin: str) -> list[dict[str, Any]]:
    """A list-form sweep: every entry a non-empty mapping of dotted keys, no two entries alike."""
    for i, point in enumerate(points):
        if not isinstance(point, dict) or not point or not all(isinstance(k, str) for k in point):
            raise UserError(f"{origin}: sweep entry {i + 1} must map dotted keys to values, "
                            f"e.g. - {{model.name: crnn, features.n_mels: 96}}; got {point!r}")
    names = [_variant_name("", p) for p in points]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"{origin}: sweep lists the variant {twice[0]} twice")
    return [dict(p) for p in points]


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


def _as_run(swept: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """The sweep point with the values the variant really runs with: a flag that overrides a swept key
    (`--set features.chunk_seconds=3` on the zoo) must not leave the old value in the variant's name and tags.
    The flag's value is taken as typed (`3`, not the schema's `3.0`), as the file's are."""
    flagged = _flag_values(overrides)
    return {k: flagged.get(k, v) for k, v in swept.items()}


def _flag_values(overrides: list[Override]) -> dict[str, Any]:
    """Each key a flag sets, with the value of the last flag that sets it (the one the config ends up with)."""
    return {o.key: o.value for o in overrides}


def _quick_model(tree: dict, swept: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """The `--quick` preset of the model this variant ends up with (a sweep or `--set model.name` may choose it),
    as dotted `model.*` keys."""
    from genrebench.models import quick_overrides

    name = _flag_values(overrides).get("model.name", swept.get("model.name", _get_dotted(tree, "model.name")))
    name = name if isinstance(name, str) else ExperimentConfig().model.name
    return {f"model.{key}": value for key, value in quick_overrides(name).items()}


def _own_quick(quick: Any, origin: str) -> dict[str, Any]:
    """A file's `quick:` mapping (dotted keys to values): what `--quick` means for it beyond the shared profile and
    the model's preset (a probe trains in milliseconds an epoch, so its quick run can afford more epochs)."""
    if quick is None:
        return {}
    if not isinstance(quick, dict) or not all(isinstance(k, str) for k in quick):
        raise UserError(f"{origin}: quick must map dotted keys to values, e.g. quick: {{train.epochs: 30}}")
    return quick


def load_experiment(spec: str | Path, sets: list[str] | tuple[str, ...] = (), quick: bool = False,
                    epochs: int | None = None, options: dict[str, Any] | None = None) -> list[Variant]:
    """Every variant of an experiment: base chain -> quick profile (the shared one, the model's, the file's own
    `quick:`) -> sweep values -> options -> --set -> --epochs.

    `options` are typed overrides from CLI flags, by config key (`{"data.source": ...}` from `--data`); `sets` are
    `key=value` strings. A bad value is blamed on the flag that set it, or on the file.
    """
    path = find_experiment(spec)
    tree = resolve_file(path)
    tree.setdefault("name", path.stem)
    sweep = tree.pop("sweep", None)
    own_quick = _own_quick(tree.pop("quick", None), str(path))
    overrides = command_line_overrides(options, sets, epochs)
    variants = []
    for swept in _sweep_grid(sweep, str(path)):
        variant = copy.deepcopy(tree)
        for layer in (QUICK_PROFILE if quick else {}, _quick_model(variant, swept, overrides) if quick else {},
                      own_quick if quick else {}, swept):
            for key, value in layer.items():
                set_dotted(variant, key, copy.deepcopy(value))
        cfg = _validate_variant(variant, overrides, path)
        check_registered(cfg, lambda key: _where(key, path, overrides))
        ran = _as_run(swept, overrides)
        variants.append(Variant(experiment=cfg.name, name=_variant_name(cfg.name, ran), config=cfg, swept=ran,
                                is_base=_is_base(tree, swept)))
    return _distinct(variants)


def _distinct(variants: list[Variant]) -> list[Variant]:
    """Each variant once: a flag that sets a swept key (`--set features.frontend=...` on a sweep over front-ends)
    makes those sweep points one variant, with one name, which would otherwise train twice as two 'seeds'."""
    kept: list[Variant] = []
    for v in variants:
        if not any(k.name == v.name and k.config == v.config for k in kept):
            kept.append(v)
    return kept


@dataclass(frozen=True)
class RunOptions:
    """What the CLI adds on top of the experiment file; every field maps to one config key."""

    data: str | None = None
    device: str | None = None
    cache_dir: str | None = None
    strict: bool = False
    workers: int | None = None
    evaluate: str | None = None

    def sets(self) -> dict[str, object]:
        pairs = {"data.source": self.data, "train.device": self.device, "data.cache_dir": self.cache_dir,
                 "data.strict": True if self.strict else None, "data.workers": self.workers,
                 "evaluate.suite": self.evaluate}
        return {k: v for k, v in pairs.items() if v is not None}

    def apply(self, tree: dict, where: str) -> ExperimentConfig:
        """A stored config tree (a checkpoint's, a fold set's, a model bundle's) validated with these options:
        where the data and cache live and how to compute (device, workers), which a resumed or re-scored run may
        change."""
        for key, value in self.sets().items():
            tree = set_dotted(tree, key, value)
        return validate(tree, where)


def load_variants(spec: str, sets: list[str], quick: bool, epochs: int | None, opts: RunOptions) -> list[Variant]:
    """The experiment's variants with CLI options applied (the user's own --set still wins)."""
    return load_experiment(spec, sets=sets, quick=quick, epochs=epochs, options=opts.sets())
