"""A run's model as an MLflow LoggedModel: created, exported (pt2, else pickle), finalized, linked to the run.

`model_bundle.pt` (what `predict` uses) is the canonical model and is logged with the other artifacts; the
LoggedModel is the copy the MLflow UI and `mlflow.pytorch.load_model` understand, so a failure here only warns.
"""

from __future__ import annotations

import warnings

import mlflow
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus

from genrebench.tracking.mlflow_compat import global_tracking_uri
from genrebench.tracking.params import flatten
from genrebench.train.result import Result

BUNDLE_ARTIFACT = "model_bundle.pt"


def log_model(client: MlflowClient, tracking_uri: str, run_id: str, result: Result) -> str | None:
    """Log the best checkpoint of `run_id` as a LoggedModel named "model" and link it to the run.

    The model is exported in MLflow's pickle-free `pt2` format (torch.export); a model that cannot be
    exported falls back to pickle with a warning. Returns the model id, or None when logging failed.
    """
    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(experiment_id, name="model", source_run_id=run_id,
                                       params=flatten(result.config),
                                       # It returns logits: a calibrated run's are divided by this before the
                                       # softmax (predict does it from the bundle).
                                       tags={"genrebench.bundle_artifact": BUNDLE_ARTIFACT,
                                             "genrebench.temperature": str(result.bundle.get("temperature", 1.0))})
    try:
        # mlflow.pytorch.log_model resolves its store from the global URI: point it at this tracker's store.
        with global_tracking_uri(tracking_uri):
            _log_pytorch_model(result.bundle, model.model_id)
    except Exception as exc:  # noqa: BLE001 - the bundle is the canonical model; the UI copy is a bonus
        # stacklevel 3: past MlflowTracker.log_model to its caller (log_result), where the run is being logged.
        warnings.warn(f"could not log the MLflow model ({type(exc).__name__}: {exc}); "
                      f"{BUNDLE_ARTIFACT} is logged and is what predict uses", stacklevel=3)
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        return None
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=result.best_epoch)])
    return model.model_id


def _pip_requirements() -> list[str]:
    """Pinned by hand: MLflow's own inference imports the model in a subprocess and takes seconds."""
    import torch

    return [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]


def _log_pytorch_model(bundle: dict, model_id: str) -> None:
    """`mlflow.pytorch.log_model` into an existing LoggedModel: pt2 first, pickle if export fails."""
    import mlflow.pytorch
    import numpy as np

    from genrebench.train.bundle import chunk_shape, model_from_bundle

    model = model_from_bundle(bundle)
    # A batch of two lets torch.export keep the batch dimension dynamic.
    example = np.zeros((2, 1, *chunk_shape(bundle)), dtype=np.float32)
    common = {"name": "model", "model_id": model_id, "pip_requirements": _pip_requirements()}
    try:
        with warnings.catch_warnings():
            # nn.GRU re-assigns its flattened weights on every call; torch.export notes it, and the exported
            # program is still correct (the weights are parameters), so the note would only alarm a user.
            warnings.filterwarnings("ignore", message=r"The tensor attributes .* were assigned during export")
            mlflow.pytorch.log_model(model, input_example=example, serialization_format="pt2", **common)
    except Exception as exc:  # noqa: BLE001 - torch.export refuses some graphs; pickle always works
        # stacklevel 4: through log_model and MlflowTracker.log_model to log_result, like the warning above.
        warnings.warn(f"torch.export failed ({type(exc).__name__}); logging the MLflow model with pickle",
                      stacklevel=4)
        mlflow.pytorch.log_model(model, input_example=example, serialization_format="pickle", **common)
