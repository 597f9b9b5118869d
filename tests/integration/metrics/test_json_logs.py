"""Structured logs: workflow.logger and activity.logger lines rendered by JSONFormatter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.common import RetryPolicy
from temporalflow.logging import JSONFormatter
from temporalflow.testing import WorkflowEnvironment
from tests.integration.engine.conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JSONFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines() -> Iterator[list[str]]:
    handler = _Lines()
    loggers = [logging.getLogger(n) for n in ("temporalflow.workflow", "temporalflow.activity", "temporalflow.worker")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield handler.lines
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


@activity.defn
async def log_in_activity(who: str) -> str:
    activity.logger.info("activity says hi to %s", who)
    return who


@activity.defn
async def failing_activity() -> None:
    raise RuntimeError("nope")


@workflow.defn
class LoggingWorkflow:
    @workflow.run
    async def run(self, who: str) -> str:
        workflow.logger.info("workflow greets %s", who, extra={"custom": 7})
        await workflow.execute_activity(log_in_activity, who, start_to_close_timeout=timedelta(seconds=10),
                                        activity_id="greet")
        try:
            await workflow.execute_activity(failing_activity, start_to_close_timeout=timedelta(seconds=10),
                                            activity_id="fail",
                                            retry_policy=RetryPolicy(
                                                maximum_attempts=1))
        except Exception:
            pass
        return who


async def test_workflow_and_activity_lines_carry_ids(env: WorkflowEnvironment, json_lines: list[str]) -> None:
    client = env.client
    async with running_worker(client, [LoggingWorkflow], [log_in_activity, failing_activity]) as w:
        handle = await client.start_workflow(LoggingWorkflow.run, "ann", id=wf_id(), task_queue=w.task_queue)
        assert await handle.result() == "ann"
    records = [json.loads(line) for line in json_lines]  # every line is one JSON object

    (wf_line,) = [r for r in records if r["logger"] == "temporalflow.workflow"]
    assert wf_line["message"].startswith("workflow greets ann")
    assert wf_line["level"] == "INFO"
    assert wf_line["workflow_id"] == handle.id
    assert wf_line["run_id"] == handle.result_run_id
    assert wf_line["workflow_type"] == "LoggingWorkflow"
    assert wf_line["custom"] == 7
    assert wf_line["temporal_workflow"]["workflow_id"] == handle.id  # temporalio's dict stays

    (act_line,) = [r for r in records if r["logger"] == "temporalflow.activity"]
    assert act_line["message"].startswith("activity says hi to ann")
    assert act_line["workflow_id"] == handle.id
    assert act_line["run_id"] == handle.result_run_id
    assert act_line["activity_id"] == "greet"
    assert act_line["activity_type"] == "log_in_activity"
    assert act_line["temporal_activity"]["activity_id"] == "greet"

    # The worker's own warning about the failed attempt carries the same context.
    (failed,) = [r for r in records if r["logger"] == "temporalflow.worker" and r["level"] == "WARNING"]
    assert failed["message"].startswith("Completing activity as failed")
    assert (failed["workflow_id"], failed["run_id"], failed["activity_id"], failed["activity_type"]) == (
        handle.id, handle.result_run_id, "fail", "failing_activity")
    assert "RuntimeError: nope" in failed["exception"]


def test_formatter_handles_plain_and_odd_records() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "value %s", (object,), None)
    record.when = object()  # not JSON-encodable: written with str()
    out = json.loads(JSONFormatter(fields=("process",)).format(record))
    assert out["message"] == "value <class 'object'>"
    assert out["level"] == "ERROR" and out["logger"] == "x" and isinstance(out["process"], int)
    assert out["when"].startswith("<object object")
    assert "args" not in out and "msg" not in out
