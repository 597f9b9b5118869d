"""Durable timers: firing, cancellation, next_due_time, double-sweep safety."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from temporalflow.core.commands import StartTimer
from temporalflow.store import DjangoStore
from tests.helpers import assert_eventually

from .conftest import claim_one, complete, schedule, start, types

pytestmark = pytest.mark.django_db(transaction=True)


def test_timer_fires_and_schedules_task(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([StartTimer(seq=1, start_to_fire_timeout=0.05)]))
    due = store.next_due_time()
    assert due is not None
    assert store.claim_workflow_tasks("default", queue, "w1", 10) == []
    assert_eventually(lambda: store.fire_due_timers() == 1, timeout=5)
    fired = store.read_history(lease.run_pk)[-2]
    assert str(fired.event_type) == "TimerFired"
    assert fired.attributes == {"timer_id": "1", "started_event_id": 5}
    assert fired.event_time >= due
    assert store.fire_due_timers() == 0
    assert claim_one(store, queue).run_pk == lease.run_pk


def test_timers_fired_while_task_runs_mark_it_dirty(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(
        lease,
        complete(
            [StartTimer(seq=1, start_to_fire_timeout=0.02), StartTimer(seq=2, start_to_fire_timeout=0.02)]
        ),
    )
    assert_eventually(lambda: store.fire_due_timers() == 2, timeout=5)
    assert types(store, lease.run_pk)[-3:] == ["TimerFired", "TimerFired", "WorkflowTaskScheduled"]


def test_far_timer_is_next_due(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([StartTimer(seq=1, start_to_fire_timeout=3600)]))
    due = store.next_due_time()
    assert due is not None and due > store.read_history(lease.run_pk)[-1].event_time + 3500
    assert store.fire_due_timers() == 0


def test_concurrent_sweeps_fire_each_timer_once(store, queue):
    n = 20
    for i in range(n):
        start(store, queue, f"wf-{i}")
    for lease in store.claim_workflow_tasks("default", queue, "w1", n):
        store.complete_workflow_task(lease, complete([StartTimer(seq=1, start_to_fire_timeout=0.01)]))
    counts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def sweep() -> None:
        try:
            barrier.wait()
            local = DjangoStore()
            counts.append(local.fire_due_timers(limit=100))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    import time

    time.sleep(0.02)  # timers are 10 ms long
    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    total = sum(counts) + store.fire_due_timers()
    assert total == n
    from temporalflow.models import HistoryEvent

    assert HistoryEvent.objects.filter(event_type="TimerFired").count() == n


def test_one_sweep_fires_the_due_timers_of_many_runs_and_skips_closed_ones(store, queue):

    leases = []
    for i in range(5):
        start(store, queue, f"wf-{i}")
        lease = claim_one(store, queue)
        store.complete_workflow_task(lease, complete([StartTimer(seq=1, start_to_fire_timeout=0.02),
                                                      StartTimer(seq=2, start_to_fire_timeout=3600)]))
        leases.append(lease)
    store.terminate("default", "wf-4", None, "closed before its timer", None, "test")
    all_due_at = store.now() + 0.05
    assert_eventually(lambda: store.now() >= all_due_at, timeout=5)
    # One sweep: 4 open runs x 1 due timer (the far ones stay); the closed run's timers went with it.
    assert store.fire_due_timers() == 4
    for lease in leases[:4]:
        history = store.read_history(lease.run_pk)
        assert [str(e.event_type) for e in history[-2:]] == ["TimerFired", "WorkflowTaskScheduled"]
        assert history[-2].attributes["timer_id"] == "1"
    assert store.fire_due_timers() == 0
    assert store.next_due_time() > store.now() + 3000
    assert {lease.run_pk for lease in store.claim_workflow_tasks("default", queue, "w1", 10)} == {
        lease.run_pk for lease in leases[:4]}


@pytest.fixture
def published(store, monkeypatch):
    """The channels the store's writes wake (each transaction's set, in order)."""
    seen: list[str] = []
    real = store._publish

    def publish(cur, channels, notices=None):
        seen.extend(channels)
        return real(cur, channels, notices)

    monkeypatch.setattr(store, "_publish", publish)
    return seen


def test_a_delayed_task_wakes_its_queue_when_it_becomes_visible(store, queue, published):
    start(store, queue, "wf-1", start_delay=0.05)
    store.fire_due_timers()  # not visible yet: no wake-up
    assert f"wft:default:{queue}" not in published
    assert_eventually(lambda: store.fire_due_timers() >= 0 and f"wft:default:{queue}" in published, timeout=5)
    assert claim_one(store, queue)


def test_a_task_visible_when_scheduled_is_not_announced_again(store, queue, published):
    """Its own commit woke the queue; the sweeps (which run for every timer in a burst) leave it alone."""
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(
        lease, complete([schedule(1, queue), StartTimer(seq=2, start_to_fire_timeout=0.02)]))  # first attempt
    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)  # schedules the next task
    published.clear()
    for _ in range(3):
        store.fire_due_timers()
    assert not [c for c in published if c.startswith(("wft:", "act:"))], published


def test_an_activity_retry_wakes_its_queue_when_its_backoff_ends(store, queue, published):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([schedule(1, queue, retry_policy={"initial_interval": 0.05})]))
    (act,) = store.claim_activity_tasks("default", queue, "aw", 10)
    store.fail_activity_task(act.token, {"message": "boom", "application_failure_info": {"type": "E"}})
    store.fire_due_timers()
    published.clear()
    assert_eventually(lambda: store.fire_due_timers() >= 0 and f"act:default:{queue}" in published, timeout=5)
    assert store.claim_activity_tasks("default", queue, "aw", 10)[0].attempt == 2
