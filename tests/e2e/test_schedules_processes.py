"""Schedules with several ``runworker`` processes: every tick starts exactly one run, on time."""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from temporalflow.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    SyncClient,
    WorkflowExecutionStatus,
)
from temporalflow.models import TaskQueuePoller, WorkflowRun
from tests.e2e.test_processes import Workers, check_history_invariants, workers  # noqa: F401 - the fixture
from tests.helpers import assert_eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_schedule_every_second_for_ten_seconds_with_three_workers(workers: Workers) -> None:  # noqa: F811
    client = SyncClient.connect()
    for _ in range(3):
        workers.spawn()
    # All three polling (their timer loops run beside their pollers) before the first tick.
    assert_eventually(
        lambda: TaskQueuePoller.objects.filter(task_queue=workers.task_queue).values("identity").distinct().count()
        >= 3, timeout=60)
    action_id = f"every-second-{uuid.uuid4().hex[:6]}"
    start = math.floor(time.time()) + 2
    handle = client.create_schedule(
        f"sched-{action_id}",
        Schedule(
            action=ScheduleActionStartWorkflow("RecordWorkflow", 1, id=action_id, task_queue=workers.task_queue),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))],
                start_at=datetime.fromtimestamp(start, tz=UTC),
                end_at=datetime.fromtimestamp(start + 9.5, tz=UTC),  # ten seconds of ticks: start .. start + 9
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        ),
    )

    def runs() -> list[WorkflowRun]:
        return list(WorkflowRun.objects.filter(workflow_id__startswith=f"{action_id}-").order_by("start_ts"))

    def all_done() -> list[WorkflowRun] | None:
        found = runs()
        if time.time() < start + 10 or any(r.status == WorkflowExecutionStatus.RUNNING for r in found):
            return None
        return found

    done = assert_eventually(all_done, timeout=60)
    ids = [r.workflow_id for r in done]
    assert 9 <= len(ids) <= 11, ids
    assert len(set(ids)) == len(ids), "no tick started twice"
    assert {r.status for r in done} == {WorkflowExecutionStatus.COMPLETED}
    # Each run is named after its tick, and started within a second of it (not a poll interval late).
    ticks = [datetime.strptime(i[len(action_id) + 1:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
             for i in ids]
    assert ticks == [float(start + k) for k in range(len(ticks))]
    late = [r.start_ts - t for r, t in zip(done, ticks, strict=True)]
    assert all(-0.05 <= d < 1.0 for d in late), late
    # Each run's one activity ran once.
    per_run = Counter(r[1] for r in workers.lines("activity"))
    assert set(per_run) == set(ids) and set(per_run.values()) == {1}
    info = handle.describe().info
    assert info.num_actions == len(ids) and info.num_actions_skipped_overlap == 0
    for i in ids:
        check_history_invariants(client, i)
