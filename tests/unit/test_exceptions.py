"""temporalflow.exceptions: hierarchy, attributes, is_cancelled_exception (no Django, no DB)."""

from __future__ import annotations

import asyncio
import builtins
from datetime import timedelta

import pytest

from temporalflow import exceptions as exc
from temporalflow.exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    RetryState,
    ServerError,
    TemporalError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)


def activity_error() -> ActivityError:
    return ActivityError(
        "Activity task failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="w1",
        activity_type="charge",
        activity_id="1",
        retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED,
    )


def child_error() -> ChildWorkflowError:
    return ChildWorkflowError(
        "Child Workflow execution failed",
        namespace="default",
        workflow_id="c",
        run_id="r",
        workflow_type="Child",
        initiated_event_id=3,
        started_event_id=4,
        retry_state=None,
    )


@pytest.mark.parametrize(
    "cls",
    [
        ApplicationError,
        CancelledError,
        TerminatedError,
        TimeoutError,
        ServerError,
        ActivityError,
        ChildWorkflowError,
        WorkflowAlreadyStartedError,
    ],
)
def test_hierarchy(cls: type) -> None:
    assert issubclass(cls, FailureError)
    assert issubclass(cls, TemporalError)
    assert issubclass(cls, Exception)


def test_timeout_error_is_not_the_builtin() -> None:
    assert not issubclass(TimeoutError, builtins.TimeoutError)
    assert TimeoutError is exc.TimeoutError


def test_application_error_attributes() -> None:
    err = ApplicationError(
        "msg",
        1,
        "two",
        type="MyType",
        non_retryable=True,
        next_retry_delay=timedelta(seconds=3),
        category=ApplicationErrorCategory.BENIGN,
    )
    assert err.message == "msg"
    assert str(err) == "MyType: msg"
    assert err.details == (1, "two")
    assert err.type == "MyType"
    assert err.non_retryable is True
    assert err.next_retry_delay == timedelta(seconds=3)
    assert err.category is ApplicationErrorCategory.BENIGN
    assert err.failure is None
    assert err.cause is None
    plain = ApplicationError("only message")
    assert str(plain) == "only message"
    assert (plain.type, plain.non_retryable, plain.next_retry_delay) == (None, False, None)
    assert plain.category is ApplicationErrorCategory.UNSPECIFIED


def test_failure_error_args() -> None:
    failure = {"message": "m"}
    err = FailureError("m", failure=failure, exc_args=("a", "b"))
    assert err.message == "m" and err.failure is failure and err.args == ("a", "b")
    assert FailureError("m").args == ("m",)


def test_other_attributes() -> None:
    assert CancelledError().message == "Cancelled"
    assert CancelledError("stop", 1).details == (1,)
    assert TerminatedError("bye", "x").details == ("x",)
    timeout = TimeoutError("t", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[1])
    assert timeout.type is TimeoutType.START_TO_CLOSE and timeout.last_heartbeat_details == (1,)
    assert ServerError("s").non_retryable is False
    act = activity_error()
    assert (act.scheduled_event_id, act.started_event_id, act.identity) == (5, 6, "w1")
    assert (act.activity_type, act.activity_id) == ("charge", "1")
    assert act.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED
    child = child_error()
    assert (child.namespace, child.workflow_id, child.run_id, child.workflow_type) == (
        "default",
        "c",
        "r",
        "Child",
    )
    assert (child.initiated_event_id, child.started_event_id, child.retry_state) == (3, 4, None)
    started = WorkflowAlreadyStartedError("wf", "Type", run_id="run")
    assert (started.workflow_id, started.workflow_type, started.run_id) == ("wf", "Type", "run")
    assert str(started) == "Workflow execution already started"


def test_enum_values_match_temporal() -> None:
    assert [t.value for t in TimeoutType] == [1, 2, 3, 4]
    assert RetryState.IN_PROGRESS == 1 and RetryState.CANCEL_REQUESTED == 7
    assert ApplicationErrorCategory.BENIGN == 1


def test_is_cancelled_exception() -> None:
    assert is_cancelled_exception(asyncio.CancelledError())
    assert is_cancelled_exception(CancelledError())
    act = activity_error()
    assert not is_cancelled_exception(act)
    act.__cause__ = CancelledError()
    assert is_cancelled_exception(act)
    child = child_error()
    child.__cause__ = ApplicationError("x")
    assert not is_cancelled_exception(child)
    child.__cause__ = CancelledError()
    assert is_cancelled_exception(child)
    wrapped = ApplicationError("x")
    wrapped.__cause__ = CancelledError()
    assert not is_cancelled_exception(wrapped)
    assert not is_cancelled_exception(ValueError())


def test_all_is_complete() -> None:
    public = {n for n in dir(exc) if not n.startswith("_") and n[0].isupper()}
    public.add("is_cancelled_exception")
    public -= {"Any", "IntEnum", "Sequence"}
    assert public <= set(exc.__all__)
