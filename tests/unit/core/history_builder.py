"""A pure stand-in for the store's history appends, for driving core in unit tests."""

from __future__ import annotations

import uuid
from typing import Any

from temporalflow.core import activation as jobs
from temporalflow.core.commands import Command, RejectUpdate, command_event
from temporalflow.core.converter import default_converter
from temporalflow.core.definitions import WorkflowDefinition
from temporalflow.core.events import EventType as ET
from temporalflow.core.events import HistoryEvent
from temporalflow.core.instance import WorkflowInstance
from temporalflow.core.machines import RunDriver
from temporalflow.core.payload import payloads_to_json

CONVERTER = default_converter()


def encode(*values: Any) -> dict:
    return payloads_to_json(CONVERTER.payload_converter.to_payloads(list(values)))


def decode(payloads: dict, hint: Any = None) -> Any:
    from temporalflow.core.payload import payloads_from_json

    return CONVERTER.payload_converter.from_payloads(payloads_from_json(payloads), [hint] if hint else None)[0]


class HistoryBuilder:
    """Appends events the way the store does, one workflow task at a time."""

    def __init__(self, workflow_type: str, *args: Any, start_time: float = 1_700_000_000.0) -> None:
        self.events: list[HistoryEvent] = []
        self.time = start_time
        self.run_id = str(uuid.uuid4())
        self.workflow_id = "wf-1"
        self.add(
            ET.WORKFLOW_EXECUTION_STARTED,
            workflow_type={"name": workflow_type},
            task_queue={"name": "q"},
            input=encode(*args),
            workflow_task_timeout=10.0,
            original_execution_run_id=self.run_id,
            first_execution_run_id=self.run_id,
            attempt=1,
        )
        self.wft_open = False
        self.schedule_wft()

    def add(self, event_type: ET, **attrs: Any) -> int:
        ev = HistoryEvent(len(self.events) + 1, event_type, self.time, attrs)
        self.events.append(ev)
        return ev.event_id

    def schedule_wft(self) -> None:
        if not self.wft_open:
            self.wft_scheduled = self.add(ET.WORKFLOW_TASK_SCHEDULED, task_queue={"name": "q"})
            self.wft_open = True

    def start_wft(self) -> int:
        assert self.wft_open
        return self.add(ET.WORKFLOW_TASK_STARTED, scheduled_event_id=self.wft_scheduled)

    def complete_wft(self, started_id: int, commands: list[Command]) -> None:
        completed = self.add(
            ET.WORKFLOW_TASK_COMPLETED, scheduled_event_id=self.wft_scheduled, started_event_id=started_id
        )
        self.wft_open = False
        for cmd in commands:
            ev = command_event(cmd, completed)
            if ev is not None:
                self.add(ev[0], **ev[1])

    def fail_wft(self, started_id: int, failure: dict) -> None:
        self.add(
            ET.WORKFLOW_TASK_FAILED,
            scheduled_event_id=self.wft_scheduled,
            started_event_id=started_id,
            failure=failure,
            cause="WorkflowWorkerUnhandledFailure",
        )
        self.wft_open = False
        self.schedule_wft()

    def new_event(self, event_type: ET, **attrs: Any) -> int:
        event_id = self.add(event_type, **attrs)
        self.schedule_wft()
        return event_id

    def scheduled_activities(self) -> list[HistoryEvent]:
        return [e for e in self.events if e.event_type is ET.ACTIVITY_TASK_SCHEDULED]

    def complete_activity(self, scheduled_event_id: int, result: Any) -> None:
        started = self.add(ET.ACTIVITY_TASK_STARTED, scheduled_event_id=scheduled_event_id, attempt=1)
        self.new_event(
            ET.ACTIVITY_TASK_COMPLETED,
            scheduled_event_id=scheduled_event_id,
            started_event_id=started,
            result=encode(result),
        )

    def fail_activity(
        self, scheduled_event_id: int, failure: dict, retry_state: str = "RETRY_STATE_NON_RETRYABLE_FAILURE"
    ) -> None:
        started = self.add(ET.ACTIVITY_TASK_STARTED, scheduled_event_id=scheduled_event_id, attempt=1)
        self.new_event(
            ET.ACTIVITY_TASK_FAILED,
            scheduled_event_id=scheduled_event_id,
            started_event_id=started,
            failure=failure,
            retry_state=retry_state,
        )

    def fire_timer(self, timer_id: str) -> None:
        started = next(
            e.event_id for e in self.events if e.event_type is ET.TIMER_STARTED and e.attributes["timer_id"] == timer_id
        )
        self.new_event(ET.TIMER_FIRED, timer_id=timer_id, started_event_id=started)

    def signal(self, name: str, *args: Any) -> None:
        self.new_event(ET.WORKFLOW_EXECUTION_SIGNALED, signal_name=name, input=encode(*args))

    def closed(self) -> HistoryEvent | None:
        last = self.events[-1]
        return (
            last
            if last.event_type.name.startswith("WORKFLOW_EXECUTION_")
            and last.event_type
            in {
                ET.WORKFLOW_EXECUTION_COMPLETED,
                ET.WORKFLOW_EXECUTION_FAILED,
                ET.WORKFLOW_EXECUTION_CANCELED,
                ET.WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
            }
            else None
        )


def new_driver(*classes: type) -> RunDriver:
    defs = {WorkflowDefinition.must_from_class(c).name: WorkflowDefinition.must_from_class(c) for c in classes}

    def factory(ev: HistoryEvent) -> WorkflowInstance:
        name = ev.attributes["workflow_type"]["name"]
        if name not in defs:
            raise KeyError(f"workflow type {name!r} is not registered")
        return WorkflowInstance(
            defs[name],
            namespace="default",
            workflow_id="wf-1",
            run_id=ev.attributes["original_execution_run_id"],
            payload_converter=CONVERTER.payload_converter,
            failure_converter=CONVERTER.failure_converter,
        )

    return RunDriver(factory)


def run_task(driver: RunDriver, h: HistoryBuilder, updates: list[jobs.DoUpdate] = ()) -> jobs.Completion:
    """Start the scheduled workflow task, give it to the driver, append its completion."""
    started = h.start_wft()
    completion = driver.process(h.events, current_started_event_id=started, pending_updates=updates)
    assert completion is not None
    if completion.failure is not None:
        h.fail_wft(started, completion.failure)
    else:
        h.complete_wft(started, completion.commands)
        driver.mark_unmatched(completion)
    return completion


def replay(h: HistoryBuilder, *classes: type) -> RunDriver:
    driver = new_driver(*classes)
    driver.process(h.events)
    return driver


__all__ = ["HistoryBuilder", "RejectUpdate", "decode", "encode", "new_driver", "replay", "run_task"]
