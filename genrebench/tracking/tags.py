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
LEAKY = "LEAKY"
# How many test tracks have a twin (one recording twice) in train, and how many twin pairs the data holds; set
# only when the twin search ran (`data.duplicates` not `off`), so a report can say "N test tracks have a twin in
# train" next to the scores they inflate.
TEST_TWINS_TAG = "dataset.test_twins_in_train"
TWIN_PAIRS_TAG = "dataset.twin_pairs"


def data_tags(cfg: ExperimentConfig, prepared: PreparedData) -> dict[str, str]:
    """The data fingerprint, and the leak mark when the split unit is the chunk."""
    tags = {FINGERPRINT_TAG: prepared.fingerprint}
    if cfg.data.split.unit == "chunk":
        tags[LEAKY_TAG] = "true"
    return tags
