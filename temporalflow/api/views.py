"""The REST API's views: every state change goes through ``SyncClient``; lists read the models.

Runs are addressed by workflow id (``/workflows/{workflow_id}/...``); ``run_id`` (a query
parameter for GETs, a body field for POSTs) picks one run, otherwise the latest run of the
id is meant. Errors use the format of :mod:`temporalflow.api.errors`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import Count
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from temporalflow.api import serializers as s
from temporalflow.api.errors import ApiError, error_response, exception_handler, failure_json
from temporalflow.api.permissions import VIEW, ActionPermission
from temporalflow.client import (
    SyncClient,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalflow.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalflow.conf import get_data_converter
from temporalflow.conf import settings as tf_settings
from temporalflow.core import search_attributes as sa
from temporalflow.core.converter import DataConverter
from temporalflow.core.payload import Payload
from temporalflow.core.visibility import STATUS_NAMES, ListFilterError
from temporalflow.exceptions import CancelledError, TerminatedError, TimeoutError
from temporalflow.models import (
    ActivityTask,
    ActivityTaskState,
    HistoryEvent,
    RunStatus,
    TaskQueuePoller,
    WorkflowRun,
    WorkflowTaskState,
)
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.store._visibility import filter_q, order_by, parse_query

__all__ = [
    "CancelView",
    "HistoryView",
    "NotFoundView",
    "QueryView",
    "ResultView",
    "SignalView",
    "TaskQueueDetailView",
    "TaskQueueListView",
    "TerminateView",
    "UpdateView",
    "WorkflowDetailView",
    "WorkflowListView",
]

STATUS_BY_VALUE = {value: name for name, value in STATUS_NAMES.items()}
MAX_PAGE_SIZE = 1000
DEFAULT_RESULT_TIMEOUT = 20.0
_QUERY_NOT_FOUND = re.compile(r"^Query handler for '.*' expected but not found")

_ERRORS = {code: OpenApiResponse(s.ErrorSerializer, description=text) for code, text in {
    400: "Invalid request (error.code says why: validation_error, malformed_request, invalid_query, ...).",
    401: "Not authenticated.",
    403: "Authenticated but missing the action's permission.",
    404: "No such workflow or run.",
    409: "The run is closed, or the workflow id is already started.",
}.items()}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: _ERRORS[code] for code in (400, 401, 403, *codes)}


RUN_ID_PARAM = OpenApiParameter("run_id", str, description="A specific run (default: the latest run of the id).")

# --- helpers ------------------------------------------------------------------------------


def _client(request: Request) -> SyncClient:
    """A client whose identity (recorded in the history events it causes) names the API user."""
    return SyncClient.connect(namespace=tf_settings.NAMESPACE, identity=f"api:{request.user.get_username()}")


def _runs() -> Any:
    return WorkflowRun.objects.using(tf_settings.DATABASE_ALIAS).filter(namespace=tf_settings.NAMESPACE)


def _jsonable(value: Any) -> Any:
    """A decoded value as strict JSON: bytes become ``{"base64": ...}``, other non-JSON values their ``str``."""
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # strict JSON has no inf/nan
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _decode_payload(payload: Any) -> Any:
    """A stored payload's value, through the project's converter (``TEMPORALFLOW["DATA_CONVERTER"]``).

    Its codec runs first, so payloads stored encrypted or compressed are shown decoded here
    exactly when this process is configured with the codec that wrote them.
    """
    converter: DataConverter = get_data_converter()
    decoded = [Payload.from_json(payload)]
    if converter.payload_codec is not None:
        decoded = async_to_sync(converter.payload_codec.decode)(decoded)
        if len(decoded) != 1:
            raise ValueError(f"the payload codec returned {len(decoded)} payloads for one")
    return _jsonable(converter.payload_converter.from_payloads(decoded)[0])


def _is_payload(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) and "encoding" in obj["metadata"]
            and isinstance(obj.get("data", ""), str))


def _with_decoded(obj: Any) -> Any:
    """Copy of event attributes where each payload also carries its ``decoded`` value."""
    if _is_payload(obj):
        try:
            return {**obj, "decoded": _decode_payload(obj)}
        except Exception as err:  # a payload this process cannot decode (custom codec): say so
            return {**obj, "decode_error": str(err)}
    if isinstance(obj, dict):
        return {k: _with_decoded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_with_decoded(v) for v in obj]
    return obj


def _memo(raw: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, payload in (raw or {}).items():
        try:
            out[key] = _decode_payload(payload)
        except Exception:  # keep the raw payload rather than fail the whole answer
            out[key] = payload
    return out


def _dt(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_json(run: WorkflowRun) -> dict[str, Any]:
    """A ``WorkflowRun`` row as the API shows it."""
    return {
        "workflow_id": run.workflow_id,
        "run_id": run.run_id,
        "workflow_type": run.workflow_type,
        "task_queue": run.task_queue,
        "status": STATUS_BY_VALUE.get(run.status, str(run.status)),
        "start_time": _iso(run.start_time),
        "execution_time": _iso(run.execution_time),
        "close_time": _iso(run.close_time),
        "history_length": run.next_event_id - 1,
        "parent_workflow_id": run.parent_workflow_id,
        "parent_run_id": run.parent_run_id,
        "memo": _memo(run.memo),
        "search_attributes": sa.to_json_form(run.search_attributes),
    }


def _description_json(desc: Any) -> dict[str, Any]:
    return {
        "workflow_id": desc.id,
        "run_id": desc.run_id,
        "workflow_type": desc.workflow_type,
        "task_queue": desc.task_queue,
        "status": STATUS_BY_VALUE.get(int(desc.status), desc.status.name),
        "start_time": _iso(desc.start_time),
        "execution_time": _iso(desc.execution_time),
        "close_time": _iso(desc.close_time),
        "history_length": desc.history_length,
        "parent_workflow_id": desc.parent_id,
        "parent_run_id": desc.parent_run_id,
        "memo": _memo(desc.raw_info.memo if desc.raw_info is not None else {}),
        "search_attributes": sa.to_json_form(desc.raw_info.search_attributes if desc.raw_info is not None else {}),
    }


def _find_run(workflow_id: str, run_id: str | None) -> WorkflowRun | None:
    runs = _runs().filter(workflow_id=workflow_id)
    if run_id:
        return runs.filter(run_id=run_id).first()
    return runs.order_by("-id").first()


def _get_run(workflow_id: str, run_id: str | None) -> WorkflowRun:
    run = _find_run(workflow_id, run_id)
    if run is None:
        which = f"workflow {workflow_id!r}" + (f" run {run_id!r}" if run_id else "")
        raise ApiError(404, "not_found", f"{which} not found", {"workflow_id": workflow_id, "run_id": run_id})
    return run


def _closed_error(run: WorkflowRun) -> ApiError:
    status = STATUS_BY_VALUE.get(run.status, str(run.status))
    return ApiError(409, "workflow_closed", f"workflow {run.workflow_id!r} run {run.run_id!r} is closed ({status})",
                    {"workflow_id": run.workflow_id, "run_id": run.run_id, "status": status})


def _require_open(workflow_id: str, run_id: str | None) -> WorkflowRun:
    run = _get_run(workflow_id, run_id)
    if run.status != RunStatus.RUNNING:
        raise _closed_error(run)
    return run


def _reraise_closed(err: RPCError, workflow_id: str, run_id: str | None) -> None:
    """The client answers NOT_FOUND for closed runs too (as Temporal); say 409 when the run exists."""
    if err.status == RPCStatusCode.NOT_FOUND:
        run = _find_run(workflow_id, run_id)
        if run is not None and run.status != RunStatus.RUNNING:
            raise _closed_error(run) from None
    raise err


def _float_param(request: Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (low <= value <= high):  # also refuses nan
        raise ApiError(400, "validation_error", f"{name} must be a number from {low:g} to {high:g}",
                       {"fields": {name: [f"a number from {low:g} to {high:g}"]}})
    return value


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not (low <= value <= high):
        raise ApiError(400, "validation_error", f"{name} must be an integer from {low} to {high}",
                       {"fields": {name: [f"an integer from {low} to {high}"]}})
    return value


def _validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ApiError(400, "malformed_request", "the request body must be a JSON object")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _Base(APIView):
    """Shared configuration: our permission check, error format and OpenAPI schema class."""

    waits = False
    """True for views that wait for a worker (query, update, result): never inside ``ATOMIC_REQUESTS``."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """The view function; a waiting view opts out of ``ATOMIC_REQUESTS`` (no transaction held while it polls)."""
        view = super().as_view(**initkwargs)
        return transaction.non_atomic_requests(view) if cls.waits else view

    permission_classes = [ActionPermission]
    required_permissions: tuple[str, ...] = (VIEW,)
    schema = AutoSchema()

    def get_exception_handler(self) -> Any:
        """Always the API's own handler, whatever ``REST_FRAMEWORK['EXCEPTION_HANDLER']`` says."""
        return exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions: refuse NUL characters in the path and query string.

        PostgreSQL cannot store or compare text containing NUL, so such an id can name no run.
        """
        super().initial(request, *args, **kwargs)
        for name, value in [*kwargs.items(), *request.query_params.items()]:
            if isinstance(value, str) and "\x00" in value:
                raise ApiError(400, "validation_error", f"{name} must not contain NUL characters",
                               {"fields": {name: ["NUL characters are not allowed"]}})

    def get_permissions(self) -> list[Any]:
        """Per-method permissions: ``required_permissions_by_method`` overrides ``required_permissions``."""
        by_method = getattr(self, "required_permissions_by_method", {})
        self.required_permissions = by_method.get(self.request.method, type(self).required_permissions)
        return super().get_permissions()


# --- workflows --------------------------------------------------------------------------


class _RunCursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


def _ordered_page(request: Request, runs: Any) -> Response:
    """A page of a query with ``ORDER BY``: the cursor is an offset (the order need not be unique)."""
    page_size = _int_param(request, "page_size", _RunCursor.page_size, 1, MAX_PAGE_SIZE)
    raw = request.query_params.get("cursor")
    offset = 0
    if raw:
        try:
            kind, _, number = base64.urlsafe_b64decode(raw.encode()).decode().partition(":")
            offset = int(number)
            if kind != "o" or offset < 0:
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_cursor", "Invalid cursor") from None
    rows = list(runs[offset:offset + page_size + 1])

    def link(at: int) -> str:
        cursor = base64.urlsafe_b64encode(f"o:{at}".encode()).decode()
        return replace_query_param(request.build_absolute_uri(), "cursor", cursor)

    return Response({
        "next": link(offset + page_size) if len(rows) > page_size else None,
        "previous": link(max(offset - page_size, 0)) if offset > 0 else None,
        "results": [run_json(r) for r in rows[:page_size]],
    })


class WorkflowListView(_Base):
    """``GET``: list runs filtered with Temporal's list-filter syntax. ``POST``: start a workflow."""

    required_permissions_by_method = {"GET": (VIEW,), "POST": ("temporalflow.start_workflow",)}

    @extend_schema(
        operation_id="workflows_list", summary="List workflow runs",
        parameters=[
            OpenApiParameter("query", str, description="Temporal list filter over the standard and the registered "
                             "custom search attributes, e.g. WorkflowType = 'OrderWorkflow' AND "
                             "ExecutionStatus = 'Running' AND CustomerId = 'c-42' ORDER BY StartTime DESC"),
            OpenApiParameter("page_size", int, description=f"Runs per page (default 50, max {MAX_PAGE_SIZE})."),
            OpenApiParameter("cursor", str, description="The cursor of the 'next' link of the previous page."),
        ],
        responses={200: inline_serializer("PaginatedRunList", {
            "next": serializers.URLField(allow_null=True, help_text="The next page (null on the last page)."),
            "previous": serializers.URLField(allow_null=True),
            "results": s.RunSerializer(many=True)}), **_errors()},
    )
    def get(self, request: Request) -> Response:
        """List runs, newest first, in pages (cursor pagination)."""
        namespace = tf_settings.NAMESPACE
        try:
            parsed = parse_query(request.query_params.get("query", ""), namespace)
            if parsed.group_by:
                raise ListFilterError("GROUP BY is only supported by count_workflows", parsed.group_position)
        except ListFilterError as err:
            raise ApiError(400, "invalid_query", err.message, {"position": err.position}) from None
        runs = _runs().filter(filter_q(parsed.where, namespace))
        if parsed.order_by:
            return _ordered_page(request, order_by(runs, parsed, namespace))
        paginator = _RunCursor()
        try:
            page = paginator.paginate_queryset(runs, request, view=self)
        except NotFound as err:
            raise ApiError(400, "invalid_cursor", str(err.detail)) from None
        return paginator.get_paginated_response([run_json(r) for r in page or []])

    @extend_schema(
        operation_id="workflows_start", summary="Start a workflow",
        description="Starts a run by workflow type NAME. The API cannot know which types the workers register: "
                    "a start with an unknown type succeeds and the run's first workflow task fails "
                    "(WorkflowTaskFailed) until a worker that knows the type picks it up. 201 when a run was "
                    "started; 200 with started=false when id_conflict_policy=USE_EXISTING returned the running "
                    "one. Signal-with-start (a 'signal' object) also needs temporalflow.signal_workflow.",
        request=s.StartSerializer,
        responses={201: s.StartedSerializer,
                   200: OpenApiResponse(s.StartedSerializer, description="USE_EXISTING: the running run."),
                   **_errors(409)},
    )
    def post(self, request: Request) -> Response:
        """Start a workflow run through the client."""
        data = _validated(s.StartSerializer, request)
        signal = data.get("signal")
        if signal and not request.user.has_perm("temporalflow.signal_workflow"):
            raise ApiError(403, "permission_denied",
                           "signal-with-start needs the permission temporalflow.signal_workflow")
        opts: dict[str, Any] = {}
        for key in ("execution_timeout", "run_timeout", "task_timeout", "start_delay"):
            if data.get(key) is not None:
                opts[key] = timedelta(seconds=data[key])
        if data.get("id_reuse_policy"):
            opts["id_reuse_policy"] = WorkflowIDReusePolicy[data["id_reuse_policy"]]
        if data.get("id_conflict_policy"):
            opts["id_conflict_policy"] = WorkflowIDConflictPolicy[data["id_conflict_policy"]]
        if data.get("memo"):
            opts["memo"] = data["memo"]
        if data.get("search_attributes"):
            # The registry types plain JSON values (as Temporal's server types the untyped form).
            opts["search_attributes"] = {
                name: (value if isinstance(value, list) else [value])
                for name, value in ((name, entry["value"] if isinstance(entry, dict) and "value" in entry else entry)
                                    for name, entry in data["search_attributes"].items())}
        if rp := data.get("retry_policy"):
            try:
                opts["retry_policy"] = RetryPolicy(
                    initial_interval=timedelta(seconds=rp["initial_interval"]),
                    backoff_coefficient=rp["backoff_coefficient"],
                    maximum_interval=(timedelta(seconds=rp["maximum_interval"])
                                      if rp.get("maximum_interval") is not None else None),
                    maximum_attempts=rp["maximum_attempts"],
                    non_retryable_error_types=list(rp["non_retryable_error_types"]),
                )
            except ValueError as err:
                raise ApiError(400, "validation_error", str(err), {"fields": {"retry_policy": [str(err)]}}) from None
        if signal:
            opts["start_signal"] = signal["name"]
            opts["start_signal_args"] = signal["args"]
        request_id = data.get("request_id") or str(uuid.uuid4())
        try:
            with warnings.catch_warnings():  # the untyped form is deprecated for callers, not for the API
                warnings.simplefilter("ignore", DeprecationWarning)
                handle = _client(request).start_workflow(
                    data["workflow_type"], args=data["args"], id=data["workflow_id"],
                    task_queue=data.get("task_queue") or tf_settings.DEFAULT_TASK_QUEUE, request_id=request_id,
                    **opts)
        except (ValueError, TypeError) as err:  # the client's own argument checks
            raise ApiError(400, "invalid_argument", str(err)) from None
        run_id = handle.result_run_id
        started = _runs().filter(run_id=run_id, request_id=request_id).exists()
        return Response({"workflow_id": handle.id, "run_id": run_id, "started": started},
                        status=201 if started else 200)


class WorkflowDetailView(_Base):
    """Describe a run."""

    @extend_schema(operation_id="workflows_describe", summary="Describe a workflow run", parameters=[RUN_ID_PARAM],
                   responses={200: s.RunSerializer, **_errors(404)})
    def get(self, request: Request, workflow_id: str) -> Response:
        """The run's description (through the client)."""
        run_id = request.query_params.get("run_id") or None
        desc = _client(request).get_workflow_handle(workflow_id, run_id=run_id).describe()
        return Response(_description_json(desc))


class HistoryView(_Base):
    """A run's history, a page at a time."""

    @extend_schema(
        operation_id="workflows_history", summary="Workflow run history",
        parameters=[
            RUN_ID_PARAM,
            OpenApiParameter("after", int, description="Return events with event_id greater than this (default 0)."),
            OpenApiParameter("next_page_token", str, description="The previous page's next_page_token."),
            OpenApiParameter("page_size", int, description=f"Events per page (default 100, max {MAX_PAGE_SIZE})."),
            OpenApiParameter("decode", bool, description="Add each payload's decoded value ('decoded')."),
        ],
        responses={200: s.HistorySerializer, **_errors(404)},
    )
    def get(self, request: Request, workflow_id: str) -> Response:
        """Events after ``after`` (or ``next_page_token``), oldest first."""
        run = _get_run(workflow_id, request.query_params.get("run_id") or None)
        token = request.query_params.get("next_page_token")
        if token:
            if not token.isdigit():
                raise ApiError(400, "invalid_page_token", "next_page_token is not one this API returned")
            after = int(token)
        else:
            after = _int_param(request, "after", 0, 0, 2**31 - 1)
        size = _int_param(request, "page_size", 100, 1, MAX_PAGE_SIZE)
        decode = request.query_params.get("decode", "").lower() in ("1", "true", "yes")
        rows = list(HistoryEvent.objects.using(tf_settings.DATABASE_ALIAS)
                    .filter(run=run, event_id__gt=after).order_by("event_id")[:size + 1])
        more = len(rows) > size
        rows = rows[:size]
        events = []
        for row in rows:
            attributes = _jsonable(json.loads(row.attributes)) if row.attributes else {}
            events.append({"event_id": row.event_id, "event_type": row.event_type, "event_time": _dt(row.event_time),
                           "attributes": _with_decoded(attributes) if decode else attributes})
        return Response({"workflow_id": run.workflow_id, "run_id": run.run_id, "events": events,
                         "next_page_token": str(rows[-1].event_id) if more else None})


class SignalView(_Base):
    """Send a signal."""

    required_permissions = ("temporalflow.signal_workflow",)

    @extend_schema(operation_id="workflows_signal", summary="Signal a workflow run",
                   description="Signals are recorded whatever their name (as in Temporal): a name the workflow has "
                               "no handler for is buffered by the workflow, not refused.",
                   request=s.SignalSerializer, responses={200: s.OkSerializer, **_errors(404, 409)})
    def post(self, request: Request, workflow_id: str) -> Response:
        """Record a ``WorkflowExecutionSignaled`` event (through the client)."""
        data = _validated(s.SignalSerializer, request)
        run_id = data.get("run_id")
        try:
            handle = _client(request).get_workflow_handle(workflow_id, run_id=run_id)
            handle.signal(data["name"], args=data["args"])
        except RPCError as err:
            _reraise_closed(err, workflow_id, run_id)
        return Response({"workflow_id": workflow_id, "run_id": run_id})


class QueryView(_Base):
    """Run a query on a worker."""

    waits = True

    @extend_schema(
        operation_id="workflows_query", summary="Query a workflow run",
        description="A worker of the run's task queue answers. 400 unknown_query when the workflow has no handler "
                    "of that name, 422 query_failed when the handler raised (e.g. arguments that do not decode), "
                    "504 deadline_exceeded when no worker answered within the timeout.",
        request=s.QuerySerializer,
        responses={200: s.QueryResultSerializer, 422: OpenApiResponse(s.ErrorSerializer),
                   504: OpenApiResponse(s.ErrorSerializer), **_errors(404)},
    )
    def post(self, request: Request, workflow_id: str) -> Response:
        """The query handler's answer."""
        data = _validated(s.QuerySerializer, request)
        handle = _client(request).get_workflow_handle(workflow_id, run_id=data.get("run_id"))
        try:
            result = handle.query(data["name"], args=data["args"], rpc_timeout=timedelta(seconds=data["timeout"]))
        except WorkflowQueryFailedError as err:
            if _QUERY_NOT_FOUND.match(err.message):
                raise ApiError(400, "unknown_query", err.message, {"name": data["name"]}) from None
            raise
        return Response({"result": _jsonable(result)})


class UpdateView(_Base):
    """Send an update and wait for its outcome."""

    waits = True

    required_permissions = ("temporalflow.update_workflow",)

    @extend_schema(
        operation_id="workflows_update", summary="Update a workflow run",
        description="Waits (up to timeout seconds) for the update to complete. 400 unknown_update when the "
                    "workflow has no handler of that name, 422 update_failed when the validator rejected it or "
                    "the handler failed, 409 workflow_closed, 504 deadline_exceeded when no outcome arrived in "
                    "time (the update stays admitted; retry with the same update_id).",
        request=s.UpdateSerializer,
        responses={200: s.UpdateResultSerializer, 422: OpenApiResponse(s.ErrorSerializer),
                   504: OpenApiResponse(s.ErrorSerializer), **_errors(404, 409)},
    )
    def post(self, request: Request, workflow_id: str) -> Response:
        """The update handler's result."""
        data = _validated(s.UpdateSerializer, request)
        run_id = data.get("run_id")
        _require_open(workflow_id, run_id)
        handle = _client(request).get_workflow_handle(workflow_id, run_id=run_id)
        update_id = data.get("update_id") or str(uuid.uuid4())
        try:
            update = handle.start_update(data["name"], args=data["args"], id=update_id,
                                         wait_for_stage=WorkflowUpdateStage.COMPLETED,
                                         rpc_timeout=timedelta(seconds=data["timeout"]))
            result = update.result()
        except RPCError as err:
            _reraise_closed(err, workflow_id, run_id)
        except WorkflowUpdateFailedError as err:
            if getattr(err.cause, "type", None) == "UpdateNotFound":
                raise ApiError(400, "unknown_update", failure_json(err.cause)["message"],
                               {"name": data["name"], "update_id": update_id}) from None
            raise ApiError(422, "update_failed", failure_json(err.cause)["message"],
                           {"update_id": update_id, "failure": failure_json(err.cause)}) from None
        return Response({"update_id": update.id, "run_id": update.workflow_run_id, "result": _jsonable(result)})


class CancelView(_Base):
    """Request cancellation."""

    required_permissions = ("temporalflow.cancel_workflow",)

    @extend_schema(operation_id="workflows_cancel", summary="Cancel a workflow run", request=s.CancelSerializer,
                   responses={200: s.OkSerializer, **_errors(404, 409)})
    def post(self, request: Request, workflow_id: str) -> Response:
        """Record ``WorkflowExecutionCancelRequested`` (the workflow decides how to end)."""
        data = _validated(s.CancelSerializer, request)
        run_id = data.get("run_id")
        try:
            _client(request).get_workflow_handle(workflow_id, run_id=run_id).cancel()
        except RPCError as err:
            _reraise_closed(err, workflow_id, run_id)
        return Response({"workflow_id": workflow_id, "run_id": run_id})


class TerminateView(_Base):
    """Terminate a run."""

    required_permissions = ("temporalflow.terminate_workflow",)

    @extend_schema(operation_id="workflows_terminate", summary="Terminate a workflow run",
                   request=s.TerminateSerializer, responses={200: s.OkSerializer, **_errors(404, 409)})
    def post(self, request: Request, workflow_id: str) -> Response:
        """Close the run at once with ``WorkflowExecutionTerminated``."""
        data = _validated(s.TerminateSerializer, request)
        run_id = data.get("run_id")
        try:
            handle = _client(request).get_workflow_handle(workflow_id, run_id=run_id)
            handle.terminate(reason=data.get("reason") or None)
        except RPCError as err:
            _reraise_closed(err, workflow_id, run_id)
        return Response({"workflow_id": workflow_id, "run_id": run_id})


def _failure_status(cause: BaseException | None) -> str:
    if isinstance(cause, CancelledError):
        return "Canceled"
    if isinstance(cause, TerminatedError):
        return "Terminated"
    if isinstance(cause, TimeoutError):
        return "TimedOut"
    return "Failed"


class ResultView(_Base):
    """Long-poll a run's result."""

    waits = True

    @extend_schema(
        operation_id="workflows_result", summary="Wait for a workflow result",
        description=f"Waits up to ?timeout= seconds (default {DEFAULT_RESULT_TIMEOUT:g}, max {s.MAX_TIMEOUT:g}; 0 "
                    "answers at once) for the run to close, following retries and continue-as-new. 200 with "
                    "done=true and 'result' when it completed, or 'failure' when it failed, was cancelled, "
                    "terminated or timed out (the request succeeded; the workflow did not). 202 with done=false "
                    "and the current status when it is still open: ask again.",
        parameters=[RUN_ID_PARAM, OpenApiParameter("timeout", float, description="Seconds to wait.")],
        responses={200: s.ResultSerializer, 202: s.ResultSerializer, **_errors(404)},
    )
    def get(self, request: Request, workflow_id: str) -> Response:
        """The result, the failure, or 202 when the run is still open."""
        run_id = request.query_params.get("run_id") or None
        timeout = _float_param(request, "timeout", DEFAULT_RESULT_TIMEOUT, 0.0, s.MAX_TIMEOUT)
        handle = _client(request).get_workflow_handle(workflow_id, run_id=run_id)
        body: dict[str, Any] = {"workflow_id": workflow_id, "run_id": run_id}
        try:
            value = handle.result(timeout=timeout)
        except RPCError as err:
            if err.status != RPCStatusCode.DEADLINE_EXCEEDED:
                raise
            run = _get_run(workflow_id, run_id)
            body.update(run_id=run.run_id, done=False, status=STATUS_BY_VALUE.get(run.status, str(run.status)))
            return Response(body, status=202)
        except WorkflowFailureError as err:
            body.update(done=True, status=_failure_status(err.cause), failure=failure_json(err.cause))
            return Response(body)
        body.update(done=True, status="Completed", result=_jsonable(value))
        return Response(body)


# --- task queues ------------------------------------------------------------------------


def _task_queues(name: str | None, within: float) -> list[dict[str, Any]]:
    alias, ns = tf_settings.DATABASE_ALIAS, tf_settings.NAMESPACE
    runs = WorkflowRun.objects.using(alias).filter(namespace=ns)
    activities = ActivityTask.objects.using(alias).filter(namespace=ns, state=ActivityTaskState.SCHEDULED)
    pollers = TaskQueuePoller.objects.using(alias).filter(namespace=ns, last_seen__gte=time.time() - within)
    if name is not None:
        runs, activities, pollers = (qs.filter(task_queue=name) for qs in (runs, activities, pollers))

    def counts(qs: Any) -> dict[str, int]:
        return {row["task_queue"]: row["n"] for row in qs.values("task_queue").annotate(n=Count("id")).order_by()}

    wft = counts(runs.filter(wft_state=WorkflowTaskState.SCHEDULED))
    running = counts(runs.filter(status=RunStatus.RUNNING))
    act = counts(activities)
    seen: dict[str, list[dict[str, Any]]] = {}
    for p in pollers.order_by("task_queue", "-last_seen"):
        seen.setdefault(p.task_queue, []).append({"identity": p.identity, "kind": p.kind,
                                                  "last_seen": _dt(p.last_seen)})
    names = sorted(set(wft) | set(running) | set(act) | set(seen) | ({name} if name is not None else set()))
    return [{"name": n, "workflow_backlog": wft.get(n, 0), "activity_backlog": act.get(n, 0),
             "running_workflows": running.get(n, 0), "pollers": seen.get(n, [])} for n in names]


_WITHIN = OpenApiParameter("within", float, description="Pollers seen in the last N seconds (default 300).")


class TaskQueueListView(_Base):
    """Task queues with a backlog, running workflows or recent pollers."""

    @extend_schema(operation_id="task_queues_list", summary="List task queues", parameters=[_WITHIN],
                   responses={200: inline_serializer("TaskQueueList", {"results": s.TaskQueueSerializer(many=True)}),
                              **_errors()})
    def get(self, request: Request) -> Response:
        """Backlog (scheduled, not yet started tasks) and recent pollers per queue."""
        within = _float_param(request, "within", 300.0, 0.0, 7 * 86400.0)
        return Response({"results": _task_queues(None, within)})


class TaskQueueDetailView(_Base):
    """One task queue."""

    @extend_schema(operation_id="task_queues_describe", summary="Describe a task queue", parameters=[_WITHIN],
                   responses={200: s.TaskQueueSerializer, **_errors()})
    def get(self, request: Request, name: str) -> Response:
        """Backlog and recent pollers of one queue (zeros for a queue nobody used, as in Temporal)."""
        within = _float_param(request, "within", 300.0, 0.0, 7 * 86400.0)
        return Response(_task_queues(name, within)[0])


class NotFoundView(APIView):
    """Any other path under the API: a JSON 404 instead of Django's HTML page."""

    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []
    schema = None

    def get_exception_handler(self) -> Any:
        """The API's handler."""
        return exception_handler

    def _answer(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return error_response(404, "not_found", f"no API endpoint at {request.path}")

    get = post = put = patch = delete = _answer

