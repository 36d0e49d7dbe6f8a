"""Model zoo: a name-keyed registry of CNNs over mel chunks ``(B, 1, n_mels, frames)`` -> logits.

Every model implements ``forward``, ``forward_features`` (pooled ``(B, C)``) and ``forward_head``.
Importing this package registers the built-in models.
"""

from genrebench.models import vgg  # noqa: F401  (imported for its @register_model side effects)
from genrebench.models._registry import (
    count_parameters,
    create_model,
    forward_macs,
    list_models,
    model_table,
    register_model,
)
from genrebench.models.vgg import GenreVGG

__all__ = [
    "GenreVGG",
    "count_parameters",
    "create_model",
    "forward_macs",
    "list_models",
    "model_table",
    "register_model",
]
