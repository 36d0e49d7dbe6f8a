"""Tags that say what data a run saw, set when the run starts so even a failed or killed run carries them.

No mlflow import: `runs` reads these names straight from a SQLite store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genrebench.config import ExperimentConfig
    from genrebench.data.prepare import PreparedData

FINGERPRINT_TAG = "dataset.fingerprint"
# A run whose split dealt out chunks (`data.split.unit: chunk`): its test set repeats windows of its training
# songs, so every listing and report marks it LEAKY and never takes it for the best run.
LEAKY_TAG = "genrebench.leaky"
# A run trained from a run queue (`run --jobs/--storage`): which queue, which ticket, which worker (host:pid).
QUEUE_TAG = "genrebench.queue"
TICKET_TAG = "genrebench.ticket"
WORKER_TAG = "genrebench.worker"
LEAKY = "LEAKY"
# How many test tracks have a twin (one recording twice) in train, and how many twin pairs the data holds; set
# only when the twin search ran (`data.duplicates` not `off`), so a report can say "N test tracks have a twin in
# train" next to the scores they inflate.
TEST_TWINS_TAG = "dataset.test_twins_in_train"
TWIN_PAIRS_TAG = "dataset.twin_pairs"
# Tracks per split (`dataset.train_tracks`, ...): the n_test / n_train of the corrected t-test over k folds.
SPLIT_SIZE_TAG = "dataset.{split}_tracks"


def data_tags(cfg: ExperimentConfig, prepared: PreparedData) -> dict[str, str]:
    """The data fingerprint, the tracks per split, and the leak mark when the split unit is the chunk."""
    tags = {FINGERPRINT_TAG: prepared.fingerprint}
    for split in ("train", "val", "test"):
        tags[SPLIT_SIZE_TAG.format(split=split)] = str(len(prepared.track_ids(split)))
    if cfg.data.split.unit == "chunk":
        tags[LEAKY_TAG] = "true"
    return tags
