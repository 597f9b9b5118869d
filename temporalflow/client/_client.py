"""The async ``Client`` and ``WorkflowHandle`` (``temporalio.client``'s surface)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async

from temporalflow.client._async_activity import AsyncActivityHandle, activity_reference
from temporalflow.client._codec import CALLER_LOOP
from temporalflow.client._errors import WorkflowQueryRejectedError, WorkflowUpdateRPCTimeoutOrCancelledError
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
from temporalflow.client._remote import RemoteClient, is_api_url
from temporalflow.client._schedules import ScheduleClientMixin
from temporalflow.client._types import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHistory,
    WorkflowUpdateStage,
)
from temporalflow.client._visibility import VisibilityClientMixin
from temporalflow.client._with_start import UpdateWithStartClientMixin
from temporalflow.common import QueryRejectCondition
from temporalflow.core.converter import DataConverter
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.store import base as sb
from temporalflow.workflow._decorators import handler_name


class Client(ScheduleClientMixin, VisibilityClientMixin, UpdateWithStartClientMixin):
    """Starts and drives workflows stored in this Django project's database."""

    def __init__(
        self,
        store: sb.Store,
        *,
        namespace: str = "default",
        data_converter: DataConverter | None = None,
        identity: str | None = None,
    ) -> None:
        self._ops = Ops(store, namespace, data_converter or DataConverter.default, identity or default_identity())
        # thread_sensitive: Django's own async ORM does the same, and it keeps a caller
        # that wraps us in async_to_sync on its own connection/transaction. Made once: the
        # wrapper is reusable, and building it costs a little on every call otherwise.
        self._sync_call = sync_to_async(self._call, thread_sensitive=True)

    @classmethod
    async def connect(
        cls,
        target_host: str | None = None,
        *,
        namespace: str = "default",
        data_converter: DataConverter | None = None,
        identity: str | None = None,
        store: sb.Store | None = None,
        database: str | None = None,
        **_ignored: Any,
    ) -> Any:
        """A client on this project's database, or of a remote REST API when ``target_host`` is a URL.

        ``Client.connect("https://host/api/", api_key="<DRF token>")`` returns a
        :class:`~temporalflow.client.RemoteClient` (same methods, spoken over ``temporalflow.api``);
        the remaining keyword arguments (``api_key``, ``rpc_metadata``, ``tls``, ``lazy``, ...) go to it.

        Args:
            target_host: An ``http(s)://`` URL of the REST API, or ignored for the in-process client
                (e.g. ``"localhost:7233"``, accepted for temporalio compatibility).
            namespace: The namespace runs are kept in.
            data_converter: Converts arguments and results.
            identity: Recorded in history events this client causes.
            store: Use this store instead of the Django store.
            database: Django database alias (default: the ``DATABASE_ALIAS`` setting).
        """
        if is_api_url(target_host):
            assert target_host is not None
            return await RemoteClient.connect(target_host, namespace=namespace, data_converter=data_converter,
                                              identity=identity, **_ignored)
        if data_converter is None:
            from temporalflow.conf import get_data_converter

            data_converter = get_data_converter()  # TEMPORALFLOW["DATA_CONVERTER"], the project's converter
        return cls(resolve_store(store, database), namespace=namespace, data_converter=data_converter,
                   identity=identity)

    # --- properties -------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The namespace."""
        return self._ops.namespace

    @property
    def identity(self) -> str:
        """This client's identity."""
        return self._ops.identity

    @property
    def data_converter(self) -> DataConverter:
        """The data converter."""
        return self._ops.data_converter

    @property
    def store(self) -> sb.Store:
        """The store this client writes to."""
        return self._ops.store

    # --- workflows -------------------------------------------------------------------

    async def start_workflow(
        self,
        workflow: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        id: str,
        task_queue: str,
        args: Sequence[Any] = (),
        result_type: type | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: Any = None,
        id_conflict_policy: Any = None,
        retry_policy: Any = None,
        cron_schedule: str = "",
        memo: dict[str, Any] | None = None,
        search_attributes: Any = None,
        start_delay: timedelta | None = None,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        request_id: str | None = None,
        **_ignored: Any,
    ) -> WorkflowHandle:
        """Start a workflow run and return its handle (``WorkflowAlreadyStartedError`` per policy)."""
        wf_type, hint = workflow_type_and_hint(workflow)
        values = args_list(arg, args)
        # Taken before the start commits: a result() right after can wait before it reads.
        mark = self._ops.store.wakeup_mark("closed:") if request_id is None and start_signal is None else None
        started = await self._run(
            self._ops.start,
            wf_type,
            values,
            id=id,
            task_queue=task_queue,
            execution_timeout=execution_timeout,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            id_reuse_policy=id_reuse_policy,
            id_conflict_policy=id_conflict_policy,
            retry_policy=retry_policy,
            cron_schedule=cron_schedule,
            memo=memo,
            search_attributes=search_attributes,
            start_delay=start_delay,
            start_signal=start_signal,
            start_signal_args=start_signal_args,
            request_id=request_id,
        )
        run_id = started.run_id
        handle = WorkflowHandle(
            self, id, run_id=None, result_run_id=run_id, first_execution_run_id=run_id, result_type=result_type or hint,
            result_run_pk=started.run_pk,
        )
        if started.started and mark is not None:
            handle._started_mark = mark  # a run this call created: it cannot have closed before the mark
        return handle

    async def execute_workflow(self, workflow: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> Any:
        """Start a workflow and wait for its result."""
        handle = await self.start_workflow(workflow, arg, **kwargs)
        return await handle.result()

    def get_workflow_handle(
        self,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: type | None = None,
    ) -> WorkflowHandle:
        """A handle to an existing workflow (its latest run unless ``run_id`` is given)."""
        return WorkflowHandle(
            self,
            workflow_id,
            run_id=run_id,
            result_run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    def get_workflow_handle_for(
        self,
        workflow: Callable[..., Any],
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle:
        """A typed handle: the result is decoded with the run method's return type."""
        _, hint = workflow_type_and_hint(workflow)
        return self.get_workflow_handle(
            workflow_id, run_id=run_id, first_execution_run_id=first_execution_run_id, result_type=hint
        )

    def get_async_activity_handle(
        self,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
        activity_id: str | None = None,
        task_token: bytes | None = None,
    ) -> AsyncActivityHandle:
        """A handle to complete an activity that called ``activity.raise_complete_async()``.

        Either ``task_token`` (``activity.info().task_token``) or ``workflow_id`` and
        ``activity_id`` (``run_id`` optional: the latest run) name the activity.
        """
        return AsyncActivityHandle(self, activity_reference(workflow_id, run_id, activity_id, task_token))

    # --- plumbing -----------------------------------------------------------------

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        CALLER_LOOP.set(asyncio.get_running_loop())  # a payload codec in fn runs on this loop
        return await self._sync_call(fn, args, kwargs)

    async def _convert(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a conversion (``ops.encode``, ``ops.outcome`` …) of values the caller gave or awaits.

        Without a payload codec it is plain CPU work, done right here. With one, it runs
        on a thread (no database involved) whose codec calls come back to this loop.
        """
        if self._ops.data_converter.payload_codec is None:
            return fn(*args)
        CALLER_LOOP.set(asyncio.get_running_loop())
        return await sync_to_async(fn, thread_sensitive=False)(*args)

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return fn(*args, **kwargs)
        except (sb.StoreError, RPCError):
            raise
        except Exception:
            # A killed session or a database restart: drop the broken connection so the
            # next call reconnects (this call's error still reaches the caller).
            self._ops.store.recover_connection()
            raise

    async def _wait(
        self, channel: str, check: Callable[[], Any], timeout: float | None, since: Any = None,
        notice: Callable[[str], Any] | None = None,
    ) -> Any:
        """Poll ``check`` (in a thread) until it returns non-None, waking on ``channel``.

        With ``since`` (a wake-up mark taken before the change awaited could happen), the
        first look waits for a wake-up instead of reading the store: the subscription is
        already notified if the channel was published since the mark. With ``notice``, a
        wake-up that carried a notice (committed with the change) is turned into the value
        by ``notice(text)`` when it can be, instead of reading the store.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        sub = self._ops.store.subscribe(channel, since=since)
        try:
            if since is not None:
                await sub.wait(1.0 if timeout is None else min(timeout, 1.0))
            while True:
                value = notice(sub.notice) if notice is not None and sub.notice is not None else None
                if value is None:
                    value = await self._run(check)
                if value is not None:
                    return value
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                await sub.wait(1.0 if remaining is None else min(remaining, 1.0))
        finally:
            sub.close()


class WorkflowHandle(HandleBase):
    """A workflow id (and optionally a run id) to drive: result, signal, query, update, ..."""

    def __init__(
        self, client: Client, id: str, *, run_id: str | None, result_run_id: str | None,
        first_execution_run_id: str | None, result_type: Any = None, result_run_pk: int | None = None,
    ) -> None:
        super().__init__(id, run_id=run_id, result_run_id=result_run_id,
                         first_execution_run_id=first_execution_run_id, result_type=result_type,
                         result_run_pk=result_run_pk)
        self._client = client
        self._started_mark: Any = None  # set by start_workflow for a run it created (see Client._wait)

    async def result(self, *, follow_runs: bool = True, rpc_timeout: timedelta | None = None) -> Any:
        """Wait for the run to close; return its result or raise ``WorkflowFailureError``."""
        ops = self._client._ops
        run_id = self._result_run_id or self._run_id
        timeout = seconds(rpc_timeout)
        while True:
            pk = self._known_pk(run_id)
            since = None
            if pk is not None and run_id == self._result_run_id:
                since, self._started_mark = self._started_mark, None  # good for the first wait only
            if pk is None:
                pk = (await self._client._run(ops.describe_run, self._id, run_id)).pk
            event = await self._client._wait(f"closed:{pk}", lambda pk=pk: ops.store.close_event(pk), timeout,
                                             since=since, notice=ops.store.close_event_from_notice)
            if event is None:
                raise RPCError("timed out waiting for the workflow result", RPCStatusCode.DEADLINE_EXCEEDED)
            done, value = await self._client._convert(ops.outcome, event, self._result_type, follow_runs)
            if done:
                return value
            run_id = value

    async def signal(
        self, signal: Callable[..., Any] | str, arg: Any = MISSING, *, args: Sequence[Any] = (), **_ignored: Any
    ) -> None:
        """Send a signal (persisted in history before this returns)."""
        await self._client._run(
            self._client._ops.signal, self._id, self._run_id, handler_name(signal), args_list(arg, args)
        )

    async def query(
        self,
        query: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        result_type: type | None = None,
        reject_condition: QueryRejectCondition | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Run a query handler on a worker against the run's current state."""
        ops = self._client._ops
        name = handler_name(query)
        result_type = handler_result_type(query, result_type)
        info = await self._client._run(ops.describe_run, self._id, self._run_id)
        if reject_condition in (QueryRejectCondition.NOT_OPEN, QueryRejectCondition.NOT_COMPLETED_CLEANLY):
            status = WorkflowExecutionStatus(int(info.status))
            bad = status != WorkflowExecutionStatus.RUNNING
            if reject_condition == QueryRejectCondition.NOT_COMPLETED_CLEANLY:
                bad = status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)
            if bad:
                raise WorkflowQueryRejectedError(status)
        encoded = await self._client._convert(ops.encode, args_list(arg, args))
        query_id = await self._client._run(ops.store.create_query, info.pk, name, encoded)
        answer = await self._client._wait(
            f"queryans:{query_id}", lambda: ops.store.get_query_answer(query_id), seconds(rpc_timeout) or 30.0
        )
        if answer is None:
            raise RPCError(
                "query timed out: no worker answered (is a worker running for this task queue?)",
                RPCStatusCode.DEADLINE_EXCEEDED,
            )
        return await self._client._convert(ops.query_answer, answer, result_type)

    async def start_update(
        self,
        update: Callable[..., Any] | str,
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        wait_for_stage: WorkflowUpdateStage = WorkflowUpdateStage.ACCEPTED,
        result_type: type | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle:
        """Send an update and wait until it is accepted (or rejected)."""
        if wait_for_stage == WorkflowUpdateStage.ADMITTED:
            raise ValueError("wait_for_stage ADMITTED is not supported; use ACCEPTED or COMPLETED")
        ops = self._client._ops
        name = handler_name(update)
        result_type = handler_result_type(update, result_type)
        info = await self._client._run(ops.describe_run, self._id, self._run_id)
        if info.status != sb.RunStatus.RUNNING:
            raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND)
        update_id = id or str(uuid.uuid4())
        encoded = await self._client._convert(ops.encode, args_list(arg, args))
        await self._client._run(ops.store.admit_update, info.pk, update_id, name, encoded, ops.identity)
        handle = WorkflowUpdateHandle(self._client, update_id, self._id, info.run_id, info.pk, result_type)
        stages = (
            ("accepted", "rejected", "completed")
            if wait_for_stage == WorkflowUpdateStage.ACCEPTED
            else ("rejected", "completed")
        )
        outcome = await handle._wait_for(stages, seconds(rpc_timeout))
        if outcome.stage == "rejected":
            await self._client._convert(ops.update_outcome, outcome, result_type)  # raises WorkflowUpdateFailedError
        return handle

    async def execute_update(self, update: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> Any:
        """Send an update and wait for its result."""
        kwargs["wait_for_stage"] = WorkflowUpdateStage.COMPLETED
        handle = await self.start_update(update, arg, **kwargs)
        return await handle.result()

    def get_update_handle(
        self, id: str, *, workflow_run_id: str | None = None, result_type: type | None = None
    ) -> WorkflowUpdateHandle:
        """A handle to an update sent earlier."""
        return WorkflowUpdateHandle(self._client, id, self._id, workflow_run_id or self._run_id, None, result_type)

    async def cancel(self, **_ignored: Any) -> None:
        """Request cancellation (the workflow sees ``asyncio.CancelledError``)."""
        await self._client._run(self._client._ops.cancel, self._id, self._run_id)

    async def terminate(self, *args: Any, reason: str | None = None, **_ignored: Any) -> None:
        """Terminate the run at once (no workflow code runs)."""
        await self._client._run(self._client._ops.terminate, self._id, self._run_id, reason, list(args))

    async def describe(self, **_ignored: Any) -> WorkflowExecutionDescription:
        """The run's current state."""
        ops = self._client._ops
        info = await self._client._run(ops.describe_run, self._id, self._run_id)
        return ops.description(info)

    async def fetch_history(self, **_ignored: Any) -> WorkflowHistory:
        """The run's whole history."""
        return await self._client._run(self._client._ops.history, self._id, self._run_id)

    async def fetch_history_events(self, **_ignored: Any) -> Any:
        """Iterate over the run's history events."""
        for event in (await self.fetch_history()).events:
            yield event


class WorkflowUpdateHandle:
    """An update sent to a workflow: wait for its result."""

    def __init__(
        self,
        client: Client,
        id: str,
        workflow_id: str,
        workflow_run_id: str | None,
        run_pk: int | None,
        result_type: Any,
    ) -> None:
        self._client = client
        self._id = id
        self._workflow_id = workflow_id
        self._workflow_run_id = workflow_run_id
        self._run_pk = run_pk
        self._result_type = result_type

    @property
    def id(self) -> str:
        """The update id."""
        return self._id

    @property
    def workflow_id(self) -> str:
        """The workflow id."""
        return self._workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        """The run the update went to."""
        return self._workflow_run_id

    async def _wait_for(self, stages: tuple[str, ...], timeout: float | None) -> sb.UpdateOutcome:
        ops = self._client._ops
        if self._run_pk is None:
            info = await self._client._run(ops.describe_run, self._workflow_id, self._workflow_run_id)
            self._run_pk = info.pk
            self._workflow_run_id = info.run_id

        def check() -> sb.UpdateOutcome | None:
            try:
                outcome = ops.store.get_update_outcome(
                    ops.namespace, self._workflow_id, self._workflow_run_id, self._id
                )
            except sb.UpdateNotFound:
                raise RPCError(f"update {self._id!r} not found", RPCStatusCode.NOT_FOUND) from None
            return outcome if outcome.stage in stages else None

        outcome = await self._client._wait(f"run:{self._run_pk}", check, timeout)
        if outcome is None:
            raise WorkflowUpdateRPCTimeoutOrCancelledError()
        return outcome

    async def result(self, *, rpc_timeout: timedelta | None = None) -> Any:
        """Wait for the update to complete; its result, or ``WorkflowUpdateFailedError``."""
        outcome = await self._wait_for(("rejected", "completed"), seconds(rpc_timeout))
        return await self._client._convert(self._client._ops.update_outcome, outcome, self._result_type)
