"""The `genrebench` command: parse, call one library function, print; user errors become one line and exit 2.

`root.py` holds the typer apps and registers the commands, one module per group (`data`, `experiments`, `results`,
`models`, `bench`, `predict`); `printing.py` everything they print; `errors.py` the entry point `main` and its
one-line error plumbing.
"""

from genrebench.cli.errors import main
from genrebench.cli.root import app

__all__ = ["app", "main"]
