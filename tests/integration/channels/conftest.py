"""Channels tests: ``WebsocketCommunicator`` against the project's real ASGI application."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test import Client as HttpClient

from temporalflow.client import Client
from temporalflow.store import notify

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://localhost"


@pytest.fixture
async def tf_client(transactional_db: Any) -> AsyncIterator[Client]:
    """An async temporalflow client on the test database; LISTEN and DB connections closed afterwards."""
    yield await Client.connect()
    await notify.hub.aclose()  # the LISTEN connection lives on this test's event loop
    await sync_to_async(connections.close_all, thread_sensitive=True)()


@pytest.fixture
def asgi_application() -> Any:
    """The project's ASGI application (HTTP + the temporalflow WebSocket routes)."""
    from project.asgi import application

    return application


def _user(username: str, codenames: Sequence[str] = (), *, is_staff: bool = True, is_active: bool = True) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=is_staff, is_active=is_active)
    perms = Permission.objects.filter(content_type__app_label="temporalflow", codename__in=list(codenames))
    assert perms.count() == len(codenames), codenames
    user.user_permissions.add(*perms)
    return user


def _session_cookie(user: User) -> str:
    http = HttpClient()
    http.force_login(user)
    return http.cookies["sessionid"].value


@pytest.fixture
def make_user(transactional_db: Any) -> Callable[..., Any]:
    """``await make_user(name, [codenames], is_staff=…)`` → the session id of a logged-in user."""

    async def make(username: str, codenames: Sequence[str] = (), **flags: bool) -> str:
        def create() -> str:
            return _session_cookie(_user(username, codenames, **flags))

        return await sync_to_async(create, thread_sensitive=True)()

    return make


def communicator(application: Any, path: str, session: str | None = None,
                 origin: bytes | None = ORIGIN) -> WebsocketCommunicator:
    """A communicator for ``path`` with the session cookie and Origin a browser on localhost sends."""
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if session is not None:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive_until(comm: WebsocketCommunicator, predicate: Callable[[dict], bool],
                        timeout: float = 10) -> list[dict]:
    """Every message received until (and including) the first one ``predicate`` accepts, within ``timeout``."""
    deadline = time.monotonic() + timeout
    received: list[dict] = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no matching message within {timeout}s; received {received!r}"
        message = await comm.receive_json_from(timeout=remaining)
        received.append(message)
        if predicate(message):
            return received


def new_task_queue() -> str:
    """A task queue no other test uses."""
    return f"ch-tq-{uuid.uuid4().hex[:10]}"


def wf_id() -> str:
    """A fresh workflow id."""
    return f"ch-wf-{uuid.uuid4().hex[:12]}"
