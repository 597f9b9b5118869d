"""Update-with-start: start a workflow (or use the running one) and send it an update, atomically.

As temporalio has it: a :class:`WithStartWorkflowOperation` describes the start,
``client.start_update_with_start_workflow`` / ``execute_update_with_start_workflow``
send the update with it, and ``await operation.workflow_handle()`` gives the run's
handle afterwards. The start and the update's admission are one transaction: if
either is refused, nothing is written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalflow.client._ops import MISSING, args_list, handler_result_type, seconds, workflow_type_and_hint
from temporalflow.client._types import WorkflowUpdateStage
from temporalflow.common import WorkflowIDConflictPolicy
from temporalflow.workflow._decorators import handler_name

if TYPE_CHECKING:
    from temporalflow.client._client import Client, WorkflowHandle, WorkflowUpdateHandle
    from temporalflow.client._sync import SyncClient, SyncUpdateHandle, SyncWorkflowHandle


class WithStartWorkflowOperation:
    """The start half of update-with-start; takes ``start_workflow``'s arguments.

    ``id_conflict_policy`` is required (``USE_EXISTING`` sends the update to a run that is
    already running; ``FAIL`` refuses both). An operation is used once.
    """

    def __init__(
        self,
        workflow: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        id: str,
        task_queue: str,
        result_type: type | None = None,
        id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED,
        **options: Any,
    ) -> None:
        self._workflow_type, hint = workflow_type_and_hint(workflow)
        self._args = args_list(arg, args)
        self._id = id
        self._task_queue = task_queue
        self._result_type = result_type or hint
        self._id_conflict_policy = id_conflict_policy
        self._options = options
        self._used = False
        self._handle: Any = None
        self._error: BaseException | None = None
        self._done: asyncio.Event | None = None

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._id

    async def workflow_handle(self) -> WorkflowHandle:
        """The run's handle once the operation ran; the start's error if it was refused."""
        if self._done is None:
            self._done = asyncio.Event()
            if self._handle is not None or self._error is not None:
                self._done.set()
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._handle

    def workflow_handle_sync(self) -> SyncWorkflowHandle:
        """:meth:`workflow_handle` for an operation run by the ``SyncClient``."""
        if self._error is not None:
            raise self._error
        if self._handle is None:
            raise RuntimeError("the operation has not been run yet")
        return self._handle

    # --- used by the clients ------------------------------------------------------

    def _claim(self) -> None:
        if self._used:
            raise RuntimeError("WithStartWorkflowOperation cannot be reused")
        if self._id_conflict_policy == WorkflowIDConflictPolicy.UNSPECIFIED:
            raise ValueError("WorkflowIDConflictPolicy is required")
        self._used = True

    def _start_kwargs(self, update: tuple[str, str, Any]) -> dict[str, Any]:
        return {"id": self._id, "task_queue": self._task_queue, "id_conflict_policy": self._id_conflict_policy,
                "with_update": update, **self._options}

    def _settle(self, handle: Any = None, error: BaseException | None = None) -> None:
        self._handle, self._error = handle, error
        if self._done is not None:
            self._done.set()


def _prepare(
    op: WithStartWorkflowOperation, update: Callable[..., Any] | str, wait_for_stage: WorkflowUpdateStage,
    id: str | None, result_type: type | None,
) -> tuple[str, str, Any, tuple[str, ...]]:
    """Checks shared by both clients: (update id, handler name, result type, stages to wait for)."""
    if wait_for_stage == WorkflowUpdateStage.ADMITTED:
        raise ValueError("wait_for_stage ADMITTED is not supported; use ACCEPTED or COMPLETED")
    op._claim()
    stages = (("accepted", "rejected", "completed") if wait_for_stage == WorkflowUpdateStage.ACCEPTED
              else ("rejected", "completed"))
    return id or str(uuid.uuid4()), handler_name(update), handler_result_type(update, result_type), stages


class UpdateWithStartClientMixin:
    """``Client.start_update_with_start_workflow`` and ``execute_update_with_start_workflow``."""

    async def start_update_with_start_workflow(
        self: Client,  # type: ignore[misc]
        update: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        start_workflow_operation: WithStartWorkflowOperation,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
        **_ignored: Any,
    ) -> WorkflowUpdateHandle:
        """Start the operation's workflow (or use the running one) and send it an update, atomically.

        Returns once the update reaches ``wait_for_stage`` (ACCEPTED or COMPLETED); a
        rejected update raises ``WorkflowUpdateFailedError``.
        """
        from temporalflow.client._client import WorkflowHandle, WorkflowUpdateHandle

        op = start_workflow_operation
        update_id, name, result_type, stages = _prepare(op, update, wait_for_stage, id, result_type)
        try:
            encoded = await self._convert(self._ops.encode, args_list(arg, args))
            started = await self._run(self._ops.start, op._workflow_type, op._args,
                                      **op._start_kwargs((update_id, name, encoded)))
        except BaseException as err:
            op._settle(error=err)
            raise
        op._settle(handle=WorkflowHandle(
            self, op.id, run_id=None, result_run_id=started.run_id, first_execution_run_id=started.run_id,
            result_type=op._result_type, result_run_pk=started.run_pk))
        handle = WorkflowUpdateHandle(self, update_id, op.id, started.run_id, started.run_pk, result_type)
        outcome = await handle._wait_for(stages, seconds(rpc_timeout))
        if outcome.stage == "rejected":
            await self._convert(self._ops.update_outcome, outcome, result_type)  # raises WorkflowUpdateFailedError
        return handle

    async def execute_update_with_start_workflow(
        self: Client,  # type: ignore[misc]
        update: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        start_workflow_operation: WithStartWorkflowOperation,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
        **_ignored: Any,
    ) -> Any:
        """Update-with-start, waiting for the update's result."""
        handle = await UpdateWithStartClientMixin.start_update_with_start_workflow(
            self, update, arg, start_workflow_operation=start_workflow_operation,
            wait_for_stage=WorkflowUpdateStage.COMPLETED, args=args, id=id, result_type=result_type,
            rpc_timeout=rpc_timeout)
        return await handle.result(rpc_timeout=rpc_timeout)


class SyncUpdateWithStartClientMixin:
    """The ``SyncClient`` twins of :class:`UpdateWithStartClientMixin`'s methods."""

    def start_update_with_start_workflow(
        self: SyncClient,  # type: ignore[misc]
        update: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        start_workflow_operation: WithStartWorkflowOperation,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
        **_ignored: Any,
    ) -> SyncUpdateHandle:
        """Start the operation's workflow (or use the running one) and send it an update, atomically.

        Inside the caller's ``transaction.atomic()`` the start and the update commit with it;
        waiting for ACCEPTED or COMPLETED then needs the caller to have committed, so use
        it outside one.
        """
        from temporalflow.client._sync import SyncUpdateHandle, SyncWorkflowHandle

        op = start_workflow_operation
        update_id, name, result_type, stages = _prepare(op, update, wait_for_stage, id, result_type)
        try:
            encoded = self._ops.encode(args_list(arg, args))
            started = self._ops.start(op._workflow_type, op._args, **op._start_kwargs((update_id, name, encoded)))
        except BaseException as err:
            op._settle(error=err)
            raise
        op._settle(handle=SyncWorkflowHandle(
            self, op.id, run_id=None, result_run_id=started.run_id, result_type=op._result_type,
            result_run_pk=started.run_pk))
        handle = SyncUpdateHandle(self._ops, update_id, op.id, started.run_id, result_type)
        outcome = handle._wait_for(stages, seconds(rpc_timeout))
        if outcome.stage == "rejected":
            self._ops.update_outcome(outcome, result_type)  # raises WorkflowUpdateFailedError
        return handle

    def execute_update_with_start_workflow(
        self: SyncClient,  # type: ignore[misc]
        update: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        start_workflow_operation: WithStartWorkflowOperation,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
        **_ignored: Any,
    ) -> Any:
        """Update-with-start, blocking for the update's result."""
        handle = SyncUpdateWithStartClientMixin.start_update_with_start_workflow(
            self, update, arg, start_workflow_operation=start_workflow_operation,
            wait_for_stage=WorkflowUpdateStage.COMPLETED, args=args, id=id, result_type=result_type,
            rpc_timeout=rpc_timeout)
        return handle.result(rpc_timeout=rpc_timeout)
