"""Imported by Python at start-up when this folder is on PYTHONPATH (the tests put it there): new SQLite MLflow
stores in `genrebench` subprocesses are copies of a template (see fast_store.py). No-op without the variable."""

import os

if os.environ.get("GENREBENCH_TEST_STORE_TEMPLATE"):
    import fast_store

    fast_store.install()
