"""`genrebench models`: the registered models with their size and cost."""

from __future__ import annotations

from typing import Annotated

import typer

from genrebench.cli.options import JsonOpt
from genrebench.cli.printing import print_frontends, print_json, print_models


def models_cmd(
    pattern: Annotated[str, typer.Argument(metavar="PATTERN", help="fnmatch pattern, e.g. 'vgg*'.")] = "*",
    n_mels: Annotated[int, typer.Option(metavar="N", help="Input height for the MAC count.")] = 128,
    frames: Annotated[int, typer.Option(metavar="N", help="Input width (431 = 10 s at 22050 Hz, hop 512).")] = 431,
    as_json: JsonOpt = False,
) -> None:
    """Registered models: parameters, forward MACs for one 10 s chunk, description."""
    from genrebench.models import model_table

    rows = model_table(pattern, n_mels=n_mels, frames=frames)
    if as_json:
        print_json({"input": [1, n_mels, frames], "models": rows})
    else:
        print_models(rows, n_mels, frames)


def frontends_cmd(as_json: JsonOpt = False) -> None:
    """Front-ends (`features.frontend`): mel chunks, the built-in embedders and the HEAR adapter."""
    from genrebench.data.frontends import HEAR_PARAMS, list_embedders

    rows = [{"spec": "mel", "params": {}, "description": "log-mel chunks (n_mels x frames): every from-scratch model"},
            *({"spec": f"embedding:{e['name']}", "params": e["params"], "description": e["description"]}
              for e in list_embedders()),
            {"spec": "hear:<module>", "params": dict.fromkeys(HEAR_PARAMS, ""),
             "description": "an installed package implementing the HEAR 2021 API (a pretrained model's embeddings)"}]
    print_json({"frontends": rows}) if as_json else print_frontends(rows)
