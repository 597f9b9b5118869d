"""What both clients do, synchronously, over the Store: build requests, read outcomes.

``Client`` (async) runs these in a thread; ``SyncClient`` calls them directly,
on the caller's thread and database connection — which is why a start made
inside ``transaction.atomic()`` commits or rolls back with the caller's writes.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalflow import metrics
from temporalflow.client._codec import run_codec
from temporalflow.client._errors import (
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalflow.client._types import (
    WorkflowExecution,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHistory,
    _dt,
)
from temporalflow.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalflow.core import search_attributes as sa
from temporalflow.core.definitions import WorkflowDefinition, handler_of
from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.payload import PayloadsJSON, payloads_from_json, payloads_size, payloads_to_json
from temporalflow.core.visibility import InvalidPageToken, ListFilterError
from temporalflow.exceptions import (
    CancelledError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.store import base as sb
from temporalflow.store._schedule_spec import SpecError, validate_cron_schedule
from temporalflow.workflow._decorators import handler_name

MISSING: Any = object()

logger = logging.getLogger("temporalflow.client")


def check_payload_size(payloads: PayloadsJSON, what: str) -> None:
    """Refuse payloads past ``PAYLOAD_SIZE_LIMIT`` (nothing is written); warn past ``PAYLOAD_SIZE_WARN``."""
    from temporalflow.conf import settings

    size = payloads_size(payloads)
    if size > settings.PAYLOAD_SIZE_LIMIT:
        raise RPCError(f"{what} are {size} bytes, over the payload size limit of {settings.PAYLOAD_SIZE_LIMIT} "
                       "bytes (TEMPORALFLOW['PAYLOAD_SIZE_LIMIT']); store large data elsewhere and pass a reference",
                       RPCStatusCode.INVALID_ARGUMENT)
    if size > settings.PAYLOAD_SIZE_WARN:
        logger.warning("%s are %d bytes, over the payload size warning threshold of %d bytes", what, size,
                       settings.PAYLOAD_SIZE_WARN)


def resolve_store(store: sb.Store | None, database: str | None) -> sb.Store:
    """``store``, or the Django store of ``database`` (default: the ``DATABASE_ALIAS`` setting)."""
    if store is not None:
        return store
    from temporalflow.store import get_store

    return get_store(database)


def default_identity() -> str:
    """``pid@hostname``, as temporalio's default client identity."""
    return f"{os.getpid()}@{socket.gethostname()}"


def seconds(value: timedelta | float | None) -> float | None:
    """Seconds of a timedelta (or number), None stays None."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def workflow_type_and_hint(workflow: Callable[..., Any] | str) -> tuple[str, Any]:
    """Workflow type name and result type hint of a run method (or a plain name)."""
    if isinstance(workflow, str):
        return workflow, None
    defn = WorkflowDefinition.from_run_fn(workflow)
    if defn.name is None:
        raise ValueError("a dynamic workflow cannot be started by method; start it by name")
    return defn.name, defn.ret_type


def args_list(arg: Any, args: Sequence[Any]) -> list[Any]:
    """Temporalio's ``arg`` / ``args=`` convention."""
    if arg is not MISSING:
        if args:
            raise ValueError("pass either arg or args, not both")
        return [arg]
    return list(args)


def handler_result_type(handler: Callable[..., Any] | str, result_type: Any) -> Any:
    """``result_type``, or the return hint of a signal/query/update method given by function."""
    if result_type is None and not isinstance(handler, str):
        defn = handler_of(handler)
        return defn.ret_type if defn is not None else None
    return result_type


class HandleBase:
    """What both workflow handles (async and sync) carry: which run, and how to decode its result."""

    def __init__(self, id: str, *, run_id: str | None, result_run_id: str | None,
                 first_execution_run_id: str | None = None, result_type: Any = None,
                 result_run_pk: int | None = None) -> None:
        self._id = id
        self._run_id = run_id
        self._result_run_id = result_run_id
        self._first_execution_run_id = first_execution_run_id
        self._result_type = result_type
        self._result_run_pk = result_run_pk  # row id of result_run_id when the start told us

    def _known_pk(self, run_id: str | None) -> int | None:
        """The row id of ``run_id`` if this handle already knows it (no lookup needed)."""
        return self._result_run_pk if run_id is not None and run_id == self._result_run_id else None

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._id

    @property
    def run_id(self) -> str | None:
        """The run id operations target (None: the latest run)."""
        return self._run_id

    @property
    def result_run_id(self) -> str | None:
        """The run whose result ``result()`` starts from."""
        return self._result_run_id

    @property
    def first_execution_run_id(self) -> str | None:
        """The first run of the chain this handle belongs to."""
        return self._first_execution_run_id


class Ops:
    """The store-facing half of a client; shared by ``Client`` and ``SyncClient``."""

    def __init__(self, store: sb.Store, namespace: str, data_converter: Any, identity: str) -> None:
        self.store = store
        self.namespace = namespace
        self.data_converter = data_converter
        self.identity = identity

    # --- conversion -----------------------------------------------------------

    # The payload codec (when the converter has one) runs here, so every operation that
    # stores or reads payloads gets it: values are encoded by the payload converter and
    # then the codec before they are written; stored payloads go through the codec and
    # then the converter when read (temporalio's order). See client/_codec.py for where
    # the codec's coroutines run.

    def encode(self, values: Sequence[Any]) -> PayloadsJSON:
        """Values → ``{"payloads": [...]}``, codec applied; RPCError INVALID_ARGUMENT past the size limit."""
        payloads = self.data_converter.payload_converter.to_payloads(list(values))
        codec = self.data_converter.payload_codec
        if codec is not None and payloads:
            payloads = run_codec(codec.encode(payloads))
        encoded = payloads_to_json(list(payloads))
        check_payload_size(encoded, "arguments")  # the stored (encoded) size is what the limit is about
        return encoded

    def decode_all(self, payloads: PayloadsJSON | None, hints: list[Any] | None = None) -> list[Any]:
        """Every value of ``payloads`` (codec, then payload converter)."""
        return self._decode(payloads_from_json(payloads), hints)

    def _decode(self, raw: list[Any], hints: list[Any] | None) -> list[Any]:
        codec = self.data_converter.payload_codec
        if codec is not None and raw:
            raw = run_codec(codec.decode(raw))
        return self.data_converter.payload_converter.from_payloads(raw, hints)

    def decode_one(self, payloads: PayloadsJSON | None, hint: Any) -> Any:
        """The first value of ``payloads`` (None if empty)."""
        raw = payloads_from_json(payloads)
        values = self._decode(raw, [hint] if hint is not None and raw else None)
        return values[0] if values else None

    def decode_failure(self, failure: dict[str, Any]) -> BaseException:
        """A Failure dict → its exception (its payloads through the codec first)."""
        if self.data_converter.payload_codec is not None:
            return run_codec(self.data_converter.decode_failure(failure))
        return self.data_converter.failure_converter.from_failure(failure, self.data_converter.payload_converter)

    # --- start ------------------------------------------------------------------

    def start(
        self, workflow_type: str, args: list[Any], *, id: str, task_queue: str, **opts: Any
    ) -> sb.StartWorkflowResult:
        """Start a run; returns its run id (or the existing one's, per the conflict policy) and row id."""
        if not id:
            raise ValueError("a workflow id is required (id=...)")
        if not task_queue:
            raise ValueError("a task queue is required (task_queue=...)")
        memo = opts.get("memo")
        retry = opts.get("retry_policy")
        cron = opts.get("cron_schedule") or ""
        if cron:
            if opts.get("start_delay"):
                raise RPCError("CronSchedule and WorkflowStartDelay may not be used together",
                               RPCStatusCode.INVALID_ARGUMENT)
            try:
                validate_cron_schedule(cron)
            except SpecError as err:
                raise RPCError(f"Invalid CronSchedule: {err}", RPCStatusCode.INVALID_ARGUMENT) from None
        signal = opts.get("start_signal")
        request = sb.StartWorkflowRequest(
            workflow_id=id,
            workflow_type=workflow_type,
            task_queue=task_queue,
            input=self.encode(args),
            namespace=self.namespace,
            execution_timeout=seconds(opts.get("execution_timeout")),
            run_timeout=seconds(opts.get("run_timeout")),
            task_timeout=seconds(opts.get("task_timeout")) or 10.0,
            id_reuse_policy=int(opts.get("id_reuse_policy") or WorkflowIDReusePolicy.ALLOW_DUPLICATE),
            id_conflict_policy=int(opts.get("id_conflict_policy") or WorkflowIDConflictPolicy.UNSPECIFIED),
            retry_policy=retry.to_json() if retry is not None else None,
            memo={k: self.encode([v])["payloads"][0] for k, v in memo.items()} if memo else None,
            search_attributes=self.search_attributes(opts.get("search_attributes")) or None,
            start_delay=seconds(opts.get("start_delay")),
            identity=self.identity,
            request_id=opts.get("request_id") or str(uuid.uuid4()),
            signal_name=handler_name(signal) if signal is not None else None,
            signal_input=self.encode(list(opts.get("start_signal_args") or ())) if signal is not None else None,
            cron_schedule=opts.get("cron_schedule") or "",
        )
        with_update = opts.get("with_update")
        try:
            if with_update is not None:
                # Update-with-start: (update id, name, encoded args), admitted in the start's transaction.
                result, outcome = self.store.start_workflow_with_update(request, *with_update, self.identity)
                result.update = outcome
            else:
                result = self.store.start_workflow(request)
        except sb.RunAlreadyStarted as err:
            raise WorkflowAlreadyStartedError(id, workflow_type, run_id=err.run_id) from None
        if result.started:
            metrics.workflow_started(self.namespace, task_queue, workflow_type)
        return result

    # --- run lookups --------------------------------------------------------------

    def describe_run(self, workflow_id: str, run_id: str | None) -> sb.RunInfo:
        """The run row; ``RPCError(NOT_FOUND)`` if there is none."""
        try:
            return self.store.describe(self.namespace, workflow_id, run_id)
        except sb.RunNotFound:
            which = f"workflow {workflow_id!r}" + (f" run {run_id!r}" if run_id else "")
            raise RPCError(f"{which} not found", RPCStatusCode.NOT_FOUND) from None

    def description(self, info: sb.RunInfo) -> WorkflowExecutionDescription:
        """A RunInfo as temporalio's WorkflowExecutionDescription."""
        return WorkflowExecutionDescription(
            id=info.workflow_id, run_id=info.run_id, workflow_type=info.workflow_type,
            task_queue=info.task_queue, status=WorkflowExecutionStatus(int(info.status)),
            start_time=_dt(info.start_time), close_time=_dt(info.close_time),
            execution_time=_dt(info.execution_time), history_length=info.history_length,
            parent_id=info.parent_workflow_id, parent_run_id=info.parent_run_id,
            search_attributes=sa.decode_untyped(info.search_attributes),
            typed_search_attributes=sa.decode_typed(info.search_attributes), namespace=info.namespace,
            raw_info=info, data_converter=self.data_converter, _raw_memo=info.memo or {}, raw_description=info,
        )

    def execution(self, info: sb.RunInfo) -> WorkflowExecution:
        """A RunInfo as temporalio's WorkflowExecution (what ``list_workflows`` yields)."""
        return WorkflowExecution(
            id=info.workflow_id, run_id=info.run_id, workflow_type=info.workflow_type,
            task_queue=info.task_queue, status=WorkflowExecutionStatus(int(info.status)),
            start_time=_dt(info.start_time), close_time=_dt(info.close_time),
            execution_time=_dt(info.execution_time), history_length=info.history_length,
            parent_id=info.parent_workflow_id, parent_run_id=info.parent_run_id,
            search_attributes=sa.decode_untyped(info.search_attributes),
            typed_search_attributes=sa.decode_typed(info.search_attributes), namespace=info.namespace,
            raw_info=info, data_converter=self.data_converter, _raw_memo=info.memo or {},
        )

    # --- visibility ---------------------------------------------------------------------

    def search_attributes(self, attributes: Any) -> dict[str, Any]:
        """Start-time search attributes, encoded and checked against the namespace's registered ones.

        Raises:
            RPCError: INVALID_ARGUMENT with Temporal's message ("search attribute X is not defined", ...).
            TypeError: A value that does not fit its key (as temporalio raises it, before any request).
        """
        from temporalflow.common import _warn_on_deprecated_search_attributes
        from temporalflow.conf import settings

        if not attributes:
            return {}
        _warn_on_deprecated_search_attributes(attributes, stack_level=4)
        encoded = sa.encode_search_attributes(attributes)
        try:
            return sa.validate(encoded, sa.parse_registry(settings.SEARCH_ATTRIBUTES, self.namespace))
        except sa.SearchAttributeError as err:
            raise RPCError(str(err), RPCStatusCode.INVALID_ARGUMENT) from None

    def list_page(
        self, query: str | None, page_size: int, next_page_token: bytes | None,
    ) -> tuple[list[WorkflowExecution], bytes | None]:
        """One page of ``list_workflows``; RPCError INVALID_ARGUMENT for a bad query or token."""
        try:
            infos, token = self.store.list_runs(self.namespace, query, page_size=page_size,
                                                next_page_token=next_page_token)
        except (ListFilterError, InvalidPageToken) as err:
            raise RPCError(f"invalid query: {err}", RPCStatusCode.INVALID_ARGUMENT) from None
        return [self.execution(info) for info in infos], token

    def count(self, query: str | None) -> WorkflowExecutionCount:
        """``count_workflows``; RPCError INVALID_ARGUMENT for a bad query."""
        try:
            total, groups = self.store.count_runs(self.namespace, query)
        except ListFilterError as err:
            raise RPCError(f"invalid query: {err}", RPCStatusCode.INVALID_ARGUMENT) from None
        return WorkflowExecutionCount(count=total, groups=[
            WorkflowExecutionCountAggregationGroup(count=n, group_values=values) for values, n in groups])

    def history(self, workflow_id: str, run_id: str | None) -> WorkflowHistory:
        """The whole history of a run."""
        info = self.describe_run(workflow_id, run_id)
        return WorkflowHistory(workflow_id=workflow_id, run_id=info.run_id,
                               events=self.store.read_history(info.pk, 0))

    def outcome(self, event: HistoryEvent, result_type: Any, follow_runs: bool) -> tuple[bool, Any]:
        """``(done, value)``: a result, a raised failure, or ``(False, next_run_id)``."""
        a = event.attributes
        match event.event_type:
            case EventType.WORKFLOW_EXECUTION_COMPLETED:
                if follow_runs and a.get("new_execution_run_id"):
                    return False, a["new_execution_run_id"]  # a cron workflow's next run
                return True, self.decode_one(a.get("result"), result_type)
            case EventType.WORKFLOW_EXECUTION_FAILED:
                if follow_runs and a.get("new_execution_run_id"):
                    return False, a["new_execution_run_id"]  # retried per the workflow's RetryPolicy
                raise WorkflowFailureError(cause=self.decode_failure(a.get("failure") or {}))
            case EventType.WORKFLOW_EXECUTION_CANCELED:
                details = self.decode_all(a.get("details"))
                raise WorkflowFailureError(cause=CancelledError("Workflow cancelled", *details))
            case EventType.WORKFLOW_EXECUTION_TERMINATED:
                details = self.decode_all(a.get("details"))
                raise WorkflowFailureError(cause=TerminatedError(a.get("reason") or "Workflow terminated", *details))
            case EventType.WORKFLOW_EXECUTION_TIMED_OUT:
                if follow_runs and a.get("new_execution_run_id"):
                    return False, a["new_execution_run_id"]  # a cron workflow's next run
                raise WorkflowFailureError(cause=TimeoutError(
                    "Workflow timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]))
            case EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                if not follow_runs:
                    raise WorkflowContinuedAsNewError(a.get("new_execution_run_id", ""))
                return False, a.get("new_execution_run_id")
        raise RPCError(f"unexpected closing event {event.event_type}", RPCStatusCode.INTERNAL)

    # --- messages -----------------------------------------------------------------

    def signal(self, workflow_id: str, run_id: str | None, name: str, args: list[Any]) -> None:
        """Send a signal; RPCError NOT_FOUND for unknown or closed runs (as Temporal)."""
        try:
            self.store.signal(self.namespace, workflow_id, run_id, name, self.encode(args), identity=self.identity)
        except sb.RunNotFound:
            raise RPCError(f"workflow {workflow_id!r} not found", RPCStatusCode.NOT_FOUND) from None
        except sb.RunClosed:
            raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND) from None

    def cancel(self, workflow_id: str, run_id: str | None) -> None:
        """Request cancellation."""
        try:
            self.store.request_cancel(self.namespace, workflow_id, run_id, identity=self.identity)
        except sb.RunNotFound:
            raise RPCError(f"workflow {workflow_id!r} not found", RPCStatusCode.NOT_FOUND) from None
        except sb.RunClosed:
            raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND) from None

    def terminate(self, workflow_id: str, run_id: str | None, reason: str | None, args: list[Any]) -> None:
        """Terminate the run."""
        try:
            self.store.terminate(self.namespace, workflow_id, run_id, reason or "",
                                 details=self.encode(args), identity=self.identity)
        except sb.RunNotFound:
            raise RPCError(f"workflow {workflow_id!r} not found", RPCStatusCode.NOT_FOUND) from None
        except sb.RunClosed:
            raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND) from None

    def query_answer(self, answer: sb.QueryAnswer, result_type: Any) -> Any:
        """Decode a query's answer, raising WorkflowQueryFailedError on failure."""
        if answer.failure is not None:
            # Decoded, so a message moved into encoded attributes (and encrypted) reads as written.
            error = self.decode_failure(answer.failure)
            raise WorkflowQueryFailedError(getattr(error, "message", None) or str(error) or "query failed")
        return self.decode_one(answer.result, result_type)

    def update_outcome(self, outcome: sb.UpdateOutcome, result_type: Any) -> Any:
        """Decode a finished update, raising WorkflowUpdateFailedError on failure."""
        if outcome.failure is not None:
            raise WorkflowUpdateFailedError(self.decode_failure(outcome.failure))
        return self.decode_one(outcome.result, result_type)
