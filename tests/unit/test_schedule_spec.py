"""Schedule spec math (no database): cron forms, intervals with offsets, calendars, skip, time zones, jitter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from temporalflow.store._schedule_spec import (
    SpecError,
    compile_spec,
    cron_backoff,
    iso_tick,
    parse_go_duration,
    validate_cron_schedule,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()  # a Thursday


def times(spec: dict, n: int, after: float = T0) -> list[datetime]:
    compiled = compile_spec(spec)
    out, t = [], after
    for _ in range(n):
        t = compiled.next_after(t)
        out.append(datetime.fromtimestamp(t, tz=UTC))
    return out


def test_interval_counts_from_the_epoch_with_its_offset() -> None:
    assert times({"intervals": [{"every": 600, "offset": 180}]}, 2) == [
        datetime(2026, 1, 1, 0, 3, tzinfo=UTC), datetime(2026, 1, 1, 0, 13, tzinfo=UTC)]
    # Strictly after: a time exactly on the grid is not returned again.
    assert compile_spec({"intervals": [{"every": 10}]}).next_after(T0) == T0 + 10


def test_cron_forms() -> None:
    assert times({"cron_expressions": ["*/15 * * * *"]}, 2)[1] == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert times({"cron_expressions": ["@hourly"]}, 1) == [datetime(2026, 1, 1, 1, tzinfo=UTC)]
    assert times({"cron_expressions": ["0 0 * * * *"]}, 1) == [datetime(2026, 1, 2, tzinfo=UTC)]  # year "*"
    assert times({"cron_expressions": ["30 0 0 * * * *"]}, 1) == [datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)]
    assert times({"cron_expressions": ["@every 1h30m/10m"]}, 1) == [datetime(2026, 1, 1, 0, 10, tzinfo=UTC)]
    assert times({"cron_expressions": ["CRON_TZ=Asia/Kolkata 0 6 * * *"]}, 1) == [
        datetime(2026, 1, 1, 0, 30, tzinfo=UTC)]
    assert times({"cron_expressions": ["0 9 * * MON-FRI # weekday mornings"]}, 2)[1] == datetime(
        2026, 1, 2, 9, tzinfo=UTC)


def test_time_zone_and_daylight_saving() -> None:
    spec = {"cron_expressions": ["0 9 * * *"], "time_zone_name": "America/New_York"}
    got = times(spec, 12, after=datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    assert got[0] == datetime(2026, 3, 1, 14, tzinfo=UTC)  # EST
    assert datetime(2026, 3, 9, 13, tzinfo=UTC) in got  # EDT from 8 March


def test_calendar_and_skip() -> None:
    weekday_mornings = {"second": [[0]], "minute": [[30]], "hour": [[9]], "day_of_month": [[1, 31]],
                        "month": [[1, 12]], "day_of_week": [[1, 5]]}
    got = times({"calendars": [weekday_mornings]}, 3)
    assert [d.strftime("%a %H:%M") for d in got] == ["Thu 09:30", "Fri 09:30", "Mon 09:30"]
    # Both day fields restricted: a calendar ANDs them (cron would OR them).
    both = dict(weekday_mornings, day_of_month=[[1, 7]], day_of_week=[[1]])
    assert times({"calendars": [both]}, 1) == [datetime(2026, 1, 5, 9, 30, tzinfo=UTC)]
    skip_second = {"second": [[0]], "minute": [[0]], "hour": [[0]], "day_of_month": [[2]], "month": [[1, 12]],
                   "day_of_week": [[0, 6]]}
    got = times({"cron_expressions": ["0 0 * * *"], "skip": [skip_second]}, 2)
    assert [d.day for d in got] == [3, 4]
    years = dict(weekday_mornings, year=[[2027]])
    assert times({"calendars": [years]}, 1)[0].year == 2027


def test_start_and_end_bound_the_times() -> None:
    spec = compile_spec({"intervals": [{"every": 60}], "start_at": T0 + 120, "end_at": T0 + 240})
    assert spec.times_between(T0, T0 + 3600) == [T0 + 120, T0 + 180, T0 + 240]


def test_jitter_is_bounded_deterministic_and_capped_by_the_next_time() -> None:
    spec = compile_spec({"intervals": [{"every": 60}], "jitter": 20})
    offsets = [spec.actual_time(T0 + 60 * k, "s") - (T0 + 60 * k) for k in range(50)]
    assert all(0 <= o < 20 for o in offsets) and len(set(offsets)) > 40
    assert spec.actual_time(T0, "s") == spec.actual_time(T0, "s")  # every worker computes the same
    capped = compile_spec({"intervals": [{"every": 5}], "jitter": 60})
    assert all(0 <= capped.actual_time(T0 + 5 * k, "x") - (T0 + 5 * k) < 5 for k in range(50))


@pytest.mark.parametrize("spec, message", [
    ({"cron_expressions": ["* * *"]}, "expected 5 fields"),
    ({"cron_expressions": ["99 * * * *"]}, "Bad minute"),
    ({"cron_expressions": ["@sometimes"]}, "unknown descriptor"),
    ({"cron_expressions": ["0 0 1 1 * 2030"]}, "only '\\*' is supported in the year field"),
    ({"cron_expressions": ["@every soon"]}, "invalid duration"),
    ({"intervals": [{"every": 0}]}, "positive 'every'"),
    ({"intervals": [{"every": 1}], "time_zone_name": "Nowhere/Land"}, "unknown time zone"),
    ({"intervals": [{"every": 1}], "jitter": -1}, "jitter must not be negative"),
    ({}, "at least one calendar"),
])
def test_bad_specs_are_refused_with_the_reason(spec: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        compile_spec(spec)


def test_legacy_cron_helpers() -> None:
    assert cron_backoff("* * * * *", T0 + 10) == 50
    assert cron_backoff("@every 1s", T0 + 0.25) == pytest.approx(0.75)
    # After an overrun, the next run is at the first cron time not in the past.
    assert cron_backoff("*/5 * * * *", T0 + 660, after=T0) == 240
    validate_cron_schedule("@daily")
    with pytest.raises(SpecError):
        validate_cron_schedule("every day")
    assert parse_go_duration("1h2m3.5s") == 3723.5
    assert iso_tick(T0 + 0.9) == "2026-01-01T00:00:00Z"
