"""Run queues: a run set (variants x seeds x folds) as tickets that workers on any number of machines claim."""

from genrebench.runqueue.driver import QueueSettings, run_queued

__all__ = ["QueueSettings", "run_queued"]
