"""Queries (claim, answer, re-claim) and updates (admit, dedupe, accept/reject/complete)."""

from __future__ import annotations

import pytest

from temporalflow.core.commands import AcceptUpdate, CompleteUpdate, RejectUpdate
from temporalflow.store import QueryAnswer, RunClosed, StoreError, UpdateNotFound

from .conftest import claim_one, complete, finish, payloads, start, types

pytestmark = pytest.mark.django_db(transaction=True)


def test_query_waits_for_in_flight_task_then_roundtrips(store, queue):
    start(store, queue, "wf-1")
    pk = store.describe("default", "wf-1", None).pk
    qid = store.create_query(pk, "status", payloads("q"))
    assert store.get_query_answer(qid) is None
    # As Temporal: a query is answered after the events before it were processed.
    assert store.claim_queries("default", queue, "w1", 10) == []
    lease = claim_one(store, queue)
    assert store.claim_queries("default", queue, "w1", 10) == []
    store.complete_workflow_task(lease, complete([]))
    tasks = store.claim_queries("default", queue, "w1", 10)
    assert [(t.query_id, t.query_type, t.workflow_id) for t in tasks] == [(qid, "status", "wf-1")]
    assert tasks[0].args == payloads("q")
    assert store.claim_queries("default", queue, "w2", 10) == []  # claimed and fresh
    store.answer_query(qid, QueryAnswer(result=payloads("ans")))
    store.answer_query(qid, QueryAnswer(failure={"message": "late"}))  # first answer wins
    assert store.get_query_answer(qid) == QueryAnswer(result=payloads("ans"))
    with pytest.raises(StoreError):
        store.get_query_answer("no-such-query")


def test_claimed_query_is_reclaimable_after_lease(store, queue, monkeypatch):
    from temporalflow.store import _messages

    monkeypatch.setattr(_messages, "QUERY_CLAIM_LEASE", 0.0)
    start(store, queue, "wf-1")
    store.complete_workflow_task(claim_one(store, queue), complete([]))
    qid = store.create_query(store.describe("default", "wf-1", None).pk, "status", payloads())
    assert len(store.claim_queries("default", queue, "w1", 10)) == 1
    assert [t.query_id for t in store.claim_queries("default", queue, "w2", 10)] == [qid]


def test_terminate_answers_pending_queries_and_rejects_updates(store, queue):
    start(store, queue, "wf-1")
    pk = store.describe("default", "wf-1", None).pk
    qid = store.create_query(pk, "status", payloads())
    store.admit_update(pk, "u1", "set", payloads())
    store.terminate("default", "wf-1", None, reason="stop")
    answer = store.get_query_answer(qid)
    assert answer is not None and answer.failure is not None
    assert store.get_update_outcome("default", "wf-1", None, "u1").stage == "rejected"


def test_update_admit_accept_complete(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([]))  # the run now waits
    out = store.admit_update(lease.run_pk, "u1", "set", payloads("v"), identity="client")
    assert out.stage == "admitted" and out.run_id == lease.run_id
    assert store.admit_update(lease.run_pk, "u1", "set", payloads("v")).stage == "admitted"  # deduplicated
    lease2 = claim_one(store, queue)
    assert [(u.update_id, u.name, u.args) for u in lease2.pending_updates] == [("u1", "set", payloads("v"))]
    store.complete_workflow_task(
        lease2,
        complete(
            [
                AcceptUpdate(update_id="u1", name="set", args=payloads("v"), identity="client"),
                CompleteUpdate(update_id="u1", result=payloads("done")),
            ]
        ),
    )
    outcome = store.get_update_outcome("default", "wf-1", None, "u1")
    assert (outcome.stage, outcome.result) == ("completed", payloads("done"))
    events = store.read_history(lease.run_pk)
    assert [str(e.event_type) for e in events][-2:] == [
        "WorkflowExecutionUpdateAccepted",
        "WorkflowExecutionUpdateCompleted",
    ]
    assert events[-1].attributes["accepted_event_id"] == events[-2].event_id
    # Completing again is a dedupe hit, not a new admission.
    assert store.admit_update(lease.run_pk, "u1", "set", payloads()).stage == "completed"


def test_update_rejected_writes_no_event(store, queue):
    start(store, queue, "wf-1")
    pk = store.describe("default", "wf-1", None).pk
    store.admit_update(pk, "u1", "set", payloads())
    lease = claim_one(store, queue)
    assert len(lease.pending_updates) == 1
    n = len(store.read_history(pk))
    store.complete_workflow_task(
        lease, complete([RejectUpdate(update_id="u1", failure={"message": "invalid"})])
    )
    outcome = store.get_update_outcome("default", "wf-1", None, "u1")
    assert (outcome.stage, outcome.failure) == ("rejected", {"message": "invalid"})
    assert types(store, pk)[n:] == ["WorkflowTaskCompleted"]


def test_update_admitted_during_task_blocks_close_and_is_redelivered(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.admit_update(lease.run_pk, "u1", "set", payloads())
    res = store.complete_workflow_task(lease, complete([finish()]))
    assert res.rejected
    lease2 = claim_one(store, queue)
    assert [u.update_id for u in lease2.pending_updates] == ["u1"]


def test_update_admitted_during_sticky_task_comes_with_next_task(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.admit_update(lease.run_pk, "u1", "set", payloads())
    res = store.complete_workflow_task(lease, complete([], sticky=True))
    assert res.next_task is not None
    assert [u.update_id for u in res.next_task.pending_updates] == ["u1"]


def test_update_errors(store, queue):
    start(store, queue, "wf-1")
    pk = store.describe("default", "wf-1", None).pk
    with pytest.raises(UpdateNotFound):
        store.get_update_outcome("default", "wf-1", None, "nope")
    store.terminate("default", "wf-1", None, reason="stop")
    with pytest.raises(RunClosed):
        store.admit_update(pk, "u2", "set", payloads())


def test_query_on_closed_run_is_claimable(store, queue):
    start(store, queue, "wf-1")
    store.complete_workflow_task(claim_one(store, queue), complete([finish()]))
    qid = store.create_query(store.describe("default", "wf-1", None).pk, "status", payloads())
    assert [t.query_id for t in store.claim_queries("default", queue, "w1", 10)] == [qid]


async def test_completion_wakes_query_pollers(queue):
    import asyncio

    from django.db import connections
    from django.test import override_settings

    from temporalflow.store import DjangoStore, notify

    store = DjangoStore()

    def setup():
        try:
            start(store, queue, "wf-1")
            pk = store.describe("default", "wf-1", None).pk
            store.create_query(pk, "status", payloads())
            return claim_one(store, queue)
        finally:
            connections.close_all()

    def finish_task(lease):
        try:
            store.complete_workflow_task(lease, complete([]))
        finally:
            connections.close_all()

    with override_settings(TEMPORALFLOW={"POLL_INTERVAL": 60.0}):
        sub = store.subscribe(f"query:default:{queue}")
        try:
            lease = await asyncio.to_thread(setup)
            ready = None
            await sub.wait(0.01)
            ready = notify.hub.listener_ready("default")
            if ready is not None:
                await asyncio.wait_for(ready.wait(), 10)
            while await sub.wait(0.05):
                pass
            await asyncio.to_thread(finish_task, lease)
            assert await sub.wait(5) is True
        finally:
            sub.close()
            await notify.hub.aclose()
