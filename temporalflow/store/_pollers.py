"""What workers tell the store about themselves, and how they wait.

Poll records for operators, releasing sticky runs on shutdown, per-thread
connections, and wake-up subscriptions (``notify``).
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

from django.db import connections
from django.db.backends.signals import connection_created

from temporalflow.store import notify
from temporalflow.store._base_sql import POLLER, RUN, _StoreBase

POLLER_RECORD_INTERVAL = 10.0
"""A worker's poll of a queue is written at most this often (per store instance)."""

WORKER_APPLICATION_NAME = "temporalflow-worker"
"""Start of ``application_name`` on worker connections (PostgreSQL): how sessions of a
frozen worker are told apart from everyone else's (see ``end_frozen_worker_sessions``)."""

_worker_thread = threading.local()


def _configure_worker_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On a worker thread's new PostgreSQL connection, bound how long a transaction may sit idle."""
    if not getattr(_worker_thread, "active", False) or connection.vendor != "postgresql":
        return
    from temporalflow.conf import settings

    millis = int(float(settings.WORKER_IDLE_IN_TRANSACTION_TIMEOUT) * 1000)
    with connection.cursor() as cur:
        cur.execute(f"SET idle_in_transaction_session_timeout = {millis}")
        # The marker goes first (a name the project set is kept after it), and the pid tells
        # an operator looking at pg_stat_activity which process a session belongs to.
        cur.execute(
            "SELECT set_config('application_name', left(%s || coalesce(' ' || "
            "nullif(current_setting('application_name'), ''), ''), 63), false)",
            [f"{WORKER_APPLICATION_NAME} pid={os.getpid()}"],
        )


connection_created.connect(_configure_worker_connection, dispatch_uid="temporalflow-worker-connection")


class _PollersMixin(_StoreBase):
    """Pollers and wake-ups."""

    _pollers_seen: dict[tuple[str, str, str, str], float]

    def record_poller(self, namespace: str, task_queue: str, identity: str, kind: str = "workflow") -> None:
        """Note that a worker polls this task queue (written at most every few seconds)."""
        key = (namespace, task_queue, identity, kind)
        mono = time.monotonic()
        if mono - self._pollers_seen.get(key, -math.inf) < POLLER_RECORD_INTERVAL:
            return
        self._pollers_seen[key] = mono
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"INSERT INTO {POLLER} (namespace, task_queue, identity, kind, last_seen) "
                f"VALUES (%s, %s, %s, %s, {self._now_sql()}) "
                "ON CONFLICT (namespace, task_queue, identity, kind) DO UPDATE SET last_seen = "
                "excluded.last_seen",
                [namespace, task_queue, identity, kind],
            )

    def release_sticky(self, identity: str) -> None:
        """Let any worker take runs this (stopping) worker held sticky, without waiting."""
        with self._atomic():
            self._cursor().execute(
                f"UPDATE {RUN} SET sticky_identity = '', sticky_until = NULL WHERE sticky_identity = %s",
                [identity],
            )

    def mark_worker_thread(self) -> None:
        """Configure this thread's connections as a worker's (see WORKER_IDLE_IN_TRANSACTION_TIMEOUT)."""
        _worker_thread.active = True

    def end_frozen_worker_sessions(self, older_than: float) -> list[int] | None:
        """End worker sessions stuck inside a transaction, waiting on their client, for over ``older_than`` s.

        A worker process frozen (SIGSTOP, a paused VM) after sending a statement of a
        pipelined transaction but before its Sync keeps the statement's row locks, and
        PostgreSQL counts the session as active, so ``idle_in_transaction_session_timeout``
        never fires. Such a session shows as ``active`` waiting on ``ClientRead``; the
        engine's transactions are over in milliseconds, so one that has waited that way
        for as long as a worker may sit idle in a transaction is treated the same way and
        terminated (its transaction rolls back). Returns the ended sessions' pids; None
        when the database has no such sessions to look for (SQLite).
        """
        if self.dialect.vendor != "postgresql":
            return None
        cur = self._cursor()
        cur.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE %s "
            "AND state = 'active' AND wait_event = 'ClientRead' AND xact_start IS NOT NULL "
            "AND state_change < now() - make_interval(secs => %s)",
            [f"{WORKER_APPLICATION_NAME} %", float(older_than)],
        )
        return [int(pid) for pid, ended in cur.fetchall() if ended]

    def recover_connection(self) -> None:
        """After an error, drop this thread's connection if it is broken (the next call reconnects)."""
        connections[self.alias].close_if_unusable_or_obsolete()

    def close_thread_connections(self) -> None:
        """Close this thread's connection (worker threads call it before they exit)."""
        connections[self.alias].close()

    def subscribe(self, channel: str, since: notify.Mark | None = None) -> notify.LocalSubscription:
        """Wake-ups for a logical channel (see ``store.base.Store.subscribe``)."""
        return notify.subscribe(channel, alias=self.alias, since=since)

    def wakeup_mark(self, channel: str) -> notify.Mark | None:
        """A mark to subscribe ``since`` (see ``store.base.Store.wakeup_mark``)."""
        return notify.mark(channel, alias=self.alias)
