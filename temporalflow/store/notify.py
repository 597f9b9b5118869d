"""Wake-ups: tell idle workers and waiting clients that something changed.

Three pieces:

- ``Hub``: the in-process registry of subscriptions. Store writes run in
  worker threads while waiters are asyncio tasks on some loop, so the hub is
  thread-safe and delivers with ``loop.call_soon_threadsafe``. Writes publish to
  it from ``transaction.on_commit`` (waiters only ever see committed work).
- On PostgreSQL the writing transaction also runs ``pg_notify`` (delivered by
  PostgreSQL at commit) on one PostgreSQL channel per kind of logical channel
  (``temporalflow_wft`` for ``wft:…``, see ``pg_channel``), and one LISTEN task
  per process and database alias (psycopg ``AsyncConnection``) feeds received
  channel names into the hub. It LISTENs only to the kinds this process has
  subscribed to, adding one when a subscriber of a new kind first waits, so a
  worker is not woken by every history change nor a client by every task. It
  reconnects with backoff after a drop and then wakes every subscriber once,
  since notifications may have been missed meanwhile.
- Without LISTEN (SQLite), ``Subscription.wait()`` returns True after
  ``POLL_INTERVAL`` at most, so writes by other processes are seen by polling.

Notifications are hints: a woken waiter re-checks the store, and a spurious
wake-up is always allowed. A wake-up of a ``NOTICE_KINDS`` channel may also carry a
notice, a JSON text the writer attached (``closed:42`` carries the run's closing
event), which a waiter may use instead of reading the store: it was committed with
the write that sent it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from django.db import connections, transaction

from temporalflow.conf import settings
from temporalflow.store._dialects import Dialect, pg_channel, split_payload

__all__ = ["Hub", "LocalSubscription", "Mark", "hub", "publish", "subscribe", "mark", "close"]

RECENT = 4096
"""How many recently published channels the hub remembers (see :meth:`Hub.mark`)."""


class Mark(NamedTuple):
    """A point in a hub's wake-ups, taken while its LISTEN session listened (see :meth:`Hub.mark`)."""

    seq: int
    listener: Any
    epoch: int

logger = logging.getLogger("temporalflow.store.notify")


class LocalSubscription:
    """A subscription to one channel; ``wait()`` may be awaited from any event loop."""

    def __init__(self, hub: Hub, channel: str, alias: str | None, poll_interval: float | None) -> None:
        self.channel = channel
        self._hub = hub
        self._alias = alias
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._closed = False
        self.notice: str | None = None
        """The notice the latest wake-up carried (see the module docs), or None."""

    def _wake(self, notice: str | None = None) -> None:
        # Called from any thread. The flag survives until the next wait(), so a
        # notification that arrives before anyone waits is not lost.
        with self._lock:
            self._pending = True
            if notice is not None:
                self.notice = notice
            loop, event = self._loop, self._event
        if loop is not None and event is not None:
            if asyncio._get_running_loop() is loop:
                event.set()  # on the loop's own thread (a LISTEN read): no self-pipe write, no extra turn
                return
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop is closed; the next wait() rebinds
                pass

    async def wait(self, timeout: float | None) -> bool:
        """Wait until notified (True) or ``timeout`` passed (False); may return True spuriously."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is not loop:
                self._loop, self._event = loop, asyncio.Event()
            event = self._event
            assert event is not None
            if self._pending:
                self._pending = False
                event.clear()
                return True
            event.clear()
        listening = False
        if self._alias is not None:
            listening = self._hub.ensure_listener(self._alias, self.channel)
        poll = None if listening else self._poll_interval
        limit = timeout
        polled = False
        if poll is not None and (limit is None or poll < limit):
            limit, polled = poll, True
        try:
            if limit is None:
                await event.wait()
            else:
                async with asyncio.timeout(max(limit, 0.0)):  # no task of its own, unlike wait_for
                    await event.wait()
        except TimeoutError:
            with self._lock:
                if self._pending:
                    self._pending = False
                    return True
            return polled  # the polling fallback says "look again"
        with self._lock:
            self._pending = False
            event.clear()
        return True

    def close(self) -> None:
        """Stop receiving notifications."""
        if not self._closed:
            self._closed = True
            self._hub._remove(self)


class Hub:
    """Process-wide registry of subscriptions, plus the LISTEN tasks feeding it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[LocalSubscription]] = {}
        self._listeners: dict[str, _Listener] = {}
        # PostgreSQL channels some subscriber has waited on; it only grows (a handful of kinds).
        self._wanted: set[str] = set()
        # The last RECENT channels published of the kinds someone took a mark for, with the
        # publish's number (see mark()); a worker, which takes none, keeps nothing.
        self._seq = 0
        self._recent: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._marked: set[str] = set()

    def subscribe(
        self, channel: str, alias: str | None = None, poll_interval: float | None = None,
        since: Mark | None = None,
    ) -> LocalSubscription:
        """Subscribe to ``channel``.

        With ``alias`` on PostgreSQL, cross-process notifications arrive via
        LISTEN; otherwise ``poll_interval`` bounds each wait. With ``since`` (a
        :meth:`mark`), the subscription starts notified if ``channel`` may have been
        published since the mark, so its first ``wait()`` returns at once.
        """
        sub = LocalSubscription(self, channel, alias, poll_interval)
        with self._lock:
            self._subs.setdefault(channel, set()).add(sub)
            if since is not None and self._maybe_published(channel, alias, since):
                sub._pending = True
        return sub

    def mark(self, alias: str, channel: str) -> Mark | None:
        """A mark to subscribe ``since`` later, or None if wake-ups of ``channel`` could be missed.

        Taken before a write whose outcome one will wait for (``result()`` after a start):
        a subscription made after the write with ``since=mark`` is notified of anything
        published on its channel after the mark, so the waiter can wait first instead of
        reading the store first. None unless this alias's LISTEN session already listens
        to the channel's kind.
        """
        pgc = pg_channel(channel)
        with self._lock:
            listener = self._listeners.get(alias)
            if (listener is None or not listener.ready.is_set() or not listener.serving()
                    or pgc not in listener.listening):
                return None
            if pgc not in self._marked:
                # Publishes of this kind are remembered from now on; the seq below is later
                # than any publish the hub did not remember.
                self._marked.add(pgc)
                self._seq += 1
            return Mark(self._seq, listener, listener.epoch)

    def _maybe_published(self, channel: str, alias: str | None, since: Mark) -> bool:
        # With the lock held. Anything that may have lost a notification since the mark counts.
        listener = self._listeners.get(alias) if alias is not None else None
        if listener is not since.listener or listener.epoch != since.epoch or not listener.ready.is_set():
            return True
        if self._seq - since.seq >= RECENT:
            return True  # more has been published since than is remembered
        return self._recent.get(channel, -1) > since.seq

    def _remove(self, sub: LocalSubscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.channel]

    def publish(self, channels: Iterable[str], notices: Mapping[str, str] | None = None) -> None:
        """Wake every subscriber of ``channels`` (thread-safe), handing over their ``notices``."""
        with self._lock:
            self._seq += 1
            if self._marked:
                recent = self._recent
                for c in channels:
                    if pg_channel(c) in self._marked:
                        recent[c] = self._seq
                        recent.move_to_end(c)
                while len(recent) > RECENT:
                    recent.popitem(last=False)
            targets = [(s, c) for c in set(channels) for s in self._subs.get(c, ())]
        for sub, channel in targets:
            sub._wake(notices.get(channel) if notices else None)

    def receive(self, payload: str) -> None:
        """Wake the subscribers of a received pg_notify payload (its channel, maybe a notice)."""
        channel, notice = split_payload(payload)
        self.publish((channel,), None if notice is None else {channel: notice})

    def wake_all(self, pg_channels: set[str] | None = None) -> None:
        """Wake every subscriber, or those whose channels travel on ``pg_channels``.

        After a LISTEN reconnect (or a newly added LISTEN) notifications may have been missed.
        """
        with self._lock:
            targets = [s for channel, subs in self._subs.items()
                       if pg_channels is None or pg_channel(channel) in pg_channels for s in subs]
        for sub in targets:
            sub._wake()

    def wanted(self) -> set[str]:
        """The PostgreSQL channels this process's subscribers wait on (a copy)."""
        with self._lock:
            return set(self._wanted)

    def ensure_listener(self, alias: str, channel: str | None = None) -> bool:
        """Start (once per alias and event loop) the LISTEN task; True if it is listening now.

        With ``channel``, the task also LISTENs to that channel's kind, and True means
        it does already.
        """
        if connections[alias].vendor != "postgresql":
            return False
        loop = asyncio.get_running_loop()
        pgc = pg_channel(channel) if channel is not None else None
        with self._lock:
            if pgc is not None:
                if pgc not in self._wanted:
                    self._wanted.add(pgc)
                    for listener in self._listeners.values():
                        listener.want_more()
            listener = self._listeners.get(alias)
            # One LISTEN session per process feeds the hub, which wakes subscribers on every
            # loop; it lives on the latest loop that subscribed (a finished loop's task never
            # runs again, so its session is closed here rather than left open).
            if listener is None or not listener.alive_on(loop):
                if listener is not None:
                    listener.discard()  # free its session now rather than at garbage collection
                listener = _Listener(self, alias, loop)
                self._listeners[alias] = listener
                listener.start()
        # Until LISTEN is in place (or while it reconnects) subscribers poll.
        return listener.ready.is_set() and (pgc is None or pgc in listener.listening)

    def listener_ready(self, alias: str) -> asyncio.Event | None:
        """An event set while the alias's LISTEN connection listens to every wanted kind (tests, diagnostics)."""
        with self._lock:
            listener = self._listeners.get(alias)
        return listener.ready if listener is not None else None

    async def aclose(self) -> None:
        """Stop every LISTEN task started on the running loop."""
        with self._lock:
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            await listener.aclose()

    def close(self) -> None:
        """Stop every LISTEN task (from any thread; best effort)."""
        with self._lock:
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            listener.discard()


class _Listener:
    """One LISTEN connection for one database alias, on one event loop."""

    def __init__(self, hub: Hub, alias: str, loop: asyncio.AbstractEventLoop) -> None:
        self.hub = hub
        self.alias = alias
        self.loop = loop
        self.ready = asyncio.Event()
        self.listening: set[str] = set()
        self.epoch = 0  # one more on every connection (notifications may be lost in between)
        self.task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._more = asyncio.Event()  # set (on our loop) when the hub wants a channel we do not LISTEN to

    def want_more(self) -> None:
        """From any thread: the hub wants another channel; LISTEN to it soon."""
        def flag() -> None:
            self.ready.clear()
            self._more.set()

        try:
            on_our_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_our_loop = False
        if on_our_loop:
            flag()  # at once: whoever reads ``ready`` next must not see the old state
            return
        try:
            self.loop.call_soon_threadsafe(flag)
        except RuntimeError:  # the loop is closed; a new listener will be made
            pass

    def alive_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self.loop is loop and self.serving()

    def serving(self) -> bool:
        """True while its loop is open and its task runs."""
        return not self.loop.is_closed() and self.task is not None and not self.task.done()

    def start(self) -> None:
        self.task = self.loop.create_task(self._run(), name=f"temporalflow-listen-{self.alias}")

    def _conninfo(self) -> dict[str, Any]:
        # Django's own connection parameters for the alias (they already point at
        # the test database under pytest-django), minus Django-only keys.
        params = connections[self.alias].get_connection_params()
        keep = {
            "dbname",
            "user",
            "password",
            "host",
            "port",
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "options",
            "application_name",
            "connect_timeout",
            "passfile",
            "service",
        }
        return {k: v for k, v in params.items() if k in keep and v not in (None, "")}

    async def _run(self) -> None:
        import psycopg

        backoff = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(autocommit=True, **self._conninfo())
                self._conn = conn
                # Notifications psycopg itself reads (while a LISTEN runs) come this way.
                conn.add_notify_handler(lambda note: self.hub.receive(note.payload))
                self.epoch += 1
                async with conn:
                    first = True
                    while True:
                        added = await self._listen_wanted(conn)
                        if first or added:
                            backoff = 0.1
                            # Anything published before LISTEN was in place is lost to us.
                            self.hub.wake_all(None if first else added)
                            first = False
                        await self._pump(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost or refused: retry with backoff
                logger.warning(
                    "LISTEN connection for %r lost (%s); reconnecting in %.1fs", self.alias, exc, backoff
                )
            self.ready.clear()
            self.listening = set()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _listen_wanted(self, conn: Any) -> set[str]:
        """LISTEN to the wanted channels not listened to yet; the ones added."""
        self._more.clear()
        added = self.hub.wanted() - self.listening
        for name in sorted(added):  # names come from pg_channel: plain lowercase words
            await conn.execute(f"LISTEN {name}")
        self.listening |= added
        self.ready.set()
        return added

    async def _pump(self, conn: Any) -> None:
        """Feed notifications to the hub until the hub wants another channel; raise if the connection fails.

        The socket is read straight from the event loop (``add_reader``), so stopping to
        send another LISTEN cancels nothing; notifications psycopg reads meanwhile (during
        that LISTEN) reach the hub through the connection's notify handler.
        """
        loop = asyncio.get_running_loop()
        pgconn = conn.pgconn
        encoding = conn.info.encoding
        fd = pgconn.socket
        broken: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            try:
                pgconn.consume_input()
            except Exception as exc:  # noqa: BLE001 - the server went away: the caller reconnects
                loop.remove_reader(fd)
                if not broken.done():
                    broken.set_exception(exc)
                return
            while (note := pgconn.notifies()) is not None:
                self.hub.receive(note.extra.decode(encoding, "replace"))

        more = asyncio.ensure_future(self._more.wait())
        loop.add_reader(fd, readable)
        try:
            readable()  # whatever arrived before the reader was in place
            await asyncio.wait({broken, more}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(fd)
            more.cancel()
        if broken.done():
            broken.result()

    def discard(self) -> None:
        """Stop listening from any thread: cancel the task and close the session now.

        A task whose loop has closed never runs again, so its connection would stay
        open until garbage collection; close the socket directly.
        """
        self.cancel()
        conn = self._conn
        if conn is not None and not conn.closed:
            try:
                conn.pgconn.finish()
            except Exception:  # already gone
                pass

    def cancel(self) -> None:
        task = self.task
        if task is not None and not task.done():
            try:
                self.loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass

    async def aclose(self) -> None:
        task = self.task
        if task is None or task.done():
            return
        if asyncio.get_running_loop() is not self.loop:
            self.cancel()
            return
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


hub = Hub()
"""The process-wide hub."""


def publish(
    alias: str, dialect: Dialect, cursor: Any, channels: Iterable[str], notices: Mapping[str, str] | None = None,
) -> None:
    """Announce ``channels`` (some with ``notices``) for the current Django transaction on ``alias``.

    Sends the cross-process notification inside the transaction (PostgreSQL
    delivers it at commit) and wakes same-process subscribers on commit
    (``transaction.on_commit``). The store's own PostgreSQL transactions batch
    their channels and do the same at their commit.
    """
    unique = sorted(set(channels))
    if not unique:
        return
    dialect.send_notify(cursor, unique, notices)
    transaction.on_commit(lambda: hub.publish(unique, notices), using=alias)


def subscribe(channel: str, alias: str | None = None, since: Mark | None = None) -> LocalSubscription:
    """Subscribe to a logical channel on ``alias`` (defaults to ``DATABASE_ALIAS``); see :meth:`Hub.subscribe`."""
    alias = alias or settings.DATABASE_ALIAS
    return hub.subscribe(channel, alias=alias, poll_interval=settings.POLL_INTERVAL, since=since)


def mark(channel: str, alias: str | None = None) -> Mark | None:
    """A mark of the process's wake-ups on ``alias`` (see :meth:`Hub.mark`)."""
    return hub.mark(alias or settings.DATABASE_ALIAS, channel)


def close() -> None:
    """Stop this process's LISTEN tasks (they restart lazily on the next wait)."""
    hub.close()
