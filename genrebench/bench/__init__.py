"""`genrebench bench`: extraction, cache, training-loop overhead, inference and memory, measured in one run on
generated audio and judged against the performance targets (see the README's Performance section)."""

from genrebench.bench.figures import FIGURES, figure_rows
from genrebench.bench.run import run_bench
from genrebench.bench.settings import SIZES, BenchSettings, BenchSizes

__all__ = ["FIGURES", "SIZES", "BenchSettings", "BenchSizes", "figure_rows", "run_bench"]
