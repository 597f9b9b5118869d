"""When a schedule (or a legacy ``cron_schedule``) fires: spec parsing and next-time math.

A schedule spec is stored as JSON (the shape of ``temporalio.client.ScheduleSpec`` with
times as epoch seconds and durations as seconds)::

    {"calendars": [cal, ...], "intervals": [{"every": 60.0, "offset": 0.0}],
     "cron_expressions": ["0 12 * * MON-FRI"], "skip": [cal, ...],
     "start_at": 1767225600.0 | None, "end_at": ... | None, "jitter": 5.0 | None,
     "time_zone_name": "Europe/Berlin" | None}
    cal = {"second": [[start, end, step], ...], "minute": ..., "hour": ..., "day_of_month": ...,
           "month": ..., "year": [...], "day_of_week": [...], "comment": "..." | None}

The action times are the union of the calendars, intervals and cron expressions, minus the
``skip`` calendars, within ``[start_at, end_at]``. Cron expressions and calendars are read in
``time_zone_name`` (UTC by default; a ``CRON_TZ=<zone>`` prefix sets it for one expression);
intervals count from the Unix epoch (``epoch + n * every + offset``), as Temporal's do.

Cron expressions are evaluated by ``cronsim`` (Debian cron's semantics, DST transitions
included). Accepted forms, as Temporal documents them: five fields (minute hour
day-of-month month day-of-week), six (the same plus year), seven (second first, year last),
the descriptors ``@yearly``/``@annually``/``@monthly``/``@weekly``/``@daily``/``@midnight``/
``@hourly``, and ``@every <duration>[/<offset>]`` (Go durations such as ``90s``, ``1h30m``).
A year field must be ``*``; anything else is refused with :class:`SpecError`.

This module has no Django import: the client validates specs with it before writing.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = [
    "CompiledSpec",
    "SpecError",
    "compile_spec",
    "cron_backoff",
    "iso_tick",
    "parse_go_duration",
    "seconds_of",
    "validate_cron_schedule",
]

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")

_FIELD_BOUNDS = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 6),
}

_MAX_SCAN = 100_000
"""How many candidate times one ``next_after`` may look at (skip calendars, year filters)."""


class SpecError(ValueError):
    """A schedule spec or cron string that cannot be used, with the reason."""


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (``"10s"``, ``"1h30m"``, ``"1.5h"``); ``SpecError`` if malformed."""
    s = text.strip()
    if not s:
        raise SpecError("empty duration")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _GO_PART.match(s, pos)
        if m is None:
            raise SpecError(f"invalid duration {text!r} (expected e.g. '30s', '5m', '1h30m')")
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    return total


def _zone(name: str | None) -> Any:
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecError(f"unknown time zone {name!r} (use an IANA name such as 'Europe/Berlin')") from None


@dataclass(slots=True)
class _Cron:
    expr: str  # a cronsim expression: 5 fields, or 6 with seconds first
    tz: Any

    def next_after(self, t: float) -> float | None:
        start = datetime.fromtimestamp(t, tz=self.tz)
        try:
            # CronSim returns the first matching time strictly after its start (whole seconds).
            return next(CronSim(self.expr, start)).timestamp()
        except StopIteration:
            return None


@dataclass(slots=True)
class _Interval:
    every: float
    offset: float

    def next_after(self, t: float) -> float | None:
        k = math.floor((t - self.offset) / self.every) + 1
        candidate = k * self.every + self.offset
        while candidate <= t:  # float rounding at exact multiples
            candidate += self.every
        return candidate


def _ranges(cal: dict[str, Any], name: str) -> list[tuple[int, int, int]]:
    out = []
    for r in cal.get(name) or []:
        start, end, step = (list(r) + [0, 0])[:3]
        start, end, step = int(start), int(end or 0), int(step or 0)
        end = max(end, start)
        step = step or 1
        out.append((start, end, step))
    return out


def _in_ranges(value: int, ranges: list[tuple[int, int, int]]) -> bool:
    return any(start <= value <= end and (value - start) % step == 0 for start, end, step in ranges)


@dataclass(slots=True)
class _Calendar:
    """A ``ScheduleCalendarSpec``: a time matches when every field (and the year, if given) matches."""

    fields: dict[str, list[tuple[int, int, int]]]
    years: list[tuple[int, int, int]]
    tz: Any
    cron: _Cron | None  # the calendar as a cron expression, to find candidates quickly
    dow_filter: bool  # day-of-week must be checked here (cron ORs it with day-of-month)

    def matches(self, t: float) -> bool:
        dt = datetime.fromtimestamp(t, tz=self.tz)
        values = {
            "second": dt.second, "minute": dt.minute, "hour": dt.hour, "day_of_month": dt.day,
            "month": dt.month, "day_of_week": (dt.weekday() + 1) % 7,
        }
        if not all(_in_ranges(values[name], self.fields[name]) for name in _FIELD_BOUNDS):
            return False
        return not self.years or _in_ranges(dt.year, self.years)

    def next_after(self, t: float) -> float | None:
        if self.cron is None:
            return None
        for _ in range(_MAX_SCAN):
            nxt = self.cron.next_after(t)
            if nxt is None:
                return None
            if (not self.dow_filter and not self.years) or self.matches(nxt):
                return nxt
            t = nxt
        return None


def _cron_field(ranges: list[tuple[int, int, int]], low: int, high: int) -> str | None:
    """A cron field for ``ranges`` ("*" when they cover the whole field); None when they match nothing."""
    if not ranges:
        return None
    if ranges == [(low, high, 1)]:
        return "*"
    parts = []
    for start, end, step in ranges:
        if start < low or end > high:
            raise SpecError(f"calendar range {start}-{end} is outside {low}-{high}")
        parts.append(str(start) if start == end else f"{start}-{end}" + (f"/{step}" if step != 1 else ""))
    return ",".join(parts)


def _calendar(cal: dict[str, Any], tz: Any) -> _Calendar:
    fields = {name: _ranges(cal, name) for name in _FIELD_BOUNDS}
    years = _ranges(cal, "year")
    cron_fields = [_cron_field(fields[n], *_FIELD_BOUNDS[n]) for n in _FIELD_BOUNDS]
    cron: _Cron | None = None
    dow_filter = False
    if all(f is not None for f in cron_fields):
        second, minute, hour, dom, month, dow = cron_fields
        if dom != "*" and dow != "*":
            # cron ORs two restricted day fields; a calendar ANDs them: keep dom, check dow here.
            dow, dow_filter = "*", True
        expr = f"{second} {minute} {hour} {dom} {month} {dow}"
        try:
            CronSim(expr, datetime.now(UTC))
        except CronSimError as exc:
            raise SpecError(f"invalid calendar spec: {exc}") from None
        cron = _Cron(expr, tz)
    return _Calendar(fields=fields, years=years, tz=tz, cron=cron, dow_filter=dow_filter)


def _parse_cron(text: str, default_tz: Any) -> _Cron | _Interval:
    """A Temporal cron string as a cronsim expression (or an interval for ``@every``)."""
    expr = text.strip()
    tz = default_tz
    if expr.upper().startswith(("CRON_TZ=", "TZ=")):
        head, _, expr = expr.partition(" ")
        tz = _zone(head.split("=", 1)[1])
        expr = expr.strip()
    if "#" in expr and not re.search(r"\d#\d", expr):
        expr = expr.split("#", 1)[0].strip()  # a trailing comment (not day-of-week "MON#2")
    lowered = expr.lower()
    if lowered.startswith("@every"):
        body = expr[len("@every"):].strip()
        every_text, _, offset_text = body.partition("/")
        every = parse_go_duration(every_text)
        offset = parse_go_duration(offset_text) if offset_text else 0.0
        if every <= 0:
            raise SpecError(f"invalid cron string {text!r}: @every needs a positive duration")
        return _Interval(every, offset % every)
    if lowered in _DESCRIPTORS:
        expr = _DESCRIPTORS[lowered]
    elif lowered.startswith("@"):
        raise SpecError(f"invalid cron string {text!r}: unknown descriptor {expr.split()[0]!r}")
    fields = expr.split()
    if len(fields) == 6:  # Temporal: minute hour day-of-month month day-of-week year
        fields, year = fields[:5], fields[5]
    elif len(fields) == 7:  # Temporal: second minute hour day-of-month month day-of-week year
        fields, year = fields[:6], fields[6]
    elif len(fields) == 5:
        year = "*"
    else:
        raise SpecError(
            f"invalid cron string {text!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
            "6 (plus year) or 7 (second first, year last), or a descriptor such as @daily or @every 10s"
        )
    if year != "*":
        raise SpecError(f"invalid cron string {text!r}: only '*' is supported in the year field")
    cron_expr = " ".join(fields)
    try:
        CronSim(cron_expr, datetime.now(UTC))
    except CronSimError as exc:
        raise SpecError(f"invalid cron string {text!r}: {exc}") from None
    return _Cron(cron_expr, tz)


class CompiledSpec:
    """A schedule spec ready to answer "what is the next action time after t?".

    Args:
        spec: The spec as JSON (see the module docstring).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        tz = _zone(spec.get("time_zone_name"))
        self.components: list[_Cron | _Interval | _Calendar] = []
        for iv in spec.get("intervals") or []:
            every = float(iv.get("every") or 0)
            if every <= 0:
                raise SpecError("an interval spec needs a positive 'every'")
            self.components.append(_Interval(every, float(iv.get("offset") or 0.0) % every))
        for text in spec.get("cron_expressions") or []:
            self.components.append(_parse_cron(str(text), tz))
        for cal in spec.get("calendars") or []:
            self.components.append(_calendar(cal, tz))
        self.skip = [_calendar(cal, tz) for cal in spec.get("skip") or []]
        self.start_at = spec.get("start_at")
        self.end_at = spec.get("end_at")
        jitter = spec.get("jitter")
        self.jitter = float(jitter) if jitter else 0.0
        if self.jitter < 0:
            raise SpecError("jitter must not be negative")

    def next_after(self, t: float) -> float | None:
        """The first nominal action time strictly after ``t`` (None: no more times)."""
        if self.start_at is not None and t < float(self.start_at):
            t = float(self.start_at) - 1e-6  # start_at itself may match
        for _ in range(_MAX_SCAN):
            found = [n for n in (c.next_after(t) for c in self.components) if n is not None]
            if not found:
                return None
            nxt = min(found)
            if self.end_at is not None and nxt > float(self.end_at):
                return None
            if not any(s.matches(nxt) for s in self.skip):
                return nxt
            t = nxt
        return None

    def actual_time(self, nominal: float, salt: str) -> float:
        """``nominal`` plus this spec's jitter: a value in [0, jitter) derived from ``salt`` and the time.

        The same on every worker (no randomness), and never past the next nominal time.
        """
        if not self.jitter:
            return nominal
        following = self.next_after(nominal)
        limit = self.jitter if following is None else min(self.jitter, following - nominal)
        digest = hashlib.sha256(f"{salt}:{nominal:.6f}".encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        return nominal + fraction * limit

    def times_between(self, after: float, until: float, limit: int = 100_000) -> list[float]:
        """Nominal times in ``(after, until]`` (at most ``limit``)."""
        out: list[float] = []
        t = after
        while len(out) < limit:
            nxt = self.next_after(t)
            if nxt is None or nxt > until:
                break
            out.append(nxt)
            t = nxt
        return out


def compile_spec(spec: dict[str, Any]) -> CompiledSpec:
    """Compile (and so validate) a spec; ``SpecError`` with the reason when it cannot be used."""
    compiled = CompiledSpec(spec)
    if not compiled.components:
        raise SpecError("a schedule spec needs at least one calendar, interval or cron expression")
    return compiled


def cron_backoff(cron_schedule: str, now: float, after: float | None = None) -> float:
    """Seconds from ``now`` to a legacy ``cron_schedule``'s next time (in UTC unless ``CRON_TZ=``).

    ``after``: the time the previous run was scheduled for; the next run is the first cron time
    after it that is not in the past (Temporal skips the times a long run overran).
    """
    component = _parse_cron(cron_schedule, UTC)
    # The times between the previous run's and now were overrun: the first one not before now.
    nxt = component.next_after(now if after is None else max(after, now - 1e-6))
    if nxt is None:
        raise SpecError(f"cron schedule {cron_schedule!r} has no future times")
    return max(nxt - now, 0.0)


def validate_cron_schedule(cron_schedule: str) -> None:
    """Raise ``SpecError`` when a legacy ``cron_schedule`` string cannot be used."""
    _parse_cron(cron_schedule, UTC)


def seconds_of(value: timedelta | float | int | None) -> float | None:
    """Seconds of a ``timedelta`` (numbers pass through); None stays None."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def iso_tick(ts: float) -> str:
    """A tick time as Temporal appends it to scheduled workflow ids: RFC 3339 in UTC, whole seconds."""
    return datetime.fromtimestamp(math.floor(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

