"""Common Temporal exceptions, as in ``temporalio.exceptions``.

The class hierarchy, constructor signatures and enum values are those of
``temporalio``: code that catches ``temporalio.exceptions.ActivityError``
catches ``temporalflow.exceptions.ActivityError`` after changing the import.

A :py:class:`FailureError` decoded from history keeps the Failure it was
decoded from (Temporal's Failure message as a JSON dict with snake_case
field names) in :py:attr:`FailureError.failure`; see
``temporalflow.converter.DefaultFailureConverter``.

This module imports the standard library only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from enum import IntEnum
from typing import Any

__all__ = [
    "ActivityError",
    "ApplicationError",
    "ApplicationErrorCategory",
    "CancelledError",
    "ChildWorkflowError",
    "FailureError",
    "RetryState",
    "ServerError",
    "TemporalError",
    "TerminatedError",
    "TimeoutError",
    "TimeoutType",
    "WorkflowAlreadyStartedError",
    "is_cancelled_exception",
]


class TemporalError(Exception):
    """Base for all Temporal exceptions."""

    @property
    def cause(self) -> BaseException | None:
        """Cause of the exception; the same as ``__cause__``."""
        return self.__cause__


class FailureError(TemporalError):
    """Base for runtime failures during workflow/activity execution.

    Args:
        message: The failure message.
        failure: The Failure dict this error was decoded from, if any.
        exc_args: Arguments for ``Exception.__init__`` (what ``str()`` and
            ``args`` show); defaults to ``(message,)``.
    """

    def __init__(
        self,
        message: str,
        *,
        failure: dict[str, Any] | None = None,
        exc_args: tuple[Any, ...] | None = None,
    ) -> None:
        """Initialize a failure error."""
        super().__init__(*(exc_args or (message,)))
        self._message = message
        self._failure = failure

    @property
    def message(self) -> str:
        """The failure message."""
        return self._message

    @property
    def failure(self) -> dict[str, Any] | None:
        """The Failure dict this error was decoded from, or ``None``."""
        return self._failure


class WorkflowAlreadyStartedError(FailureError):
    """Raised by a client or workflow when a workflow execution has already started.

    Args:
        workflow_id: ID of the already-started workflow.
        workflow_type: Workflow type name of the already-started workflow.
        run_id: Run ID of the already-started workflow, if known.
    """

    def __init__(self, workflow_id: str, workflow_type: str, *, run_id: str | None = None) -> None:
        """Initialize a workflow already started error."""
        super().__init__("Workflow execution already started")
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.run_id = run_id


class ApplicationErrorCategory(IntEnum):
    """Category of an :py:class:`ApplicationError`, which affects logging and metrics."""

    UNSPECIFIED = 0
    """The default category."""
    BENIGN = 1
    """An expected error: logged at a lower level and not counted as a failure in metrics."""


class ApplicationError(FailureError):
    """Error raised during workflow/activity execution.

    Raise it from an activity to control retries (``non_retryable``,
    ``next_retry_delay``, ``type`` matched against
    ``RetryPolicy.non_retryable_error_types``) or from a workflow to fail
    the workflow.

    Args:
        message: The error message.
        *details: Values serialised with the data converter.
        type: The error type name; used by retry policies.
        non_retryable: If True, the activity is not retried.
        next_retry_delay: Overrides the retry policy's next backoff interval.
        category: The error category.
    """

    def __init__(
        self,
        message: str,
        *details: Any,
        type: str | None = None,
        non_retryable: bool = False,
        next_retry_delay: timedelta | None = None,
        category: ApplicationErrorCategory = ApplicationErrorCategory.UNSPECIFIED,
    ) -> None:
        """Initialize an application error."""
        super().__init__(message, exc_args=(message if not type else f"{type}: {message}",))
        self._details = tuple(details)
        self._type = type
        self._non_retryable = non_retryable
        self._next_retry_delay = next_retry_delay
        self._category = category

    @property
    def details(self) -> Sequence[Any]:
        """User-defined details on the error."""
        return self._details

    @property
    def type(self) -> str | None:
        """General error type."""
        return self._type

    @property
    def non_retryable(self) -> bool:
        """Whether the error is non-retryable."""
        return self._non_retryable

    @property
    def next_retry_delay(self) -> timedelta | None:
        """Delay before the next activity retry, overriding the retry policy."""
        return self._next_retry_delay

    @property
    def category(self) -> ApplicationErrorCategory:
        """Category of the error."""
        return self._category


class CancelledError(FailureError):
    """Error raised on workflow/activity cancellation.

    Args:
        message: The error message.
        *details: Values serialised with the data converter.
    """

    def __init__(self, message: str = "Cancelled", *details: Any) -> None:
        """Initialize a cancelled error."""
        super().__init__(message)
        self._details = tuple(details)

    @property
    def details(self) -> Sequence[Any]:
        """User-defined details on the error."""
        return self._details


class TerminatedError(FailureError):
    """Error raised on workflow termination.

    Args:
        message: The error message.
        *details: Values serialised with the data converter.
    """

    def __init__(self, message: str, *details: Any) -> None:
        """Initialize a terminated error."""
        super().__init__(message)
        self._details = tuple(details)

    @property
    def details(self) -> Sequence[Any]:
        """User-defined details on the error."""
        return self._details


class TimeoutType(IntEnum):
    """Type of timeout for :py:class:`TimeoutError`.

    Values are those of Temporal's ``TimeoutType`` enum (0 is
    ``TIMEOUT_TYPE_UNSPECIFIED``, represented here as ``None``).
    """

    START_TO_CLOSE = 1
    SCHEDULE_TO_START = 2
    SCHEDULE_TO_CLOSE = 3
    HEARTBEAT = 4


class TimeoutError(FailureError):
    """Error raised on workflow/activity timeout.

    Args:
        message: The error message.
        type: Which timeout fired, if known.
        last_heartbeat_details: Details of the activity's last heartbeat.
    """

    def __init__(
        self,
        message: str,
        *,
        type: TimeoutType | None,
        last_heartbeat_details: Sequence[Any],
    ) -> None:
        """Initialize a timeout error."""
        super().__init__(message)
        self._type = type
        self._last_heartbeat_details = tuple(last_heartbeat_details)

    @property
    def type(self) -> TimeoutType | None:
        """Type of timeout error."""
        return self._type

    @property
    def last_heartbeat_details(self) -> Sequence[Any]:
        """Last heartbeat details if this is for an activity heartbeat."""
        return self._last_heartbeat_details


class ServerError(FailureError):
    """Error originating in the server (here: the temporalflow engine).

    Args:
        message: The error message.
        non_retryable: Whether the error is non-retryable.
    """

    def __init__(self, message: str, *, non_retryable: bool = False) -> None:
        """Initialize a server error."""
        super().__init__(message)
        self._non_retryable = non_retryable

    @property
    def non_retryable(self) -> bool:
        """Whether this error is non-retryable."""
        return self._non_retryable


class RetryState(IntEnum):
    """Retry state of the workflow/activity when the error happened.

    Values are those of Temporal's ``RetryState`` enum.
    """

    IN_PROGRESS = 1
    NON_RETRYABLE_FAILURE = 2
    TIMEOUT = 3
    MAXIMUM_ATTEMPTS_REACHED = 4
    RETRY_POLICY_NOT_SET = 5
    INTERNAL_SERVER_ERROR = 6
    CANCEL_REQUESTED = 7


class ActivityError(FailureError):
    """Error raised in a workflow when an activity fails; the cause says why.

    Args:
        message: The error message.
        scheduled_event_id: ID of the ActivityTaskScheduled event.
        started_event_id: ID of the ActivityTaskStarted event.
        identity: Identity of the worker that ran the last attempt.
        activity_type: Activity type name.
        activity_id: Activity ID.
        retry_state: Retry state when the activity failed.
    """

    def __init__(
        self,
        message: str,
        *,
        scheduled_event_id: int,
        started_event_id: int,
        identity: str,
        activity_type: str,
        activity_id: str,
        retry_state: RetryState | None,
    ) -> None:
        """Initialize an activity error."""
        super().__init__(message)
        self._scheduled_event_id = scheduled_event_id
        self._started_event_id = started_event_id
        self._identity = identity
        self._activity_type = activity_type
        self._activity_id = activity_id
        self._retry_state = retry_state

    @property
    def scheduled_event_id(self) -> int:
        """Scheduled event ID for this error."""
        return self._scheduled_event_id

    @property
    def started_event_id(self) -> int:
        """Started event ID for this error."""
        return self._started_event_id

    @property
    def identity(self) -> str:
        """Identity for this error."""
        return self._identity

    @property
    def activity_type(self) -> str:
        """Activity type for this error."""
        return self._activity_type

    @property
    def activity_id(self) -> str:
        """Activity ID for this error."""
        return self._activity_id

    @property
    def retry_state(self) -> RetryState | None:
        """Retry state for this error."""
        return self._retry_state


class ChildWorkflowError(FailureError):
    """Error raised in a workflow when a child workflow fails; the cause says why.

    Args:
        message: The error message.
        namespace: Namespace of the child.
        workflow_id: Workflow ID of the child.
        run_id: Run ID of the child.
        workflow_type: Workflow type name of the child.
        initiated_event_id: ID of the StartChildWorkflowExecutionInitiated event.
        started_event_id: ID of the ChildWorkflowExecutionStarted event.
        retry_state: Retry state when the child failed.
    """

    def __init__(
        self,
        message: str,
        *,
        namespace: str,
        workflow_id: str,
        run_id: str,
        workflow_type: str,
        initiated_event_id: int,
        started_event_id: int,
        retry_state: RetryState | None,
    ) -> None:
        """Initialize a child workflow error."""
        super().__init__(message)
        self._namespace = namespace
        self._workflow_id = workflow_id
        self._run_id = run_id
        self._workflow_type = workflow_type
        self._initiated_event_id = initiated_event_id
        self._started_event_id = started_event_id
        self._retry_state = retry_state

    @property
    def namespace(self) -> str:
        """Namespace for this error."""
        return self._namespace

    @property
    def workflow_id(self) -> str:
        """Workflow ID for this error."""
        return self._workflow_id

    @property
    def run_id(self) -> str:
        """Run ID for this error."""
        return self._run_id

    @property
    def workflow_type(self) -> str:
        """Workflow type for this error."""
        return self._workflow_type

    @property
    def initiated_event_id(self) -> int:
        """Initiated event ID for this error."""
        return self._initiated_event_id

    @property
    def started_event_id(self) -> int:
        """Started event ID for this error."""
        return self._started_event_id

    @property
    def retry_state(self) -> RetryState | None:
        """Retry state for this error."""
        return self._retry_state


def is_cancelled_exception(exception: BaseException) -> bool:
    """Check whether the given exception represents a cancellation.

    True for ``asyncio.CancelledError``, :py:class:`CancelledError`, and an
    :py:class:`ActivityError` or :py:class:`ChildWorkflowError` whose cause
    is a :py:class:`CancelledError`.

    Args:
        exception: The exception to check.

    Returns:
        Whether the exception is a cancellation.
    """
    return isinstance(exception, (asyncio.CancelledError, CancelledError)) or (
        isinstance(exception, (ActivityError, ChildWorkflowError))
        and isinstance(exception.cause, CancelledError)
    )
