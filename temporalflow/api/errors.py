"""The API's error format and the DRF exception handler that produces it.

Every error answer has one shape::

    {"error": {"code": "not_found", "message": "workflow 'x' not found", "details": {...}}}

``code`` is stable and machine-readable; ``message`` is for humans; ``details``
is an object (possibly empty), e.g. field errors for ``validation_error`` or the
existing run id for ``already_started``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from temporalflow.client import (
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalflow.exceptions import TemporalError, WorkflowAlreadyStartedError
from temporalflow.service import RPCError, RPCStatusCode

__all__ = ["ApiError", "error_body", "error_response", "exception_handler", "failure_json"]

logger = logging.getLogger("temporalflow.api")

# RPCError status -> (HTTP status, error code)
_RPC_STATUS: dict[RPCStatusCode, tuple[int, str]] = {
    RPCStatusCode.NOT_FOUND: (404, "not_found"),
    RPCStatusCode.INVALID_ARGUMENT: (400, "invalid_argument"),
    RPCStatusCode.FAILED_PRECONDITION: (409, "failed_precondition"),
    RPCStatusCode.ALREADY_EXISTS: (409, "already_exists"),
    RPCStatusCode.DEADLINE_EXCEEDED: (504, "deadline_exceeded"),
    RPCStatusCode.PERMISSION_DENIED: (403, "permission_denied"),
    RPCStatusCode.UNAUTHENTICATED: (401, "not_authenticated"),
    RPCStatusCode.RESOURCE_EXHAUSTED: (429, "resource_exhausted"),
    RPCStatusCode.OUT_OF_RANGE: (400, "out_of_range"),
    RPCStatusCode.UNIMPLEMENTED: (501, "unimplemented"),
    RPCStatusCode.UNAVAILABLE: (503, "unavailable"),
    RPCStatusCode.CANCELLED: (409, "cancelled"),
    RPCStatusCode.ABORTED: (409, "aborted"),
}

_DRF_CODES: dict[type[drf_exceptions.APIException], str] = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


class ApiError(Exception):
    """An error answer raised from a view: HTTP status, code, message and details.

    Args:
        status_code: The HTTP status.
        code: The machine-readable error code.
        message: A human-readable message.
        details: Extra machine-readable information.
    """

    def __init__(self, status_code: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status_code: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """An error answer."""
    return Response(error_body(code, message, details), status=status_code)


def failure_json(err: BaseException | None) -> dict[str, Any]:
    """A failure as JSON: exception type, message, and the Temporal Failure dict when known."""
    if err is None:
        return {"type": None, "message": "", "failure": None}
    failure = getattr(err, "failure", None)
    message = getattr(err, "message", None) or str(err)
    out: dict[str, Any] = {"type": type(err).__name__, "message": message,
                           "failure": failure if isinstance(failure, dict) else None}
    app_type = getattr(err, "type", None)
    if isinstance(app_type, str):
        out["application_type"] = app_type
    return out


def _field_errors(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(k): _field_errors(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_field_errors(v) for v in detail]
    return str(detail)


def _translate(exc: BaseException) -> tuple[int, str, str, dict[str, Any]] | None:
    if isinstance(exc, ApiError):
        return exc.status_code, exc.code, exc.message, exc.details
    if isinstance(exc, drf_exceptions.ValidationError):
        return 400, "validation_error", "the request is invalid; see details.fields", {
            "fields": _field_errors(exc.detail)}
    if isinstance(exc, drf_exceptions.ParseError):
        return 400, "malformed_request", str(exc.detail), {}
    if isinstance(exc, drf_exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        return exc.status_code, code, str(exc.detail), {}
    if isinstance(exc, Http404):
        return 404, "not_found", str(exc) or "not found", {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "permission_denied", str(exc) or "permission denied", {}
    if isinstance(exc, WorkflowAlreadyStartedError):
        return 409, "already_started", f"workflow {exc.workflow_id!r} is already started", {
            "workflow_id": exc.workflow_id, "workflow_type": exc.workflow_type, "run_id": exc.run_id}
    if isinstance(exc, RPCError):
        http, code = _RPC_STATUS.get(exc.status, (400, "rejected"))
        if exc.status == RPCStatusCode.INTERNAL:
            http, code = 500, "internal"
        return http, code, exc.message, {"rpc_status": exc.status.name}
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return 504, "deadline_exceeded", "timed out waiting for the update's outcome (it stays admitted)", {}
    if isinstance(exc, WorkflowQueryRejectedError):
        return 409, "query_rejected", str(exc), {"status": str(exc.status)}
    if isinstance(exc, WorkflowQueryFailedError):
        return 422, "query_failed", exc.message, {}
    if isinstance(exc, WorkflowUpdateFailedError):
        return 422, "update_failed", failure_json(exc.cause)["message"], {"failure": failure_json(exc.cause)}
    if isinstance(exc, WorkflowFailureError):
        return 422, "workflow_failed", "the workflow did not complete successfully", {
            "failure": failure_json(exc.cause)}
    if isinstance(exc, TemporalError):
        return 400, "rejected", str(exc), {}
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every exception becomes an error answer in the API's format.

    Temporal errors map to 4xx (``RPCError`` by status code: NOT_FOUND 404, INVALID_ARGUMENT
    400, FAILED_PRECONDITION and ALREADY_EXISTS 409, DEADLINE_EXCEEDED 504). Anything
    unexpected is logged and answered with a JSON 500 (code ``internal``).
    """
    translated = _translate(exc)
    if translated is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        set_rollback()
        return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal", "internal server error")
    http, code, message, details = translated
    response = error_response(http, code, message, details)
    if isinstance(exc, drf_exceptions.APIException):
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
    set_rollback()
    return response
