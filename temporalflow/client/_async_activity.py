"""Asynchronous activity completion: ``client.get_async_activity_handle(...)`` (temporalio's surface).

An activity that calls ``activity.raise_complete_async()`` returns without completing its
attempt: the attempt stays started, its start-to-close, heartbeat and schedule-to-close
timeouts keep running, and whoever holds its task token (``activity.info().task_token``) or
its workflow, run and activity ids completes, fails, heartbeats or cancels it here. Every call
is one store operation fenced by the attempt's lease token, so a completion after a timeout,
a retry or the run's close is refused with ``RPCError`` NOT_FOUND, as Temporal answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalflow.client._codec import run_codec
from temporalflow.client._ops import Ops
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.store import base as sb

__all__ = [
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "AsyncActivityIDReference",
    "SyncAsyncActivityHandle",
]

# Temporal's answer to a completion, heartbeat or failure of an attempt that is not running.
_NOT_FOUND = "invalid activityID or activity already timed out or invoking workflow is completed"


@dataclass(frozen=True)
class AsyncActivityIDReference:
    """Reference to an async activity by its qualified ids.

    Attributes:
        workflow_id: The activity's workflow id.
        run_id: The run (None: the latest run of the workflow id).
        activity_id: The activity's id.
    """

    workflow_id: str
    run_id: str | None
    activity_id: str


class AsyncActivityCancelledError(Exception):
    """Raised by ``heartbeat()`` when cancellation of the activity was requested."""

    def __init__(self) -> None:
        super().__init__("Activity cancelled")


def activity_reference(
    workflow_id: str | None, run_id: str | None, activity_id: str | None, task_token: bytes | None,
) -> bytes | AsyncActivityIDReference:
    """The handle's target from ``get_async_activity_handle``'s arguments (temporalio's checks and messages)."""
    if task_token is not None:
        if workflow_id is not None or run_id is not None or activity_id is not None:
            raise ValueError("Task token cannot be present with other IDs")
        if not isinstance(task_token, bytes | bytearray):
            raise TypeError(f"task_token must be bytes, not {type(task_token).__name__}")
        return bytes(task_token)
    if workflow_id is not None:
        if activity_id is None:
            raise ValueError("Workflow ID, run ID, and activity ID must all be given together")
        return AsyncActivityIDReference(workflow_id=workflow_id, run_id=run_id, activity_id=activity_id)
    raise ValueError("Task token or workflow/run/activity ID must be present")


class AsyncActivityOps:
    """The synchronous store calls behind both handles.

    Args:
        ops: The client's operations (store, namespace, data converter, identity).
        target: A task token or an :class:`AsyncActivityIDReference`.
    """

    def __init__(self, ops: Ops, target: bytes | AsyncActivityIDReference) -> None:
        self.ops = ops
        self.target = target

    def token(self) -> str:
        """The attempt's task token as the store knows it; RPCError NOT_FOUND when no attempt is started."""
        if isinstance(self.target, bytes):
            try:
                return self.target.decode("ascii")
            except UnicodeDecodeError:
                raise RPCError("Error deserializing task token", RPCStatusCode.INVALID_ARGUMENT, b"") from None
        ref = self.target
        try:
            run = self.ops.describe_run(ref.workflow_id, ref.run_id)
        except RPCError:
            raise RPCError(_NOT_FOUND, RPCStatusCode.NOT_FOUND, b"") from None
        token = self.ops.store.started_activity_token(run.pk, ref.activity_id)
        if token is None:
            raise RPCError(_NOT_FOUND, RPCStatusCode.NOT_FOUND, b"")
        return token

    def _details(self, details: tuple[Any, ...] | list[Any]) -> Any:
        return self.ops.encode(list(details)) if details else None

    def complete(self, result: Any) -> None:
        """Record ActivityTaskCompleted with ``result`` (None: no result)."""
        payloads = self.ops.encode([result])  # as a worker encodes a returned value (None too)
        self._stale_is_not_found(lambda token: self.ops.store.complete_activity_task(
            token, payloads, self.ops.identity))

    def fail(self, error: BaseException, last_heartbeat_details: tuple[Any, ...] | list[Any]) -> None:
        """Record ActivityTaskFailed (retried per the activity's retry policy, as a worker's failure)."""
        if not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, not {type(error).__name__}")
        converter = self.ops.data_converter
        if converter.payload_codec is not None:
            failure = run_codec(converter.encode_failure(error))
        else:
            failure = converter.failure_converter.to_failure(error, converter.payload_converter)
        details = self._details(last_heartbeat_details)

        def fail(token: str) -> None:
            if details is not None:
                self.ops.store.heartbeat_activity(token, details)
            self.ops.store.fail_activity_task(token, failure, self.ops.identity)

        self._stale_is_not_found(fail)

    def heartbeat(self, details: tuple[Any, ...]) -> None:
        """Record a heartbeat (extends the heartbeat deadline); AsyncActivityCancelledError if cancel is requested."""
        encoded = self._details(details)
        result = self._stale_is_not_found(lambda token: self.ops.store.heartbeat_activity(token, encoded))
        if result.cancel_requested:
            raise AsyncActivityCancelledError()

    def report_cancellation(self, details: tuple[Any, ...]) -> None:
        """Record ActivityTaskCanceled (the answer to a cancellation request)."""
        encoded = self._details(details)
        self._stale_is_not_found(lambda token: self.ops.store.cancel_activity_task(
            token, encoded, self.ops.identity))

    def _stale_is_not_found(self, call: Any) -> Any:
        token = self.token()
        try:
            return call(token)
        except sb.StaleTask:
            raise RPCError(_NOT_FOUND, RPCStatusCode.NOT_FOUND, b"") from None


class _ActivityHandleBase:
    """What both async activity handles share: the reference they were made from, and its operations."""

    def __init__(self, client: Any, id_or_token: bytes | AsyncActivityIDReference) -> None:
        self._id_or_token = id_or_token
        self._impl = AsyncActivityOps(client._ops, id_or_token)

    @property
    def task_token(self) -> bytes | None:
        """The task token, when the handle was made from one."""
        return self._id_or_token if isinstance(self._id_or_token, bytes) else None

    @property
    def id_reference(self) -> AsyncActivityIDReference | None:
        """The ids, when the handle was made from them."""
        return self._id_or_token if isinstance(self._id_or_token, AsyncActivityIDReference) else None


class AsyncActivityHandle(_ActivityHandleBase):
    """Completes, fails, heartbeats or cancels an activity that called ``activity.raise_complete_async()``.

    Get one with ``Client.get_async_activity_handle(task_token=...)`` or
    ``(workflow_id=..., run_id=..., activity_id=...)``.

    Args:
        client: The async client.
        id_or_token: The task token or the ids.
    """

    def __init__(self, client: Any, id_or_token: bytes | AsyncActivityIDReference) -> None:
        super().__init__(client, id_or_token)
        self._client = client

    async def heartbeat(self, *details: Any, **_rpc: Any) -> None:
        """Heartbeat with ``details``; raises AsyncActivityCancelledError when cancellation was requested."""
        await self._client._run(self._impl.heartbeat, details)

    async def complete(self, result: Any = None, **_rpc: Any) -> None:
        """Complete the activity with ``result``."""
        await self._client._run(self._impl.complete, result)

    async def fail(self, error: BaseException, *, last_heartbeat_details: Any = (), **_rpc: Any) -> None:
        """Fail the activity's attempt with ``error`` (retried per its retry policy)."""
        await self._client._run(self._impl.fail, error, tuple(last_heartbeat_details))

    async def report_cancellation(self, *details: Any, **_rpc: Any) -> None:
        """Report the activity cancelled (after a cancellation request)."""
        await self._client._run(self._impl.report_cancellation, details)


class SyncAsyncActivityHandle(_ActivityHandleBase):
    """:class:`AsyncActivityHandle` for ``SyncClient``: the same methods, called synchronously.

    Args:
        client: The sync client.
        id_or_token: The task token or the ids.
    """

    def heartbeat(self, *details: Any, **_rpc: Any) -> None:
        """Heartbeat with ``details``; raises AsyncActivityCancelledError when cancellation was requested."""
        self._impl.heartbeat(details)

    def complete(self, result: Any = None, **_rpc: Any) -> None:
        """Complete the activity with ``result``."""
        self._impl.complete(result)

    def fail(self, error: BaseException, *, last_heartbeat_details: Any = (), **_rpc: Any) -> None:
        """Fail the activity's attempt with ``error`` (retried per its retry policy)."""
        self._impl.fail(error, tuple(last_heartbeat_details))

    def report_cancellation(self, *details: Any, **_rpc: Any) -> None:
        """Report the activity cancelled (after a cancellation request)."""
        self._impl.report_cancellation(details)
