"""Schedules, with ``temporalio.client``'s classes: ``Schedule``, ``ScheduleSpec``, ``ScheduleHandle`` ...

The dataclasses (``temporalflow.client._schedule_types``, re-exported here) have temporalio's
names, fields and defaults. ``ScheduleOps`` turns them into the store's JSON and back;
``ScheduleHandle`` (async) and ``SyncScheduleHandle`` drive one schedule. The engine side
(firing ticks, overlap policies) is ``temporalflow.store._schedules``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalflow.client._ops import Ops
from temporalflow.client._schedule_types import (
    Schedule,
    ScheduleAction,
    ScheduleActionExecution,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleInfo,
    ScheduleIntervalSpec,
    ScheduleListAction,
    ScheduleListActionStartWorkflow,
    ScheduleListDescription,
    ScheduleListInfo,
    ScheduleListSchedule,
    ScheduleListState,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalflow.client._types import _dt
from temporalflow.common import RetryPolicy
from temporalflow.core import search_attributes as sa
from temporalflow.core.payload import Payload, payloads_from_json, payloads_to_json
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.store import schedule_types as st

if TYPE_CHECKING:
    from temporalflow.client._client import Client
    from temporalflow.client._sync import SyncClient

__all__ = [
    "Schedule",
    "ScheduleAction",
    "ScheduleActionExecution",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleAsyncIterator",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListAction",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleListState",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
    "SyncScheduleHandle",
]

def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive datetimes are UTC, as protobuf reads them
    return value.timestamp()


def _secs(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _cal_json(cal: ScheduleCalendarSpec) -> dict[str, Any]:
    def ranges(rs: Sequence[ScheduleRange]) -> list[list[int]]:
        return [[r.start, r.end, r.step] for r in rs]

    return {"second": ranges(cal.second), "minute": ranges(cal.minute), "hour": ranges(cal.hour),
            "day_of_month": ranges(cal.day_of_month), "month": ranges(cal.month), "year": ranges(cal.year),
            "day_of_week": ranges(cal.day_of_week), "comment": cal.comment}


def _cal_from(d: dict[str, Any]) -> ScheduleCalendarSpec:
    def ranges(name: str) -> tuple[ScheduleRange, ...]:
        return tuple(ScheduleRange(*r) for r in d.get(name) or [])

    return ScheduleCalendarSpec(second=ranges("second"), minute=ranges("minute"), hour=ranges("hour"),
                                day_of_month=ranges("day_of_month"), month=ranges("month"), year=ranges("year"),
                                day_of_week=ranges("day_of_week"), comment=d.get("comment"))


def spec_to_json(spec: ScheduleSpec) -> dict[str, Any]:
    """A ``ScheduleSpec`` as the store's JSON."""
    if not isinstance(spec, ScheduleSpec):
        raise TypeError("schedule.spec must be a ScheduleSpec")
    return {
        "calendars": [_cal_json(c) for c in spec.calendars],
        "intervals": [{"every": i.every.total_seconds(), "offset": _secs(i.offset) or 0.0} for i in spec.intervals],
        "cron_expressions": [str(c) for c in spec.cron_expressions],
        "skip": [_cal_json(c) for c in spec.skip],
        "start_at": _ts(spec.start_at),
        "end_at": _ts(spec.end_at),
        "jitter": _secs(spec.jitter),
        "time_zone_name": spec.time_zone_name or None,
    }


def spec_from_json(d: dict[str, Any]) -> ScheduleSpec:
    """The store's JSON as a ``ScheduleSpec``."""
    return ScheduleSpec(
        calendars=[_cal_from(c) for c in d.get("calendars") or []],
        intervals=[ScheduleIntervalSpec(every=timedelta(seconds=i["every"]),
                                        offset=timedelta(seconds=i["offset"]) if i.get("offset") else None)
                   for i in d.get("intervals") or []],
        cron_expressions=list(d.get("cron_expressions") or []),
        skip=[_cal_from(c) for c in d.get("skip") or []],
        start_at=_dt(d.get("start_at")),
        end_at=_dt(d.get("end_at")),
        jitter=timedelta(seconds=d["jitter"]) if d.get("jitter") else None,
        time_zone_name=d.get("time_zone_name"),
    )


class ScheduleOps:
    """The store-facing half of schedules, shared by the async and sync clients."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    @property
    def store(self) -> Any:
        """The store (a ``DjangoStore``: schedules are not part of the minimal Store protocol)."""
        return self.ops.store

    def _encode_one(self, value: Any) -> dict[str, Any]:
        if isinstance(value, Payload):
            return payloads_to_json([value])["payloads"][0]
        return self.ops.encode([value])["payloads"][0]

    def action_json(self, action: ScheduleAction) -> dict[str, Any]:
        """A start-workflow action as the store's JSON (arguments and memo encoded)."""
        if not isinstance(action, ScheduleActionStartWorkflow):
            raise TypeError("only ScheduleActionStartWorkflow actions are supported")
        search_attributes = self.search_attributes(action.typed_search_attributes, action.untyped_search_attributes)
        return {
            "workflow_type": action.workflow,
            "workflow_id": action.id,
            "task_queue": action.task_queue,
            "input": {"payloads": [self._encode_one(a) for a in action.args]},
            "execution_timeout": _secs(action.execution_timeout),
            "run_timeout": _secs(action.run_timeout),
            "task_timeout": _secs(action.task_timeout),
            "retry_policy": action.retry_policy.to_json() if action.retry_policy is not None else None,
            "memo": {k: self._encode_one(v) for k, v in action.memo.items()} if action.memo else None,
            "search_attributes": search_attributes or None,
            "header": {k: self._encode_one(v) for k, v in (action.headers or {}).items()},
        }

    def search_attributes(self, typed: Any, untyped: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Search attributes as stored (``{name: payload}``), checked against the registered ones.

        Raises:
            RPCError: INVALID_ARGUMENT for an attribute the namespace does not define (Temporal's message).
        """
        from temporalflow.conf import settings

        encoded: dict[str, Any] = {}
        if untyped:
            encoded.update(sa.encode_search_attributes(dict(untyped)))
        if typed:
            encoded.update(sa.encode_search_attributes(typed))
        if not encoded:
            return {}
        try:
            return sa.validate(encoded, sa.parse_registry(settings.SEARCH_ATTRIBUTES, self.ops.namespace))
        except sa.SearchAttributeError as err:
            raise RPCError(str(err), RPCStatusCode.INVALID_ARGUMENT) from None

    @staticmethod
    def action_from_json(d: dict[str, Any]) -> ScheduleActionStartWorkflow:
        """The store's JSON as an action; arguments and memo stay ``Payload`` objects (as temporalio's)."""
        memo = d.get("memo")
        stored = d.get("search_attributes") or {}
        typed = sa.decode_typed(stored)
        typed_names = {pair.key.name for pair in typed}
        return ScheduleActionStartWorkflow(
            d["workflow_type"],
            args=payloads_from_json(d.get("input")),
            id=d["workflow_id"],
            task_queue=d["task_queue"],
            execution_timeout=timedelta(seconds=d["execution_timeout"]) if d.get("execution_timeout") else None,
            run_timeout=timedelta(seconds=d["run_timeout"]) if d.get("run_timeout") else None,
            task_timeout=timedelta(seconds=d["task_timeout"]) if d.get("task_timeout") else None,
            retry_policy=RetryPolicy.from_json(d["retry_policy"]) if d.get("retry_policy") else None,
            memo={k: payloads_from_json({"payloads": [v]})[0] for k, v in memo.items()} if memo else None,
            typed_search_attributes=typed,
            untyped_search_attributes={k: v for k, v in sa.decode_untyped(stored).items() if k not in typed_names},
            headers={k: payloads_from_json({"payloads": [v]})[0] for k, v in (d.get("header") or {}).items()}
            or None,
        )

    def _fields(self, schedule: Schedule) -> dict[str, Any]:
        if not isinstance(schedule, Schedule):
            raise TypeError("schedule must be a Schedule")
        state, policy = schedule.state, schedule.policy
        if state.limited_actions and not state.remaining_actions:
            raise ValueError("Must set limited actions to false if there are no remaining actions set")
        if not state.limited_actions and state.remaining_actions:
            raise ValueError("Must set limited actions to true if there are remaining actions set")
        catchup = policy.catchup_window.total_seconds()
        if catchup < 10:
            raise RPCError("catchup_window must be at least 10 seconds", RPCStatusCode.INVALID_ARGUMENT)
        return {
            "spec": spec_to_json(schedule.spec),
            "action": self.action_json(schedule.action),
            "overlap": int(policy.overlap),
            "catchup_window": catchup,
            "pause_on_failure": bool(policy.pause_on_failure),
            "note": state.note or "",
            "paused": bool(state.paused),
            "limited_actions": bool(state.limited_actions),
            "remaining_actions": int(state.remaining_actions),
        }

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a store method, turning its schedule errors into temporalio's."""
        try:
            return fn(*args, **kwargs)
        except st.ScheduleNotFound as err:
            raise RPCError(str(err), RPCStatusCode.NOT_FOUND) from None
        except st.ScheduleAlreadyExists:
            raise ScheduleAlreadyRunningError() from None
        except st.ScheduleSpecInvalid as err:
            raise RPCError(f"invalid schedule spec: {err}", RPCStatusCode.INVALID_ARGUMENT) from None
        except st.ScheduleTokenMismatch as err:
            raise RPCError(str(err), RPCStatusCode.FAILED_PRECONDITION) from None

    def create(self, id: str, schedule: Schedule, trigger_immediately: bool, backfill: Sequence[ScheduleBackfill],
               memo: Mapping[str, Any] | None, search_attributes: Any) -> None:
        """Create a schedule (see :meth:`Client.create_schedule`)."""
        if not id:
            raise ValueError("a schedule id is required")
        fields = self._fields(schedule)
        self.call(
            self.store.create_schedule, self.ops.namespace, id, **fields,
            memo={k: self._encode_one(v) for k, v in memo.items()} if memo else None,
            search_attributes=self.search_attributes(search_attributes) or None,
            trigger_immediately=bool(trigger_immediately), backfills=_backfills(backfill),
        )

    def describe(self, id: str) -> ScheduleDescription:
        """Describe a schedule."""
        record: st.ScheduleRecord = self.call(self.store.describe_schedule, self.ops.namespace, id)
        return self.description(record)

    def description(self, r: st.ScheduleRecord) -> ScheduleDescription:
        """A store record as temporalio's ``ScheduleDescription``."""
        schedule = Schedule(
            action=self.action_from_json(r.action),
            spec=spec_from_json(r.spec),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy(r.overlap),
                                  catchup_window=timedelta(seconds=r.catchup_window),
                                  pause_on_failure=r.pause_on_failure),
            state=ScheduleState(note=r.note or None, paused=r.paused, limited_actions=r.limited_actions,
                                remaining_actions=r.remaining_actions),
        )
        info = ScheduleInfo(
            num_actions=r.num_actions,
            num_actions_missed_catchup_window=r.num_actions_missed_catchup_window,
            num_actions_skipped_overlap=r.num_actions_skipped_overlap,
            running_actions=[ScheduleActionExecutionStartWorkflow(x["workflow_id"], x["run_id"]) for x in r.running],
            recent_actions=_recent(r.recent),
            next_action_times=[_dt(t) for t in r.next_action_times],  # type: ignore[misc]
            created_at=_dt(r.created_at),  # type: ignore[arg-type]
            last_updated_at=_dt(r.updated_at),
        )
        return ScheduleDescription(id=r.schedule_id, schedule=schedule, info=info,
                                   typed_search_attributes=sa.decode_typed(r.search_attributes),
                                   search_attributes=sa.decode_untyped(r.search_attributes),
                                   data_converter=self.ops.data_converter, raw_description=r)

    def list_page(self, page_size: int, after: str) -> list[ScheduleListDescription]:
        """One page of schedules after the id ``after``."""
        records: list[st.ScheduleRecord] = self.call(self.store.list_schedules, self.ops.namespace, page_size, after)
        return [
            ScheduleListDescription(
                id=r.schedule_id,
                schedule=ScheduleListSchedule(action=ScheduleListActionStartWorkflow(r.action["workflow_type"]),
                                              spec=spec_from_json(r.spec),
                                              state=ScheduleListState(note=r.note or None, paused=r.paused)),
                info=ScheduleListInfo(recent_actions=_recent(r.recent),
                                      next_action_times=[_dt(t) for t in r.next_action_times]),  # type: ignore[misc]
                typed_search_attributes=sa.decode_typed(r.search_attributes),
                search_attributes=sa.decode_untyped(r.search_attributes),
                data_converter=self.ops.data_converter, raw_entry=r,
            )
            for r in records
        ]

    def patch(self, id: str, **kwargs: Any) -> None:
        """Pause/unpause/trigger/backfill."""
        self.call(self.store.patch_schedule, self.ops.namespace, id, **kwargs)

    def delete(self, id: str) -> None:
        """Delete the schedule."""
        self.call(self.store.delete_schedule, self.ops.namespace, id)

    def apply_update(self, id: str, description: ScheduleDescription, update: ScheduleUpdate | None) -> None:
        """Write what an updater returned (nothing for None), fenced by the description's conflict token."""
        if update is None:
            return
        if not isinstance(update, ScheduleUpdate):
            raise TypeError("the updater must return a ScheduleUpdate or None")
        record: st.ScheduleRecord = description.raw_description
        self.call(
            self.store.update_schedule, self.ops.namespace, id, record.conflict_token, **self._fields(update.schedule),
            search_attributes=(self.search_attributes(update.search_attributes)
                               if update.search_attributes is not None else None),
        )


def _backfills(backfill: Sequence[ScheduleBackfill]) -> list[tuple[float, float, int]]:
    out = []
    for b in backfill:
        if not isinstance(b, ScheduleBackfill):
            raise TypeError("backfills must be ScheduleBackfill values")
        start, end = _ts(b.start_at), _ts(b.end_at)
        assert start is not None and end is not None
        if end < start:
            raise ValueError("a backfill's end_at must not be before its start_at")
        out.append((start, end, int(b.overlap or 0)))
    return out


def _recent(recent: list[dict[str, Any]]) -> list[ScheduleActionResult]:
    return [ScheduleActionResult(scheduled_at=_dt(x["scheduled_at"]),  # type: ignore[arg-type]
                                 started_at=_dt(x["started_at"]),  # type: ignore[arg-type]
                                 action=ScheduleActionExecutionStartWorkflow(x["workflow_id"], x["run_id"]))
            for x in recent]


# --------------------------------------------------------------------------- handles


class ScheduleHandle:
    """Handle for interacting with a schedule (``Client.get_schedule_handle`` / ``create_schedule``).

    Attributes:
        id: ID of the schedule.
    """

    def __init__(self, client: Client, id: str) -> None:
        self._client = client
        self.id = id

    @property
    def _sops(self) -> ScheduleOps:
        return ScheduleOps(self._client._ops)

    async def backfill(self, *backfill: ScheduleBackfill, **_ignored: Any) -> None:
        """Take the actions of the given time periods as if they passed right now."""
        if not backfill:
            raise ValueError("At least one backfill required")
        await self._client._run(self._sops.patch, self.id, backfills=_backfills(backfill))

    async def delete(self, **_ignored: Any) -> None:
        """Delete this schedule (the workflows it started go on)."""
        await self._client._run(self._sops.delete, self.id)

    async def describe(self, **_ignored: Any) -> ScheduleDescription:
        """Fetch this schedule's description."""
        return await self._client._run(self._sops.describe, self.id)

    async def pause(self, *, note: str | None = None, **_ignored: Any) -> None:
        """Pause the schedule and set a note."""
        await self._client._run(self._sops.patch, self.id, pause=note or "Paused via Python SDK")

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None, **_ignored: Any) -> None:
        """Trigger an action on this schedule to happen immediately."""
        await self._client._run(self._sops.patch, self.id, trigger=True, trigger_overlap=int(overlap or 0))

    async def unpause(self, *, note: str | None = None, **_ignored: Any) -> None:
        """Unpause the schedule and set a note."""
        await self._client._run(self._sops.patch, self.id, unpause=note or "Unpaused via Python SDK")

    async def update(
        self,
        updater: Callable[[ScheduleUpdateInput], ScheduleUpdate | None | Awaitable[ScheduleUpdate | None]],
        **_ignored: Any,
    ) -> None:
        """Update the schedule with what ``updater`` builds from its current description.

        Returning None leaves the schedule as it is. If the schedule changed between the
        description and the write, ``RPCError`` (FAILED_PRECONDITION) is raised.
        """
        description = await self.describe()
        update = updater(ScheduleUpdateInput(description=description))
        if inspect.isawaitable(update):
            update = await update
        await self._client._run(self._sops.apply_update, self.id, description, update)


class ScheduleAsyncIterator:
    """Asynchronous iterator over :class:`ScheduleListDescription` values (``Client.list_schedules``)."""

    def __init__(self, client: Client, page_size: int, query: str | None) -> None:
        if query:
            raise RPCError("list_schedules does not support a query filter yet (pass query=None)",
                           RPCStatusCode.INVALID_ARGUMENT)
        self._client = client
        self._page_size = max(1, int(page_size))
        self._page: list[ScheduleListDescription] | None = None
        self._index = 0
        self._after = ""
        self._done = False

    @property
    def current_page(self) -> Sequence[ScheduleListDescription] | None:
        """The current page, if it has been fetched yet."""
        return self._page

    @property
    def current_page_index(self) -> int:
        """Index of the entry in the current page that the next ``__anext__`` returns."""
        return self._index

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        """Fetch the next page if any."""
        size = page_size or self._page_size
        self._page = await self._client._run(ScheduleOps(self._client._ops).list_page, size, self._after)
        self._index = 0
        self._done = len(self._page) < size
        if self._page:
            self._after = self._page[-1].id

    def __aiter__(self) -> ScheduleAsyncIterator:
        """Return self as the iterator."""
        return self

    async def __anext__(self) -> ScheduleListDescription:
        """The next schedule, fetching the next page when needed."""
        while True:
            if self._page is None:
                await self.fetch_next_page()
                continue
            if self._index >= len(self._page):
                if not self._done:
                    await self.fetch_next_page()
                    continue
                raise StopAsyncIteration
            value = self._page[self._index]
            self._index += 1
            return value


class ScheduleClientMixin:
    """``Client``'s schedule methods (temporalio's signatures)."""

    _ops: Ops

    async def create_schedule(
        self,
        id: str,
        schedule: Schedule,
        *,
        trigger_immediately: bool = False,
        backfill: Sequence[ScheduleBackfill] = (),
        memo: Mapping[str, Any] | None = None,
        search_attributes: Any = None,
        **_ignored: Any,
    ) -> ScheduleHandle:
        """Create a schedule and return its handle (``ScheduleAlreadyRunningError`` if the id exists)."""
        await self._run(ScheduleOps(self._ops).create, id, schedule, trigger_immediately, backfill,  # type: ignore[attr-defined]
                        memo, search_attributes)
        return ScheduleHandle(self, id)  # type: ignore[arg-type]

    def get_schedule_handle(self, id: str) -> ScheduleHandle:
        """A handle for the schedule with this id."""
        return ScheduleHandle(self, id)  # type: ignore[arg-type]

    async def list_schedules(
        self, query: str | None = None, *, page_size: int = 1000, **_ignored: Any
    ) -> ScheduleAsyncIterator:
        """List schedules: ``async for s in await client.list_schedules(): ...``."""
        return ScheduleAsyncIterator(self, page_size, query)  # type: ignore[arg-type]


class SyncScheduleHandle:
    """Synchronous twin of :class:`ScheduleHandle` (writes join the caller's transaction)."""

    def __init__(self, client: SyncClient, id: str) -> None:
        self._sops = ScheduleOps(client._ops)
        self.id = id

    def backfill(self, *backfill: ScheduleBackfill, **_ignored: Any) -> None:
        """Take the actions of the given time periods as if they passed right now."""
        if not backfill:
            raise ValueError("At least one backfill required")
        self._sops.patch(self.id, backfills=_backfills(backfill))

    def delete(self, **_ignored: Any) -> None:
        """Delete this schedule."""
        self._sops.delete(self.id)

    def describe(self, **_ignored: Any) -> ScheduleDescription:
        """This schedule's description."""
        return self._sops.describe(self.id)

    def pause(self, *, note: str | None = None, **_ignored: Any) -> None:
        """Pause the schedule and set a note."""
        self._sops.patch(self.id, pause=note or "Paused via Python SDK")

    def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None, **_ignored: Any) -> None:
        """Trigger an action now."""
        self._sops.patch(self.id, trigger=True, trigger_overlap=int(overlap or 0))

    def unpause(self, *, note: str | None = None, **_ignored: Any) -> None:
        """Unpause the schedule and set a note."""
        self._sops.patch(self.id, unpause=note or "Unpaused via Python SDK")

    def update(self, updater: Callable[[ScheduleUpdateInput], ScheduleUpdate | None], **_ignored: Any) -> None:
        """Update the schedule with what ``updater`` (a plain function here) builds from its description."""
        description = self.describe()
        update = updater(ScheduleUpdateInput(description=description))
        if inspect.isawaitable(update):
            raise TypeError("SyncScheduleHandle.update needs a synchronous updater")
        self._sops.apply_update(self.id, description, update)


class SyncScheduleClientMixin:
    """``SyncClient``'s schedule methods."""

    _ops: Ops

    def create_schedule(self, id: str, schedule: Schedule, *, trigger_immediately: bool = False,
                        backfill: Sequence[ScheduleBackfill] = (), memo: Mapping[str, Any] | None = None,
                        search_attributes: Any = None, **_ignored: Any) -> SyncScheduleHandle:
        """Create a schedule (joins the caller's transaction) and return its handle."""
        ScheduleOps(self._ops).create(id, schedule, trigger_immediately, backfill, memo, search_attributes)
        return SyncScheduleHandle(self, id)  # type: ignore[arg-type]

    def get_schedule_handle(self, id: str) -> SyncScheduleHandle:
        """A handle for the schedule with this id."""
        return SyncScheduleHandle(self, id)  # type: ignore[arg-type]

    def list_schedules(self, query: str | None = None, *, page_size: int = 1000,
                       **_ignored: Any) -> Iterator[ScheduleListDescription]:
        """Iterate over the schedules (page by page)."""
        if query:
            raise RPCError("list_schedules does not support a query filter yet (pass query=None)",
                           RPCStatusCode.INVALID_ARGUMENT)
        sops = ScheduleOps(self._ops)
        size = max(1, int(page_size))

        def pages() -> Iterator[ScheduleListDescription]:
            after = ""
            while True:
                page = sops.list_page(size, after)
                yield from page
                if len(page) < size:
                    return
                after = page[-1].id

        return pages()
