"""`genrebench models`: the registered models with their size and cost."""

from __future__ import annotations

from typing import Annotated

import typer

from genrebench.cli.printing import print_models


def models_cmd(
    pattern: Annotated[str, typer.Argument(help="fnmatch pattern, e.g. 'vgg*'.")] = "*",
    n_mels: Annotated[int, typer.Option(help="Input height for the MAC count.")] = 128,
    frames: Annotated[int, typer.Option(help="Input width (431 = 10 s at 22050 Hz, hop 512).")] = 431,
) -> None:
    """Registered models: parameters, forward MACs for one 10 s chunk, description."""
    from genrebench.models import model_table

    print_models(model_table(pattern, n_mels=n_mels, frames=frames), n_mels, frames)
