"""genrebench: a reproducible, leak-free benchmark harness for music genre classifiers."""

__version__ = "0.1.0"
