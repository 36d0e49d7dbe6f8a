"""MLflow behind the `Tracker` protocol: runs, params, per-epoch metrics, tags, artifacts and checkpoints.

Everything goes through an explicit `MlflowClient` bound to one tracking URI, so several trackers (and
an Optuna study's parent and child runs) can coexist without the fluent API's global state. What a run
records about its origin lives in `provenance`, the model export in `model_export`, and MLflow's private
APIs in `mlflow_compat`.

Stores: `sqlite:///<abs>/mlruns/mlflow.db` with artifacts in `mlruns/artifacts/` by default. MLflow 3
refuses the old `./mlruns` file store, so a plain folder is never used as a store.
"""

from __future__ import annotations

import csv
import logging
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from genrebench.data.prepare import PreparedData
from genrebench.errors import UserError
from genrebench.store_urls import check_store_writable, default_artifact_root, redact_uri, resolve_tracking_uri
from genrebench.tracking import model_export
from genrebench.tracking.artifacts import write_artifacts, write_csv
from genrebench.tracking.liveness import FAILURE_TAG, owner_tags
from genrebench.tracking.params import flatten
from genrebench.tracking.provenance import dataset_input, result_tags
from genrebench.tracking.store import first_line, open_client
from genrebench.train.checkpoint import CHECKPOINT_ARTIFACT, load_checkpoint, save_checkpoint
from genrebench.train.result import Result

END_STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow's log_batch limits: 100 params, 100 tags, 1000 metrics per request; params hold 6000 characters.
PARAMS_PER_BATCH = 100
TAGS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
MAX_PARAM_LENGTH = 6000
# The table of a robustness evaluation (`genrebench evaluate`), in the run it re-scored.
ROBUSTNESS_ARTIFACT = "robustness.csv"
# A failure reason is one line in `genrebench runs`: the gist, not the traceback.
FAILURE_CHARS = 250


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def failure_reason(exc: BaseException) -> str:
    """`ExceptionType: first line of its message`, at most FAILURE_CHARS characters: what a failed run's
    `genrebench.failure` tag says."""
    name = type(exc).__name__
    reason = f"{name}: {first_line(exc).strip()}" if str(exc).strip() else name
    return reason if len(reason) <= FAILURE_CHARS else reason[:FAILURE_CHARS - 1] + "…"


# MLflow 3's UI opens an experiment of unknown kind on its GenAI (traces) view, which hides the runs table and
# charts; this kind makes it land on the runs.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# Runs last minutes to hours: a sample every 10 s draws a useful curve at no measurable cost.
SYSTEM_METRICS_SECONDS = 10.0


class MlflowTracker:
    """A `Tracker` that records runs in one MLflow store (sqlite file or tracking server).

    Runs are kept on a per-thread stack: `log_metrics`, `set_tags` and `log_result` go to the innermost
    run started by this thread, so a parent run can hold child runs started inside it.
    """

    def __init__(self, tracking_uri: str | None = None,
                 system_metrics_seconds: float | None = SYSTEM_METRICS_SECONDS) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        check_store_writable(self.tracking_uri)  # a tracker writes runs: a read-only store fails now, not later
        # CPU, memory, disk, network (and GPU, with pynvml) sampled while a run is open; None turns it off.
        self.system_metrics_seconds = system_metrics_seconds
        self._local = threading.local()
        self.client = self._open_store()

    def _open_store(self) -> MlflowClient:
        return open_client(self.tracking_uri)

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
                return self.client.create_experiment(name, artifact_location=self._artifact_location(name),
                                                     tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
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
        if EXPERIMENT_KIND_TAG not in exp.tags:  # made by an older genrebench; a kind someone chose is kept
            self.client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
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
            if not isinstance(exc, KeyboardInterrupt):
                self.tag_failure(run_id, exc)
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
        """Tags on the active run, batched."""
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
        self.detach(run_id)

    def detach(self, run_id: str) -> None:
        """Keep `run_id` open but stop logging to it by default: e.g. a study's parent run, which its
        trials name as their parent while `log_metrics` and friends go to the trial runs."""
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
    def _ending(self, run_id: str, resumed: bool = False) -> Iterator[None]:
        status = "FAILED"
        try:
            with self._system_metrics(run_id, resumed):
                yield
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException as exc:
            self.tag_failure(run_id, exc)
            raise
        finally:
            self.end_run(status, run_id)

    def tag_failure(self, run_id: str, exc: BaseException) -> None:
        """Record why `run_id` failed in its `genrebench.failure` tag (what `genrebench runs` shows). Best effort:
        a store that fails here must not hide the error being reported."""
        try:
            self.client.set_tag(run_id, FAILURE_TAG, failure_reason(exc))
        except Exception as tag_exc:  # noqa: BLE001 - the original exception is the one to raise
            warnings.warn(f"could not record the failure of run {run_id}: {tag_exc}", stacklevel=3)

    @contextmanager
    def _system_metrics(self, run_id: str, resumed: bool) -> Iterator[None]:
        """MLflow's system-metrics sampler on `run_id` while the block runs (`system/...` metrics); stopped
        before the run ends, since it polls the run's status. A resumed run continues its step count."""
        if not self.system_metrics_seconds:
            yield
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        # Its start/stop announcements are INFO lines on stderr, once per run: noise between epoch lines.
        logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
        monitor = SystemMetricsMonitor(run_id, sampling_interval=self.system_metrics_seconds,
                                       resume_logging=resumed, tracking_uri=self.tracking_uri)
        monitor.start()
        try:
            yield
        finally:
            monitor.finish()

    def get_run(self, run_id: str) -> Run:
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
        if FAILURE_TAG in self.client.get_run(run_id).data.tags:  # an earlier attempt's reason no longer applies
            self.client.delete_tag(run_id, FAILURE_TAG)
        if activate:
            self._stack.append(run_id)

    @contextmanager
    def resumed(self, run_id: str, tags: Mapping[str, str] | None = None) -> Iterator[str]:
        """`run()` for an existing run: reopened, then ended FINISHED, KILLED or FAILED like a new one."""
        self.reopen_run(run_id, tags)
        with self._ending(run_id, resumed=True):
            yield run_id

    def log_yaml(self, tree: Mapping, name: str) -> None:
        """`tree` as the YAML artifact `name` of the active run (e.g. the config a k-fold parent resumes from)."""
        with tempfile.TemporaryDirectory(prefix="genrebench-artifacts-") as tmp:
            path = Path(tmp) / name
            path.write_text(yaml.safe_dump(dict(tree), sort_keys=False), encoding="utf-8")
            self.client.log_artifact(self._require_run(), str(path))

    def load_yaml(self, run_id: str, name: str) -> dict:
        """The YAML artifact `name` of `run_id`; a UserError when the run has none."""
        with tempfile.TemporaryDirectory(prefix="genrebench-artifacts-") as tmp:
            try:
                local = self.client.download_artifacts(run_id, name, tmp)
            except (MlflowException, OSError) as exc:
                raise UserError(f"run {run_id} has no {name} artifact") from exc
            return yaml.safe_load(Path(local).read_text(encoding="utf-8")) or {}

    def write_table(self, name: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
        """A CSV artifact `name` of the active run."""
        with tempfile.TemporaryDirectory(prefix="genrebench-artifacts-") as tmp:
            self.client.log_artifact(self._require_run(), str(write_csv(Path(tmp) / name, header, rows)))

    def load_table(self, run_id: str, name: str) -> list[dict[str, str]] | None:
        """The rows of the CSV artifact `name` of `run_id`, or None when the run has none."""
        with tempfile.TemporaryDirectory(prefix="genrebench-artifacts-") as tmp:
            try:
                local = self.client.download_artifacts(run_id, name, tmp)
            except (MlflowException, OSError):
                return None
            with open(local, newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))

    def log_robustness(self, run_id: str, header: Sequence[str], rows: Sequence[Sequence],
                       metrics: Mapping[str, float], tags: Mapping[str, str]) -> None:
        """A robustness evaluation into the run it re-scored, whatever its status (an ended run stays ended):
        the table `robustness.csv`, its metrics and tags."""
        with tempfile.TemporaryDirectory(prefix="genrebench-artifacts-") as tmp:
            self.client.log_artifact(run_id, str(write_csv(Path(tmp) / ROBUSTNESS_ARTIFACT, header, rows)))
        self._log_metrics(run_id, metrics, step=None)
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def child_runs(self, run_id: str) -> list[Run]:
        """Every run whose parent is `run_id` (all pages), oldest first."""
        exp = self.get_run(run_id).info.experiment_id
        runs, token = [], None
        while True:
            page = self.client.search_runs([exp], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{run_id}'", max_results=1000,
                                           page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                return sorted(runs, key=lambda r: r.info.start_time or 0)

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
        self.client.log_inputs(self._require_run(), datasets=[dataset_input(prepared, context)])

    def log_model(self, result: Result) -> str | None:
        """Log the best checkpoint as an MLflow LoggedModel named "model" linked to the active run.

        Returns the model id, or None when logging failed: `model_bundle.pt` (what `predict` uses) is
        already logged, so a failure here only warns (see `model_export.log_model`).
        """
        return model_export.log_model(self.client, self.tracking_uri, self._require_run(), result)
