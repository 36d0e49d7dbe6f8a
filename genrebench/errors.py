"""User-facing errors: the CLI prints these as one line and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class UserError(Exception):
    """A problem with the user's input (file, key or value); shown without a traceback."""


def did_you_mean(value: Any, choices: Iterable[str]) -> str:
    """`; did you mean a, b?` with up to three close matches of `value` among `choices`, or an empty string."""
    close = difflib.get_close_matches(str(value), list(choices), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""
