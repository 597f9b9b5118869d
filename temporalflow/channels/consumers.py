"""The run history socket: ``ws/temporalflow/runs/<pk>/?after=<event_id>``.

Protocol (server to client, JSON text frames):

- ``{"type": "history", "run": {...}, "events": [...], "more", "last_event_id",
  "pending_html", "outcome_html"?}``: the admin events feed's shape
  (``docs/admin.md``). The first one comes right after the handshake, with the
  events after ``after`` (a page of at most ``events_page_size``; further pages follow
  at once); then one whenever the run moves on: new events, a new status, or changed
  pending activities and timers. ``outcome_html`` comes once the run is closed.
- ``{"type": "closed", "run": {...}}`` after the last event of a closed run; the
  server then closes the socket with code 1000.

The client sends nothing. Refusals: the handshake is accepted and the socket closed
at once, before any frame, with 4401 (anonymous), 4403 (not an active staff user with
``temporalflow.view_workflowrun``), 4404 (no such run) or 4400 (``after`` is not a
non-negative integer). Later, 4403 when the user lost that right (checked every
``pending_refresh`` seconds) and 4404 when the run was deleted. A foreign ``Origin`` is
refused by the project's ``AllowedHostsOriginValidator`` before the consumer runs.

Following a run across processes needs no channel layer: the store's wake-up channel
``run:{pk}`` (every append to the run publishes it; on PostgreSQL it arrives by
LISTEN/NOTIFY within milliseconds of the writer's commit, on SQLite a wait returns every
``POLL_INTERVAL``) says when to read what is new. Reads run in ``database_sync_to_async``
(which closes stale connections around each call).

Who reads: with a channel layer configured (``CHANNEL_LAYERS``: in-memory, or Redis through
channels-redis), the sockets of one run in one process share a single follower, a
:class:`RunBroadcaster`, that reads each change once and fans it out with ``group_send`` to
the group of those sockets: N subscribers cost one database read per change, not N. Each
socket reads by itself only its catch-up on connect and a gap it finds (a page of events
that starts after its last one). Groups are per process (the wake-up reaches every process
from the database, so a cluster-wide group would deliver each change once per process).
Without a channel layer each socket follows the run on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from temporalflow.channels.feed import RunFeed, can_view_runs
from temporalflow.models import WorkflowRun
from temporalflow.store import notify

__all__ = [
    "CLOSE_BAD_REQUEST",
    "CLOSE_FORBIDDEN",
    "CLOSE_NOT_FOUND",
    "CLOSE_UNAUTHENTICATED",
    "RunBroadcaster",
    "RunHistoryConsumer",
]

logger = logging.getLogger("temporalflow.channels")

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


_PROCESS = uuid.uuid4().hex[:12]
_broadcasters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, RunBroadcaster]] = (
    weakref.WeakKeyDictionary())


def run_group(pk: int) -> str:
    """The channel-layer group of this process's sockets of run ``pk``."""
    return f"temporalflow.run.{pk}.{_PROCESS}"


class RunBroadcaster:
    """One process's follower of one run: reads each change once and ``group_send``s it.

    Shared by the run's sockets on this event loop (reference-counted with
    :meth:`acquire` / :meth:`release`); it stops when the last one leaves or the run is
    closed or deleted. Messages: ``{"type": "run.history", "message": <feed message>}``
    and ``{"type": "run.gone"}``.

    Args:
        pk: The run's primary key.
        layer: The channel layer.
        pending_refresh: Seconds between re-reads of pending work while no event arrives.
    """

    def __init__(self, pk: int, layer: Any, pending_refresh: float) -> None:
        self.pk = pk
        self.layer = layer
        self.group = run_group(pk)
        self.pending_refresh = pending_refresh
        self.members = 0
        self.reads = 0
        """Feed reads so far (the fan-out test counts them)."""
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def acquire(cls, pk: int, layer: Any, pending_refresh: float, after: int) -> RunBroadcaster:
        """The running broadcaster of run ``pk`` on this loop (started, from event ``after`` on, if none)."""
        loop = asyncio.get_running_loop()
        runs = _broadcasters.setdefault(loop, {})
        broadcaster = runs.get(pk)
        if broadcaster is None or broadcaster._task is None or broadcaster._task.done():
            broadcaster = runs[pk] = cls(pk, layer, pending_refresh)
            broadcaster._task = loop.create_task(broadcaster._run(after))
        broadcaster.members += 1
        return broadcaster

    def release(self) -> None:
        """One socket left; the last one stops the broadcaster."""
        self.members -= 1
        if self.members > 0:
            return
        runs = _broadcasters.get(asyncio.get_running_loop(), {})
        if runs.get(self.pk) is self:
            del runs[self.pk]
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self, after: int) -> None:
        # Subscribe before the first read: an append committed in between still wakes us.
        subscription = notify.subscribe(f"run:{self.pk}")
        loop = asyncio.get_running_loop()
        feed: RunFeed | None = None
        refresh_at = loop.time() + self.pending_refresh
        try:
            feed = await database_sync_to_async(RunFeed)(self.pk, after)
            read = database_sync_to_async(feed.read)
            while True:
                refresh = loop.time() >= refresh_at
                if refresh:
                    refresh_at = loop.time() + self.pending_refresh
                self.reads += 1
                try:
                    message = await read(refresh)
                except WorkflowRun.DoesNotExist:
                    await self.layer.group_send(self.group, {"type": "run.gone"})
                    return
                if message is not None:
                    await self.layer.group_send(self.group, {"type": "run.history", "message": message})
                    if message["more"]:
                        continue
                    if message["run"]["closed"]:
                        return
                await subscription.wait(max(refresh_at - loop.time(), 0.0))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live history broadcaster of run %s failed", self.pk)
            with contextlib.suppress(Exception):
                await self.layer.group_send(self.group, {"type": "run.failed"})
        finally:
            subscription.close()


class RunHistoryConsumer(AsyncJsonWebsocketConsumer):
    """Streams one run's history events, as they are appended, to a user allowed to view runs.

    Attributes:
        pending_refresh: Seconds between re-reads of pending activities and timers while
            no event arrives (retries and heartbeats change them without events). The
            user's right to view runs is checked again as often: a user deactivated, or
            whose permission was revoked, is disconnected with 4403.
    """

    pending_refresh = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._follower: asyncio.Task[None] | None = None
        self._feed: RunFeed | None = None
        self._broadcaster: RunBroadcaster | None = None
        self._finished = False
        self._last_sent: tuple[Any, Any] | None = None

    async def connect(self) -> None:
        """Authorize, then start following the run (or close with a 44xx code, sending nothing)."""
        await self.accept()
        code, feed = await self._authorize()
        if code is not None:
            await self.close(code)
            return
        assert feed is not None
        if self.channel_layer is None:
            self._follower = asyncio.get_running_loop().create_task(self._follow(feed))
            return
        # Fan-out: join the run's group first (so no broadcast after the catch-up is missed), catch up
        # by ourselves, then share the process's broadcaster of the run. Group messages are handled
        # only after this method returns, so they never overtake the catch-up.
        self._feed = feed
        await self.channel_layer.group_add(run_group(feed.pk), self.channel_name)
        if not await self._catch_up():
            return
        self._broadcaster = RunBroadcaster.acquire(feed.pk, self.channel_layer, self.pending_refresh, feed.after)
        self._follower = asyncio.get_running_loop().create_task(self._check_user_periodically())

    async def disconnect(self, code: int) -> None:
        """Stop following the run."""
        follower, self._follower = self._follower, None
        if follower is not None and not follower.done() and follower is not asyncio.current_task():
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower
        await self._leave()

    async def _leave(self) -> None:
        broadcaster, self._broadcaster = self._broadcaster, None
        if broadcaster is not None:
            broadcaster.release()
        if self._feed is not None and self.channel_layer is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(run_group(self._feed.pk), self.channel_name)

    async def _finish(self, code: int) -> None:
        """Close once (a broadcast may still be queued behind the close)."""
        if self._finished:
            return
        self._finished = True
        await self._leave()
        await self.close(code)

    async def _send_message(self, message: dict[str, Any]) -> bool:
        """Send a feed message; after the last one of a closed run, the ``closed`` message and a close.

        Returns False when the socket is done.
        """
        await self.send_json(message)
        self._last_sent = (message.get("pending_html"), message["run"])
        if message["run"]["closed"] and not message["more"]:
            await self.send_json({"type": "closed", "run": message["run"]})
            await self._finish(1000)
            return False
        return True

    async def _catch_up(self) -> bool:
        """Read and send what this socket lacks (its own reads); False when the socket is done."""
        assert self._feed is not None
        read = database_sync_to_async(self._feed.read)
        while True:
            try:
                message = await read(False)
            except WorkflowRun.DoesNotExist:
                await self._finish(CLOSE_NOT_FOUND)
                return False
            if message is None:
                return True
            if not await self._send_message(message):
                return False
            if not message["more"]:
                return True

    async def run_history(self, event: dict[str, Any]) -> None:
        """A broadcast change: forward the events this socket lacks (read a gap by itself)."""
        if self._finished or self._feed is None:
            return
        message = dict(event["message"])
        events = message["events"]
        if events and events[0]["event_id"] > self._feed.after + 1:
            await self._catch_up()  # we missed a page (we joined while it was being sent)
            return
        fresh = [e for e in events if e["event_id"] > self._feed.after]
        if not fresh and (message.get("pending_html"), message["run"]) == self._last_sent:
            return  # nothing this socket has not sent already (e.g. a page its catch-up read)
        message["events"] = fresh
        if fresh:
            self._feed.after = fresh[-1]["event_id"]
        message["last_event_id"] = self._feed.after
        await self._send_message(message)

    async def run_gone(self, event: dict[str, Any]) -> None:
        """The run was deleted."""
        await self._finish(CLOSE_NOT_FOUND)

    async def run_failed(self, event: dict[str, Any]) -> None:
        """The broadcaster failed (logged): close as the per-socket follower does."""
        await self._finish(1011)

    async def _check_user_periodically(self) -> None:
        """Every ``pending_refresh`` seconds: is the user still allowed to view runs?"""
        check = database_sync_to_async(self._user_may_view)
        while True:
            await asyncio.sleep(self.pending_refresh)
            if not await check():
                await self._finish(CLOSE_FORBIDDEN)
                return

    def _user_may_view(self) -> bool:
        current = get_user_model()._default_manager.filter(pk=self.scope["user"].pk).first()
        return current is not None and can_view_runs(current)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients send nothing; anything they send is ignored."""

    @database_sync_to_async
    def _authorize(self) -> tuple[int | None, RunFeed | None]:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return CLOSE_UNAUTHENTICATED, None
        if not can_view_runs(user):
            return CLOSE_FORBIDDEN, None
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        raw = (query.get("after") or ["0"])[-1]
        if not raw.isdigit():
            return CLOSE_BAD_REQUEST, None
        feed = RunFeed(pk, int(raw))
        if not feed.exists():
            return CLOSE_NOT_FOUND, None
        return None, feed

    def _read(self, feed: RunFeed, refresh: bool) -> dict[str, Any] | None:
        if refresh and not self._user_may_view():
            raise PermissionDenied
        return feed.read(refresh)

    async def _follow(self, feed: RunFeed) -> None:
        # Subscribe before the first read: an append committed in between still wakes us.
        subscription = notify.subscribe(f"run:{feed.pk}")
        read = database_sync_to_async(self._read)
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + self.pending_refresh
        try:
            while True:
                refresh = loop.time() >= refresh_at
                if refresh:
                    refresh_at = loop.time() + self.pending_refresh
                try:
                    message = await read(feed, refresh)
                except WorkflowRun.DoesNotExist:
                    await self.close(CLOSE_NOT_FOUND)
                    return
                except PermissionDenied:
                    await self.close(CLOSE_FORBIDDEN)
                    return
                if message is not None:
                    await self.send_json(message)
                    if message["more"]:
                        continue
                    if message["run"]["closed"]:
                        await self.send_json({"type": "closed", "run": message["run"]})
                        await self.close(1000)
                        return
                await subscription.wait(max(refresh_at - loop.time(), 0.0))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live history of run %s failed", feed.pk)
            await self.close(1011)
        finally:
            subscription.close()


