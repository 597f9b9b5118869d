"""Failure converter: exceptions ↔ Temporal Failure dicts (no Django, no DB)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from temporalflow.converter import (
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    Payload,
    PayloadCodec,
)
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
    WorkflowAlreadyStartedError,
)

pc = DefaultPayloadConverter()
fc = DefaultFailureConverter()


def roundtrip(exc: BaseException) -> tuple[dict[str, Any], BaseException]:
    failure = fc.to_failure(exc, pc)
    stored = json.loads(json.dumps(failure))  # must be plain JSON
    return stored, fc.from_failure(stored, pc)


def raised(exc: BaseException) -> BaseException:
    """Give the exception a traceback, as a real raise would."""
    try:
        raise exc
    except BaseException as err:
        return err


@dataclass
class Detail:
    code: int


def test_application_error_round_trip() -> None:
    err = ApplicationError(
        "card declined",
        {"card": "1234"},
        7,
        type="CardDeclined",
        non_retryable=True,
        next_retry_delay=timedelta(seconds=2.5),
        category=ApplicationErrorCategory.BENIGN,
    )
    failure, back = roundtrip(raised(err))
    assert failure["message"] == "card declined"
    assert failure["source"] == "temporalflow"
    assert "test_failure_converter.py" in failure["stack_trace"]
    info = failure["application_failure_info"]
    assert info["type"] == "CardDeclined"
    assert info["non_retryable"] is True
    assert info["next_retry_delay"] == 2.5
    assert info["category"] == "APPLICATION_ERROR_CATEGORY_BENIGN"
    assert len(info["details"]["payloads"]) == 2

    assert isinstance(back, ApplicationError)
    assert back.message == "card declined"
    assert str(back) == "CardDeclined: card declined"
    assert back.details == ({"card": "1234"}, 7)
    assert back.type == "CardDeclined"
    assert back.non_retryable is True
    assert back.next_retry_delay == timedelta(seconds=2.5)
    assert back.category is ApplicationErrorCategory.BENIGN
    assert back.failure == failure


def test_application_error_defaults() -> None:
    failure, back = roundtrip(ApplicationError("plain"))
    assert failure["application_failure_info"] == {
        "type": "",
        "non_retryable": False,
        "details": {"payloads": []},
        "next_retry_delay": None,
        "category": "APPLICATION_ERROR_CATEGORY_UNSPECIFIED",
    }
    assert "cause" not in failure
    assert isinstance(back, ApplicationError)
    assert back.type is None and back.details == () and back.next_retry_delay is None
    assert back.category is ApplicationErrorCategory.UNSPECIFIED
    assert back.__cause__ is None


def test_details_are_decoded_without_type_hints() -> None:
    _, back = roundtrip(ApplicationError("x", Detail(3), b"bytes", None))
    assert isinstance(back, ApplicationError)
    assert back.details == ({"code": 3}, b"bytes", None)


def test_timeout_error_round_trip() -> None:
    failure, back = roundtrip(
        TimeoutError("too slow", type=TimeoutType.HEARTBEAT, last_heartbeat_details=[{"step": 3}])
    )
    assert failure["timeout_failure_info"]["timeout_type"] == "TIMEOUT_TYPE_HEARTBEAT"
    assert isinstance(back, TimeoutError)
    assert back.type is TimeoutType.HEARTBEAT
    assert back.last_heartbeat_details == ({"step": 3},)
    _, back = roundtrip(TimeoutError("t", type=None, last_heartbeat_details=[]))
    assert isinstance(back, TimeoutError) and back.type is None


@pytest.mark.parametrize("timeout_type", list(TimeoutType))
def test_every_timeout_type(timeout_type: TimeoutType) -> None:
    failure, back = roundtrip(TimeoutError("t", type=timeout_type, last_heartbeat_details=()))
    assert failure["timeout_failure_info"]["timeout_type"] == f"TIMEOUT_TYPE_{timeout_type.name}"
    assert isinstance(back, TimeoutError) and back.type is timeout_type


def test_cancelled_terminated_server_round_trip() -> None:
    failure, back = roundtrip(CancelledError("stop", "why"))
    assert "canceled_failure_info" in failure
    assert isinstance(back, CancelledError) and back.details == ("why",)
    assert back.message == "stop"

    failure, back = roundtrip(TerminatedError("killed", "ignored detail"))
    assert failure["terminated_failure_info"] == {}
    assert isinstance(back, TerminatedError) and back.message == "killed"

    failure, back = roundtrip(ServerError("db down", non_retryable=True))
    assert failure["server_failure_info"] == {"non_retryable": True}
    assert isinstance(back, ServerError) and back.non_retryable is True


@pytest.mark.parametrize("retry_state", [*RetryState, None])
def test_activity_error_round_trip_with_cause(retry_state: RetryState | None) -> None:
    cause = ApplicationError("boom", type="ValueError")
    err = ActivityError(
        "Activity task failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker-1",
        activity_type="charge",
        activity_id="1",
        retry_state=retry_state,
    )
    err.__cause__ = cause
    failure, back = roundtrip(err)
    info = failure["activity_failure_info"]
    assert info == {
        "scheduled_event_id": 5,
        "started_event_id": 6,
        "identity": "worker-1",
        "activity_type": {"name": "charge"},
        "activity_id": "1",
        "retry_state": f"RETRY_STATE_{retry_state.name if retry_state else 'UNSPECIFIED'}",
    }
    assert failure["cause"]["application_failure_info"]["type"] == "ValueError"
    assert isinstance(back, ActivityError)
    assert (back.scheduled_event_id, back.started_event_id) == (5, 6)
    assert (back.identity, back.activity_type, back.activity_id) == ("worker-1", "charge", "1")
    assert back.retry_state is retry_state
    assert isinstance(back.cause, ApplicationError)
    assert back.cause is back.__cause__
    assert back.cause.message == "boom"
    assert back.cause.failure == failure["cause"]


def test_child_workflow_error_round_trip() -> None:
    err = ChildWorkflowError(
        "Child Workflow execution failed",
        namespace="default",
        workflow_id="child-1",
        run_id="run-1",
        workflow_type="Child",
        initiated_event_id=9,
        started_event_id=10,
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    err.__cause__ = CancelledError()
    failure, back = roundtrip(err)
    info = failure["child_workflow_execution_failure_info"]
    assert info["workflow_execution"] == {"workflow_id": "child-1", "run_id": "run-1"}
    assert info["workflow_type"] == {"name": "Child"}
    assert info["retry_state"] == "RETRY_STATE_NON_RETRYABLE_FAILURE"
    assert isinstance(back, ChildWorkflowError)
    assert (back.namespace, back.workflow_id, back.run_id, back.workflow_type) == (
        "default",
        "child-1",
        "run-1",
        "Child",
    )
    assert (back.initiated_event_id, back.started_event_id) == (9, 10)
    assert back.retry_state is RetryState.NON_RETRYABLE_FAILURE
    assert isinstance(back.cause, CancelledError) and back.cause.message == "Cancelled"


def test_plain_exception_becomes_application_error() -> None:
    failure, back = roundtrip(raised(KeyError("missing")))
    assert failure["message"] == "'missing'"
    assert failure["application_failure_info"]["type"] == "KeyError"
    assert "raise exc" in failure["stack_trace"]
    assert isinstance(back, ApplicationError)
    assert back.type == "KeyError" and back.message == "'missing'"
    assert back.non_retryable is False


def test_cause_chain_of_plain_exceptions() -> None:
    try:
        try:
            raise ValueError("inner")
        except ValueError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as outer:
        err = outer
    failure, back = roundtrip(ApplicationError("top").with_traceback(None))
    assert "cause" not in failure
    top = ApplicationError("top")
    top.__cause__ = err
    failure, back = roundtrip(top)
    assert failure["cause"]["application_failure_info"]["type"] == "RuntimeError"
    assert failure["cause"]["cause"]["application_failure_info"]["type"] == "ValueError"
    chain = []
    current: BaseException | None = back
    while current is not None:
        assert isinstance(current, ApplicationError)
        chain.append((current.type, current.message))
        current = current.__cause__
    assert chain == [(None, "top"), ("RuntimeError", "outer"), ("ValueError", "inner")]


def test_context_without_cause_is_not_followed() -> None:
    try:
        try:
            raise ValueError("inner")
        except ValueError:
            raise RuntimeError("outer")  # noqa: B904 - implicit context on purpose
    except RuntimeError as err:
        failure, _ = roundtrip(err)
    assert "cause" not in failure


def test_decoded_error_re_encodes_as_its_original_failure() -> None:
    original = {
        "message": "from another worker",
        "source": "TypeScriptSDK",
        "stack_trace": "at foo.ts:1",
        "application_failure_info": {"type": "X", "non_retryable": True},
    }
    err = fc.from_failure(original, pc)
    assert isinstance(err, ApplicationError)
    assert fc.to_failure(err, pc) == original
    # Wrapping it as a cause keeps it intact.
    wrapper = ApplicationError("wrapped")
    wrapper.__cause__ = err
    assert fc.to_failure(wrapper, pc)["cause"] == original


def test_other_failure_error_subclasses() -> None:
    failure, back = roundtrip(WorkflowAlreadyStartedError("wf-1", "MyWorkflow", run_id="r"))
    assert failure["message"] == "Workflow execution already started"
    assert failure["application_failure_info"]["type"] == "WorkflowAlreadyStartedError"
    assert isinstance(back, ApplicationError)
    _, back = roundtrip(FailureError("generic"))
    assert isinstance(back, ApplicationError) and back.type == "FailureError"


def test_encoded_common_attributes() -> None:
    converter = DefaultFailureConverterWithEncodedAttributes()
    failure = converter.to_failure(raised(ApplicationError("secret message", type="T")), pc)
    assert failure["message"] == "Encoded failure"
    assert failure["stack_trace"] == ""
    assert "encoded_attributes" in failure
    back = converter.from_failure(failure, pc)
    assert isinstance(back, ApplicationError)
    assert back.message == "secret message" and back.type == "T"
    assert back.failure is not None and "raise exc" in back.failure["stack_trace"]
    assert failure["message"] == "Encoded failure"  # input not mutated


# -- malformed input -----------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "fragment"),
    [
        ("not a dict", "expected a Failure object, got str"),
        (None, "expected a Failure object, got NoneType"),
        ({"message": 5}, "'message' must be a string"),
        ({"message": "m", "application_failure_info": "x"}, "'application_failure_info' must be an object"),
        (
            {"message": "m", "application_failure_info": {"non_retryable": "yes"}},
            "'non_retryable' must be a boolean",
        ),
        ({"message": "m", "application_failure_info": {"details": [1]}}, "'details' must be"),
        (
            {"message": "m", "application_failure_info": {"details": {"payloads": [{"data": "!!"}]}}},
            "base64",
        ),
        (
            {"message": "m", "timeout_failure_info": {"timeout_type": "TIMEOUT_TYPE_NOPE"}},
            "invalid TimeoutType",
        ),
        (
            {"message": "m", "activity_failure_info": {"scheduled_event_id": "x"}},
            "'scheduled_event_id' must be an integer",
        ),
        ({"message": "m", "activity_failure_info": {"retry_state": 99}}, "invalid RetryState"),
    ],
)
def test_malformed_failures_decode_to_application_error(failure: Any, fragment: str) -> None:
    err = fc.from_failure(failure, pc)
    assert isinstance(err, ApplicationError)
    assert "Malformed failure" in err.message
    assert fragment in err.message


def test_unknown_failure_info_is_an_application_error() -> None:
    err = fc.from_failure({"message": "nexus thing", "nexus_operation_execution_failure_info": {}}, pc)
    assert isinstance(err, ApplicationError) and err.message == "nexus thing"
    err = fc.from_failure({}, pc)
    assert isinstance(err, ApplicationError) and err.message == "Failure error"


def test_malformed_cause_keeps_the_outer_error() -> None:
    failure = {
        "message": "Activity task failed",
        "activity_failure_info": {"activity_type": {"name": "a"}, "scheduled_event_id": "12"},
        "cause": "garbage",
    }
    err = fc.from_failure(failure, pc)
    assert isinstance(err, ActivityError) and err.scheduled_event_id == 12
    assert isinstance(err.cause, ApplicationError) and "Malformed failure" in err.cause.message


def test_numeric_enums_and_missing_fields_are_tolerated() -> None:
    err = fc.from_failure(
        {"timeout_failure_info": {"timeout_type": 2}, "cause": {"canceled_failure_info": {}}}, pc
    )
    assert isinstance(err, TimeoutError) and err.type is TimeoutType.SCHEDULE_TO_START
    assert err.message == "Timeout" and err.last_heartbeat_details == ()
    assert isinstance(err.cause, CancelledError) and err.cause.message == "Cancelled"


def test_cyclic_cause_chain_terminates() -> None:
    a = ApplicationError("a")
    b = ApplicationError("b")
    a.__cause__ = b
    b.__cause__ = a
    failure = fc.to_failure(a, pc)
    depth = 0
    while "cause" in failure:
        failure = failure["cause"]
        depth += 1
    assert depth == 100


# -- through DataConverter with a codec ---------------------------------------------


class MarkingCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": b"binary/marked"}, data=json.dumps(p.to_json()).encode())
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload.from_json(json.loads(p.data)) for p in payloads]


def test_data_converter_failure_with_codec() -> None:
    converter = dataclasses.replace(
        DataConverter.default,
        payload_codec=MarkingCodec(),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    err = ActivityError(
        "Activity task failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type="t",
        activity_id="1",
        retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED,
    )
    err.__cause__ = ApplicationError("bad", {"n": 1}, type="Bad")
    failure = asyncio.run(converter.encode_failure(err))
    marked = Payload(metadata={"encoding": b"binary/marked"}).to_json()["metadata"]
    assert failure["cause"]["message"] == "Encoded failure"
    assert failure["cause"]["encoded_attributes"]["metadata"] == marked
    details = failure["cause"]["application_failure_info"]["details"]["payloads"]
    assert [p["metadata"] for p in details] == [marked]
    stored = copy.deepcopy(failure)
    back = asyncio.run(converter.decode_failure(failure))
    assert failure == stored  # not mutated
    assert isinstance(back, ActivityError)
    assert back.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED
    assert isinstance(back.cause, ApplicationError)
    assert back.cause.message == "bad" and back.cause.details == ({"n": 1},)
    # Re-encoding the decoded error yields the same stored form.
    again = asyncio.run(converter.encode_failure(back))
    assert asyncio.run(converter.decode_failure(again)).cause.details == ({"n": 1},)  # type: ignore[union-attr]
