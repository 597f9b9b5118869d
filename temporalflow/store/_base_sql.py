"""Plumbing shared by every part of ``DjangoStore``.

Table names, state numbers and column lists; JSON and row decoding; event
builders used by several parts; and ``_StoreBase``: the connection, the
transaction, the clock, wake-ups, the history INSERT and run lookups. Nothing
here decides what a workflow does next.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connections, transaction

from temporalflow.core.events import CLOSE_EVENT_TYPES, EventType, HistoryEvent
from temporalflow.store import notify
from temporalflow.store._dialects import Dialect, dialect_for
from temporalflow.store.base import RunNotFound, RunStatus

RUN = "temporalflow_run"
EVENT = "temporalflow_event"
ACTIVITY = "temporalflow_activity"
TIMER = "temporalflow_timer"
QUERY = "temporalflow_query"
UPDATE = "temporalflow_update"
CHILD = "temporalflow_child"
POLLER = "temporalflow_poller"

RUNNING = int(RunStatus.RUNNING)
WFT_NONE, WFT_SCHEDULED, WFT_STARTED = 0, 1, 2
ACT_SCHEDULED, ACT_STARTED = 1, 2

_EVENT_ROWS_PER_INSERT = 500
PREFETCH_EVENTS = 500
"""At most this many events ride along with a workflow task lease; a longer catch-up is read
by the worker itself, outside the claiming transaction."""

_RUN_COLS = (
    "id, namespace, workflow_id, run_id, workflow_type, task_queue, status, next_event_id, first_run_id, "
    "parent_workflow_id, parent_run_id, memo, search_attributes, retry_policy, execution_timeout, "
    "run_timeout, "
    "task_timeout, execution_deadline, run_deadline, wft_state, wft_scheduled_event_id, "
    "wft_started_event_id, "
    "wft_attempt, wft_lease_until, wft_dirty, sticky_identity, cancel_requested, queries_waiting, updates_waiting, "
    "request_id, start_ts, "
    "close_ts, execution_ts, cron_schedule"
)

_ACT_COLS = (
    "id, namespace, run_id, workflow_id, workflow_run_id, workflow_type, scheduled_event_id, activity_id, "
    "activity_type, task_queue, input, header, attempt, state, visible_at, lease_token, started_at, "
    "lease_until, "
    "timeout_at, schedule_to_close_deadline, schedule_to_start_deadline, schedule_to_close_timeout, "
    "schedule_to_start_timeout, start_to_close_timeout, heartbeat_timeout, retry_policy, heartbeat_details, "
    "last_failure, cancel_requested, scheduled_time, current_attempt_scheduled_time, identity"
)


# --------------------------------------------------------------------------- small helpers


def _dumps(obj: Any) -> str | None:
    """Compact JSON (None stays SQL NULL)."""
    if obj is None:
        return None
    return json.dumps(obj, separators=(",", ":"))


def _loads(value: Any) -> Any:
    """Decode a JSON column read through a raw cursor (text on both databases)."""
    if value is None or not isinstance(value, (str, bytes)):
        return value
    return json.loads(value)


def _rows(cur: Any) -> list[dict[str, Any]]:
    # fetchall() first: in pipeline mode the description arrives with the result.
    fetched = cur.fetchall()
    if not fetched:
        return []
    cols = _column_names(cur)
    return [dict(zip(cols, r, strict=True)) for r in fetched]


def _column_names(cur: Any) -> list[str]:
    """The result's column names.

    psycopg's ``description`` builds a typed Column object per column on every access; the
    result's field names are all a row dict needs.
    """
    result = getattr(getattr(cur, "cursor", None), "pgresult", None)
    if result is not None:
        return [result.fname(i).decode() for i in range(result.nfields)]
    return [c[0] for c in cur.description]


def _row(cur: Any) -> dict[str, Any] | None:
    rows = _rows(cur)
    return rows[0] if rows else None


def _min(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _marks(values: Sequence[Any] | set[Any]) -> str:
    """``%s,%s,...``: one placeholder per value, for ``IN (...)``."""
    return ",".join(["%s"] * len(values))


def _sql_min(a: str, b: str) -> str:
    """SQL ``min(a, b)`` where ``a`` is never NULL and a NULL ``b`` means "no bound" (portable)."""
    return f"(CASE WHEN ({b}) IS NOT NULL AND ({b}) < ({a}) THEN ({b}) ELSE ({a}) END)"


def _wft_started(scheduled_event_id: int, identity: str) -> tuple[EventType, dict[str, Any]]:
    return EventType.WORKFLOW_TASK_STARTED, {
        "scheduled_event_id": scheduled_event_id,
        "identity": identity,
        "request_id": "",
    }


def _wft_scheduled(
    task_queue: str, task_timeout: float, attempt: int = 1
) -> tuple[EventType, dict[str, Any]]:
    return EventType.WORKFLOW_TASK_SCHEDULED, {
        "task_queue": {"name": task_queue},
        "start_to_close_timeout": task_timeout,
        "attempt": attempt,
    }

def close_notice(event: HistoryEvent, text: str) -> str:
    """The notice ``closed:{pk}`` carries: the closing event as JSON, its attributes the stored ``text``."""
    return f"[{event.event_id},{json.dumps(str(event.event_type))},{float(event.event_time)!r},{text}]"


def close_notice_event(notice: str) -> HistoryEvent | None:
    """The closing event a ``closed:{pk}`` notice carries, or None if it is not one (then read the store)."""
    try:
        event_id, etype, etime, attributes = json.loads(notice)
        event = HistoryEvent(event_id=int(event_id), event_type=EventType(etype), event_time=float(etime),
                             attributes=attributes)
    except (ValueError, TypeError):
        return None
    return event if event.event_type in CLOSE_EVENT_TYPES and isinstance(attributes, dict) else None


class _StoreBase:
    """Connection, transaction, clock and wake-up plumbing of ``DjangoStore`` (state set by its ``__init__``)."""

    alias: str
    namespace: str
    clock: Callable[[], float] | None
    _dialect: Dialect | None

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of the alias's database."""
        if self._dialect is None:
            self._dialect = dialect_for(connections[self.alias].vendor)
        return self._dialect

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        """One transaction; on PostgreSQL also a psycopg pipeline.

        In the pipeline, statements whose results are not read (event inserts, notify)
        are sent together with the next read or the commit instead of one network round
        trip each; reading a result (``fetch*``, :meth:`_rowcount`) waits for the server.
        A block inside another (or inside the caller's ``transaction.atomic()``) is part
        of that transaction.
        """
        if getattr(self._local, "after_commit", None) is not None:
            yield  # inside our own transaction already
            return
        conn = connections[self.alias]
        if self.dialect.vendor != "postgresql":
            with transaction.atomic(using=self.alias):
                yield
            return
        if not conn.in_atomic_block:
            with self._own_transaction(conn):
                yield
            return
        # The caller's transaction (a start inside their atomic block): a savepoint in it.
        with transaction.atomic(using=self.alias):
            if getattr(self._local, "pipeline", None) is not None:
                yield
                return
            conn.ensure_connection()
            with conn.connection.pipeline() as pipeline:
                self._local.pipeline = pipeline
                try:
                    yield
                finally:
                    self._local.pipeline = None

    @contextlib.contextmanager
    def _own_transaction(self, conn: Any) -> Iterator[None]:
        """BEGIN ... COMMIT as statements in one psycopg pipeline (PostgreSQL, no caller's transaction).

        Django's ``atomic()`` would switch psycopg's autocommit off and on around the block,
        and in pipeline mode each switch waits for the server; here the statements after the
        last read travel with the COMMIT in a single round trip. The wake-ups the block
        publishes go out as one ``pg_notify`` statement just before the COMMIT, and to this
        process's subscribers once the commit succeeded (see :meth:`_publish`).
        """
        from psycopg import pq  # PostgreSQL only: psycopg is an optional dependency

        conn.ensure_connection()
        raw = conn.connection
        after: list[Callable[[], None]] = []
        channels: set[str] = set()
        notices: dict[str, str] = {}
        self._local.after_commit = after
        self._local.channels = channels
        self._local.notices = notices
        try:
            with conn.wrap_database_errors:
                try:
                    with raw.pipeline() as pipeline:
                        self._local.pipeline = pipeline
                        raw.execute("BEGIN")
                        yield
                        if channels:
                            unique = sorted(channels)
                            self.dialect.send_notify(raw.cursor(), unique, notices)
                            after.append(lambda: notify.hub.publish(unique, notices))
                        raw.execute("COMMIT")
                except BaseException:
                    if not raw.closed and raw.info.transaction_status != pq.TransactionStatus.IDLE:
                        try:
                            raw.rollback()
                        except Exception:  # noqa: BLE001 - a broken connection: the caller replaces it
                            pass  # the original error is the one to report
                    raise
                finally:
                    self._local.pipeline = None
        finally:
            self._local.after_commit = None
            self._local.channels = None
            self._local.notices = None
        for fn in after:
            fn()

    def _rowcount(self, cur: Any) -> int:
        """``cur.rowcount``, after waiting for the server's answer in pipeline mode."""
        pipeline = getattr(self._local, "pipeline", None)
        if pipeline is not None:
            pipeline.sync()
        return int(cur.rowcount)

    def _cursor(self) -> Any:
        return connections[self.alias].cursor()

    def _json(self) -> str:
        # Typed placeholder for JSON columns, so PostgreSQL never has to guess.
        return "%s::jsonb" if self.dialect.vendor == "postgresql" else "%s"

    def now(self) -> float:
        """The store's idea of now (epoch seconds), for callers computing sleeps."""
        return float(self.clock()) if self.clock is not None else time.time()

    def _now_sql(self) -> str:
        # An injected clock is rendered as a literal, like SQLite's Python clock.
        if self.clock is not None:
            return repr(float(self.clock()))
        return self.dialect.now_sql()

    def _now(self, cur: Any) -> float:
        if self.clock is not None:
            return float(self.clock())
        if self.dialect.vendor == "postgresql":
            cur.execute(f"SELECT {self._now_sql()}")
            return float(cur.fetchone()[0])
        return time.time()

    def _publish(self, cur: Any, channels: Iterable[str], notices: Mapping[str, str] | None = None) -> None:
        """Wake the subscribers of ``channels`` once this transaction commits (``notices``: see ``notify``)."""
        pending = getattr(self._local, "channels", None)
        if pending is not None:
            pending.update(channels)  # our own transaction sends them all at its commit
            if notices:
                self._local.notices.update(notices)
            return
        notify.publish(self.alias, self.dialect, cur, channels, notices)

    def _dt(self, ts: float) -> Any:
        return connections[self.alias].ops.adapt_datetimefield_value(datetime.fromtimestamp(ts, tz=UTC))

    def _insert_events(
        self,
        cur: Any,
        run_pk: int,
        first_id: int,
        now: float,
        events: Sequence[tuple[EventType, dict[str, Any]]],
        texts: list[str] | None = None,
        decoded: bool = True,
        with_sql: str = "",
        with_params: Sequence[Any] = (),
    ) -> list[HistoryEvent]:
        """Insert ``events`` with ids ``first_id, first_id + 1, ...`` (multi-row INSERTs).

        Returns them as a later read would (attributes decoded from the stored JSON), so a
        worker can hand them to its cached run instead of reading them back (``decoded=False``:
        nobody will, and nothing is returned); ``texts``, if given, gets their attributes as stored.
        ``with_sql``: see :meth:`_insert_event_rows`.
        """
        stored = self._insert_event_rows(
            cur, [(run_pk, first_id + i, now, *event) for i, event in enumerate(events)], with_sql, with_params)
        if texts is not None:
            texts.extend(stored)
        if not decoded:
            return []
        return [
            HistoryEvent(event_id=first_id + i, event_type=etype, event_time=now, attributes=json.loads(text))
            for i, ((etype, _), text) in enumerate(zip(events, stored, strict=True))
        ]

    def _publish_close(self, cur: Any, run_pk: int, event: HistoryEvent, text: str, channels: Iterable[str]) -> None:
        """Announce a run's close: ``closed:{pk}`` carries the closing event (``text``: its stored attributes)."""
        self._publish(cur, [f"closed:{run_pk}", *channels], {f"closed:{run_pk}": close_notice(event, text)})

    def _insert_event_rows(
        self, cur: Any, rows: Sequence[tuple[int, int, float, EventType, dict[str, Any]]],
        with_sql: str = "", with_params: Sequence[Any] = (),
    ) -> list[str]:
        """Insert ``(run pk, event id, time, type, attributes)`` rows, of one run or several (multi-row INSERTs).

        ``with_sql`` (PostgreSQL: a data-modifying statement, ``with_params`` its parameters)
        runs as a WITH clause of the first INSERT: one statement to send, parse and execute
        instead of two. Returns the attributes as stored (JSON text), in order.
        """
        assert not with_sql or rows, "the WITH statement needs an INSERT to ride on"
        texts: list[str] = []
        for start in range(0, len(rows), _EVENT_ROWS_PER_INSERT):
            chunk = rows[start : start + _EVENT_ROWS_PER_INSERT]
            params: list[Any] = []
            for run_pk, event_id, ts, etype, attrs in chunk:
                text = _dumps(attrs)
                texts.append(text)
                params += [run_pk, event_id, str(etype), ts, text]
            values = ",".join(["(%s,%s,%s,%s,%s)"] * len(chunk))
            prefix = ""
            if start == 0 and with_sql:
                prefix, params = f"WITH w AS ({with_sql}) ", [*with_params, *params]
            cur.execute(
                f"{prefix}INSERT INTO {EVENT} (run_id, event_id, event_type, event_time, attributes) VALUES {values}",
                params,
            )
        return texts

    def _events_after(self, cur: Any, after: dict[int, int]) -> dict[int, list[HistoryEvent]]:
        """One read for several runs: ``{run pk: events with id > after[run pk]}``, in order."""
        if not after:
            return {}
        where = " OR ".join(["(run_id = %s AND event_id > %s)"] * len(after))
        cur.execute(
            f"SELECT run_id, event_id, event_type, event_time, attributes FROM {EVENT} WHERE {where} "
            "ORDER BY run_id, event_id",
            [v for pair in after.items() for v in pair],
        )
        found: dict[int, list[HistoryEvent]] = {pk: [] for pk in after}
        for run_pk, event_id, event_type, event_time, attributes in cur.fetchall():
            found[run_pk].append(HistoryEvent(event_id=event_id, event_type=EventType(event_type),
                                              event_time=event_time, attributes=json.loads(attributes)))
        return found

    def _lock_run(self, cur: Any, run_pk: int) -> dict[str, Any] | None:
        """Read (and on PostgreSQL lock) a run row; ``now`` comes with it (and ``has_children``, see there)."""
        cur.execute(self._lock_run_sql(), [run_pk])
        return _row(cur)

    def _lock_run_sql(self) -> str:
        """The statement of :meth:`_lock_run` (one ``%s``: the row id), to send now and read later."""
        return (
            f"SELECT {_RUN_COLS}, {self._now_sql()} AS now{self._has_children_sql()} FROM {RUN} WHERE id = "
            f"%s{self.dialect.lock_suffix()}"
        )

    def _has_children_sql(self) -> str:
        """``, has_children`` for a statement that reads (and locks) run rows, on PostgreSQL; else nothing.

        Whether the run has child links, read by the statement that locks the run: its
        close then skips reading them (a round trip before the commit) when it has none.
        Links of a run are only added by its own completions, under its lock, which a
        completion adding one marks in the row dict. SQLite has no round trips to save.
        """
        if self.dialect.vendor != "postgresql":
            return ""
        return f", EXISTS (SELECT 1 FROM {CHILD} WHERE parent_id = {RUN}.id) AS has_children"

    def _find_run(
        self, cur: Any, namespace: str, workflow_id: str, run_id: str | None, lock: bool = False
    ) -> dict[str, Any]:
        sql = f"SELECT {_RUN_COLS} FROM {RUN} WHERE namespace = %s AND workflow_id = %s"
        params: list[Any] = [namespace, workflow_id]
        if run_id:
            sql += " AND run_id = %s"
            params.append(run_id)
        sql += " ORDER BY id DESC LIMIT 1"
        if lock:
            sql += self.dialect.lock_suffix()
        cur.execute(sql, params)
        row = _row(cur)
        if row is None:
            raise RunNotFound(
                f"workflow {workflow_id!r}"
                + (f" run {run_id!r}" if run_id else "")
                + f" not found in {namespace!r}"
            )
        return row

    @staticmethod
    def _target(namespace: str, workflow_id: str, run_id: str | None) -> tuple[str, list[Any]]:
        """SQL selecting the id of a run by workflow id (and run id, else the latest)."""
        if run_id:
            return (
                f"id = (SELECT id FROM {RUN} WHERE namespace = %s AND workflow_id = %s AND run_id = %s)",
                [namespace, workflow_id, run_id],
            )
        return (
            f"id = (SELECT id FROM {RUN} WHERE namespace = %s AND workflow_id = %s ORDER BY id DESC LIMIT 1)",
            [namespace, workflow_id],
        )

