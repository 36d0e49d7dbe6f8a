"""Config trees as MLflow params: nested mappings flattened to dotted keys with string values.

Apart from the tracker so that code which only names params (the runner, a search trial) does not import mlflow.
"""

from __future__ import annotations

from collections.abc import Mapping


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
