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

Following a run across processes needs no channel layer: the consumer subscribes
to the store's wake-up channel ``run:{pk}`` (every append to the run publishes it; on
PostgreSQL it arrives by LISTEN/NOTIFY within milliseconds of the writer's commit, on
SQLite a wait returns every ``POLL_INTERVAL``) and reads what is new. Reads run in
``database_sync_to_async`` (which closes stale connections around each call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from temporalflow.channels.feed import RunFeed, can_view_runs
from temporalflow.models import WorkflowRun
from temporalflow.store import notify

__all__ = ["CLOSE_BAD_REQUEST", "CLOSE_FORBIDDEN", "CLOSE_NOT_FOUND", "CLOSE_UNAUTHENTICATED", "RunHistoryConsumer"]

logger = logging.getLogger("temporalflow.channels")

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


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

    async def connect(self) -> None:
        """Authorize, then start following the run (or close with a 44xx code, sending nothing)."""
        await self.accept()
        code, feed = await self._authorize()
        if code is not None:
            await self.close(code)
            return
        assert feed is not None
        self._follower = asyncio.get_running_loop().create_task(self._follow(feed))

    async def disconnect(self, code: int) -> None:
        """Stop following the run."""
        follower, self._follower = self._follower, None
        if follower is not None and not follower.done() and follower is not asyncio.current_task():
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower

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
        if refresh:
            current = get_user_model()._default_manager.filter(pk=self.scope["user"].pk).first()
            if current is None or not can_view_runs(current):
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


