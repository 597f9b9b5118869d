"""History that rides along with leases and completions: what a worker is handed equals what it would read."""

from __future__ import annotations

import pytest

from temporalflow.core.commands import StartTimer
from temporalflow.store import RunStatus, WorkflowTaskCompletion
from temporalflow.store._base_sql import PREFETCH_EVENTS
from temporalflow.store._workflow_tasks import CLAIM_RECENT_EVENTS
from temporalflow.store.base import WorkflowTaskHandBack
from tests.helpers import assert_eventually

from .conftest import claim_one, complete, finish, payloads, schedule, start, types

pytestmark = pytest.mark.django_db(transaction=True)


def as_tuples(events):
    return [(e.event_id, str(e.event_type), e.event_time, e.attributes) for e in events]


def test_claim_carries_history_after_what_the_worker_has(store, queue):
    run_id = start(store, queue, "wf-1")
    (lease,) = store.claim_workflow_tasks("default", queue, "w1", 10, history_after=lambda rid: 0)
    assert lease.history is not None
    assert as_tuples(lease.history) == as_tuples(store.read_history(lease.run_pk))
    assert [e.event_id for e in lease.history] == [1, 2, 3]

    # A worker that has the run up to its WorkflowTaskCompleted (4) gets only what came after.
    res = store.complete_workflow_task(lease, complete([]))
    store.signal("default", "wf-1", run_id, "go", payloads(), "client")
    (again,) = store.claim_workflow_tasks("default", queue, "w1", 10, history_after=lambda rid: 4)
    assert as_tuples(again.history) == as_tuples(store.read_history(again.run_pk, 4))
    assert res.history[0].event_id == 4


def test_claim_carries_a_history_longer_than_the_claims_own_window(store, queue):
    """Past the events a PostgreSQL claim returns itself (CLAIM_RECENT_EVENTS), the rest is read too."""
    long_id = start(store, queue, "wf-long")
    for i in range(CLAIM_RECENT_EVENTS + 5):
        store.signal("default", "wf-long", long_id, f"s{i}", payloads(), "client")
    start(store, queue, "wf-short")
    leases = store.claim_workflow_tasks("default", queue, "w1", 10, history_after=lambda rid: 0)
    assert sorted(lease.workflow_id for lease in leases) == ["wf-long", "wf-short"]
    for lease in leases:
        assert as_tuples(lease.history) == as_tuples(store.read_history(lease.run_pk))
        assert lease.history[-1].event_id == lease.started_event_id
    long_lease = next(lease for lease in leases if lease.workflow_id == "wf-long")
    assert len(long_lease.history) == CLAIM_RECENT_EVENTS + 8


def test_claim_without_callback_or_with_a_long_gap_carries_nothing(store, queue):
    start(store, queue, "wf-1")
    assert claim_one(store, queue).history is None
    start(store, queue, "wf-2")
    far = -PREFETCH_EVENTS  # "has" an id so far back that the catch-up is too long to carry
    (lease,) = store.claim_workflow_tasks("default", queue, "w1", 10, history_after=lambda rid: far)
    assert lease.history is None


def test_completion_returns_the_events_it_wrote(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    res = store.complete_workflow_task(lease, complete([schedule(1, queue)]))
    assert as_tuples(res.history) == as_tuples(store.read_history(lease.run_pk, lease.started_event_id))
    assert [str(e.event_type) for e in res.history] == ["WorkflowTaskCompleted", "ActivityTaskScheduled"]


def test_activity_hand_back_carries_the_new_events(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    res = store.complete_workflow_task(
        lease, WorkflowTaskCompletion(commands=[schedule(1, queue)], identity="w1", eager_activity_slots=1))
    (act,) = res.activity_leases
    nxt = store.complete_activity_task(act.token, payloads("done"), identity="w1", claim_workflow_task=True)
    assert nxt is not None and nxt.history is not None
    assert as_tuples(nxt.history) == as_tuples(store.read_history(lease.run_pk, 5))
    assert [str(e.event_type) for e in nxt.history] == [
        "ActivityTaskStarted", "ActivityTaskCompleted", "WorkflowTaskScheduled", "WorkflowTaskStarted"]


def test_follow_up_task_carries_the_signals_that_made_it(store, queue):
    run_id = start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.signal("default", "wf-1", run_id, "during", payloads(), "client")  # arrives while the task runs
    res = store.complete_workflow_task(lease, complete([], sticky=True))
    nxt = res.next_task
    assert nxt is not None and nxt.history is not None
    assert as_tuples(nxt.history) == as_tuples(store.read_history(lease.run_pk, lease.started_event_id))
    assert str(nxt.history[0].event_type) == "WorkflowExecutionSignaled"
    assert nxt.history[-1].event_id == nxt.started_event_id


def test_in_process_wake_ups_only_after_commit(store, queue):
    """A store transaction that fails wakes no same-process waiter; one that commits does."""
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    channel = f"test:{queue}"
    sub = store.subscribe(channel)
    try:
        with pytest.raises(RuntimeError):
            with store._atomic():
                cur = store._cursor()
                store._publish(cur, [channel])
                store._insert_events(cur, lease.run_pk, 99, 0.0, [("WorkflowExecutionSignaled", {})])
                raise RuntimeError("boom")
        assert sub._pending is False
        assert [e.event_id for e in store.read_history(lease.run_pk)] == [1, 2, 3]  # rolled back
        with store._atomic():
            store._publish(store._cursor(), [channel])
        assert sub._pending is True
    finally:
        sub.close()


def _eager_activity(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    res = store.complete_workflow_task(
        lease, WorkflowTaskCompletion(commands=[schedule(1, queue)], identity="w1", eager_activity_slots=1))
    (act,) = res.activity_leases
    return lease, act


def test_activity_and_the_task_it_wakes_complete_in_one_transaction(store, queue):
    lease, act = _eager_activity(store, queue)
    seen = []

    def run_task(task):
        seen.append(task)
        return WorkflowTaskCompletion(commands=[finish()], identity="w1")

    task, result = store.complete_activity_and_workflow_task(act.token, payloads("done"), "w1", run_task)
    assert seen == [task] and task.started_event_id == 9
    assert result is not None and result.run_closed
    assert types(store, lease.run_pk)[5:] == [
        "ActivityTaskStarted", "ActivityTaskCompleted", "WorkflowTaskScheduled", "WorkflowTaskStarted",
        "WorkflowTaskCompleted", "WorkflowExecutionCompleted"]
    assert store.describe("default", "wf-1", None).status == RunStatus.COMPLETED


def test_task_left_to_the_worker_keeps_the_activity_result(store, queue):
    lease, act = _eager_activity(store, queue)
    task, result = store.complete_activity_and_workflow_task(act.token, payloads("done"), "w1", lambda t: None)
    assert result is None and task is not None
    assert types(store, lease.run_pk)[-1] == "WorkflowTaskStarted"
    assert store.complete_workflow_task(task, complete([finish()])).run_closed


def test_refused_completion_rolls_back_to_the_activity_result(store, queue):
    lease, act = _eager_activity(store, queue)
    bad = WorkflowTaskCompletion(commands=[finish(), schedule(2, queue)], identity="w1")  # closing not last
    task, result = store.complete_activity_and_workflow_task(act.token, payloads("done"), "w1", lambda t: bad)
    assert result is None and task is not None
    assert types(store, lease.run_pk)[5:] == [
        "ActivityTaskStarted", "ActivityTaskCompleted", "WorkflowTaskScheduled", "WorkflowTaskStarted"]
    assert store.complete_workflow_task(task, complete([finish()])).run_closed


def test_no_task_for_another_worker(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    res = store.complete_workflow_task(
        lease, WorkflowTaskCompletion(commands=[schedule(1, queue)], identity="w1", eager_activity_slots=1))
    (act,) = res.activity_leases
    called = []
    task, result = store.complete_activity_and_workflow_task(
        act.token, payloads("done"), "someone-else", lambda t: called.append(t))
    assert (task, result, called) == (None, None, [])
    assert types(store, lease.run_pk)[-1] == "WorkflowTaskScheduled"


def test_claimed_tasks_complete_in_the_claiming_transaction(store, queue):
    for i in range(3):
        start(store, queue, f"wf-{i}")
    bad = WorkflowTaskCompletion(commands=[finish(), schedule(2, queue)], identity="w1")  # closing not last
    by_workflow = {"wf-0": WorkflowTaskCompletion(commands=[finish()], identity="w1"), "wf-1": None, "wf-2": bad}
    seen = []

    def run_tasks(leases):
        seen.extend(lease.history is not None and lease.history[0].event_id == 1 for lease in leases)
        return [by_workflow[lease.workflow_id] for lease in leases]

    pairs = store.claim_and_complete_workflow_tasks("default", queue, "w1", 10, lambda rid: 0, run_tasks)
    assert seen == [True, True, True]
    results = {lease.workflow_id: (lease, result) for lease, result in pairs}
    assert results["wf-0"][1] is not None and results["wf-0"][1].run_closed
    assert store.describe("default", "wf-0", None).status == RunStatus.COMPLETED
    for wid in ("wf-1", "wf-2"):  # left started for the usual path, which can still complete them
        lease, result = results[wid]
        assert result is None
        assert types(store, lease.run_pk)[-1] == "WorkflowTaskStarted"
        assert store.complete_workflow_task(lease, complete([finish()])).run_closed
    assert store.claim_and_complete_workflow_tasks("default", queue, "w1", 10, None, run_tasks) == []


def _sleeping(store, queue, workflow_id, identity="w1", sticky=True):
    """A run whose first task started a 20 ms timer; completed by ``identity`` (sticky or not)."""
    start(store, queue, workflow_id)
    lease = claim_one(store, queue, identity)
    store.complete_workflow_task(
        lease, complete([StartTimer(seq=1, start_to_fire_timeout=0.02)], identity=identity, sticky=sticky))
    return lease


def _fire(store, hand_back):
    assert_eventually(lambda: store.fire_due_timers(hand_back=hand_back) >= 1, timeout=5)


def test_fired_timer_task_completes_in_the_firing_transaction(store, queue):
    first = _sleeping(store, queue, "wf-1")
    seen = []

    def run_tasks(leases):
        seen.extend(leases)
        return [WorkflowTaskCompletion(commands=[finish()], identity="w1") for _ in leases]

    hand_back = WorkflowTaskHandBack(identity="w1", max_tasks=4, run_workflow_tasks=run_tasks)
    _fire(store, hand_back)
    (task,) = seen
    assert hand_back.started == [task]
    assert [(lease, result is not None and result.run_closed) for lease, result in hand_back.claimed] == [(task, True)]
    # The lease carries what the firing wrote, as a read of the history returns it.
    assert as_tuples(task.history) == as_tuples(store.read_history(first.run_pk, 5)[:3])
    assert types(store, first.run_pk)[4:] == [
        "TimerStarted", "TimerFired", "WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted"]
    assert (task.scheduled_event_id, task.started_event_id, task.attempt) == (7, 8, 1)
    assert store.describe("default", "wf-1", None).status == RunStatus.COMPLETED
    assert store.claim_workflow_tasks("default", queue, "w2", 10) == []


def test_fired_timer_task_left_started_for_the_usual_path(store, queue):
    first = _sleeping(store, queue, "wf-1")
    hand_back = WorkflowTaskHandBack(identity="w1", max_tasks=1, run_workflow_tasks=lambda leases: [None])
    _fire(store, hand_back)
    ((task, result),) = hand_back.claimed
    assert result is None
    assert types(store, first.run_pk)[-1] == "WorkflowTaskStarted"
    assert store.claim_workflow_tasks("default", queue, "w2", 10) == []  # started: nobody else claims it
    assert store.complete_workflow_task(task, complete([finish()])).run_closed


def test_fired_timers_of_other_workers_runs_take_the_queue(store, queue):
    """Only runs sticky to the offering worker, and no more than it has room for, are started for it."""
    _sleeping(store, queue, "wf-other", identity="w2")
    _sleeping(store, queue, "wf-plain", identity="w1", sticky=False)
    mine = [_sleeping(store, queue, f"wf-{i}") for i in range(3)]
    called = []

    def run_tasks(leases):
        called.append(len(leases))
        return [None] * len(leases)

    hand_back = WorkflowTaskHandBack(identity="w1", max_tasks=2, run_workflow_tasks=run_tasks)
    all_due = store.now() + 0.05  # each timer fires 20 ms after its run's task completed
    assert_eventually(lambda: store.now() >= all_due, timeout=5)
    assert store.fire_due_timers(hand_back=hand_back) == 5
    assert called == [2] and len(hand_back.claimed) == 2
    assert {lease.run_pk for lease, _ in hand_back.claimed} <= {lease.run_pk for lease in mine}
    # The rest are scheduled: w2's for w2 (sticky), the others for anyone.
    assert len(store.claim_workflow_tasks("default", queue, "w1", 10)) == 2  # wf-plain, and one past max_tasks
    assert [lease.workflow_id for lease in store.claim_workflow_tasks("default", queue, "w2", 10)] == ["wf-other"]


def test_fired_timer_with_a_task_running_marks_it_dirty_instead(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(
        lease, complete([StartTimer(seq=1, start_to_fire_timeout=0.3)], sticky=True))
    store.signal("default", "wf-1", None, "go", payloads(), "client")
    running = claim_one(store, queue)  # the signal's task is running when the timer fires
    hand_back = WorkflowTaskHandBack(identity="w1", max_tasks=4, run_workflow_tasks=lambda leases: 1 / 0)
    _fire(store, hand_back)
    assert hand_back.started == [] and hand_back.claimed == []
    assert types(store, lease.run_pk)[-1] == "TimerFired"
    result = store.complete_workflow_task(running, complete([], sticky=True))
    assert result.next_task is not None  # the fired timer's task, started for the same worker
