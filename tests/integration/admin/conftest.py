"""Admin tests: the Django test client against the real admin, a worker running in a background thread."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test import Client as HttpClient

from temporalflow.client import Client, SyncClient
from temporalflow.models import WorkflowRun
from temporalflow.store import notify
from temporalflow.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def new_task_queue() -> str:
    """A task queue no other test uses."""
    return f"admin-tq-{uuid.uuid4().hex[:10]}"


def wf_id() -> str:
    """A fresh workflow id."""
    return f"admin-wf-{uuid.uuid4().hex[:12]}"


class WorkerThread:
    """A ``Worker`` on its own event loop in a background thread, for synchronous tests."""

    def __init__(self, task_queue: str, workflows: Sequence[type], activities: Sequence[Callable[..., Any]]) -> None:
        self.task_queue = task_queue
        self._workflows = workflows
        self._activities = activities
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name=f"worker-{task_queue}", daemon=True)

    def _main(self) -> None:
        asyncio.run(self._amain())

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            client = await Client.connect()
            async with Worker(client, task_queue=self.task_queue, workflows=self._workflows,
                              activities=self._activities):
                self._ready.set()
                await self._stop.wait()
        except BaseException as err:  # surfaced by __enter__ / __exit__
            self._error = err
        finally:
            self._ready.set()
            await notify.hub.aclose()
            await sync_to_async(connections.close_all, thread_sensitive=True)()

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        assert self._ready.wait(30), "worker did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "worker did not stop"
        if self._error is not None:
            raise self._error


@contextmanager
def worker_thread(workflows: Sequence[type] = (), activities: Sequence[Callable[..., Any]] = (),
                  task_queue: str | None = None) -> Iterator[WorkerThread]:
    """A worker polling ``task_queue`` (a fresh one by default) for the duration of the block."""
    with WorkerThread(task_queue or new_task_queue(), workflows, activities) as worker:
        yield worker


@pytest.fixture
def tf_client(transactional_db: Any) -> Iterator[SyncClient]:
    """A synchronous temporalflow client on the test database."""
    yield SyncClient.connect()
    connections.close_all()


def _staff(username: str, codenames: Sequence[str] = ()) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    perms = Permission.objects.filter(content_type__app_label="temporalflow", codename__in=list(codenames))
    assert perms.count() == len(codenames), codenames
    user.user_permissions.add(*perms)
    return user


@pytest.fixture
def operator(transactional_db: Any) -> User:
    """A staff user who may view runs and signal, cancel and terminate them."""
    return _staff("operator", ["view_workflowrun", "view_taskqueuepoller", "signal_workflow", "cancel_workflow",
                               "terminate_workflow"])


@pytest.fixture
def viewer(transactional_db: Any) -> User:
    """A staff user who may only view runs."""
    return _staff("viewer", ["view_workflowrun", "view_taskqueuepoller"])


@pytest.fixture
def operator_http(operator: User) -> HttpClient:
    """An HTTP test client logged in as ``operator``."""
    http = HttpClient()
    http.force_login(operator)
    return http


@pytest.fixture
def viewer_http(viewer: User) -> HttpClient:
    """An HTTP test client logged in as ``viewer``."""
    http = HttpClient()
    http.force_login(viewer)
    return http


def run_of(workflow_id: str) -> WorkflowRun:
    """The latest run of ``workflow_id``."""
    return WorkflowRun.objects.filter(workflow_id=workflow_id).latest("id")


def history_types(run: WorkflowRun) -> list[str]:
    """The run's event types, in order."""
    return list(run.events.order_by("event_id").values_list("event_type", flat=True))
