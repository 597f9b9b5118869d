"""Engine tests: real client + real worker on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from temporalflow.client import Client
from temporalflow.store import notify
from temporalflow.testing import WorkflowEnvironment
from temporalflow.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def env(transactional_db: Any) -> AsyncIterator[WorkflowEnvironment]:
    """A local environment on the test database."""
    environment = await WorkflowEnvironment.start_local()
    yield environment
    await environment.shutdown()
    await notify.hub.aclose()  # the LISTEN connection lives on this test's event loop
    # The client's thread-sensitive executor thread keeps a connection open;
    # close it so the test database can be flushed and dropped.
    await sync_to_async(connections.close_all, thread_sensitive=True)()


@pytest.fixture
async def time_env(transactional_db: Any) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping environment on the test database."""
    environment = await WorkflowEnvironment.start_time_skipping()
    yield environment
    await environment.shutdown()
    await notify.hub.aclose()
    await sync_to_async(connections.close_all, thread_sensitive=True)()


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    """The environment's client."""
    return env.client


def new_task_queue() -> str:
    """A task queue no other test uses."""
    return f"tq-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def running_worker(
    client: Client, workflows: Sequence[type] = (), activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None, **kwargs: Any,
) -> AsyncIterator[Worker]:
    """A worker on its own task queue, shut down at the end of the block."""
    async with Worker(client, task_queue=task_queue or new_task_queue(), workflows=workflows,
                      activities=activities, **kwargs) as worker:
        yield worker


def wf_id() -> str:
    """A fresh workflow id."""
    return f"wf-{uuid.uuid4().hex[:12]}"
