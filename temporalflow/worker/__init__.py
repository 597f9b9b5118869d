"""Run workflows and activities: ``Worker`` and ``Replayer``, as ``temporalio.worker``."""

from temporalflow.worker._replayer import Replayer, WorkflowReplayResult, WorkflowReplayResults
from temporalflow.worker._worker import Worker

__all__ = ["Replayer", "Worker", "WorkflowReplayResult", "WorkflowReplayResults"]
