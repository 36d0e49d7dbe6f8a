"""Data: sources, audio checks, log-mel features and their cache, splits, and the chunk Dataset."""

from genrebench.data.prepare import PreparedData, prepare_data

__all__ = ["PreparedData", "prepare_data"]
