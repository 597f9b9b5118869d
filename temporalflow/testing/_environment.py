"""``WorkflowEnvironment``: a client on a real store for tests, with optional time skipping.

Works in a plain pytest run with no Django project (it configures Django with
a throw-away SQLite database and migrates it) and inside pytest-django (it
uses the test database; mark the test ``django_db(transaction=True)`` so
worker threads see committed rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalflow.client import Client
from temporalflow.core.converter import DataConverter


def _ensure_django() -> bool:
    """Configure Django with a temporary SQLite store if no project is configured.

    Returns True if this call configured Django (so the schema must be migrated).
    """
    import django
    from django.apps import apps
    from django.conf import settings

    if settings.configured:
        if not apps.ready:
            django.setup()
        return False
    path = Path(tempfile.mkdtemp(prefix="temporalflow-env-")) / "db.sqlite3"
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        SECRET_KEY="temporalflow-testing",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "temporalflow"],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30,
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }},
    )
    django.setup()
    return True


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


class SkippingClock:
    """Real time plus an offset that jumps ahead when every run is blocked."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        """Current (skipped) time, epoch seconds."""
        return time.time() + self.offset


class WorkflowEnvironment:
    """A ready client for tests (``start_local()`` / ``start_time_skipping()``)."""

    def __init__(self, client: Client, *, clock: SkippingClock | None = None) -> None:
        self._client = client
        self._clock = clock
        self._skip_paused = 0
        self._skipper: asyncio.Task[None] | None = None
        # The skipper's reads run on one thread of their own, whose database connection
        # shutdown() closes (a connection left in a pool thread keeps PostgreSQL from
        # dropping the test database).
        self._skip_thread: ThreadPoolExecutor | None = None
        if clock is not None:
            self._skip_thread = ThreadPoolExecutor(1, thread_name_prefix="temporalflow-time-skip")
            self._skipper = asyncio.get_running_loop().create_task(self._auto_skip(), name="temporalflow-time-skip")

    @classmethod
    async def start_local(cls, *, namespace: str = "default", data_converter: DataConverter | None = None,
                          database: str | None = None, **_ignored: Any) -> WorkflowEnvironment:
        """An environment on the real clock."""
        client = await cls._client(namespace, data_converter, database, clock=None)
        return cls(client)

    @classmethod
    async def start_time_skipping(cls, *, namespace: str = "default", data_converter: DataConverter | None = None,
                                  database: str | None = None, **_ignored: Any) -> WorkflowEnvironment:
        """An environment whose clock jumps to the next timer whenever every run is blocked."""
        clock = SkippingClock()
        client = await cls._client(namespace, data_converter, database, clock=clock)
        return cls(client, clock=clock)

    @staticmethod
    async def _client(namespace: str, data_converter: DataConverter | None, database: str | None,
                      clock: SkippingClock | None) -> Client:
        if _ensure_django():
            await asyncio.to_thread(_migrate)
        from temporalflow.store import DjangoStore, get_store

        store = get_store(database) if clock is None else DjangoStore(alias=database, namespace=namespace, clock=clock)
        return Client(store, namespace=namespace, data_converter=data_converter)

    @property
    def client(self) -> Client:
        """The client to start workflows and build workers with."""
        return self._client

    @property
    def supports_time_skipping(self) -> bool:
        """True for ``start_time_skipping()`` environments."""
        return self._clock is not None

    def get_current_time(self) -> datetime:
        """The environment's current time."""
        now = self._clock() if self._clock is not None else time.time()
        return datetime.fromtimestamp(now, tz=UTC)

    async def sleep(self, duration: timedelta | float) -> None:
        """Let ``duration`` pass: skipped instantly with time skipping, really slept otherwise."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        if self._clock is None:
            await asyncio.sleep(seconds)
            return
        self._clock.offset += seconds
        self._wake_timers()

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Pause automatic time skipping inside the block."""
        self._skip_paused += 1
        try:
            yield
        finally:
            self._skip_paused -= 1

    async def shutdown(self) -> None:
        """Stop background work (the store's data stays)."""
        if self._skipper is not None:
            self._skipper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._skipper
            self._skipper = None
        if self._skip_thread is not None:
            from django.db import connections

            await asyncio.get_running_loop().run_in_executor(self._skip_thread, connections.close_all)
            self._skip_thread.shutdown(wait=True)
            self._skip_thread = None

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()

    # --- time skipping ---------------------------------------------------------

    def _wake_timers(self) -> None:
        from temporalflow.store import notify

        notify.hub.publish(["timers"])

    async def _auto_skip(self) -> None:
        assert self._clock is not None
        store: Any = self._client.store
        quiet_since: float | None = None
        while True:
            await asyncio.sleep(0.01)
            if self._skip_paused:
                quiet_since = None
                continue
            idle, due = await asyncio.get_running_loop().run_in_executor(self._skip_thread, store.idle_until)
            now = self._clock()
            if not idle or due is None or due <= now:
                quiet_since = None
                continue
            # Require a short quiet period so a task that is about to be scheduled by
            # a result just committed gets its chance before time jumps.
            if quiet_since is None:
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since >= 0.02:
                self._clock.offset += due - now
                quiet_since = None
                self._wake_timers()
