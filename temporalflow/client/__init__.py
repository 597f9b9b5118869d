"""Start and drive workflows: ``Client`` (async) and ``SyncClient``, as ``temporalio.client``."""

from temporalflow.client._client import Client, WorkflowHandle, WorkflowUpdateHandle
from temporalflow.client._errors import (
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalflow.client._sync import SyncClient, SyncUpdateHandle, SyncWorkflowHandle
from temporalflow.client._types import (
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHistory,
    WorkflowUpdateStage,
)

__all__ = [
    "Client",
    "SyncClient",
    "SyncUpdateHandle",
    "SyncWorkflowHandle",
    "WorkflowContinuedAsNewError",
    "WorkflowExecution",
    "WorkflowExecutionDescription",
    "WorkflowExecutionStatus",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowHistory",
    "WorkflowQueryFailedError",
    "WorkflowQueryRejectedError",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateRPCTimeoutOrCancelledError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateStage",
]
