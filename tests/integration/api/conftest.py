"""REST API tests: DRF's APIClient on the main thread, a real Worker in a background thread."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from temporalflow.client import Client
from temporalflow.store import notify
from temporalflow.worker import Worker

ALL_PERMS = ("view_workflowrun", "start_workflow", "signal_workflow", "update_workflow", "cancel_workflow",
             "terminate_workflow")


def new_task_queue() -> str:
    """A task queue no other test uses."""
    return f"tq-api-{uuid.uuid4().hex[:10]}"


def wf_id() -> str:
    """A fresh workflow id."""
    return f"wf-api-{uuid.uuid4().hex[:12]}"


class WorkerThread(threading.Thread):
    """A Worker on its own event loop in a background thread (the API under test is synchronous)."""

    def __init__(self, workflows: Sequence[type], activities: Sequence[Callable[..., Any]] = (),
                 task_queue: str | None = None) -> None:
        super().__init__(daemon=True, name="api-test-worker")
        self.task_queue = task_queue or new_task_queue()
        self.identity = f"api-test-worker-{uuid.uuid4().hex[:6]}"
        self._workflows, self._activities = list(workflows), list(activities)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            client = await Client.connect()
            async with Worker(client, task_queue=self.task_queue, workflows=self._workflows,
                              activities=self._activities, identity=self.identity):
                self._ready.set()
                await self._stop_event.wait()
        except BaseException as err:  # reported by start()/stop()
            self.error = err
        finally:
            self._ready.set()
            await notify.hub.aclose()
            await sync_to_async(connections.close_all, thread_sensitive=True)()
            connections.close_all()

    def start_and_wait(self) -> WorkerThread:
        self.start()
        assert self._ready.wait(30), "worker did not start"
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop_event is not None and self.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(30)
        assert not self.is_alive(), "worker did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def start_worker(transactional_db: Any) -> Iterator[Callable[..., WorkerThread]]:
    """``start_worker([Workflow, ...])`` runs a worker on a fresh task queue until the test ends."""
    started: list[WorkerThread] = []

    def start(workflows: Sequence[type], activities: Sequence[Callable[..., Any]] = (),
              task_queue: str | None = None) -> WorkerThread:
        worker = WorkerThread(workflows, activities, task_queue).start_and_wait()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    connections.close_all()


def make_user(username: str, perms: Sequence[str] = ALL_PERMS) -> User:
    """A user holding the given ``temporalflow`` permissions (codenames)."""
    user = User.objects.create_user(username, password="pw")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="temporalflow", codename__in=perms))
    return user


def token_client(user: User) -> APIClient:
    """An APIClient authenticating with the user's DRF token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api(transactional_db: Any) -> APIClient:
    """An APIClient of a user with every temporalflow permission (token authentication)."""
    return token_client(make_user("operator"))


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is an error answer with this status and code; returns its ``error`` object."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]
