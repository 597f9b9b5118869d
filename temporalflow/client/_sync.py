"""``SyncClient``: the same operations as ``Client``, synchronous, for Django views.

Writes run on the caller's thread and database connection, so a start (or a
signal, cancel, terminate) inside ``transaction.atomic()`` commits or rolls
back with the caller's own writes. Waiting (``result()``, queries, updates)
polls the database with a short backoff.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalflow.client._async_activity import SyncAsyncActivityHandle, activity_reference
from temporalflow.client._errors import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalflow.client._ops import (
    MISSING,
    HandleBase,
    Ops,
    args_list,
    default_identity,
    handler_result_type,
    resolve_store,
    seconds,
    workflow_type_and_hint,
)
from temporalflow.client._remote import is_api_url
from temporalflow.client._remote_sync import SyncRemoteClient
from temporalflow.client._schedules import SyncScheduleClientMixin
from temporalflow.client._types import WorkflowExecutionDescription, WorkflowHistory, WorkflowUpdateStage
from temporalflow.client._visibility import SyncVisibilityClientMixin
from temporalflow.client._with_start import SyncUpdateWithStartClientMixin
from temporalflow.core.converter import DataConverter
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.store import base as sb
from temporalflow.workflow._decorators import handler_name


def _poll(check: Callable[[], Any], timeout: float | None) -> Any:
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while True:
        value = check()
        if value is not None:
            return value
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class SyncClient(SyncScheduleClientMixin, SyncVisibilityClientMixin, SyncUpdateWithStartClientMixin):
    """Synchronous twin of :class:`~temporalflow.client.Client`."""

    def __init__(self, store: sb.Store, *, namespace: str = "default", data_converter: DataConverter | None = None,
                 identity: str | None = None) -> None:
        self._ops = Ops(store, namespace, data_converter or DataConverter.default, identity or default_identity())

    @classmethod
    def connect(cls, target_host: str | None = None, *, namespace: str = "default",
                data_converter: DataConverter | None = None, identity: str | None = None,
                store: sb.Store | None = None, database: str | None = None, **_ignored: Any) -> Any:
        """A client on this project's database, or a ``SyncRemoteClient`` when ``target_host`` is a URL."""
        if is_api_url(target_host):
            assert target_host is not None
            return SyncRemoteClient.connect(target_host, namespace=namespace, data_converter=data_converter,
                                            identity=identity, **_ignored)
        if data_converter is None:
            from temporalflow.conf import get_data_converter

            data_converter = get_data_converter()  # TEMPORALFLOW["DATA_CONVERTER"], the project's converter
        return cls(resolve_store(store, database), namespace=namespace, data_converter=data_converter,
                   identity=identity)

    @property
    def namespace(self) -> str:
        """The namespace."""
        return self._ops.namespace

    @property
    def store(self) -> sb.Store:
        """The store this client writes to."""
        return self._ops.store

    def start_workflow(self, workflow: Callable[..., Any] | str, arg: Any = MISSING, *, id: str, task_queue: str,
                       args: Sequence[Any] = (), result_type: type | None = None, **opts: Any) -> SyncWorkflowHandle:
        """Start a workflow run (joins the caller's transaction) and return its handle."""
        wf_type, hint = workflow_type_and_hint(workflow)
        known = {"execution_timeout", "run_timeout", "task_timeout", "id_reuse_policy", "id_conflict_policy",
                 "retry_policy", "cron_schedule", "memo", "search_attributes", "start_delay", "start_signal",
                 "start_signal_args", "request_id"}
        started = self._ops.start(wf_type, args_list(arg, args), id=id, task_queue=task_queue,
                                  **{k: v for k, v in opts.items() if k in known})
        return SyncWorkflowHandle(self, id, run_id=None, result_run_id=started.run_id, result_type=result_type or hint,
                                  result_run_pk=started.run_pk)

    def execute_workflow(self, workflow: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> Any:
        """Start a workflow and wait for its result."""
        return self.start_workflow(workflow, arg, **kwargs).result()

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None,
                            result_type: type | None = None, **_ignored: Any) -> SyncWorkflowHandle:
        """A handle to an existing workflow (its latest run unless ``run_id`` is given)."""
        return SyncWorkflowHandle(self, workflow_id, run_id=run_id, result_run_id=run_id, result_type=result_type)

    def get_workflow_handle_for(self, workflow: Callable[..., Any], workflow_id: str, *,
                                run_id: str | None = None) -> SyncWorkflowHandle:
        """A typed handle: the result is decoded with the run method's return type."""
        _, hint = workflow_type_and_hint(workflow)
        return self.get_workflow_handle(workflow_id, run_id=run_id, result_type=hint)

    def get_async_activity_handle(self, *, workflow_id: str | None = None, run_id: str | None = None,
                                  activity_id: str | None = None,
                                  task_token: bytes | None = None) -> SyncAsyncActivityHandle:
        """A handle to complete an activity that called ``activity.raise_complete_async()``.

        Either ``task_token`` (``activity.info().task_token``) or ``workflow_id`` and
        ``activity_id`` (``run_id`` optional: the latest run) name the activity.
        """
        return SyncAsyncActivityHandle(self, activity_reference(workflow_id, run_id, activity_id, task_token))


class SyncWorkflowHandle(HandleBase):
    """Synchronous twin of ``WorkflowHandle``."""

    def __init__(self, client: SyncClient, id: str, *, run_id: str | None, result_run_id: str | None,
                 result_type: Any = None, result_run_pk: int | None = None) -> None:
        super().__init__(id, run_id=run_id, result_run_id=result_run_id, result_type=result_type,
                         result_run_pk=result_run_pk)
        self._client = client
        self._ops = client._ops

    def result(self, *, follow_runs: bool = True, timeout: timedelta | float | None = None,
               rpc_timeout: timedelta | None = None) -> Any:
        """Block until the run closes; its result, or ``WorkflowFailureError``."""
        run_id = self._result_run_id or self._run_id
        limit = seconds(timeout) if timeout is not None else seconds(rpc_timeout)
        while True:
            pk = self._known_pk(run_id)
            if pk is None:
                pk = self._ops.describe_run(self._id, run_id).pk
            event = _poll(lambda pk=pk: self._ops.store.close_event(pk), limit)
            if event is None:
                raise RPCError("timed out waiting for the workflow result", RPCStatusCode.DEADLINE_EXCEEDED)
            done, value = self._ops.outcome(event, self._result_type, follow_runs)
            if done:
                return value
            run_id = value

    def signal(self, signal: Callable[..., Any] | str, arg: Any = MISSING, *, args: Sequence[Any] = ()) -> None:
        """Send a signal (joins the caller's transaction)."""
        self._ops.signal(self._id, self._run_id, handler_name(signal), args_list(arg, args))

    def query(self, query: Callable[..., Any] | str, arg: Any = MISSING, *, args: Sequence[Any] = (),
              result_type: type | None = None, rpc_timeout: timedelta | None = None) -> Any:
        """Run a query on a worker and return its answer (blocks until a worker answers)."""
        result_type = handler_result_type(query, result_type)
        info = self._ops.describe_run(self._id, self._run_id)
        query_id = self._ops.store.create_query(info.pk, handler_name(query), self._ops.encode(args_list(arg, args)))
        answer = _poll(lambda: self._ops.store.get_query_answer(query_id), seconds(rpc_timeout) or 30.0)
        if answer is None:
            raise RPCError("query timed out: no worker answered (is a worker running for this task queue?)",
                           RPCStatusCode.DEADLINE_EXCEEDED)
        return self._ops.query_answer(answer, result_type)

    def execute_update(self, update: Callable[..., Any] | str, arg: Any = MISSING, *, args: Sequence[Any] = (),
                       id: str | None = None, result_type: type | None = None,
                       rpc_timeout: timedelta | None = None) -> Any:
        """Send an update and block until it completes; its result or ``WorkflowUpdateFailedError``."""
        return self.start_update(update, arg, args=args, id=id, result_type=result_type,
                                 wait_for_stage=WorkflowUpdateStage.COMPLETED, rpc_timeout=rpc_timeout).result()

    def start_update(self, update: Callable[..., Any] | str, arg: Any = MISSING, *, args: Sequence[Any] = (),
                     id: str | None = None, wait_for_stage: WorkflowUpdateStage = WorkflowUpdateStage.ACCEPTED,
                     result_type: type | None = None, rpc_timeout: timedelta | None = None) -> SyncUpdateHandle:
        """Send an update and block until it is accepted (or rejected)."""
        result_type = handler_result_type(update, result_type)
        info = self._ops.describe_run(self._id, self._run_id)
        if info.status != sb.RunStatus.RUNNING:
            raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND)
        update_id = id or str(uuid.uuid4())
        self._ops.store.admit_update(info.pk, update_id, handler_name(update),
                                     self._ops.encode(args_list(arg, args)), self._ops.identity)
        handle = SyncUpdateHandle(self._ops, update_id, self._id, info.run_id, result_type)
        stages = ("rejected", "completed") if wait_for_stage == WorkflowUpdateStage.COMPLETED else (
            "accepted", "rejected", "completed")
        outcome = handle._wait_for(stages, seconds(rpc_timeout))
        if outcome.stage == "rejected":
            self._ops.update_outcome(outcome, result_type)
        return handle

    def cancel(self) -> None:
        """Request cancellation."""
        self._ops.cancel(self._id, self._run_id)

    def terminate(self, *args: Any, reason: str | None = None) -> None:
        """Terminate the run at once."""
        self._ops.terminate(self._id, self._run_id, reason, list(args))

    def describe(self) -> WorkflowExecutionDescription:
        """The run's current state."""
        return self._ops.description(self._ops.describe_run(self._id, self._run_id))

    def fetch_history(self) -> WorkflowHistory:
        """The run's whole history."""
        return self._ops.history(self._id, self._run_id)


class SyncUpdateHandle:
    """Synchronous update handle."""

    def __init__(self, ops: Ops, id: str, workflow_id: str, run_id: str, result_type: Any) -> None:
        self._ops = ops
        self.id = id
        self.workflow_id = workflow_id
        self.workflow_run_id = run_id
        self._result_type = result_type

    def _wait_for(self, stages: tuple[str, ...], timeout: float | None) -> sb.UpdateOutcome:
        def check() -> sb.UpdateOutcome | None:
            outcome = self._ops.store.get_update_outcome(self._ops.namespace, self.workflow_id,
                                                         self.workflow_run_id, self.id)
            return outcome if outcome.stage in stages else None

        outcome = _poll(check, timeout)
        if outcome is None:
            raise WorkflowUpdateRPCTimeoutOrCancelledError()
        return outcome

    def result(self, *, rpc_timeout: timedelta | None = None) -> Any:
        """Block until the update completes; its result or ``WorkflowUpdateFailedError``."""
        return self._ops.update_outcome(self._wait_for(("rejected", "completed"), seconds(rpc_timeout)),
                                        self._result_type)
