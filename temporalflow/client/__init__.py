"""Start and drive workflows: ``Client`` (async), ``SyncClient``, and ``RemoteClient`` (over the REST API)."""

from temporalflow.client._client import Client, WorkflowHandle, WorkflowUpdateHandle
from temporalflow.client._errors import (
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalflow.client._remote import (
    RemoteClient,
    RemoteUpdateHandle,
    RemoteWorkflowHandle,
    WorkflowExecutionCount,
)
from temporalflow.client._remote_sync import (
    SyncRemoteClient,
    SyncRemoteUpdateHandle,
    SyncRemoteWorkflowHandle,
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
    "RemoteClient",
    "RemoteUpdateHandle",
    "RemoteWorkflowHandle",
    "SyncClient",
    "SyncRemoteClient",
    "SyncRemoteUpdateHandle",
    "SyncRemoteWorkflowHandle",
    "SyncUpdateHandle",
    "SyncWorkflowHandle",
    "WorkflowContinuedAsNewError",
    "WorkflowExecution",
    "WorkflowExecutionCount",
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
