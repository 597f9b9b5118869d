"""Remote-client tests: pytest-django's ``live_server`` serves the REST API in a thread, a Worker runs
on the test's event loop with an in-process ``Client``, and the test drives everything through a
``RemoteClient`` speaking HTTP to ``live_server.url + "/api/"``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.db import connections
from rest_framework.authtoken.models import Token

from temporalflow.client import Client, RemoteClient
from temporalflow.store import notify
from temporalflow.worker import Worker

ALL_PERMS = ("view_workflowrun", "start_workflow", "signal_workflow", "update_workflow", "cancel_workflow",
             "terminate_workflow")


def new_task_queue() -> str:
    """A task queue no other test uses."""
    return f"tq-rem-{uuid.uuid4().hex[:10]}"


def wf_id() -> str:
    """A fresh workflow id."""
    return f"wf-rem-{uuid.uuid4().hex[:12]}"


def make_token(username: str, perms: Sequence[str] = ALL_PERMS) -> str:
    """The DRF token key of a new user holding these ``temporalflow`` permissions."""
    user = User.objects.create_user(username, password="pw")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="temporalflow", codename__in=perms))
    return Token.objects.create(user=user).key


@pytest.fixture
def api_url(live_server: Any) -> str:
    """The REST API's base URL on the live server."""
    return live_server.url + "/api/"


@pytest.fixture
def api_key(transactional_db: Any) -> str:
    """A token of a user with every temporalflow permission."""
    return make_token("remote-operator")


@pytest.fixture
async def remote(api_url: str, api_key: str) -> RemoteClient:
    """A remote client of the live server."""
    client = await Client.connect(api_url, api_key=api_key)
    assert isinstance(client, RemoteClient)
    return client


@pytest.fixture
async def local(transactional_db: Any) -> AsyncIterator[Client]:
    """The in-process client the worker (and the comparisons) use."""
    client = await Client.connect()
    yield client
    await notify.hub.aclose()  # the LISTEN connection lives on this test's event loop
    await sync_to_async(connections.close_all, thread_sensitive=True)()


@asynccontextmanager
async def running_worker(client: Client, workflows: Sequence[type], task_queue: str) -> AsyncIterator[Worker]:
    """A worker on ``task_queue`` for the duration of the block."""
    async with Worker(client, task_queue=task_queue, workflows=list(workflows)) as worker:
        yield worker
