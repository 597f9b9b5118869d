"""workflow.wait / as_completed, handler unfinished policies, ApplicationError categories and the
Saga helper, through the public API on the real store."""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.client import Client, WorkflowFailureError, WorkflowUpdateStage
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import ActivityError, ApplicationError, ApplicationErrorCategory
from temporalflow.saga import CompensationError, Saga

from .conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ONCE = RetryPolicy(maximum_attempts=1)


@activity.defn
async def echo(value: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return value


@workflow.defn
class RaceWorkflow:
    @workflow.run
    async def run(self) -> list:
        opts = {"start_to_close_timeout": timedelta(seconds=10)}
        tasks = [workflow.start_activity(echo, args=[name, delay], **opts)
                 for name, delay in (("slow", 1.0), ("fast", 0.0), ("medium", 0.3))]
        done, pending = await workflow.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        first = [t.result() for t in done]
        order = [await f for f in workflow.as_completed(pending)]
        return [first, order]


async def test_wait_and_as_completed_with_real_activities(client: Client) -> None:
    async with running_worker(client, [RaceWorkflow], [echo]) as w:
        handle = await client.start_workflow(RaceWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        assert await handle.result() == [["fast"], ["medium", "slow"]]
        # A fresh worker (no cache) replays the closed run's history to answer a query: a
        # different order of commands would fail it with a non-determinism error.
    async with running_worker(client, [RaceWorkflow], [echo], task_queue=w.task_queue):
        assert await handle.query("__stack_trace") == ""


@workflow.defn
class UnfinishedWorkflow:
    def __init__(self) -> None:
        self.finish = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.finish)
        return "done"

    @workflow.signal
    def stop(self) -> None:
        self.finish = True

    @workflow.update
    async def hang(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def hang_quietly(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"


async def test_a_run_closing_with_a_running_update_warns_once(client: Client) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with running_worker(client, [UnfinishedWorkflow]) as w:
            handle = await client.start_workflow(UnfinishedWorkflow.run, id=wf_id(), task_queue=w.task_queue)
            accepted = WorkflowUpdateStage.ACCEPTED
            await handle.start_update(UnfinishedWorkflow.hang, id="upd-1", wait_for_stage=accepted)
            await handle.start_update(UnfinishedWorkflow.hang_quietly, id="upd-2", wait_for_stage=accepted)
            await handle.signal(UnfinishedWorkflow.stop)
            assert await handle.result() == "done"
    found = [w for w in caught if issubclass(w.category, workflow.UnfinishedUpdateHandlersWarning)]
    assert len(found) == 1
    assert str(found[0].message).endswith('[{"name": "hang", "id": "upd-1"}]')
    assert str(found[0].message).startswith("[TMPRL1102] Workflow finished while update handlers are still running.")


@activity.defn
async def refuse(benign: bool) -> None:
    category = ApplicationErrorCategory.BENIGN if benign else ApplicationErrorCategory.UNSPECIFIED
    raise ApplicationError("not today", {"why": "closed"}, type="Closed", category=category)


@workflow.defn
class CategoryWorkflow:
    @workflow.run
    async def run(self, benign: bool) -> None:
        await workflow.execute_activity(refuse, benign, start_to_close_timeout=timedelta(seconds=5),
                                        retry_policy=ONCE)


@pytest.mark.parametrize("benign", [True, False])
async def test_benign_errors_keep_their_category_and_log_at_debug(
        client: Client, caplog: pytest.LogCaptureFixture, benign: bool) -> None:
    caplog.set_level(logging.DEBUG, logger="temporalflow.worker")
    async with running_worker(client, [CategoryWorkflow], [refuse]) as w:
        handle = await client.start_workflow(CategoryWorkflow.run, benign, id=wf_id(), task_queue=w.task_queue)
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    activity_error = err.value.cause
    assert isinstance(activity_error, ActivityError)
    app = activity_error.cause
    assert isinstance(app, ApplicationError) and app.type == "Closed" and app.details == ({"why": "closed"},)
    expected = ApplicationErrorCategory.BENIGN if benign else ApplicationErrorCategory.UNSPECIFIED
    assert app.category is expected
    failed = [e async for e in handle.fetch_history_events() if e.event_type.name == "ACTIVITY_TASK_FAILED"]
    assert failed[0].attributes["failure"]["application_failure_info"]["category"] == (
        "APPLICATION_ERROR_CATEGORY_BENIGN" if benign else "APPLICATION_ERROR_CATEGORY_UNSPECIFIED")
    records = [r for r in caplog.records if r.getMessage().startswith("Completing activity as failed")]
    assert [r.levelno for r in records] == [logging.DEBUG if benign else logging.WARNING]


class Ledger:
    """What the saga's activities did, seen from the test."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[str] = []

    def add(self, entry: str) -> None:
        with self.lock:
            self.entries.append(entry)


LEDGER = Ledger()


@activity.defn
def book(item: str) -> str:
    if item.startswith("fail"):
        raise ApplicationError(f"cannot book {item}", type="Unavailable", non_retryable=True)
    LEDGER.add(f"book {item}")
    return f"booking-{item}"


@activity.defn
def cancel_booking(booking: str) -> None:
    if booking == "booking-stuck":
        raise ApplicationError("cancellation refused", type="Refused", non_retryable=True)
    LEDGER.add(f"cancel {booking}")


@workflow.defn
class TripWorkflow:
    @workflow.run
    async def run(self, items: list[str], parallel: bool) -> list[str]:
        opts = {"start_to_close_timeout": timedelta(seconds=10), "retry_policy": ONCE}
        booked = []
        async with Saga(parallel_compensations=parallel, continue_on_compensation_failure=True,
                        activity_options=opts) as saga:
            for item in items:
                booking = await workflow.execute_activity(book, item, **opts)
                saga.add_compensation(cancel_booking, booking)
                booked.append(booking)
        return booked


async def test_saga_compensates_in_reverse_and_fails_the_workflow(client: Client) -> None:
    LEDGER.entries.clear()
    async with running_worker(client, [TripWorkflow], [book, cancel_booking]) as w:
        with pytest.raises(WorkflowFailureError) as err:
            await client.execute_workflow(TripWorkflow.run, args=[["flight", "hotel", "fail-car"], False],
                                          id=wf_id(), task_queue=w.task_queue)
        assert LEDGER.entries == ["book flight", "book hotel", "cancel booking-hotel", "cancel booking-flight"]
        assert isinstance(err.value.cause, ActivityError) and err.value.cause.cause.type == "Unavailable"
        LEDGER.entries.clear()
        assert await client.execute_workflow(TripWorkflow.run, args=[["a", "b"], True], id=wf_id(),
                                             task_queue=w.task_queue) == ["booking-a", "booking-b"]
        assert LEDGER.entries == ["book a", "book b"]


async def test_saga_compensation_failures_are_collected(client: Client) -> None:
    LEDGER.entries.clear()
    async with running_worker(client, [TripWorkflow], [book, cancel_booking]) as w:
        with pytest.raises(WorkflowFailureError) as err:
            await client.execute_workflow(TripWorkflow.run, args=[["flight", "stuck", "fail-car"], True],
                                          id=wf_id(), task_queue=w.task_queue)
    assert sorted(LEDGER.entries) == ["book flight", "book stuck", "cancel booking-flight"]
    failure = err.value.cause
    assert isinstance(failure, ApplicationError) and failure.type == "CompensationError"
    assert failure.message == ("1 compensation failed: cancel_booking: Activity task failed "
                               "(Refused: cancellation refused)")
    assert failure.details[0]["compensation"] == "cancel_booking"
    assert not isinstance(failure, CompensationError)  # decoded from history: a plain ApplicationError
