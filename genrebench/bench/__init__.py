"""`genrebench bench`: extraction, cache, training-loop overhead, inference and memory, measured in one run on
generated audio and judged against the performance targets (see the README's Performance section); with
`--models`, each registered model's cost instead (`per_model`)."""

from genrebench.bench.figures import FIGURES, MODEL_FIGURES, figure_rows, missed_targets
from genrebench.bench.per_model import run_models_bench
from genrebench.bench.run import run_bench
from genrebench.bench.settings import MODEL_SIZES, SIZES, BenchSettings, BenchSizes, ModelBenchSizes

__all__ = ["FIGURES", "MODEL_FIGURES", "MODEL_SIZES", "SIZES", "BenchSettings", "BenchSizes", "ModelBenchSizes",
           "figure_rows", "missed_targets", "run_bench", "run_models_bench"]
