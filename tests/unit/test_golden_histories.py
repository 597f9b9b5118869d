"""Golden histories recorded from real runs replay against today's code (as Temporal's
features harness does). A failure here means a deploy would break running workflows."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from project.demo.workflows import FlakyWorkflow, GreetingWorkflow, OrderWorkflow
from temporalflow import workflow
from temporalflow.client import WorkflowHistory
from temporalflow.worker import Replayer

HISTORIES = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(data["workflow_id"], data)


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_golden_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[GreetingWorkflow, OrderWorkflow, FlakyWorkflow])
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None


def test_there_are_golden_histories() -> None:
    assert len(HISTORIES) >= 3


@workflow.defn(name="GreetingWorkflow")
class GreetingChanged:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(seconds=1))  # an inserted timer: incompatible
        return await workflow.execute_activity("compose_greeting", name, start_to_close_timeout=timedelta(seconds=10))


async def test_incompatible_change_is_reported_with_event_and_command() -> None:
    path = next(p for p in HISTORIES if "greeting" in p.stem)
    result = await Replayer(workflows=[GreetingChanged]).replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    message = str(result.replay_failure)
    assert "TMPRL1100" in message and "ActivityTaskScheduled" in message and "StartTimer" in message
