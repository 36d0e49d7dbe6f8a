"""Model zoo: a name-keyed registry of genre models over mel chunks ``(B, 1, n_mels, frames)`` -> logits.

Every model implements ``forward``, ``forward_features`` (pooled ``(B, C)``) and ``forward_head``.
Importing this package registers the built-in models.
"""

# Imported for their @register_model side effects: one module per family.
from genrebench.models import crnn, musicnn, probe, short_chunk, stats, transformer, vgg  # noqa: F401
from genrebench.models._registry import (
    count_parameters,
    create_model,
    forward_macs,
    list_models,
    model_table,
    quick_overrides,
    reads_vectors,
    register_model,
    select_models,
)
from genrebench.models.vgg import GenreVGG

__all__ = [
    "GenreVGG",
    "count_parameters",
    "create_model",
    "forward_macs",
    "list_models",
    "model_table",
    "quick_overrides",
    "reads_vectors",
    "register_model",
    "select_models",
]
