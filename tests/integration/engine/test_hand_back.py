"""Tasks a store transaction starts and completes for the worker (a timer's, a claim's), and its failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError

from temporalflow import workflow
from temporalflow.core.events import EventType
from tests.helpers import assert_eventually_async

from .conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@workflow.defn
class SleepTwice:
    """Sleeps twice; returns how many times it slept."""

    @workflow.run
    async def run(self, seconds: float) -> int:
        """Sleep ``seconds`` two times."""
        for _ in range(2):
            await workflow.sleep(timedelta(seconds=seconds))
        return 2


async def test_the_task_a_timer_wakes_is_started_and_completed_by_its_firing(client):
    async with running_worker(client, [SleepTwice]) as worker:
        handle = await client.start_workflow(SleepTwice.run, 0.05, id=wf_id(), task_queue=worker.task_queue)
        assert await handle.result() == 2
    events = (await handle.fetch_history()).events
    types = [e.event_type for e in events]
    assert EventType.WORKFLOW_TASK_FAILED not in types
    fired = [i for i, t in enumerate(types) if t == EventType.TIMER_FIRED]
    assert len(fired) == 2
    for i in fired:
        scheduled, started = events[i + 1], events[i + 2]
        assert (scheduled.event_type, started.event_type) == (
            EventType.WORKFLOW_TASK_SCHEDULED, EventType.WORKFLOW_TASK_STARTED)
        # One transaction wrote all three (the queue's claim would come later, from another).
        assert events[i].event_time == scheduled.event_time == started.event_time
        assert started.attributes["identity"] == worker._identity


def _nothing_kept_for(runner, run_id: str) -> bool:
    """No inline activation's outcome is kept for the run, and its lock is free."""
    lock = runner._run_locks.get(run_id)
    return run_id not in runner._inline and (lock is None or not lock.locked())


async def test_a_firing_that_fails_after_the_activations_drops_what_they_kept(client, caplog):
    """Its activations' outcomes are dropped at once (the run's lock freed); the timer fires in a later round."""
    async with running_worker(client, [SleepTwice]) as worker:
        store, runner = worker._store, worker._wf_runner
        real = store._fire_timers
        failing = [True]

        def fire_timers(limit, hand_back=None):
            if hand_back is None:
                return real(limit, hand_back)
            run_tasks = hand_back.run_workflow_tasks

            def activate_then_fail(leases):
                completions = run_tasks(leases)
                if not failing:
                    return completions
                raise OperationalError("connection lost before the commit")

            hand_back.run_workflow_tasks = activate_then_fail
            return real(limit, hand_back)

        store._fire_timers = fire_timers
        try:
            handle = await client.start_workflow(SleepTwice.run, 0.05, id=wf_id(), task_queue=worker.task_queue)
            await assert_eventually_async(lambda: "Timer loop failed" in caplog.text)
            # The outcome the failed firing's activation kept is gone and the run is free,
            # while the firings still fail (nothing else settles the run meanwhile).
            await assert_eventually_async(lambda: _nothing_kept_for(runner, handle.result_run_id))
            failing.clear()
            assert await handle.result() == 2
        finally:
            del store._fire_timers
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert types.count(EventType.TIMER_FIRED) == 2
    assert EventType.WORKFLOW_TASK_FAILED not in types


@workflow.defn
class Hello:
    """Returns at once."""

    @workflow.run
    async def run(self) -> str:
        """Say hello."""
        return "hello"


async def test_a_claim_that_fails_after_the_activations_drops_what_they_kept(client, caplog):
    """As for a firing: the claiming transaction rolls back, the run is freed at once and claimed again."""
    async with running_worker(client, [Hello]) as worker:
        runner = worker._wf_runner
        real = runner.run_inline_batch
        failing = [True]

        def activate_then_fail(leases):
            completions = real(leases)
            if failing:
                raise OperationalError("connection lost before the commit")
            return completions

        runner.run_inline_batch = activate_then_fail
        try:
            handle = await client.start_workflow(Hello.run, id=wf_id(), task_queue=worker.task_queue)
            await assert_eventually_async(lambda: "Polling wft:" in caplog.text)
            await assert_eventually_async(lambda: _nothing_kept_for(runner, handle.result_run_id))
            failing.clear()
            assert await handle.result() == "hello"
        finally:
            del runner.run_inline_batch
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.WORKFLOW_TASK_FAILED not in types
