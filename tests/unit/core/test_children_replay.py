"""Child workflows and external handles driven through histories: commands, replay, non-determinism."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from temporalflow import workflow
from temporalflow.client import WorkflowHistory
from temporalflow.core import commands as cmds
from temporalflow.core.events import EventType as ET
from temporalflow.core.machines import NondeterminismError
from temporalflow.exceptions import ApplicationError, ChildWorkflowError, TerminatedError
from temporalflow.worker import Replayer

from .history_builder import HistoryBuilder, decode, encode, new_driver, replay, run_task


@workflow.defn(name="Kid")
class Kid:
    @workflow.run
    async def run(self, name: str) -> str:
        return name


@workflow.defn(name="OtherKid")
class OtherKid:
    @workflow.run
    async def run(self, name: str) -> str:
        return name


@workflow.defn(name="Parent")
class ParentWorkflow:
    @workflow.run
    async def run(self) -> str:
        handle = await workflow.start_child_workflow(Kid.run, "ann", id="kid-1",
                                                     parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        assert handle.first_execution_run_id == "kid-run-1"
        try:
            return await handle
        except ChildWorkflowError as err:
            return f"{type(err.cause).__name__}: {err.cause.message}"  # type: ignore[union-attr]


@workflow.defn(name="Parent")
class ParentChanged:
    """The same parent, now starting another child type: replaying old histories must fail."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(OtherKid.run, "ann", id="kid-1")


@workflow.defn(name="Parent")
class ParentWithOtherId:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(Kid.run, "ann", id="kid-2")


@workflow.defn(name="Signaller")
class SignallerWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.get_external_workflow_handle("target").signal("go", 1)
        except ApplicationError as err:
            return f"{err.type}: {err.message}"
        await workflow.get_external_workflow_handle("target", run_id="r1").cancel()
        return "sent"


def start_child(h: HistoryBuilder, run_id: str = "kid-run-1") -> int:
    initiated = next(e for e in h.events if e.event_type is ET.START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    return h.new_event(ET.CHILD_WORKFLOW_EXECUTION_STARTED, namespace="default",
                       initiated_event_id=initiated.event_id,
                       workflow_execution={"workflow_id": "kid-1", "run_id": run_id},
                       workflow_type={"name": "Kid"})


def run_parent(close: ET, **attrs: object) -> tuple[HistoryBuilder, str]:
    h = HistoryBuilder("Parent")
    driver = new_driver(ParentWorkflow, Kid)
    c1 = run_task(driver, h)
    assert [type(c) for c in c1.commands] == [cmds.StartChildWorkflowExecution]
    cmd = c1.commands[0]
    assert (cmd.workflow_id, cmd.workflow_type, cmd.task_queue, cmd.parent_close_policy) == ("kid-1", "Kid", "q", 2)
    started = start_child(h)
    assert run_task(driver, h).commands == []  # started: now waiting for the result
    initiated = next(e.event_id for e in h.events if e.event_type is ET.START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    h.new_event(close, namespace="default", initiated_event_id=initiated, started_event_id=started,
                workflow_execution={"workflow_id": "kid-1", "run_id": "kid-run-1"},
                workflow_type={"name": "Kid"}, **attrs)
    c3 = run_task(driver, h)
    assert isinstance(c3.commands[-1], cmds.CompleteWorkflowExecution)
    return h, decode(c3.commands[-1].result)


def test_child_result_reaches_the_parent_and_the_history_replays() -> None:
    h, result = run_parent(ET.CHILD_WORKFLOW_EXECUTION_COMPLETED, result=encode("ann"))
    assert result == "ann"
    initiated = next(e for e in h.events if e.event_type is ET.START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    assert initiated.attributes["workflow_id"] == "kid-1"
    assert initiated.attributes["parent_close_policy"] == "PARENT_CLOSE_POLICY_ABANDON"
    assert replay(h, ParentWorkflow, Kid).closed


def test_child_failure_and_termination_become_child_workflow_error_causes() -> None:
    failure = {"message": "kid broke", "application_failure_info": {"type": "Broke", "non_retryable": True}}
    _, result = run_parent(ET.CHILD_WORKFLOW_EXECUTION_FAILED, failure=failure,
                           retry_state="RETRY_STATE_NON_RETRYABLE_FAILURE")
    assert result == "ApplicationError: kid broke"
    _, result = run_parent(ET.CHILD_WORKFLOW_EXECUTION_TERMINATED)
    assert result == f"{TerminatedError.__name__}: Child Workflow execution terminated"
    _, result = run_parent(ET.CHILD_WORKFLOW_EXECUTION_CANCELED)
    assert result == "CancelledError: Child Workflow execution cancelled"
    _, result = run_parent(ET.CHILD_WORKFLOW_EXECUTION_TIMED_OUT, retry_state="RETRY_STATE_TIMEOUT")
    assert result == "TimeoutError: Child Workflow execution timed out"


def test_changed_child_type_is_nondeterministic_and_names_both() -> None:
    h, _ = run_parent(ET.CHILD_WORKFLOW_EXECUTION_COMPLETED, result=encode("ann"))
    with pytest.raises(NondeterminismError) as err:
        replay(h, ParentChanged, OtherKid)
    msg = str(err.value)
    assert "[TMPRL1100]" in msg and "StartChildWorkflowExecutionInitiated" in msg
    assert "'Kid'" in msg and "'OtherKid'" in msg


def test_changed_child_id_is_nondeterministic() -> None:
    h, _ = run_parent(ET.CHILD_WORKFLOW_EXECUTION_COMPLETED, result=encode("ann"))
    with pytest.raises(NondeterminismError, match="kid-2"):
        replay(h, ParentWithOtherId, Kid)


def test_start_failure_raises_workflow_already_started_in_the_parent() -> None:
    @workflow.defn(name="Parent")
    class ParentCatching:
        @workflow.run
        async def run(self) -> str:
            try:
                await workflow.start_child_workflow(Kid.run, "ann", id="kid-1")
            except Exception as err:  # WorkflowAlreadyStartedError
                return f"{type(err).__name__}: {err.workflow_id} {err.workflow_type}"  # type: ignore[attr-defined]
            return "started"

    h = HistoryBuilder("Parent")
    driver = new_driver(ParentCatching, Kid)
    run_task(driver, h)
    initiated = next(e.event_id for e in h.events if e.event_type is ET.START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    h.new_event(ET.START_CHILD_WORKFLOW_EXECUTION_FAILED, namespace="default", workflow_id="kid-1",
                workflow_type={"name": "Kid"}, initiated_event_id=initiated,
                cause="START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS")
    c2 = run_task(driver, h)
    assert decode(c2.commands[-1].result) == "WorkflowAlreadyStartedError: kid-1 Kid"
    assert replay(h, ParentCatching, Kid).closed


def test_cancel_before_the_start_is_sent_takes_the_command_back() -> None:
    @workflow.defn(name="Parent")
    class ParentCancelling:
        @workflow.run
        async def run(self) -> str:
            task = asyncio.ensure_future(workflow.start_child_workflow(Kid.run, "ann", id="kid-1"))
            await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except ChildWorkflowError as err:
                return f"{err.message} / {type(err.cause).__name__}"
            return "started"

    h = HistoryBuilder("Parent")
    c1 = run_task(new_driver(ParentCancelling, Kid), h)
    assert [type(c) for c in c1.commands] == [cmds.CompleteWorkflowExecution]
    assert decode(c1.commands[0].result) == ("Child Workflow execution cancelled before scheduled / "
                                             "CancelledError")


def test_external_signal_failure_and_cancel_replay() -> None:
    h = HistoryBuilder("Signaller")
    driver = new_driver(SignallerWorkflow)
    c1 = run_task(driver, h)
    [sig] = c1.commands
    assert isinstance(sig, cmds.SignalExternalWorkflowExecution)
    assert (sig.workflow_id, sig.run_id, sig.signal_name, decode(sig.input)) == ("target", "", "go", 1)
    initiated = next(e.event_id for e in h.events
                     if e.event_type is ET.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
    h.new_event(ET.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED, initiated_event_id=initiated, namespace="default",
                workflow_execution={"workflow_id": "target", "run_id": ""},
                cause="SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND")
    c2 = run_task(driver, h)
    assert decode(c2.commands[-1].result) == ("SignalExternalWorkflowExecutionFailed: Unable to signal external "
                                              "workflow because it was not found")
    assert replay(h, SignallerWorkflow).closed


def test_external_signal_then_cancel_resolve_in_order() -> None:
    h = HistoryBuilder("Signaller")
    driver = new_driver(SignallerWorkflow)
    run_task(driver, h)
    initiated = h.events[-1].event_id
    h.new_event(ET.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED, initiated_event_id=initiated, namespace="default",
                workflow_execution={"workflow_id": "target", "run_id": "r1"})
    c2 = run_task(driver, h)
    [cancel] = c2.commands
    assert isinstance(cancel, cmds.RequestCancelExternalWorkflowExecution) and cancel.run_id == "r1"
    initiated = h.events[-1].event_id
    h.new_event(ET.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED, initiated_event_id=initiated,
                namespace="default", workflow_execution={"workflow_id": "target", "run_id": "r1"})
    c3 = run_task(driver, h)
    assert decode(c3.commands[-1].result) == "sent"
    assert replay(h, SignallerWorkflow).closed


@workflow.defn(name="GoldenParent")
class GoldenParent:
    """Recorded in tests/unit/core/histories/golden_parent.json from a real run (SQLite)."""

    @workflow.run
    async def run(self) -> str:
        first = await workflow.execute_child_workflow(Kid.run, "ann", id=f"{workflow.info().workflow_id}-kid")
        try:
            await workflow.get_external_workflow_handle("nobody-here").signal("go")
        except ApplicationError as err:
            return f"{first} / {err.message}"
        return first


@workflow.defn(name="GoldenParent")
class GoldenParentChanged:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(OtherKid.run, "ann", id=f"{workflow.info().workflow_id}-kid")


GOLDEN = Path(__file__).with_name("histories") / "golden_parent.json"


def _golden() -> WorkflowHistory:
    data = json.loads(GOLDEN.read_text())
    return WorkflowHistory.from_json(data["workflow_id"], data)


async def test_recorded_parent_history_replays() -> None:
    result = await Replayer(workflows=[GoldenParent, Kid]).replay_workflow(_golden(), raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_recorded_parent_history_catches_a_changed_child() -> None:
    result = await Replayer(workflows=[GoldenParentChanged, OtherKid]).replay_workflow(
        _golden(), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError)
    assert "StartChildWorkflowExecutionInitiated" in str(result.replay_failure)


@workflow.defn(name="BadInput")
class BadInputWorkflow:
    @workflow.run
    async def run(self, case: str) -> str:
        try:
            if case == "not-a-workflow":
                await workflow.start_child_workflow(len)  # type: ignore[arg-type]
            elif case == "arg-and-args":
                await workflow.start_child_workflow(Kid.run, "a", args=["b"])
            elif case == "empty-id":
                await workflow.start_child_workflow(Kid.run, "a", id="")
            elif case == "empty-external-id":
                workflow.get_external_workflow_handle("")
            elif case == "bad-signal":
                await workflow.get_external_workflow_handle("x").signal(Kid.run)
        except (TypeError, ValueError) as err:
            return f"{type(err).__name__}: {err}"
        return "accepted"


@pytest.mark.parametrize(("case", "expected"), [
    ("not-a-workflow", "ValueError: <built-in function len> is not the @workflow.run method of a @workflow.defn "
                       "class"),
    ("arg-and-args", "ValueError: Cannot provide both arg and args"),
    ("empty-id", "ValueError: child workflow id must not be empty"),
    ("empty-external-id", "ValueError: workflow_id must not be empty"),
    ("bad-signal", "ValueError: <function Kid.run"),
])
def test_bad_input_gives_a_clear_error_and_no_command(case: str, expected: str) -> None:
    h = HistoryBuilder("BadInput", case)
    completion = run_task(new_driver(BadInputWorkflow, Kid), h)
    assert [type(c) for c in completion.commands] == [cmds.CompleteWorkflowExecution]
    assert decode(completion.commands[0].result).startswith(expected)
