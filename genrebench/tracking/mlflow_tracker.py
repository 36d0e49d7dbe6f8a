"""MLflow behind the `Tracker` protocol: runs, params, per-epoch metrics, artifacts, dataset and model.

Everything goes through an explicit `MlflowClient` bound to one tracking URI, so several trackers (and
an Optuna study's parent and child runs) can coexist without the fluent API's global state. The one
exception is `mlflow.pytorch.log_model`, which resolves its store from the global tracking URI; it is
pointed at this tracker's URI only for that call.

Stores: `sqlite:///<abs>/mlruns/mlflow.db` with artifacts in `mlruns/artifacts/` by default. MLflow 3
refuses the old `./mlruns` file store, so a plain folder is never used as a store.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import mlflow
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, LoggedModelOutput, LoggedModelStatus, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID

from genrebench import __version__
from genrebench.data.prepare import PreparedData
from genrebench.errors import UserError
from genrebench.locks import file_lock
from genrebench.store_urls import (
    HOSTED_SCHEMES,
    MLFLOW_DATABASE_SCHEMES,
    SERVER_SCHEMES,
    check_store_url,
    ensure_db_folder,
)
from genrebench.tracking.artifacts import write_artifacts
from genrebench.tracking.liveness import owner_tags, reap_stale_runs
from genrebench.train.checkpoint import CHECKPOINT_ARTIFACT, load_checkpoint, save_checkpoint
from genrebench.train.result import Result

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_STORE = Path("mlruns") / "mlflow.db"
END_STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow's log_batch limits: 100 params, 100 tags, 1000 metrics per request; params hold 6000 characters.
PARAMS_PER_BATCH = 100
TAGS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
MAX_PARAM_LENGTH = 6000
TRACKING_SCHEMES = MLFLOW_DATABASE_SCHEMES | SERVER_SCHEMES | HOSTED_SCHEMES
_SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "token", "secret", "key", "credential")


# ---- URIs ----------------------------------------------------------------------------------------

def redact_uri(uri: str) -> str:
    """`uri` safe to show or log: the password of `user:password@host` and secret query values become `***`."""
    parts = urlsplit(uri)
    out = uri
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        user, sep, _ = userinfo.partition(":")
        # A lone userinfo can itself be a token (https://TOKEN@host), so it is hidden too.
        out = out.replace(parts.netloc, f"{user}:***@{host}" if sep else f"***@{host}", 1)
    if parts.query:
        # Raw pairs, not parse_qsl: a decoded value would no longer match its %-encoded form in the URI.
        pairs = [p.partition("=") for p in parts.query.split("&")]
        hidden = "&".join(f"{k}{sep}***" if v and any(s in k.lower() for s in _SECRET_QUERY_KEYS) else f"{k}{sep}{v}"
                          for k, sep, v in pairs)
        out = out.replace(f"?{parts.query}", f"?{hidden}", 1)
    return out


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative paths resolve from the cwd, as SQLAlchemy does)."""
    if not uri.startswith("sqlite://"):
        return None
    rest = uri[len("sqlite://"):].split("?", 1)[0]
    path = rest[1:] if rest.startswith("/") else rest
    if not path or path == ":memory:":
        return None
    return Path(path).resolve()


def resolve_tracking_uri(uri: str | None = None) -> str:
    """`uri`, else `MLFLOW_TRACKING_URI`, else `sqlite:///<abs>/mlruns/mlflow.db`; a sqlite store's folder
    is created. A plain `.db` path becomes a sqlite URI; a plain folder (the old file store) is refused."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_STORE.resolve()}"
    scheme = urlsplit(uri).scheme
    if not scheme or scheme == "file" or len(scheme) == 1:  # one letter: a Windows drive, still a path
        local = Path(uri.removeprefix("file://"))
        if local.suffix not in (".db", ".sqlite", ".sqlite3"):
            raise UserError(f"tracking uri {redact_uri(uri)!r} is a folder (the old file store, which MLflow 3 "
                            f"refuses); use sqlite:///{DEFAULT_STORE} or http://host:port")
        uri = f"sqlite:///{local.resolve()}"
    check_store_url(uri, "tracking uri", TRACKING_SCHEMES, f"sqlite:///{DEFAULT_STORE}, http://host:port or "
                    "postgresql://user@host/db")
    db = sqlite_path(uri)
    if db is not None:
        ensure_db_folder(db, "tracking store", "pass --tracking-uri or set MLFLOW_TRACKING_URI")
    return uri


def default_artifact_root(uri: str) -> str | None:
    """`<folder of the .db>/artifacts` as a file:// URI for a sqlite store; None lets a server decide."""
    db = sqlite_path(uri)
    return (db.parent / "artifacts").as_uri() if db is not None else None


# ---- small helpers -------------------------------------------------------------------------------

def flatten(d: Mapping, prefix: str = "") -> dict[str, str]:
    """Nested mappings as dotted keys with string values (`{"a": {"b": [1, 2]}}` -> `{"a.b": "[1, 2]"}`)."""
    out: dict[str, str] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_commit() -> str:
    """HEAD of the repository around the cwd, or "unknown" outside a repository (or before a first commit)."""
    return _git("rev-parse", "HEAD") or "unknown"


def result_tags(result: Result, prepared: PreparedData) -> dict[str, str]:
    """Tags that let a run describe itself: code version, data fingerprint and where it ran."""
    commit = git_commit()
    tags = {"genrebench.version": __version__, "git.commit": commit, "dataset.fingerprint": prepared.fingerprint,
            "device": result.device}
    if commit != "unknown":
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        tags["git.dirty"] = str(bool(dirty)).lower()
        tags[MLFLOW_GIT_COMMIT] = commit  # the MLflow UI shows this one on the run page
    return tags


@contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """Point mlflow's global tracking URI at `uri` for one call, then restore exactly what was there."""
    try:
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri
    except ImportError:  # the private helper moved: set and restore by hand
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous)
        return
    with _use_tracking_uri(uri):
        yield


def _pip_requirements() -> list[str]:
    """Pinned by hand: MLflow's own inference imports the model in a subprocess and takes seconds."""
    import torch

    return [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]


def splits_frame(prepared: PreparedData) -> pd.DataFrame:
    """The usable tracks as a DataFrame (path relative to the dataset root, label, split)."""
    import pandas as pd

    return pd.DataFrame({"path": [prepared.tracklist.relpath(t) for t in prepared.tracks],
                         "label": [t.label for t in prepared.tracks], "split": list(prepared.splits)})


# ---- the tracker ---------------------------------------------------------------------------------

class MlflowTracker:
    """A `Tracker` that records runs in one MLflow store (sqlite file or tracking server).

    Runs are kept on a per-thread stack: `log_metrics`, `set_tags` and `log_result` go to the innermost
    run started by this thread, so a parent run can hold child runs started inside it.
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self._local = threading.local()
        self.client = self._open_store()

    def _open_store(self) -> MlflowClient:
        """A client on the store, whose tables exist, after ending runs whose process is gone.

        For SQLite this happens under a file lock: processes that start together would otherwise all
        run MLflow's schema migrations (which the client does on creation) at once and trip over each
        other's tables.
        """
        db = sqlite_path(self.tracking_uri)
        with file_lock(f"{db}.lock") if db is not None else nullcontext():
            try:
                client = MlflowClient(self.tracking_uri)
                reaped = reap_stale_runs(client)
            except MlflowException as exc:
                raise UserError(f"tracking store {redact_uri(self.tracking_uri)}: {_first_line(exc)}") from exc
        for r in reaped:
            warnings.warn(f"run {r['run_id']} ({r['run_name']}) was RUNNING but its process {r['pid']} is gone: "
                          "marked FAILED", stacklevel=3)
        return client

    def __repr__(self) -> str:
        return f"MlflowTracker({redact_uri(self.tracking_uri)!r})"

    @property
    def _stack(self) -> list[str]:
        if not hasattr(self._local, "runs"):
            self._local.runs = []
        return self._local.runs

    @property
    def run_id(self) -> str | None:
        """The innermost active run of this thread, or None."""
        return self._stack[-1] if self._stack else None

    def _require_run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("no active MLflow run: use tracker.run(...) or tracker.start_run(...) first")
        return self.run_id

    def _artifact_location(self, experiment: str) -> str | None:
        """`<artifact root>/<experiment name as a folder name>` for a sqlite store, so experiments do not mix
        their run folders; None lets a server choose."""
        root = default_artifact_root(self.tracking_uri)
        return f"{root}/{re.sub(r'[^A-Za-z0-9._-]+', '_', experiment).strip('.') or 'experiment'}" if root else None

    def get_or_create_experiment(self, name: str) -> str:
        """The id of experiment `name`, created (artifacts next to a sqlite store) when missing."""
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            try:
                return self.client.create_experiment(name, artifact_location=self._artifact_location(name))
            except MlflowException as exc:
                # Another process (a parallel search worker) may have created it between our two calls.
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            raise UserError(f"experiment {name!r} is deleted in {redact_uri(self.tracking_uri)}: restore it "
                            f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or use another name")
        return exp.experiment_id

    def start_run(self, experiment: str, run_name: str, params: Mapping | None = None,
                  tags: Mapping[str, str] | None = None, parent_run_id: str | None = None) -> str:
        """Create a run (a child of `parent_run_id` when given), log its params, and make it the active run."""
        all_tags = {**{k: str(v) for k, v in (tags or {}).items()}, **owner_tags()}
        if parent_run_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        run = self.client.create_run(self.get_or_create_experiment(experiment), run_name=run_name, tags=all_tags)
        run_id = run.info.run_id
        self._stack.append(run_id)
        try:
            self.log_params(params or {})
        except BaseException as exc:  # never leave a half-started run RUNNING
            self.end_run("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED", run_id)
            raise
        return run_id

    def log_params(self, params: Mapping) -> None:
        """Flattened params in batches of 100 (MLflow's limit); overlong values are cut to 6000 characters."""
        run_id = self._require_run()
        entries = [Param(k, v[:MAX_PARAM_LENGTH]) for k, v in flatten(params).items()]
        for batch in _batches(entries, PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=batch)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Metrics of one step in one timestamp, batched."""
        self._log_metrics(self._require_run(), metrics, step)

    def _log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None,
                     model_id: str | None = None) -> None:
        stamp = int(time.time() * 1000)
        entries = [Metric(k, float(v), stamp, step or 0, model_id=model_id) for k, v in metrics.items()]
        for batch in _batches(entries, METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        run_id = self._require_run()
        entries = [RunTag(k, str(v)) for k, v in tags.items()]
        for batch in _batches(entries, TAGS_PER_BATCH):
            self.client.log_batch(run_id, tags=batch)

    def log_artifacts_dir(self, local_dir: Path | str, artifact_path: str | None = None) -> None:
        """Upload every file under `local_dir` to the active run (under `artifact_path` when given)."""
        self.client.log_artifacts(self._require_run(), str(local_dir), artifact_path)

    def end_run(self, status: str = "FINISHED", run_id: str | None = None) -> None:
        """Terminate `run_id` (default: the active run) as FINISHED, FAILED or KILLED."""
        if status not in END_STATUSES:
            raise ValueError(f"run status must be one of {', '.join(END_STATUSES)}, got {status!r}")
        run_id = run_id or self._require_run()
        self.client.set_terminated(run_id, status)
        if run_id in self._stack:
            self._stack.remove(run_id)

    @contextmanager
    def run(self, experiment: str, run_name: str, params: Mapping | None = None,
            tags: Mapping[str, str] | None = None, parent_run_id: str | None = None) -> Iterator[str]:
        """A run that always ends: FINISHED on success, KILLED on Ctrl-C, FAILED on any other exception."""
        run_id = self.start_run(experiment, run_name, params, tags, parent_run_id)
        with self._ending(run_id):
            yield run_id

    @contextmanager
    def _ending(self, run_id: str) -> Iterator[None]:
        status = "FAILED"
        try:
            yield
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self.end_run(status, run_id)

    def get_run(self, run_id: str):
        """The run `run_id`; an unknown id is a UserError naming it and the store."""
        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            raise UserError(f"unknown run id {run_id!r} in {redact_uri(self.tracking_uri)}") from exc

    def reopen_run(self, run_id: str, tags: Mapping[str, str] | None = None, activate: bool = True) -> None:
        """Make an ended run RUNNING again and owned by this process (so stale-run cleanup leaves it alone);
        `activate` also makes it the run that `log_metrics` and friends write to."""
        self.client.update_run(run_id, status="RUNNING")
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in {**owner_tags(), **(tags or {})}.items()])
        if activate:
            self._stack.append(run_id)

    @contextmanager
    def resumed(self, run_id: str, tags: Mapping[str, str] | None = None) -> Iterator[str]:
        """`run()` for an existing run: reopened, then ended FINISHED, KILLED or FAILED like a new one."""
        self.reopen_run(run_id, tags)
        with self._ending(run_id):
            yield run_id

    def log_checkpoint(self, checkpoint: dict) -> None:
        """Upload a resumable checkpoint as `checkpoint/last.pt` of the active run (replacing an older one)."""
        run_id = self._require_run()
        with tempfile.TemporaryDirectory(prefix="genrebench-checkpoint-") as tmp:
            path = save_checkpoint(checkpoint, Path(tmp) / Path(CHECKPOINT_ARTIFACT).name)
            self.client.log_artifact(run_id, str(path), str(Path(CHECKPOINT_ARTIFACT).parent))
        self.client.log_batch(run_id, tags=[RunTag("genrebench.checkpoint_epoch", str(checkpoint["epoch"]))])

    def load_checkpoint(self, run_id: str) -> dict:
        """The checkpoint an interrupted run logged; a UserError when it has none."""
        with tempfile.TemporaryDirectory(prefix="genrebench-checkpoint-") as tmp:
            try:
                local = self.client.download_artifacts(run_id, CHECKPOINT_ARTIFACT, tmp)
            except (MlflowException, OSError) as exc:
                raise UserError(f"run {run_id} has no checkpoint ({CHECKPOINT_ARTIFACT}): only a run interrupted "
                                "with Ctrl-C or SIGTERM can be resumed") from exc
            return load_checkpoint(local)

    def log_result(self, result: Result, prepared: PreparedData) -> None:
        """Everything a finished run leaves behind: files, final metrics, tags, dataset and model."""
        run_id = self._require_run()
        with tempfile.TemporaryDirectory(prefix="genrebench-artifacts-") as tmp:
            write_artifacts(result, prepared, tmp)
            self.client.log_artifacts(run_id, tmp)
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in result_tags(result, prepared).items()])
        self.log_dataset(prepared)
        model_id = self.log_model(result)
        # Linked to the logged model too, so the Models page shows the test scores next to the model.
        self._log_metrics(run_id, result.final, step=None, model_id=model_id)

    def log_dataset(self, prepared: PreparedData, context: str = "training") -> None:
        """Record the split table as the run's input dataset (the client form of `mlflow.log_input`)."""
        name = prepared.tracklist.root.name or "dataset"
        with warnings.catch_warnings():
            # MLflow registers two identical sources for local paths ("" and "file" schemes) and warns that a
            # path is ambiguous; its digest code also trips pandas deprecations. Neither is actionable here.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            warnings.simplefilter("ignore", DeprecationWarning)
            dataset = mlflow.data.from_pandas(splits_frame(prepared), source=str(prepared.tracklist.root),
                                              name=name, targets="label")
        # `_to_mlflow_entity` is what `mlflow.log_input` itself calls; the client API takes the entity.
        entity = DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])
        self.client.log_inputs(self._require_run(), datasets=[entity])

    def log_model(self, result: Result) -> str | None:
        """Log the best checkpoint as an MLflow LoggedModel named "model" and link it to the run.

        The model is exported in MLflow's pickle-free `pt2` format (torch.export); a model that cannot be
        exported falls back to pickle with a warning. Returns the model id, or None when logging failed:
        `model_bundle.pt` (what `predict` uses) is already logged, so a failure here only warns.
        """
        run_id = self._require_run()
        experiment_id = self.client.get_run(run_id).info.experiment_id
        model = self.client.create_logged_model(experiment_id, name="model", source_run_id=run_id,
                                                params=flatten(result.config),
                                                tags={"genrebench.bundle_artifact": "model_bundle.pt"})
        try:
            with _global_tracking_uri(self.tracking_uri):
                _log_pytorch_model(result.bundle, model.model_id)
        except Exception as exc:  # noqa: BLE001 - the bundle is the canonical model; the UI copy is a bonus
            warnings.warn(f"could not log the MLflow model ({type(exc).__name__}: {exc}); "
                          "model_bundle.pt is logged and is what predict uses", stacklevel=2)
            self.client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            return None
        self.client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=result.best_epoch)])
        return model.model_id


def _log_pytorch_model(bundle: dict, model_id: str) -> None:
    """`mlflow.pytorch.log_model` into an existing LoggedModel: pt2 first, pickle if export fails."""
    import mlflow.pytorch
    import numpy as np

    from genrebench.config import AudioConfig, FeatureConfig
    from genrebench.data.features import chunk_layout
    from genrebench.train.bundle import model_from_bundle

    model = model_from_bundle(bundle)
    feat = FeatureConfig(**bundle["features"])
    frames = chunk_layout(feat, AudioConfig(**bundle["audio"]).sample_rate).frames
    # A batch of two lets torch.export keep the batch dimension dynamic.
    example = np.zeros((2, 1, feat.n_mels, frames), dtype=np.float32)
    common = {"name": "model", "model_id": model_id, "pip_requirements": _pip_requirements()}
    try:
        mlflow.pytorch.log_model(model, input_example=example, serialization_format="pt2", **common)
    except Exception as exc:  # noqa: BLE001 - torch.export refuses some graphs; pickle always works
        warnings.warn(f"torch.export failed ({type(exc).__name__}); logging the MLflow model with pickle",
                      stacklevel=3)
        mlflow.pytorch.log_model(model, input_example=example, serialization_format="pickle", **common)
