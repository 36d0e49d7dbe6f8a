"""Finding and loading experiment files: `base:` inheritance, the quick profile, sweeps, `--set` overrides.

Every variant is validated against the schema in `genrebench.config` and its model and normalizer names are
checked against their registries here, at load time, so a typo fails before any data is prepared.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genrebench.config import ExperimentConfig, set_dotted, validate
from genrebench.errors import UserError, did_you_mean

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
    hint = did_you_mean(spec, known) or f" (known: {', '.join(known) or 'none'})"
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
            raise UserError(f"{origin}: {key}: unknown {what} {value!r}{did_you_mean(value, known)} ({listing})")


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
