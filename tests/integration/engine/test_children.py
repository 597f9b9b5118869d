"""Child workflows and external workflow handles through the public API (SQLite and PostgreSQL).

Results and failures surface in the parent as temporalio raises them; parent close
policies act in the parent's closing transaction; cancellation types; signals and
cancels between runs (through the outbox), including to a workflow that does not exist.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from temporalflow import activity, workflow
from temporalflow.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalflow.exceptions import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TimeoutError,
    WorkflowAlreadyStartedError,
)
from temporalflow.models import WorkflowOutbox

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


# --- workflows ------------------------------------------------------------------------


@workflow.defn
class Child:
    @workflow.run
    async def run(self, name: str) -> str:
        info = workflow.info()
        assert info.parent is not None
        return f"hello {name} from {info.workflow_id} (parent {info.parent.workflow_id})"


@workflow.defn
class FailingChild:
    @workflow.run
    async def run(self, message: str) -> str:
        raise ApplicationError(message, "detail", type="ChildBroke", non_retryable=True)


@workflow.defn
class WaitingChild:
    """Waits for a signal (or forever); handles cancellation by returning, when told to."""

    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self, return_on_cancel: bool) -> str:
        try:
            await workflow.wait_condition(lambda: self.released)
            return "released"
        except asyncio.CancelledError:
            if return_on_cancel:
                return "cleaned up after cancel"
            raise

    @workflow.signal
    def release(self) -> None:
        self.released = True


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, child_id: str | None) -> str:
        return await workflow.execute_child_workflow(Child.run, "ann", id=child_id)


@workflow.defn
class ParentOfFailing:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_child_workflow(FailingChild.run, "boom", id=f"{workflow.info().workflow_id}-c")
        except ChildWorkflowError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError)
            return f"{err.message}|{err.workflow_id}|{err.workflow_type}|{cause.type}|{cause.message}|" \
                   f"{list(cause.details)}"
        return "no error"


@workflow.defn
class ParentPropagatingFailure:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(FailingChild.run, "deep", id=f"{workflow.info().workflow_id}-c")


@workflow.defn
class ParentStartingTwice:
    @workflow.run
    async def run(self, child_id: str) -> str:
        first = await workflow.start_child_workflow(WaitingChild.run, False, id=child_id)
        try:
            await workflow.start_child_workflow(WaitingChild.run, False, id=child_id)
        except WorkflowAlreadyStartedError as err:
            await first.signal(WaitingChild.release)
            return f"{type(err).__name__}:{err.message}:{await first}"
        return "started twice"


@workflow.defn
class ParentWithPolicy:
    """Starts a waiting child with the given close policy, then waits forever."""

    @workflow.run
    async def run(self, child_id: str, policy: int) -> None:
        await workflow.start_child_workflow(
            WaitingChild.run, False, id=child_id, parent_close_policy=workflow.ParentClosePolicy(policy))
        await workflow.wait_condition(lambda: False)


@workflow.defn
class ParentCompletingWithChild:
    """Starts a waiting child with TERMINATE (the default) and returns at once."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        handle = await workflow.start_child_workflow(WaitingChild.run, False, id=child_id)
        return handle.first_execution_run_id or ""


@workflow.defn
class ParentCancellingChild:
    @workflow.run
    async def run(self, child_id: str, cancellation_type: int, return_on_cancel: bool) -> str:
        handle = await workflow.start_child_workflow(
            WaitingChild.run, return_on_cancel, id=child_id,
            cancellation_type=workflow.ChildWorkflowCancellationType(cancellation_type))
        handle.cancel()
        try:
            result = await handle
        except ChildWorkflowError as err:
            return f"error:{type(err.cause).__name__}"
        except asyncio.CancelledError:
            return "cancelled"
        return f"result:{result}"


@workflow.defn
class Signaller:
    @workflow.run
    async def run(self, target: str) -> str:
        await workflow.get_external_workflow_handle(target).signal("release")
        return "sent"


@workflow.defn
class SignallerToMissing:
    @workflow.run
    async def run(self, target: str) -> str:
        try:
            await workflow.get_external_workflow_handle_for(WaitingChild.run, target).signal(WaitingChild.release)
        except ApplicationError as err:
            return f"{err.type}:{err.message}"
        return "sent"


@workflow.defn
class Canceller:
    @workflow.run
    async def run(self, target: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target).cancel()
        except ApplicationError as err:
            return f"{err.type}:{err.message}"
        return "cancel requested"


async def wait_for(fn: Any, timeout: float = 30.0) -> Any:
    """Poll ``fn()`` (async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def status_of(client: Client, workflow_id: str) -> WorkflowExecutionStatus:
    return (await client.get_workflow_handle(workflow_id).describe()).status


ALL: list[type] = [Child, FailingChild, WaitingChild, Parent, ParentOfFailing, ParentPropagatingFailure,
                   ParentStartingTwice, ParentWithPolicy, ParentCompletingWithChild, ParentCancellingChild, Signaller,
                   SignallerToMissing, Canceller]


# --- tests ------------------------------------------------------------------------------


async def test_child_result_and_history(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        parent_id, child_id = wf_id(), wf_id()
        result = await client.execute_workflow(Parent.run, child_id, id=parent_id, task_queue=w.task_queue)
        assert result == f"hello ann from {child_id} (parent {parent_id})"
        parent_events = [e.event_type for e in (await client.get_workflow_handle(parent_id).fetch_history()).events]
        assert "StartChildWorkflowExecutionInitiated" in parent_events
        assert parent_events.index("ChildWorkflowExecutionStarted") > parent_events.index(
            "StartChildWorkflowExecutionInitiated")
        assert parent_events.index("ChildWorkflowExecutionCompleted") > parent_events.index(
            "ChildWorkflowExecutionStarted")
        child = client.get_workflow_handle(child_id)
        desc = await child.describe()
        assert desc.parent_id == parent_id
        started = (await child.fetch_history()).events[0]
        assert started.attributes["parent_workflow_execution"]["workflow_id"] == parent_id
        assert started.attributes["parent_initiated_event_id"] > 0


async def test_child_id_defaults_to_a_deterministic_uuid(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        result = await client.execute_workflow(Parent.run, None, id=wf_id(), task_queue=w.task_queue)
        child_id = result.split(" from ")[1].split(" ")[0]
        assert len(child_id) == 36


async def test_child_failure_surfaces_as_child_workflow_error(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        parent_id = wf_id()
        result = await client.execute_workflow(ParentOfFailing.run, id=parent_id, task_queue=w.task_queue)
        assert result == f"Child Workflow execution failed|{parent_id}-c|FailingChild|ChildBroke|boom|['detail']"


async def test_unhandled_child_failure_fails_the_parent_with_the_chain(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        with pytest.raises(WorkflowFailureError) as info:
            await client.execute_workflow(ParentPropagatingFailure.run, id=wf_id(), task_queue=w.task_queue)
        err = info.value.cause
        assert isinstance(err, ChildWorkflowError)
        assert isinstance(err.cause, ApplicationError) and err.cause.message == "deep"


async def test_child_start_conflict_raises_workflow_already_started(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        result = await client.execute_workflow(ParentStartingTwice.run, wf_id(), id=wf_id(), task_queue=w.task_queue)
        assert result == "WorkflowAlreadyStartedError:Workflow execution already started:released"


@pytest.mark.parametrize(("policy", "expected"), [
    (workflow.ParentClosePolicy.TERMINATE, WorkflowExecutionStatus.TERMINATED),
    (workflow.ParentClosePolicy.REQUEST_CANCEL, WorkflowExecutionStatus.CANCELED),
    (workflow.ParentClosePolicy.ABANDON, WorkflowExecutionStatus.RUNNING),
])
async def test_parent_terminated_applies_the_close_policy(
    client: Client, policy: workflow.ParentClosePolicy, expected: WorkflowExecutionStatus
) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        parent_id, child_id = wf_id(), wf_id()
        parent = await client.start_workflow(ParentWithPolicy.run, args=[child_id, int(policy)], id=parent_id,
                                             task_queue=w.task_queue)

        async def child_running() -> bool:
            desc = await parent.describe()
            return bool(desc.raw_description.pending_children)

        await wait_for(child_running)
        pending = (await parent.describe()).raw_description.pending_children
        assert [(p.workflow_id, p.parent_close_policy) for p in pending] == [(child_id, int(policy))]
        await parent.terminate(reason="stop")
        if policy == workflow.ParentClosePolicy.TERMINATE:
            # The same transaction as the parent's close: no waiting.
            assert await status_of(client, child_id) == WorkflowExecutionStatus.TERMINATED
            closing = (await client.get_workflow_handle(child_id).fetch_history()).events[-1]
            assert closing.attributes["reason"] == "by parent close policy"
        else:
            async def settled() -> bool:
                return await status_of(client, child_id) == expected
            await wait_for(settled)
        if policy == workflow.ParentClosePolicy.ABANDON:
            await client.get_workflow_handle(child_id).signal("release")
            assert await client.get_workflow_handle(child_id).result() == "released"


@activity.defn
async def noop_step() -> str:
    return "stepped"


@workflow.defn
class ParentClosingAfterAnActivity:
    """Starts a waiting child (TERMINATE), then runs an activity; the activity's result closes the run."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        await workflow.start_child_workflow(WaitingChild.run, False, id=child_id)
        return await workflow.execute_activity(noop_step, start_to_close_timeout=timedelta(seconds=10))


async def test_parent_closing_in_an_activitys_transaction_terminates_its_child(client: Client) -> None:
    """The close comes with the activity's result (hand-back), in a transaction that began before any
    child-link read: the links the run had are still found and their policy applied."""
    async with running_worker(client, [*WORKFLOWS, ParentClosingAfterAnActivity], [noop_step]) as w:
        child_id = wf_id()
        handle = await client.start_workflow(ParentClosingAfterAnActivity.run, child_id, id=wf_id(),
                                             task_queue=w.task_queue)
        assert await handle.result() == "stepped"
        assert await status_of(client, child_id) == WorkflowExecutionStatus.TERMINATED
        events = [e.event_type for e in (await handle.fetch_history()).events]
        # The activity's result and the close share one transaction (no task in between).
        assert events[-4:] == ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted",
                               "WorkflowExecutionCompleted"]


async def test_parent_completing_terminates_its_child(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        child_id = wf_id()
        run_id = await client.execute_workflow(ParentCompletingWithChild.run, child_id, id=wf_id(),
                                               task_queue=w.task_queue)
        desc = await client.get_workflow_handle(child_id).describe()
        assert desc.run_id == run_id
        assert desc.status == WorkflowExecutionStatus.TERMINATED


async def test_child_terminated_by_a_client_surfaces_terminated_error(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        child_id = wf_id()
        handle = await client.start_workflow(ParentPropagatingToWaiting.run, child_id, id=wf_id(),
                                             task_queue=w.task_queue)

        async def child_started() -> bool:
            try:
                return await status_of(client, child_id) == WorkflowExecutionStatus.RUNNING
            except Exception:
                return False

        await wait_for(child_started)
        await client.get_workflow_handle(child_id).terminate(reason="operator")
        assert await handle.result() == "TerminatedError"


@workflow.defn
class ParentPropagatingToWaiting:
    @workflow.run
    async def run(self, child_id: str) -> str:
        try:
            await workflow.execute_child_workflow(WaitingChild.run, False, id=child_id)
        except ChildWorkflowError as err:
            return type(err.cause).__name__
        return "completed"


@workflow.defn
class ParentOfShortChild:
    @workflow.run
    async def run(self, child_id: str) -> str:
        try:
            await workflow.execute_child_workflow(WaitingChild.run, False, id=child_id,
                                                  execution_timeout=timedelta(seconds=1))
        except ChildWorkflowError as err:
            assert isinstance(err.cause, TimeoutError)
            return f"{type(err.cause).__name__}:{err.retry_state}"
        return "completed"


async def test_child_timing_out_surfaces_timeout_error(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        result = await client.execute_workflow(ParentOfShortChild.run, wf_id(), id=wf_id(), task_queue=w.task_queue)
        assert result.startswith("TimeoutError:")


@pytest.mark.parametrize(("cancellation_type", "return_on_cancel", "expected", "cancel_seen", "child_closes"), [
    # Waits for the child to close: the child's own outcome reaches the parent.
    (workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED, True, "result:cleaned up after cancel",
     True, {"WorkflowExecutionCompleted"}),
    (workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED, False, "error:CancelledError",
     True, {"WorkflowExecutionCanceled"}),
    # Waits until the child recorded the request; the parent then returns and its close
    # policy (TERMINATE) may end the child before it handles the cancel.
    (workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_REQUESTED, True, "error:CancelledError",
     True, {"WorkflowExecutionCompleted", "WorkflowExecutionTerminated"}),
    # Resolves at once: the parent returns in the same task, and its close terminates the
    # child before the cancel request is delivered (as Temporal documents for TRY_CANCEL).
    (workflow.ChildWorkflowCancellationType.TRY_CANCEL, True, "error:CancelledError",
     False, {"WorkflowExecutionTerminated"}),
    # Never asks the child: it runs on until the parent's close terminates it.
    (workflow.ChildWorkflowCancellationType.ABANDON, True, "error:CancelledError",
     False, {"WorkflowExecutionTerminated"}),
])
async def test_child_cancellation_types(
    client: Client, cancellation_type: Any, return_on_cancel: bool, expected: str, cancel_seen: bool,
    child_closes: set[str],
) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        child_id = wf_id()
        parent = await client.start_workflow(
            ParentCancellingChild.run, args=[child_id, int(cancellation_type), return_on_cancel], id=wf_id(),
            task_queue=w.task_queue)
        assert await parent.result() == expected

        async def closed() -> bool:
            return await status_of(client, child_id) != WorkflowExecutionStatus.RUNNING

        await wait_for(closed)
        types = [e.event_type for e in (await client.get_workflow_handle(child_id).fetch_history()).events]
        assert types[-1] in child_closes
        assert ("WorkflowExecutionCancelRequested" in types) is cancel_seen


async def test_external_signal_and_cancel(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        target = await client.start_workflow(WaitingChild.run, False, id=wf_id(), task_queue=w.task_queue)
        assert await client.execute_workflow(Signaller.run, target.id, id=wf_id(), task_queue=w.task_queue) == "sent"
        assert await target.result() == "released"

        target2 = await client.start_workflow(WaitingChild.run, False, id=wf_id(), task_queue=w.task_queue)
        canceller_id = wf_id()
        assert await client.execute_workflow(Canceller.run, target2.id, id=canceller_id,
                                             task_queue=w.task_queue) == "cancel requested"
        with pytest.raises(WorkflowFailureError) as info:
            await target2.result()
        assert isinstance(info.value.cause, CancelledError)
        events = (await client.get_workflow_handle(canceller_id).fetch_history()).events
        types = [e.event_type for e in events]
        assert types.index("RequestCancelExternalWorkflowExecutionInitiated") < types.index(
            "ExternalWorkflowExecutionCancelRequested")
        requested = [e for e in (await target2.fetch_history()).events
                     if e.event_type == "WorkflowExecutionCancelRequested"][0]
        assert requested.attributes["external_workflow_execution"]["workflow_id"] == canceller_id


async def test_external_signal_and_cancel_to_a_missing_workflow_fail_in_the_caller(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        sender_id = wf_id()
        result = await client.execute_workflow(SignallerToMissing.run, "no-such-workflow", id=sender_id,
                                               task_queue=w.task_queue)
        assert result == ("SignalExternalWorkflowExecutionFailed:Unable to signal external workflow because it "
                          "was not found")
        events = (await client.get_workflow_handle(sender_id).fetch_history()).events
        failed = [e for e in events if e.event_type == "SignalExternalWorkflowExecutionFailed"][0]
        assert failed.attributes["cause"].endswith("EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND")
        result = await client.execute_workflow(Canceller.run, "no-such-workflow", id=wf_id(), task_queue=w.task_queue)
        assert result == ("RequestCancelExternalWorkflowExecutionFailed:Unable to cancel external workflow "
                          "because it was not found")


async def test_signal_to_a_closed_workflow_fails(client: Client) -> None:
    async with running_worker(client, WORKFLOWS) as w:
        done = await client.start_workflow(WaitingChild.run, False, id=wf_id(), task_queue=w.task_queue)
        await done.terminate()
        result = await client.execute_workflow(SignallerToMissing.run, done.id, id=wf_id(), task_queue=w.task_queue)
        assert result.endswith("it was not found")


WORKFLOWS = [*ALL, ParentOfShortChild, ParentPropagatingToWaiting]



@workflow.defn
class ContinuingChild:
    @workflow.run
    async def run(self, n: int) -> str:
        if n > 0:
            workflow.continue_as_new(n - 1)
        return f"done after {workflow.info().continued_run_id is not None}"


@workflow.defn
class ParentOfContinuing:
    @workflow.run
    async def run(self, child_id: str) -> str:
        return await workflow.execute_child_workflow(ContinuingChild.run, 3, id=child_id)


@workflow.defn
class ParentAwaitingChild:
    """Waits on a child with the default cancellation type (WAIT_CANCELLATION_COMPLETED)."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        try:
            return await workflow.execute_child_workflow(WaitingChild.run, True, id=child_id)
        except asyncio.CancelledError:
            return "parent cancelled"


async def test_child_continuing_as_new_reports_only_the_chain_end(client: Client) -> None:
    async with running_worker(client, [*WORKFLOWS, ContinuingChild, ParentOfContinuing]) as w:
        child_id = wf_id()
        result = await client.execute_workflow(ParentOfContinuing.run, child_id, id=wf_id(), task_queue=w.task_queue)
        assert result == "done after True"
        last = await client.get_workflow_handle(child_id).describe()
        assert last.parent_id is not None


async def test_cancelling_the_parent_cancels_the_child_and_waits_for_it(client: Client) -> None:
    async with running_worker(client, [*WORKFLOWS, ParentAwaitingChild]) as w:
        child_id = wf_id()
        parent = await client.start_workflow(ParentAwaitingChild.run, child_id, id=wf_id(), task_queue=w.task_queue)

        async def started() -> bool:
            return bool((await parent.describe()).raw_description.pending_children)

        await wait_for(started)
        await parent.cancel()
        # WAIT_CANCELLATION_COMPLETED: the parent sees the child's own outcome (it returned).
        assert await parent.result() == "cleaned up after cancel"
        assert await client.get_workflow_handle(child_id).result() == "cleaned up after cancel"


async def test_parent_replays_from_history_on_every_task(client: Client) -> None:
    # No sticky cache: every task of the parent replays its whole history first.
    async with running_worker(client, WORKFLOWS, max_cached_workflows=0) as w:
        result = await client.execute_workflow(ParentStartingTwice.run, wf_id(), id=wf_id(), task_queue=w.task_queue)
        assert result == "WorkflowAlreadyStartedError:Workflow execution already started:released"
        result = await client.execute_workflow(ParentOfFailing.run, id=wf_id(), task_queue=w.task_queue)
        assert result.startswith("Child Workflow execution failed|")


async def test_outbox_survives_a_worker_that_dies_between_stages(client: Client) -> None:
    """A worker that delivers nothing (no timer loop) stands for one killed mid-delivery.

    Stage 1 (the signal appended to the target) is committed by hand, as a worker would
    before dying; the next worker finishes stage 2 (the sender's history), exactly once.
    """
    store = client._ops.store
    queue = new_task_queue()
    async with running_worker(client, WORKFLOWS, task_queue=queue, run_timers=False):
        target = await client.start_workflow(WaitingChild.run, False, id=wf_id(), task_queue=queue)
        sender = await client.start_workflow(Signaller.run, target.id, id=wf_id(), task_queue=queue)
        parent_id, child_id = wf_id(), wf_id()
        parent = await client.start_workflow(Parent.run, child_id, id=parent_id, task_queue=queue)

        async def rows() -> list[WorkflowOutbox]:
            return await sync_to_async(lambda: list(WorkflowOutbox.objects.order_by("id")))()

        async def both_queued() -> bool:
            return {r.kind for r in await rows()} == {"signal", "child_closed"}

        await wait_for(both_queued)
        signal_row = next(r for r in await rows() if r.kind == "signal")
        await sync_to_async(store._outbox_stage)(signal_row.id, 1)  # stage 1 only, then "dies"
        assert await target.result() == "released"
        assert [r.stage for r in await rows() if r.kind == "signal"] == [2]
        assert (await sender.describe()).status == WorkflowExecutionStatus.RUNNING
        assert (await parent.describe()).status == WorkflowExecutionStatus.RUNNING
    async with running_worker(client, WORKFLOWS, task_queue=queue):
        assert await sender.result() == "sent"
        assert (await parent.result()).startswith("hello ann")
    assert await rows() == []
    signals = [e for e in (await target.fetch_history()).events if e.event_type == "WorkflowExecutionSignaled"]
    assert len(signals) == 1
    sender_events = [e.event_type for e in (await sender.fetch_history()).events]
    assert sender_events.count("ExternalWorkflowExecutionSignaled") == 1


@workflow.defn
class MemoChild:
    @workflow.run
    async def run(self) -> str:
        return f"{workflow.memo_value('who')} on {workflow.info().task_queue}"


@workflow.defn
class ParentWithOptions:
    @workflow.run
    async def run(self, queue: str) -> str:
        return await workflow.execute_child_workflow(
            MemoChild.run, id=f"{workflow.info().workflow_id}-c", task_queue=queue, memo={"who": "ann"},
            run_timeout=timedelta(seconds=30), task_timeout=timedelta(seconds=5))


@workflow.defn
class ParentContinuingAsNew:
    @workflow.run
    async def run(self, child_id: str, again: bool) -> str:
        if again:
            await workflow.start_child_workflow(WaitingChild.run, False, id=child_id)
            workflow.continue_as_new(args=[child_id, False])
        return "second run"


@workflow.defn
class SleepingChild:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(hours=2))
        return "woke"


@workflow.defn
class ParentOfSleeper:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(SleepingChild.run, id=f"{workflow.info().workflow_id}-c")


async def test_child_options_memo_and_task_queue(client: Client) -> None:
    other_queue = new_task_queue()
    async with running_worker(client, [ParentWithOptions]) as w, \
            running_worker(client, [MemoChild], task_queue=other_queue):
        parent_id = wf_id()
        assert await client.execute_workflow(ParentWithOptions.run, other_queue, id=parent_id,
                                             task_queue=w.task_queue) == f"ann on {other_queue}"
        started = (await client.get_workflow_handle(f"{parent_id}-c").fetch_history()).events[0].attributes
        assert (started["workflow_run_timeout"], started["workflow_task_timeout"]) == (30.0, 5.0)


async def test_parent_continuing_as_new_applies_the_close_policy(client: Client) -> None:
    async with running_worker(client, [*WORKFLOWS, ParentContinuingAsNew]) as w:
        child_id = wf_id()
        assert await client.execute_workflow(ParentContinuingAsNew.run, args=[child_id, True], id=wf_id(),
                                             task_queue=w.task_queue) == "second run"
        assert await status_of(client, child_id) == WorkflowExecutionStatus.TERMINATED


async def test_time_skipping_follows_a_child_timer(time_env: Any) -> None:
    client = time_env.client
    async with running_worker(client, [SleepingChild, ParentOfSleeper]) as w:
        assert await client.execute_workflow(ParentOfSleeper.run, id=wf_id(), task_queue=w.task_queue) == "woke"


@workflow.defn
class ContinueThenWait:
    @workflow.run
    async def run(self, n: int) -> str:
        if n > 0:
            workflow.continue_as_new(n - 1)
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            return "cancelled in a later run"
        return "unreachable"


@workflow.defn
class ParentCancellingLater:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, child_id: str) -> str:
        handle = await workflow.start_child_workflow(ContinueThenWait.run, 2, id=child_id)
        await workflow.wait_condition(lambda: self.go)
        handle.cancel()
        return await handle

    @workflow.signal
    def cancel_child(self) -> None:
        self.go = True


async def test_cancelling_a_child_that_continued_as_new_reaches_its_latest_run(client: Client) -> None:
    async with running_worker(client, [ContinueThenWait, ParentCancellingLater]) as w:
        child_id = wf_id()
        parent = await client.start_workflow(ParentCancellingLater.run, child_id, id=wf_id(), task_queue=w.task_queue)

        async def on_third_run() -> bool:
            try:
                history = await client.get_workflow_handle(child_id).fetch_history()
            except Exception:
                return False
            started = history.events[0].attributes
            return bool(started.get("continued_execution_run_id")) and \
                len([e for e in history.events if e.event_type == "WorkflowTaskCompleted"]) >= 1 and \
                decode_input(started) == 0

        await wait_for(on_third_run)
        await parent.signal(ParentCancellingLater.cancel_child)
        assert await parent.result() == "cancelled in a later run"


def decode_input(started: dict[str, Any]) -> Any:
    """The run's first argument (JSON payload)."""
    return json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
