"""Fixtures for the store's integration tests (real database: SQLite or PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from temporalflow.core.commands import CompleteWorkflowExecution, ScheduleActivityTask
from temporalflow.core.payload import Payload
from temporalflow.store import DjangoStore, StartWorkflowRequest, WorkflowTaskCompletion, WorkflowTaskLease


def payloads(value: str = "x") -> dict[str, Any]:
    """A one-payload ``{"payloads": [...]}`` JSON value."""
    return {"payloads": [Payload(metadata={"encoding": b"json/plain"}, data=f'"{value}"'.encode()).to_json()]}


@pytest.fixture
def store() -> DjangoStore:
    return DjangoStore()


@pytest.fixture
def queue() -> str:
    """A task queue of its own for each test."""
    return f"q-{uuid.uuid4().hex[:8]}"


def start(store: DjangoStore, queue: str, workflow_id: str | None = None, **kw: Any) -> str:
    """Start a run; returns its run id."""
    req = StartWorkflowRequest(
        workflow_id=workflow_id or f"wf-{uuid.uuid4().hex[:8]}",
        workflow_type="MyWorkflow",
        task_queue=queue,
        input=payloads("in"),
        **kw,
    )
    return store.start_workflow(req).run_id


def claim_one(store: DjangoStore, queue: str, identity: str = "w1") -> WorkflowTaskLease:
    leases = store.claim_workflow_tasks("default", queue, identity, 10)
    assert len(leases) == 1, leases
    return leases[0]


def types(store: DjangoStore, run_pk: int) -> list[str]:
    """The run's history as event type names."""
    return [str(e.event_type) for e in store.read_history(run_pk)]


def schedule(seq: int = 1, queue: str = "", **kw: Any) -> ScheduleActivityTask:
    kw.setdefault("start_to_close_timeout", 30.0)
    return ScheduleActivityTask(
        seq=seq, activity_id=str(seq), activity_type="act", task_queue=queue, input=payloads("a"), **kw
    )


def complete(
    cmds: list[Any], identity: str = "w1", sticky: bool = False, eager: int = 0
) -> WorkflowTaskCompletion:
    return WorkflowTaskCompletion(commands=cmds, identity=identity, sticky=sticky, eager_activity_slots=eager)


def finish() -> CompleteWorkflowExecution:
    return CompleteWorkflowExecution(result=payloads("done"))
