"""``Replayer``: replay histories against current workflow code, with no database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalflow.core.converter import DataConverter
from temporalflow.core.events import HistoryEvent
from temporalflow.core.instance import WorkflowInstance
from temporalflow.core.machines import RunDriver
from temporalflow.core.payload_visitor import decode_events
from temporalflow.worker._workflow import WorkflowRegistry


@dataclass
class WorkflowReplayResult:
    """One history's replay: ``replay_failure`` is None when it replayed cleanly."""

    history: Any
    replay_failure: Exception | None


@dataclass
class WorkflowReplayResults:
    """Results of replaying several histories."""

    replay_failures: dict[str, Exception] = field(default_factory=dict)


class Replayer:
    """Replays histories (``WorkflowHistory`` objects) against the given workflow classes."""

    def __init__(self, *, workflows: Sequence[type], namespace: str = "default",
                 data_converter: DataConverter | None = None,
                 workflow_failure_exception_types: Sequence[type[BaseException]] = (), **_ignored: Any) -> None:
        self._registry = WorkflowRegistry(workflows)
        self._namespace = namespace
        self._converter = data_converter or DataConverter.default
        self._failure_types = tuple(workflow_failure_exception_types)

    async def _replay(self, history: Any) -> None:
        events: Sequence[HistoryEvent] = history.events
        if self._converter.payload_codec is not None:
            # Histories hold payloads as the codec left them; workflow code sees them decoded.
            events = await decode_events(events, self._converter.payload_codec.decode)
        run_id = history.run_id or (events[0].attributes.get("original_execution_run_id") if events else "") or "replay"

        def factory(ev: HistoryEvent) -> WorkflowInstance:
            defn = self._registry.get((ev.attributes.get("workflow_type") or {}).get("name", ""))
            return WorkflowInstance(defn, namespace=self._namespace, workflow_id=history.workflow_id, run_id=run_id,
                                    payload_converter=self._converter.payload_converter,
                                    failure_converter=self._converter.failure_converter,
                                    failure_exception_types=self._failure_types)

        RunDriver(factory).process(events)

    async def replay_workflow(self, history: Any, *, raise_on_replay_failure: bool = True) -> WorkflowReplayResult:
        """Replay one history; raises its NondeterminismError unless told not to."""
        try:
            await self._replay(history)
        except Exception as err:
            if raise_on_replay_failure:
                raise
            return WorkflowReplayResult(history=history, replay_failure=err)
        return WorkflowReplayResult(history=history, replay_failure=None)

    async def replay_workflows(self, histories: Iterable[Any], *,
                               raise_on_replay_failure: bool = True) -> WorkflowReplayResults:
        """Replay several histories."""
        results = WorkflowReplayResults()
        for history in histories:
            try:
                await self._replay(history)
            except Exception as err:
                if raise_on_replay_failure:
                    raise
                results.replay_failures[history.run_id or history.workflow_id] = err
        return results
