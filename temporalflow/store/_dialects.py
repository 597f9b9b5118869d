"""What differs between PostgreSQL and SQLite, in one small class per database.

The store writes portable SQL (``UPDATE ... RETURNING``, partial indexes,
``INSERT ... ON CONFLICT``) and asks its dialect for the few pieces that differ:

- the clock: PostgreSQL's clock on PostgreSQL, so several worker machines
  compare due times against one clock; Python's on SQLite (one machine anyway);
- claiming rows: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
  claimers never wait for nor take the same rows; on SQLite an IMMEDIATE
  transaction already serializes writers, so a plain ``UPDATE ... WHERE id IN
  (SELECT ...)`` is enough;
- locking a run row before reading it for a read-modify-write;
- wake-ups across processes: ``pg_notify`` inside the writing transaction on
  PostgreSQL; nothing on SQLite (subscribers poll).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

NOTIFY_CHANNEL = "temporalflow"
"""Prefix of the PostgreSQL channels; the payload is the logical channel name (see :func:`notify_payload`)."""

NOTICE_KINDS = frozenset({"closed"})
"""Kinds of channel whose wake-ups may carry a notice: a JSON text after the name and a newline.

Their names (``closed:42``) never hold a newline, so the receiver can split there; other
kinds' names are built from user-chosen names and are always sent alone.
"""

NOTIFY_PAYLOAD_LIMIT = 7900
"""Bytes a pg_notify payload may take here (PostgreSQL refuses 8,000 or more); a longer notice is left out."""

_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")


def pg_channel(channel: str) -> str:
    """The PostgreSQL channel that carries wake-ups for a logical channel.

    One per kind (the part before the first ``:``): ``wft:ns:queue`` travels on
    ``temporalflow_wft``, ``closed:42`` on ``temporalflow_closed``. A process
    LISTENs only to the kinds it waits for, so a worker is not woken by every
    history change and a client not by every task. Names that are not a plain
    lowercase word share ``temporalflow``.
    """
    kind = channel.split(":", 1)[0]
    return f"{NOTIFY_CHANNEL}_{kind}" if _KIND.fullmatch(kind) else NOTIFY_CHANNEL


def notify_payload(channel: str, notice: str | None) -> str:
    """The pg_notify payload for ``channel``: its name, then the notice when it carries one that fits."""
    if notice is None or channel.split(":", 1)[0] not in NOTICE_KINDS:
        return channel
    payload = f"{channel}\n{notice}"
    return payload if len(payload.encode()) <= NOTIFY_PAYLOAD_LIMIT else channel


def split_payload(payload: str) -> tuple[str, str | None]:
    """``(channel, notice or None)`` of a received payload (the inverse of :func:`notify_payload`)."""
    if payload.split(":", 1)[0] in NOTICE_KINDS:
        channel, sep, notice = payload.partition("\n")
        if sep:
            return channel, notice
    return payload, None


class Dialect:
    """Base dialect (SQLite semantics)."""

    vendor = "sqlite"
    supports_listen = False

    def now_sql(self) -> str:
        """An SQL expression for "now" as float epoch seconds.

        On SQLite this is Python's clock rendered as a literal (a float we made,
        so no injection risk), which keeps the SQL identical on both databases.
        """
        return repr(time.time())

    def claim(
        self, table: str, where: str, order_by: str, limit: int, update_set: str, returning: str,
        then_insert: str = "",
    ) -> str:
        """``UPDATE table SET update_set WHERE id IN (<limit rows matching where>) RETURNING returning``.

        ``then_insert``: an INSERT reading the claimed rows from ``u`` in the same statement
        (PostgreSQL only; check ``vendor`` before passing one).
        """
        if then_insert:
            raise NotImplementedError(f"{self.vendor} claims cannot carry an INSERT")
        return (
            f"UPDATE {table} SET {update_set} WHERE id IN "
            f"(SELECT id FROM {table} WHERE {where} ORDER BY {order_by} LIMIT {int(limit)}) "
            f"RETURNING {returning}"
        )

    def lock_suffix(self) -> str:
        """Appended to a SELECT that reads rows the transaction will update."""
        return ""

    def skip_locked_suffix(self) -> str:
        """Appended to a SELECT that claims rows other claimers may be claiming."""
        return ""

    def send_notify(self, cursor: Any, channels: list[str], notices: Mapping[str, str] | None = None) -> None:
        """Queue cross-process wake-ups, delivered when the transaction commits (``notices``: see NOTICE_KINDS)."""


class PostgresDialect(Dialect):
    """PostgreSQL: database clock, SKIP LOCKED claims, row locks, pg_notify."""

    vendor = "postgresql"
    supports_listen = True

    def now_sql(self) -> str:
        # statement_timestamp() is fixed for the whole statement, so every row a
        # statement touches (and its RETURNING) sees the same "now".
        return "extract(epoch from statement_timestamp())::float8"

    def claim(
        self, table: str, where: str, order_by: str, limit: int, update_set: str, returning: str,
        then_insert: str = "",
    ) -> str:
        # MATERIALIZED keeps the locking subquery from being inlined (and re-run).
        locked = (
            f"WITH c AS MATERIALIZED (SELECT id FROM {table} WHERE {where} ORDER BY {order_by} "
            f"LIMIT {int(limit)} FOR NO KEY UPDATE SKIP LOCKED)"
        )
        update = f"UPDATE {table} SET {update_set} WHERE id IN (SELECT id FROM c) RETURNING {returning}"
        if not then_insert:
            return f"{locked} {update}"
        # The INSERT reads the claimed rows as the UPDATE returned them ("u"), in the same statement.
        return f"{locked}, u AS ({update}), i AS ({then_insert}) SELECT * FROM u"

    def lock_suffix(self) -> str:
        # NO KEY UPDATE: the store never changes a row's id, and unlike FOR UPDATE it does
        # not wait for (or block) key-share locks taken by foreign-key checks.
        return " FOR NO KEY UPDATE"

    def skip_locked_suffix(self) -> str:
        return " FOR NO KEY UPDATE SKIP LOCKED"

    def send_notify(self, cursor: Any, channels: list[str], notices: Mapping[str, str] | None = None) -> None:
        if not channels:
            return
        notices = notices or {}
        # One statement for all channels of this write; PostgreSQL itself drops
        # duplicate (channel, payload) pairs within a transaction.
        cursor.execute(
            "SELECT pg_notify(k, c) FROM unnest(%s::text[], %s::text[]) AS x(k, c)",
            [[pg_channel(c) for c in channels], [notify_payload(c, notices.get(c)) for c in channels]],
        )


def dialect_for(vendor: str) -> Dialect:
    """The dialect of a Django connection vendor."""
    if vendor == "postgresql":
        return PostgresDialect()
    if vendor == "sqlite":
        return Dialect()
    raise NotImplementedError(f"temporalflow supports PostgreSQL and SQLite, not {vendor!r}")
