"""``DjangoStore``: the Store protocol on the project's own database.

Every write method is ONE ``transaction.atomic(using=alias)``: history events,
the run row, task rows and timers change together, and a caller's
``atomic()`` block carries them (a start commits or rolls back with the
caller's writes).

How the hot paths stay cheap (DESIGN §6):

- Appending events reserves ids with ``UPDATE run SET next_event_id =
  next_event_id + n ... RETURNING``: the row lock serializes writers of one run,
  and the same statement schedules the run's workflow task when none is
  scheduled (or marks it dirty when one is running), so an external event
  (signal, activity result, timer) costs one UPDATE and one multi-row INSERT.
- Claims are one ``UPDATE ... WHERE id IN (SELECT ... [FOR UPDATE SKIP LOCKED]
  LIMIT n) RETURNING`` per batch (see ``_dialects``).
- Raw SQL throughout; the ORM models only define the schema.

Lock order, everywhere: the run row first, then its activity/timer/update
rows. Paths that start from a task row (activity completion, timer sweep)
lock the run first, so concurrent writers of one run never deadlock.

``DjangoStore`` is assembled here from one part per responsibility:

- ``_base_sql``: table names, row decoding, connection/transaction/clock plumbing;
- ``_history``: appending events to a run, rescheduling its task, closing it;
- ``_runs``: start, describe, history, signal, cancel, terminate;
- ``_workflow_tasks``: claim, complete (commands), fail; sticky follow-ups;
- ``_activities``: activity rows, claims, heartbeats, outcomes, retries;
- ``_sweeps``: timers, deadlines, next due time;
- ``_schedules``: schedules (create, patch, update, delete) and firing their due actions;
- ``_messages``: queries and updates;
- ``_pollers``: poll records, sticky release, wake-up subscriptions;
- ``_visibility``: the search-attribute index, list and count in Temporal's list-filter syntax.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from temporalflow.conf import settings
from temporalflow.store._activities import _ActivitiesMixin
from temporalflow.store._dialects import Dialect
from temporalflow.store._messages import _MessagesMixin
from temporalflow.store._pollers import _PollersMixin
from temporalflow.store._runs import _RunsMixin
from temporalflow.store._schedules import _SchedulesMixin
from temporalflow.store._sweeps import _SweepsMixin
from temporalflow.store._visibility import _VisibilityMixin
from temporalflow.store._workflow_tasks import _WorkflowTasksMixin

__all__ = ["DjangoStore"]


class DjangoStore(
    _SchedulesMixin,
    _SweepsMixin,
    _WorkflowTasksMixin,
    _RunsMixin,
    _ActivitiesMixin,
    _MessagesMixin,
    _PollersMixin,
    _VisibilityMixin,
):
    """The Store protocol over Django's database connection ``alias``.

    Args:
        alias: ``DATABASES`` alias; defaults to ``TEMPORALFLOW["DATABASE_ALIAS"]``.
        namespace: Default namespace for callers that give none (requests and
            claims carry their own).
        clock: Epoch-seconds clock to use instead of the database's (the
            time-skipping test environment passes one that jumps ahead).
    """

    def __init__(
        self, alias: str | None = None, namespace: str | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.alias = alias or settings.DATABASE_ALIAS
        self.namespace = namespace or settings.NAMESPACE
        self.clock = clock
        self._dialect: Dialect | None = None
        self._pollers_seen: dict[tuple[str, str, str, str], float] = {}
        self._visible_watermark: float | None = None
        self._local = threading.local()  # per-thread psycopg pipeline (see _StoreBase._atomic)
