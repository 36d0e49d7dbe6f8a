"""`genrebench protocols`: the named split protocols `data.split.method` accepts."""

from __future__ import annotations

from genrebench.cli.options import JsonOpt
from genrebench.cli.printing import print_json, print_protocols


def protocols_cmd(as_json: JsonOpt = False) -> None:
    """Named split protocols (published splits): name, dataset, what it fixes, source paper."""
    from genrebench.data.protocols import protocol_table

    rows = protocol_table()
    print_json(rows) if as_json else print_protocols(rows)
