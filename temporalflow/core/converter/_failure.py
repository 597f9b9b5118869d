"""Failure converters: exceptions ↔ Temporal Failure dicts, as in ``temporalio.converter``.

A Failure is stored as the JSON form of Temporal's ``Failure`` message, with
its snake_case field names::

    {"message": "...", "source": "temporalflow", "stack_trace": "...",
     "cause": {...},                                  # optional, a nested Failure
     "application_failure_info": {"type": "...", "non_retryable": false,
                                  "details": {"payloads": [...]},
                                  "next_retry_delay": 1.5, "category": "..."}}

with exactly one ``*_failure_info`` key (application, timeout, canceled,
terminated, server, activity, child_workflow_execution). Enum values are
Temporal's JSON enum names (``"RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"``).

Pure: standard library, ``temporalflow.exceptions`` and ``temporalflow.core``.
"""

from __future__ import annotations

import copy
import traceback
from abc import ABC, abstractmethod
from datetime import timedelta
from enum import IntEnum
from typing import Any, ClassVar, TypeVar

from temporalflow.core.converter._payload import PayloadConverter
from temporalflow.core.payload import Payload, payloads_from_json, payloads_to_json
from temporalflow.exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    RetryState,
    ServerError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
)

__all__ = [
    "DefaultFailureConverter",
    "DefaultFailureConverterWithEncodedAttributes",
    "FailureConverter",
]

FAILURE_SOURCE = "temporalflow"
"""The ``source`` written on every Failure this package creates."""

_MAX_CAUSE_DEPTH = 100
"""Cause chains deeper than this are cut (protects against cycles)."""

_E = TypeVar("_E", bound=IntEnum)

_ENUM_PREFIX: dict[type[IntEnum], str] = {
    TimeoutType: "TIMEOUT_TYPE_",
    RetryState: "RETRY_STATE_",
    ApplicationErrorCategory: "APPLICATION_ERROR_CATEGORY_",
}


def enum_to_json(enum_cls: type[IntEnum], member: IntEnum | None) -> str:
    """Return Temporal's JSON enum name, e.g. ``"RETRY_STATE_TIMEOUT"``.

    Args:
        enum_cls: ``TimeoutType``, ``RetryState`` or ``ApplicationErrorCategory``.
        member: The member, or ``None`` (or 0) for ``*_UNSPECIFIED``.

    Returns:
        The JSON enum name.
    """
    prefix = _ENUM_PREFIX[enum_cls]
    if member is None or int(member) == 0:
        return prefix + "UNSPECIFIED"
    return prefix + enum_cls(member).name


def enum_from_json(enum_cls: type[_E], value: Any) -> _E | None:
    """Parse a JSON enum name (or its number); ``*_UNSPECIFIED``/0/missing is ``None``.

    Args:
        enum_cls: ``TimeoutType``, ``RetryState`` or ``ApplicationErrorCategory``.
        value: ``"RETRY_STATE_TIMEOUT"``, ``"TIMEOUT"``, ``3``, ``None``, ...

    Returns:
        The member, or ``None`` when unspecified.

    Raises:
        ValueError: If the value names no member.
    """
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool):
        raise ValueError(f"invalid {enum_cls.__name__} value {value!r}")
    if isinstance(value, int):
        try:
            return enum_cls(value)
        except ValueError:
            raise ValueError(f"invalid {enum_cls.__name__} value {value!r}") from None
    if isinstance(value, str):
        prefix = _ENUM_PREFIX[enum_cls]
        name = value[len(prefix) :] if value.startswith(prefix) else value
        if name == "UNSPECIFIED":
            return None
        try:
            return enum_cls[name]
        except KeyError:
            raise ValueError(f"invalid {enum_cls.__name__} value {value!r}") from None
    raise ValueError(f"invalid {enum_cls.__name__} value {value!r}")


class FailureConverter(ABC):
    """Converts exceptions to Failure dicts and back."""

    default: ClassVar[FailureConverter]
    """The default failure converter (a :py:class:`DefaultFailureConverter`)."""

    @abstractmethod
    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter) -> dict[str, Any]:
        """Convert an exception (and its ``__cause__`` chain) to a Failure dict.

        Args:
            exception: The exception.
            payload_converter: Converter for details payloads.

        Returns:
            The Failure dict.
        """

    @abstractmethod
    def from_failure(self, failure: dict[str, Any], payload_converter: PayloadConverter) -> BaseException:
        """Convert a Failure dict (and its ``cause`` chain) to an exception.

        Args:
            failure: The Failure dict.
            payload_converter: Converter for details payloads.

        Returns:
            The exception; its ``__cause__`` is the decoded cause.
        """


class DefaultFailureConverter(FailureConverter):
    """The default failure converter, as ``temporalio``'s.

    :py:class:`FailureError` subclasses map to their ``*_failure_info``; any
    other exception becomes an application failure whose ``type`` is the
    exception's class name and whose message is ``str(exception)``. An error
    that was itself decoded from a Failure is re-encoded as that Failure.
    Decoding never raises: a malformed Failure becomes an
    :py:class:`ApplicationError` saying what is wrong.

    Args:
        encode_common_attributes: If True, move ``message`` and
            ``stack_trace`` into an ``encoded_attributes`` payload (so a
            payload codec can encrypt them); the Failure's own message
            becomes ``"Encoded failure"``.
    """

    def __init__(self, *, encode_common_attributes: bool = False) -> None:
        """Initialize the converter."""
        self._encode_common_attributes = encode_common_attributes

    # -- exception → Failure ---------------------------------------------

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter) -> dict[str, Any]:
        """Convert an exception (and its ``__cause__`` chain) to a Failure dict."""
        return self._to_failure(exception, payload_converter, 0)

    def _to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, depth: int
    ) -> dict[str, Any]:
        if isinstance(exception, FailureError):
            return self._error_to_failure(exception, payload_converter, depth)
        error = ApplicationError(str(exception), type=type(exception).__name__)
        error.__traceback__ = exception.__traceback__
        error.__cause__ = exception.__cause__
        return self._error_to_failure(error, payload_converter, depth)

    def _error_to_failure(
        self, error: FailureError, payload_converter: PayloadConverter, depth: int
    ) -> dict[str, Any]:
        if error.failure is not None:
            return copy.deepcopy(error.failure)
        stack = "".join(traceback.format_tb(error.__traceback__)) if error.__traceback__ else ""
        failure: dict[str, Any] = {
            "message": error.message,
            "source": FAILURE_SOURCE,
            "stack_trace": stack,
        }
        if error.__cause__ is not None and depth < _MAX_CAUSE_DEPTH:
            failure["cause"] = self._to_failure(error.__cause__, payload_converter, depth + 1)

        def payloads(values: Any) -> dict[str, Any]:
            return payloads_to_json(payload_converter.to_payloads(list(values)))

        if isinstance(error, ApplicationError):
            delay = error.next_retry_delay
            failure["application_failure_info"] = {
                "type": error.type or "",
                "non_retryable": bool(error.non_retryable),
                "details": payloads(error.details),
                "next_retry_delay": None if delay is None else delay.total_seconds(),
                "category": enum_to_json(ApplicationErrorCategory, error.category),
            }
        elif isinstance(error, TimeoutError):
            failure["timeout_failure_info"] = {
                "timeout_type": enum_to_json(TimeoutType, error.type),
                "last_heartbeat_details": payloads(error.last_heartbeat_details),
            }
        elif isinstance(error, CancelledError):
            failure["canceled_failure_info"] = {"details": payloads(error.details)}
        elif isinstance(error, TerminatedError):
            failure["terminated_failure_info"] = {}
        elif isinstance(error, ServerError):
            failure["server_failure_info"] = {"non_retryable": bool(error.non_retryable)}
        elif isinstance(error, ActivityError):
            failure["activity_failure_info"] = {
                "scheduled_event_id": error.scheduled_event_id,
                "started_event_id": error.started_event_id,
                "identity": error.identity,
                "activity_type": {"name": error.activity_type},
                "activity_id": error.activity_id,
                "retry_state": enum_to_json(RetryState, error.retry_state),
            }
        elif isinstance(error, ChildWorkflowError):
            failure["child_workflow_execution_failure_info"] = {
                "namespace": error.namespace,
                "workflow_execution": {"workflow_id": error.workflow_id, "run_id": error.run_id},
                "workflow_type": {"name": error.workflow_type},
                "initiated_event_id": error.initiated_event_id,
                "started_event_id": error.started_event_id,
                "retry_state": enum_to_json(RetryState, error.retry_state),
            }
        else:
            # Another FailureError subclass (e.g. WorkflowAlreadyStartedError):
            # an application failure typed by its class name, like a plain exception.
            failure["application_failure_info"] = {
                "type": type(error).__name__,
                "non_retryable": False,
                "details": payloads(()),
                "next_retry_delay": None,
                "category": enum_to_json(ApplicationErrorCategory, None),
            }

        if self._encode_common_attributes:
            attributes = {"message": failure["message"], "stack_trace": failure["stack_trace"]}
            failure["encoded_attributes"] = payload_converter.to_payload(attributes).to_json()
            failure["message"] = "Encoded failure"
            failure["stack_trace"] = ""
        return failure

    # -- Failure → exception ---------------------------------------------

    def from_failure(self, failure: dict[str, Any], payload_converter: PayloadConverter) -> BaseException:
        """Convert a Failure dict (and its ``cause`` chain) to an exception; never raises."""
        return self._from_failure(failure, payload_converter, 0)

    def _from_failure(self, failure: Any, payload_converter: PayloadConverter, depth: int) -> BaseException:
        if not isinstance(failure, dict):
            return ApplicationError(
                f"Malformed failure: expected a Failure object, got {type(failure).__name__}"
            )
        failure = self._decode_common_attributes(failure, payload_converter)
        try:
            error = self._decode_one(failure, payload_converter)
        except Exception as err:  # malformed fields or undecodable payloads
            error = ApplicationError(
                f"Malformed failure ({err}); original message: {failure.get('message')!r}"
            )
        error._failure = failure  # as temporalio sets FailureError._failure
        cause = failure.get("cause")
        if cause is not None and depth < _MAX_CAUSE_DEPTH:
            error.__cause__ = self._from_failure(cause, payload_converter, depth + 1)
        return error

    @staticmethod
    def _decode_common_attributes(
        failure: dict[str, Any], payload_converter: PayloadConverter
    ) -> dict[str, Any]:
        encoded = failure.get("encoded_attributes")
        if not isinstance(encoded, dict):
            return failure
        try:
            attributes = payload_converter.from_payload(Payload.from_json(encoded))
        except Exception:  # leave the failure as it is; the message says "Encoded failure"
            return failure
        if not isinstance(attributes, dict):
            return failure
        failure = dict(failure)  # do not mutate the caller's dict
        if isinstance(attributes.get("message"), str):
            failure["message"] = attributes["message"]
        if isinstance(attributes.get("stack_trace"), str):
            failure["stack_trace"] = attributes["stack_trace"]
        return failure

    def _decode_one(self, failure: dict[str, Any], payload_converter: PayloadConverter) -> FailureError:
        message = failure.get("message") or ""
        if not isinstance(message, str):
            raise ValueError(f"'message' must be a string, got {type(message).__name__}")

        def details(info: dict[str, Any], key: str) -> list[Any]:
            raw = info.get(key)
            if raw is None:
                return []
            if not isinstance(raw, dict):
                raise ValueError(f"'{key}' must be a {{'payloads': [...]}} object")
            return payload_converter.from_payloads(payloads_from_json(raw))

        if (info := _info(failure, "application_failure_info")) is not None:
            delay = info.get("next_retry_delay")
            return ApplicationError(
                message or "Application error",
                *details(info, "details"),
                type=_str(info, "type") or None,
                non_retryable=_bool(info, "non_retryable"),
                next_retry_delay=None if delay is None else timedelta(seconds=_float(delay)),
                category=(
                    enum_from_json(ApplicationErrorCategory, info.get("category"))
                    or ApplicationErrorCategory.UNSPECIFIED
                ),
            )
        if (info := _info(failure, "timeout_failure_info")) is not None:
            return TimeoutError(
                message or "Timeout",
                type=enum_from_json(TimeoutType, info.get("timeout_type")),
                last_heartbeat_details=details(info, "last_heartbeat_details"),
            )
        if (info := _info(failure, "canceled_failure_info")) is not None:
            return CancelledError(message or "Cancelled", *details(info, "details"))
        if _info(failure, "terminated_failure_info") is not None:
            return TerminatedError(message or "Terminated")
        if (info := _info(failure, "server_failure_info")) is not None:
            return ServerError(message or "Server error", non_retryable=_bool(info, "non_retryable"))
        if (info := _info(failure, "activity_failure_info")) is not None:
            return ActivityError(
                message or "Activity error",
                scheduled_event_id=_int(info, "scheduled_event_id"),
                started_event_id=_int(info, "started_event_id"),
                identity=_str(info, "identity"),
                activity_type=_str(_info(info, "activity_type") or {}, "name"),
                activity_id=_str(info, "activity_id"),
                retry_state=enum_from_json(RetryState, info.get("retry_state")),
            )
        if (info := _info(failure, "child_workflow_execution_failure_info")) is not None:
            execution = _info(info, "workflow_execution") or {}
            return ChildWorkflowError(
                message or "Child workflow error",
                namespace=_str(info, "namespace"),
                workflow_id=_str(execution, "workflow_id"),
                run_id=_str(execution, "run_id"),
                workflow_type=_str(_info(info, "workflow_type") or {}, "name"),
                initiated_event_id=_int(info, "initiated_event_id"),
                started_event_id=_int(info, "started_event_id"),
                retry_state=enum_from_json(RetryState, info.get("retry_state")),
            )
        # No known *_failure_info (another SDK's kind, or none at all).
        return ApplicationError(message or "Failure error")


class DefaultFailureConverterWithEncodedAttributes(DefaultFailureConverter):
    """:py:class:`DefaultFailureConverter` with ``encode_common_attributes=True``."""

    def __init__(self) -> None:
        """Initialize the converter."""
        super().__init__(encode_common_attributes=True)


FailureConverter.default = DefaultFailureConverter()


def _typed(obj: dict[str, Any], key: str, kind: type, what: str, default: Any) -> Any:
    """``obj[key]`` if it is a ``kind`` (``default`` when absent); a clear error otherwise."""
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ValueError(f"'{key}' must be {what}, got {type(value).__name__}")
    return value


def _info(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    return _typed(obj, key, dict, "an object", None)


def _str(obj: dict[str, Any], key: str) -> str:
    return _typed(obj, key, str, "a string", "")


def _bool(obj: dict[str, Any], key: str) -> bool:
    return _typed(obj, key, bool, "a boolean", False)


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    # Temporal's JSON writes int64 fields as strings.
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{key}' must be an integer, got {type(value).__name__}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'next_retry_delay' must be a number of seconds, got {type(value).__name__}")
    return float(value)
