"""``RemoteClient``: the ``Client`` surface spoken over temporalflow's REST API (``temporalflow.api``).

``await Client.connect("https://host/api/", api_key="<DRF token>")`` returns one. It needs no
Django project and no database: every operation is an HTTP request (standard library
``urllib.request``, each call in a daemon thread the coroutine awaits), authenticated with
``Authorization: Token <api_key>`` as DRF's ``TokenAuthentication`` expects.

Values travel as plain JSON (the API's ``args``): this client encodes arguments with its data
converter's payload converter and sends the JSON inside each ``json/plain`` payload; results,
query answers and update results come back as JSON and are decoded with the type hint (the run
method's return type, ``result_type=``) exactly as the in-process client decodes a payload. So
dataclasses, pydantic models, datetime, UUID, Decimal, enums and sets round-trip when the
receiving side has a type hint. ``bytes`` arguments cannot be sent (the API has no binary
form); a ``bytes`` result arrives as ``{"base64": ...}`` and is decoded when the hint is
``bytes``. A payload codec cannot be applied (the server encodes with its own converter), so a
data converter with a codec is refused.

Errors are the in-process client's: ``RPCError`` with the ``RPCStatusCode`` of the HTTP status
(401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 400 INVALID_ARGUMENT, 504
DEADLINE_EXCEEDED, no answer at all UNAVAILABLE), ``WorkflowAlreadyStartedError``,
``WorkflowFailureError`` (cause rebuilt by the failure converter), ``WorkflowQueryFailedError``,
``WorkflowUpdateFailedError``.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalflow.client._errors import (
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalflow.client._ops import (
    MISSING,
    HandleBase,
    args_list,
    default_identity,
    handler_result_type,
    seconds,
    workflow_type_and_hint,
)
from temporalflow.client._remote_http import Answer, ApiError, Http, in_daemon_thread, is_api_url, rpc_error
from temporalflow.client._types import (
    WorkflowExecution,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHistory,
    WorkflowUpdateStage,
)
from temporalflow.common import QueryRejectCondition, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalflow.core import search_attributes as sa
from temporalflow.core.converter import DataConverter
from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.payload import Payload
from temporalflow.core.visibility import ListFilterError, tokenize
from temporalflow.exceptions import (
    ApplicationError,
    CancelledError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.workflow._decorators import handler_name

__all__ = [
    "RemoteClient",
    "RemoteUpdateHandle",
    "RemoteWorkflowHandle",
    "WorkflowExecutionCount",
    "is_api_url",
]

DEFAULT_RPC_TIMEOUT = 30.0
"""Seconds a request that does not wait on the server (start, signal, describe, ...) may take."""

MAX_SERVER_WAIT = 60.0
"""The API's upper bound for ``timeout`` (``temporalflow.api.serializers.MAX_TIMEOUT``)."""

RESULT_POLL = 30.0
"""Seconds one long poll of ``result/`` asks the server to wait."""

_MARGIN = 10.0
"""Seconds a waiting request's socket timeout adds to the wait it asked the server for."""

_STATUS_BY_NAME = {
    "Running": WorkflowExecutionStatus.RUNNING,
    "Completed": WorkflowExecutionStatus.COMPLETED,
    "Failed": WorkflowExecutionStatus.FAILED,
    "Canceled": WorkflowExecutionStatus.CANCELED,
    "Terminated": WorkflowExecutionStatus.TERMINATED,
    "ContinuedAsNew": WorkflowExecutionStatus.CONTINUED_AS_NEW,
    "TimedOut": WorkflowExecutionStatus.TIMED_OUT,
}

def _split_group_by(query: str) -> tuple[str, bool]:
    """``(the filter part, whether it ends with GROUP BY ExecutionStatus)``; RPCError for another GROUP BY."""
    try:
        tokens = tokenize(query)
    except ListFilterError as err:
        raise RPCError(f"invalid query: {err}", RPCStatusCode.INVALID_ARGUMENT) from None
    for i, tok in enumerate(tokens):
        if tok.kind == "keyword" and tok.value == "GROUP":
            rest = tokens[i + 1:]
            if not (len(rest) == 3 and rest[0].kind == "keyword" and rest[0].value == "BY"
                    and rest[1].kind == "ident" and str(rest[1].value).lower() == "executionstatus"
                    and rest[2].kind == "end"):
                raise RPCError(f"invalid query: GROUP BY is supported for ExecutionStatus only (at position "
                               f"{tok.position})", RPCStatusCode.INVALID_ARGUMENT)
            return query[:tok.position], True
    return query, False


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


class RemoteClient:
    """Starts and drives workflows through a temporalflow REST API (same methods as ``Client``).

    Args:
        target_host: The API's base URL, e.g. ``"https://example.com/api/"`` (where
            ``temporalflow.api.urls`` is mounted).
        api_key: A DRF token (``Authorization: Token <api_key>``).
        namespace: Informational: runs live in the server's ``TEMPORALFLOW["NAMESPACE"]``.
        data_converter: Converts arguments and results (no payload codec).
        identity: This client's identity (the server records ``api:<username>`` in history).
        rpc_metadata: Extra HTTP headers sent with every request.
        tls: An ``ssl.SSLContext`` for https (default: the system's trust store).
        rpc_timeout: Socket timeout of requests that do not wait on the server (seconds).
    """

    def __init__(
        self,
        target_host: str,
        *,
        api_key: str | None = None,
        namespace: str = "default",
        data_converter: DataConverter | None = None,
        identity: str | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
        tls: Any = None,
        rpc_timeout: timedelta | float | None = None,
    ) -> None:
        converter = data_converter or DataConverter.default
        if converter.payload_codec is not None:
            raise ValueError("the remote client cannot apply a payload codec: the REST API takes plain JSON "
                             "values and encodes them with the server's own data converter")
        self._http = Http(target_host, api_key, rpc_metadata or {}, tls)
        self._namespace = namespace
        self._data_converter = converter
        self._identity = identity or default_identity()
        self._rpc_timeout = seconds(rpc_timeout) or DEFAULT_RPC_TIMEOUT

    @classmethod
    async def connect(
        cls,
        target_host: str,
        *,
        api_key: str | None = None,
        namespace: str = "default",
        data_converter: DataConverter | None = None,
        identity: str | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
        tls: Any = None,
        rpc_timeout: timedelta | float | None = None,
        lazy: bool = False,
        **_ignored: Any,
    ) -> RemoteClient:
        """A client of the API at ``target_host``; unless ``lazy``, checks first that it answers.

        Raises:
            RPCError: UNAVAILABLE when nothing (or no temporalflow API) answers at the URL.
        """
        client = cls(target_host, api_key=api_key, namespace=namespace, data_converter=data_converter,
                     identity=identity, rpc_metadata=rpc_metadata, tls=tls, rpc_timeout=rpc_timeout)
        if not lazy:
            await client._check_reachable()
        return client

    async def _check_reachable(self) -> None:
        # The API answers every unknown path with its own JSON 404 and needs no permission for it.
        try:
            await self._call("GET", "_temporalflow_remote_client_ping/")
        except ApiError as err:
            if err.status == 404 and err.code == "not_found":
                return
            raise rpc_error(err) from None

    # --- properties -------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The namespace given to ``connect`` (the server uses its own configured namespace)."""
        return self._namespace

    @property
    def identity(self) -> str:
        """This client's identity."""
        return self._identity

    @property
    def data_converter(self) -> DataConverter:
        """The data converter."""
        return self._data_converter

    @property
    def target_host(self) -> str:
        """The API's base URL."""
        return self._http.base_url

    # --- plumbing -----------------------------------------------------------------

    async def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                    timeout: float | None = None) -> Answer:
        """One request in a thread; ``ApiError`` for error answers (callers map it)."""
        return await in_daemon_thread(functools.partial(self._http.call, method, path, params=params, body=body,
                                                         timeout=timeout or self._rpc_timeout))

    async def _request(self, method: str, path: str, **kwargs: Any) -> Answer:
        """``_call`` with every error answer mapped to ``RPCError``."""
        try:
            return await self._call(method, path, **kwargs)
        except ApiError as err:
            raise rpc_error(err) from None

    @staticmethod
    def _wf_path(workflow_id: str, action: str = "") -> str:
        if not workflow_id:
            raise ValueError("a workflow id is required")
        return "workflows/" + urllib.parse.quote(workflow_id, safe="/") + "/" + (action + "/" if action else "")

    def _to_json(self, values: Sequence[Any]) -> list[Any]:
        """Values → the plain JSON values the API takes (through the payload converter)."""
        out: list[Any] = []
        for index, payload in enumerate(self._data_converter.payload_converter.to_payloads(list(values))):
            encoding = payload.metadata.get("encoding", b"")
            if encoding == b"binary/null":
                out.append(None)
            elif encoding == b"json/plain":
                value = json.loads(payload.data)
                try:
                    json.dumps(value, allow_nan=False)
                except ValueError:
                    raise ValueError(f"argument {index} contains NaN or infinity, which JSON cannot carry"
                                     ) from None
                out.append(value)
            else:
                raise ValueError(f"argument {index} encodes as {encoding.decode(errors='replace')!r}; the REST API "
                                 "takes JSON values only (bytes and custom encodings cannot be sent)")
        return out

    def _from_json(self, value: Any, hint: Any) -> Any:
        """A JSON value from the API → a Python value of ``hint`` (as a ``json/plain`` payload decodes)."""
        if value is None:
            return None
        if hint is bytes and isinstance(value, dict) and set(value) == {"base64"}:
            return base64.b64decode(value["base64"])
        if hint is float and value in ("inf", "-inf", "nan"):
            return float(value)
        payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())
        return self._data_converter.payload_converter.from_payloads([payload], [hint] if hint is not None else None
                                                                    )[0]

    def _failure(self, obj: Any) -> BaseException:
        """The API's failure JSON (``{type, message, failure}``) → the exception the local client raises."""
        obj = obj if isinstance(obj, dict) else {}
        failure = obj.get("failure")
        if isinstance(failure, dict) and failure:
            return self._data_converter.failure_converter.from_failure(failure,
                                                                       self._data_converter.payload_converter)
        kind, message = obj.get("type"), str(obj.get("message") or "")
        if kind == "CancelledError":
            return CancelledError(message or "Workflow cancelled")
        if kind == "TerminatedError":
            return TerminatedError(message or "Workflow terminated")
        if kind == "TimeoutError":
            return TimeoutError(message or "Workflow timed out", type=TimeoutType.START_TO_CLOSE,
                                last_heartbeat_details=[])
        return ApplicationError(message, type=obj.get("application_type") or kind)

    def _execution(self, body: dict[str, Any], cls: type[WorkflowExecution] = WorkflowExecution) -> Any:
        """A run's JSON (list item or description) → ``WorkflowExecution`` / ``WorkflowExecutionDescription``."""
        pc = self._data_converter.payload_converter
        memo = {k: pc.to_payloads([v])[0].to_json() for k, v in (body.get("memo") or {}).items()}
        extra = {"raw_description": body} if cls is WorkflowExecutionDescription else {}
        attributes = sa.from_json_form(body.get("search_attributes") or {})
        status = body.get("status")
        return cls(
            id=body["workflow_id"], run_id=body["run_id"], workflow_type=body["workflow_type"],
            task_queue=body["task_queue"],
            status=_STATUS_BY_NAME.get(status) if isinstance(status, str) else WorkflowExecutionStatus(int(status)),
            start_time=_parse_time(body.get("start_time")), close_time=_parse_time(body.get("close_time")),
            execution_time=_parse_time(body.get("execution_time")), history_length=int(body["history_length"]),
            parent_id=body.get("parent_workflow_id"), parent_run_id=body.get("parent_run_id"),
            search_attributes=sa.decode_untyped(attributes), typed_search_attributes=sa.decode_typed(attributes),
            namespace=self._namespace, raw_info=body, data_converter=self._data_converter, _raw_memo=memo, **extra,
        )

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
        start_signal: str | Callable[..., Any] | None = None,
        start_signal_args: Sequence[Any] = (),
        request_id: str | None = None,
        rpc_timeout: timedelta | None = None,
        **_ignored: Any,
    ) -> RemoteWorkflowHandle:
        """Start a workflow run through ``POST workflows/`` and return its handle.

        Raises:
            WorkflowAlreadyStartedError: The id is taken (per the id policies).
            ValueError: ``cron_schedule`` (the API does not take it).
        """
        if cron_schedule:
            raise ValueError("the REST API cannot start cron workflows (cron_schedule)")
        if not id:
            raise ValueError("a workflow id is required (id=...)")
        if not task_queue:
            raise ValueError("a task queue is required (task_queue=...)")
        wf_type, hint = workflow_type_and_hint(workflow)
        body: dict[str, Any] = {
            "workflow_type": wf_type, "workflow_id": id, "task_queue": task_queue,
            "args": self._to_json(args_list(arg, args)),
            "execution_timeout": seconds(execution_timeout), "run_timeout": seconds(run_timeout),
            "task_timeout": seconds(task_timeout), "start_delay": seconds(start_delay),
            "request_id": request_id or str(uuid.uuid4()),
        }
        if id_reuse_policy is not None:
            body["id_reuse_policy"] = WorkflowIDReusePolicy(int(id_reuse_policy)).name
        if id_conflict_policy is not None and int(id_conflict_policy) != WorkflowIDConflictPolicy.UNSPECIFIED:
            body["id_conflict_policy"] = WorkflowIDConflictPolicy(int(id_conflict_policy)).name
        if retry_policy is not None:
            body["retry_policy"] = _drop_none({
                "initial_interval": seconds(retry_policy.initial_interval),
                "backoff_coefficient": retry_policy.backoff_coefficient,
                "maximum_interval": seconds(retry_policy.maximum_interval),
                "maximum_attempts": retry_policy.maximum_attempts,
                "non_retryable_error_types": list(retry_policy.non_retryable_error_types or []),
            })
        if memo:
            body["memo"] = dict(zip(memo, self._to_json(list(memo.values())), strict=True))
        if search_attributes:
            body["search_attributes"] = sa.to_json_form(sa.encode_search_attributes(search_attributes))
        if start_signal is not None:
            body["signal"] = {"name": handler_name(start_signal), "args": self._to_json(list(start_signal_args))}
        try:
            answer = await self._call("POST", "workflows/", body=_drop_none(body), timeout=seconds(rpc_timeout))
        except ApiError as err:
            if err.code == "already_started":
                raise WorkflowAlreadyStartedError(
                    err.details.get("workflow_id") or id, err.details.get("workflow_type") or wf_type,
                    run_id=err.details.get("run_id")) from None
            raise rpc_error(err) from None
        run_id = answer.body["run_id"]
        return RemoteWorkflowHandle(self, answer.body.get("workflow_id") or id, run_id=None, result_run_id=run_id,
                                    first_execution_run_id=run_id, result_type=result_type or hint)

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
    ) -> RemoteWorkflowHandle:
        """A handle to an existing workflow (its latest run unless ``run_id`` is given); no request is made."""
        return RemoteWorkflowHandle(self, workflow_id, run_id=run_id, result_run_id=run_id,
                                    first_execution_run_id=first_execution_run_id, result_type=result_type)

    def get_workflow_handle_for(
        self,
        workflow: Callable[..., Any],
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> RemoteWorkflowHandle:
        """A typed handle: the result is decoded with the run method's return type."""
        _, hint = workflow_type_and_hint(workflow)
        return self.get_workflow_handle(workflow_id, run_id=run_id, first_execution_run_id=first_execution_run_id,
                                        result_type=hint)

    async def _pages(self, query: str | None, page_size: int) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            answer = await self._request("GET", "workflows/", params={"query": query or None,
                                                                      "page_size": page_size, "cursor": cursor})
            for item in answer.body.get("results") or []:
                yield item
            nxt = answer.body.get("next")
            if not nxt:
                return
            cursor = (urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query).get("cursor") or [None])[0]
            if not cursor:
                return

    async def list_workflows(
        self, query: str | None = None, *, page_size: int = 1000, limit: int | None = None, **_ignored: Any
    ) -> AsyncIterator[WorkflowExecution]:
        """Runs matching a Temporal list filter, newest first (``async for wf in client.list_workflows(q)``)."""
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be from 1 to 1000")
        count = 0
        async for item in self._pages(query, page_size if limit is None else min(page_size, max(limit, 1))):
            if limit is not None and count >= limit:
                return
            count += 1
            yield self._execution(item)

    async def count_workflows(self, query: str | None = None, **_ignored: Any) -> WorkflowExecutionCount:
        """How many runs match (the API has no count endpoint: this pages through the list, 1000 a request).

        ``GROUP BY ExecutionStatus`` is counted here from the listed runs' statuses.

        Raises:
            RPCError: INVALID_ARGUMENT for an invalid query (the API's answer, or a GROUP BY of another
                attribute).
        """
        query, grouped = _split_group_by(query or "")
        count = 0
        by_status: dict[str, int] = {}
        async for item in self._pages(query or None, 1000):
            count += 1
            status = str(item.get("status"))
            by_status[status] = by_status.get(status, 0) + 1
        groups = [WorkflowExecutionCountAggregationGroup(count=n, group_values=[status])
                  for status, n in sorted(by_status.items(), key=lambda kv: _STATUS_BY_NAME.get(kv[0], 99))]
        return WorkflowExecutionCount(count=count, groups=groups if grouped else [])


class RemoteWorkflowHandle(HandleBase):
    """A workflow (and optionally one run) driven through the REST API; same methods as ``WorkflowHandle``."""

    def __init__(
        self, client: RemoteClient, id: str, *, run_id: str | None, result_run_id: str | None,
        first_execution_run_id: str | None, result_type: Any = None,
    ) -> None:
        super().__init__(id, run_id=run_id, result_run_id=result_run_id,
                         first_execution_run_id=first_execution_run_id, result_type=result_type)
        self._client = client

    async def result(self, *, follow_runs: bool = True, rpc_timeout: timedelta | None = None) -> Any:
        """Long-poll ``result/`` until the run closes; its result, or ``WorkflowFailureError``.

        Raises:
            RPCError: DEADLINE_EXCEEDED when ``rpc_timeout`` passes first.
            ValueError: ``follow_runs=False`` (the API always follows retries and continue-as-new).
        """
        if not follow_runs:
            raise ValueError("the REST API always follows runs (retries, continue-as-new): follow_runs=False "
                             "is not supported by the remote client")
        timeout = seconds(rpc_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        path = self._client._wf_path(self._id, "result")
        while True:
            wait = RESULT_POLL if deadline is None else max(0.0, min(RESULT_POLL, deadline - time.monotonic()))
            answer = await self._client._request(
                "GET", path, params={"run_id": self._result_run_id or self._run_id, "timeout": f"{wait:.3f}"},
                timeout=wait + _MARGIN)
            body = answer.body
            if answer.status == 200 and body.get("done"):
                if body.get("failure") is not None:
                    raise WorkflowFailureError(cause=self._client._failure(body["failure"]))
                return self._client._from_json(body.get("result"), self._result_type)
            if deadline is not None and time.monotonic() >= deadline:
                raise RPCError("timed out waiting for the workflow result", RPCStatusCode.DEADLINE_EXCEEDED)

    async def signal(
        self, signal: Callable[..., Any] | str, arg: Any = MISSING, *, args: Sequence[Any] = (),
        rpc_timeout: timedelta | None = None, **_ignored: Any,
    ) -> None:
        """Send a signal (recorded in history before this returns)."""
        body = _drop_none({"name": handler_name(signal), "args": self._client._to_json(args_list(arg, args)),
                           "run_id": self._run_id})
        await self._client._request("POST", self._client._wf_path(self._id, "signal"), body=body,
                                    timeout=seconds(rpc_timeout))

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
        """Run a query handler on a worker (the API waits for a worker's answer)."""
        name = handler_name(query)
        result_type = handler_result_type(query, result_type)
        if reject_condition in (QueryRejectCondition.NOT_OPEN, QueryRejectCondition.NOT_COMPLETED_CLEANLY):
            status = (await self.describe()).status
            bad = status != WorkflowExecutionStatus.RUNNING
            if reject_condition == QueryRejectCondition.NOT_COMPLETED_CLEANLY:
                bad = status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)
            if bad:
                raise WorkflowQueryRejectedError(status)
        wait = min(max(seconds(rpc_timeout) or 30.0, 0.1), MAX_SERVER_WAIT)
        body = _drop_none({"name": name, "args": self._client._to_json(args_list(arg, args)), "run_id": self._run_id,
                           "timeout": wait})
        try:
            answer = await self._client._call("POST", self._client._wf_path(self._id, "query"), body=body,
                                              timeout=wait + _MARGIN)
        except ApiError as err:
            if err.code in ("query_failed", "unknown_query"):
                raise WorkflowQueryFailedError(err.message) from None
            if err.code == "deadline_exceeded":
                raise RPCError("query timed out: no worker answered (is a worker running for this task queue?)",
                               RPCStatusCode.DEADLINE_EXCEEDED) from None
            raise rpc_error(err) from None
        return self._client._from_json(answer.body.get("result"), result_type)

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
    ) -> RemoteUpdateHandle:
        """Send an update; the API answers when it completes (it has no accepted-only wait).

        With ``wait_for_stage=ACCEPTED`` this waits up to ``rpc_timeout`` (default 10 s) for the
        outcome and, if none arrived yet, returns the handle of the admitted update (its
        ``result()`` asks again with the same update id; a validator rejection then surfaces
        there). With ``COMPLETED`` it waits up to ``rpc_timeout`` (default 60 s) and raises
        ``WorkflowUpdateRPCTimeoutOrCancelledError`` when no outcome arrived.

        Raises:
            WorkflowUpdateFailedError: Rejected by the validator, or the handler failed (the API
                does not tell the two apart), or the workflow has no such update handler.
        """
        if wait_for_stage == WorkflowUpdateStage.ADMITTED:
            raise ValueError("wait_for_stage ADMITTED is not supported; use ACCEPTED or COMPLETED")
        handle = RemoteUpdateHandle(self._client, id or str(uuid.uuid4()), self._id, self._run_id,
                                    handler_name(update), self._client._to_json(args_list(arg, args)),
                                    handler_result_type(update, result_type))
        default = 10.0 if wait_for_stage == WorkflowUpdateStage.ACCEPTED else MAX_SERVER_WAIT
        done = await handle._ask(seconds(rpc_timeout) or default)
        if not done and wait_for_stage == WorkflowUpdateStage.COMPLETED:
            raise WorkflowUpdateRPCTimeoutOrCancelledError()
        if handle._failure is not None:
            raise WorkflowUpdateFailedError(handle._failure)
        return handle

    async def execute_update(self, update: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> Any:
        """Send an update and wait for its result."""
        kwargs["wait_for_stage"] = WorkflowUpdateStage.COMPLETED
        handle = await self.start_update(update, arg, **kwargs)
        return await handle.result()

    async def cancel(self, *, rpc_timeout: timedelta | None = None, **_ignored: Any) -> None:
        """Request cancellation (the workflow sees ``asyncio.CancelledError``)."""
        await self._client._request("POST", self._client._wf_path(self._id, "cancel"),
                                    body=_drop_none({"run_id": self._run_id}), timeout=seconds(rpc_timeout))

    async def terminate(self, *args: Any, reason: str | None = None, rpc_timeout: timedelta | None = None,
                        **_ignored: Any) -> None:
        """Terminate the run at once (the API takes a reason, not details: ``args`` are refused)."""
        if args:
            raise ValueError("the REST API does not take termination details; pass reason=")
        await self._client._request("POST", self._client._wf_path(self._id, "terminate"),
                                    body=_drop_none({"run_id": self._run_id, "reason": reason or None}),
                                    timeout=seconds(rpc_timeout))

    async def describe(self, *, rpc_timeout: timedelta | None = None, **_ignored: Any) -> WorkflowExecutionDescription:
        """The run's current state."""
        answer = await self._client._request("GET", self._client._wf_path(self._id),
                                             params={"run_id": self._run_id}, timeout=seconds(rpc_timeout))
        return self._client._execution(answer.body, WorkflowExecutionDescription)

    async def fetch_history(self, *, page_size: int = 1000, rpc_timeout: timedelta | None = None,
                            **_ignored: Any) -> WorkflowHistory:
        """The run's whole history, fetched a page at a time."""
        events: list[HistoryEvent] = []
        run_id = self._run_id
        token: str | None = None
        path = self._client._wf_path(self._id, "history")
        while True:
            answer = await self._client._request("GET", path, timeout=seconds(rpc_timeout), params={
                "run_id": run_id, "page_size": page_size, "next_page_token": token})
            run_id = answer.body["run_id"]  # later pages stay on the run the first one found
            for e in answer.body.get("events") or []:
                when = _parse_time(e.get("event_time"))
                events.append(HistoryEvent(event_id=int(e["event_id"]), event_type=EventType(e["event_type"]),
                                           event_time=when.timestamp() if when is not None else math.nan,
                                           attributes=dict(e.get("attributes") or {})))
            token = answer.body.get("next_page_token")
            if not token:
                return WorkflowHistory(workflow_id=self._id, run_id=run_id or "", events=events)

    async def fetch_history_events(self, **kwargs: Any) -> AsyncIterator[HistoryEvent]:
        """Iterate over the run's history events."""
        for event in (await self.fetch_history(**kwargs)).events:
            yield event


class RemoteUpdateHandle:
    """An update sent through the REST API: ``result()`` returns or raises its outcome."""

    def __init__(self, client: RemoteClient, id: str, workflow_id: str, workflow_run_id: str | None, name: str,
                 args: list[Any], result_type: Any) -> None:
        self._client = client
        self._id = id
        self._workflow_id = workflow_id
        self._workflow_run_id = workflow_run_id
        self._name = name
        self._args = args
        self._result_type = result_type
        self._done = False
        self._result: Any = None
        self._failure: BaseException | None = None

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
        """The run the update went to (known once the API answered)."""
        return self._workflow_run_id

    async def _ask(self, wait: float) -> bool:
        """POST the update (idempotent by update id) and wait up to ``wait`` s; True when the outcome is known."""
        wait = min(max(wait, 0.1), MAX_SERVER_WAIT)
        body = _drop_none({"name": self._name, "args": self._args, "update_id": self._id,
                           "run_id": self._workflow_run_id, "timeout": wait})
        try:
            answer = await self._client._call("POST", self._client._wf_path(self._workflow_id, "update"), body=body,
                                              timeout=wait + _MARGIN)
        except ApiError as err:
            if err.code == "deadline_exceeded":
                return False
            if err.code == "update_failed":
                self._done, self._failure = True, self._client._failure(err.details.get("failure"))
                return True
            if err.code == "unknown_update":
                self._done = True
                self._failure = ApplicationError(err.message, type="UpdateNotFound", non_retryable=True)
                return True
            raise rpc_error(err) from None
        self._done = True
        self._workflow_run_id = answer.body.get("run_id") or self._workflow_run_id
        self._result = self._client._from_json(answer.body.get("result"), self._result_type)
        return True

    async def result(self, *, rpc_timeout: timedelta | None = None) -> Any:
        """Wait for the update to complete; its result, or ``WorkflowUpdateFailedError``."""
        timeout = seconds(rpc_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            remaining = MAX_SERVER_WAIT if deadline is None else deadline - time.monotonic()
            if remaining <= 0 or not await self._ask(remaining):
                if deadline is not None and time.monotonic() >= deadline:
                    raise WorkflowUpdateRPCTimeoutOrCancelledError()
        if self._failure is not None:
            raise WorkflowUpdateFailedError(self._failure)
        return self._result
