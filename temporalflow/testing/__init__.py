"""Test helpers, as ``temporalio.testing``: ``WorkflowEnvironment`` and ``ActivityEnvironment``."""

from temporalflow.testing._activity import ActivityEnvironment
from temporalflow.testing._environment import WorkflowEnvironment

__all__ = ["ActivityEnvironment", "WorkflowEnvironment"]
