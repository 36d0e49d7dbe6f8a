"""What a written set records about itself, and the checks that keep `data synth` from overwriting by surprise.

The manifest `.genrebench-synth.json` in the output folder holds the settings and the files the set is made of.
It is written before the first track, so an interrupted write is still recognised as synth's own. The rules:

- an empty or new folder, or one holding a set with the same settings, is written (idempotent);
- a folder with a set of other settings, or with files synth did not write, is refused unless `force`;
- with `force`, the old set's files that the new settings do not produce are deleted, and files synth did not
  write are never deleted or overwritten: one standing where a new track goes is refused even then.

Hidden files (dot names: the manifest, temp files, `.DS_Store`, markers of the callers) are not counted.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from genrebench.errors import UserError

MANIFEST = ".genrebench-synth.json"
# Settings keys as the command line names them, for messages that say what differs.
OPTIONS = {"genres": "--genres", "tracks_per_genre": "--tracks-per-genre", "seconds": "--seconds",
           "seed": "--seed", "sr": "--sample-rate"}
_SHOWN = 3  # example file names in a refusal


def read_manifest(root: Path) -> dict | None:
    """The manifest of `root`, or None when there is none or it is not one synth wrote (then its files
    count as not synth's, which is the safe reading)."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        return None
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) and _inside(f) for f in files):
        return None
    return data


def _inside(rel: str) -> bool:
    """A relative path that stays in the folder: a hand-edited manifest must not make --force delete elsewhere."""
    p = PurePosixPath(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts


def write_manifest(root: Path, settings: dict, files: list[str]) -> None:
    """Record `settings` and `files` in `root` (created), atomically."""
    path = root / MANIFEST
    tmp = path.with_name(f"{MANIFEST}.{os.getpid()}.tmp")
    body = {"written_by": "genrebench data synth", "settings": settings, "files": files}
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # no half-written manifest left behind, where there can be one
            tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _visible_files(root: Path) -> Iterator[str]:
    """The non-hidden files under `root` (POSIX paths relative to it), lazily: a mistaken `--out ~` is
    refused after its first file, not after walking the whole tree."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in names if not n.startswith(".")):
            yield (Path(folder) / name).relative_to(root).as_posix()


def _examples(names: list[str], total: int | None = None) -> str:
    more = f" and {total - _SHOWN} more" if total is not None and total > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _differences(old: dict, new: dict) -> str:
    return "; ".join(f"{OPTIONS.get(k, k)} {old.get(k)!r} there, {new[k]!r} now"
                     for k in new if old.get(k) != new[k])


def check_target(root: Path, settings: dict, files: list[str], force: bool) -> list[str]:
    """Refuse (UserError naming `root`) what would overwrite by surprise; returns the old set's files to delete.

    Args:
        root: The output folder.
        settings: The new set's settings (keys of OPTIONS).
        files: The new set's files, relative POSIX paths.
        force: Replace a set of other settings; write beside files synth did not write.
    """
    if root.exists() and not root.is_dir():
        raise UserError(f"--out {root} is a file, not a folder")
    manifest = read_manifest(root)
    owned = set(manifest["files"]) if manifest else set()
    if (manifest is not None and manifest["settings"] == settings) or next(_visible_files(root), None) is None:
        return []  # the same set again, or nothing there to overwrite or mix with
    if not force:
        if manifest is not None:
            differ = _differences(manifest["settings"], settings)
            raise UserError(f"{root} holds a synthetic set with other settings ({differ}): pass --force to replace "
                            "it, or choose another --out")
        shown = list(itertools.islice(_visible_files(root), _SHOWN))  # no manifest: none of them is synth's
        raise UserError(f"{root} is not empty and holds files genrebench data synth did not write (e.g. "
                        f"{_examples(shown)}): choose an empty or new --out, or pass --force to write beside them")
    clash = [f for f in files if f not in owned and (root / f).exists()]
    if clash:
        raise UserError(f"{root}: {len(clash)} file(s) that genrebench data synth did not write stand where the new "
                        f"set goes ({_examples(clash, len(clash))}); --force never overwrites those: move them or "
                        "choose another --out")
    return sorted(owned - set(files))


def remove_stale(root: Path, stale: list[str]) -> None:
    """Delete the old set's files the new one does not produce, then the genre folders left empty."""
    folders = set()
    for rel in stale:
        path = root / rel
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise UserError(f"cannot delete {path} of the previous set: {exc.strerror or exc}") from exc
        folders.add(path.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
