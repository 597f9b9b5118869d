"""Value types the client returns, with ``temporalio.client``'s names and fields."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalflow.common import SearchAttributeValue, TypedSearchAttributes
from temporalflow.core.events import HistoryEvent
from temporalflow.core.payload import Payload


class WorkflowExecutionStatus(enum.IntEnum):
    """How a run stands (Temporal's WorkflowExecutionStatus)."""

    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    CONTINUED_AS_NEW = 6
    TIMED_OUT = 7


class WorkflowUpdateStage(enum.IntEnum):
    """How far to wait when starting an update."""

    ADMITTED = 1
    ACCEPTED = 2
    COMPLETED = 3


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


@dataclass
class WorkflowExecution:
    """A run as listed or described (``temporalio.client.WorkflowExecution``)."""

    id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowExecutionStatus
    start_time: datetime
    close_time: datetime | None
    execution_time: datetime | None
    history_length: int
    parent_id: str | None
    parent_run_id: str | None
    search_attributes: Mapping[str, Any]
    """Deprecated untyped form (name → list of values); prefer :py:attr:`typed_search_attributes`."""
    namespace: str = "default"
    typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty
    """The run's search attributes, typed."""
    raw_info: Any = None
    data_converter: Any = field(default=None, repr=False)
    _raw_memo: Mapping[str, Any] = field(default_factory=dict, repr=False)

    async def memo(self) -> Mapping[str, Any]:
        """The memo, decoded (payload codec, then payload converter, as temporalio)."""
        converter = self.data_converter
        if converter.payload_codec is None:
            return self.memo_sync()
        return {k: (await converter.decode([Payload.from_json(v)]))[0] for k, v in self._raw_memo.items()}

    def memo_sync(self) -> Mapping[str, Any]:
        """The memo, decoded (synchronously; not on a thread running an event loop when a codec is set)."""
        from temporalflow.client._codec import run_codec

        converter = self.data_converter
        if converter.payload_codec is not None:
            return {k: run_codec(converter.decode([Payload.from_json(v)]))[0] for k, v in self._raw_memo.items()}
        pc = converter.payload_converter
        return {k: pc.from_payloads([Payload.from_json(v)])[0] for k, v in self._raw_memo.items()}

    async def memo_value(self, key: str, default: Any = None, *, type_hint: Any = None) -> Any:
        """One memo value (``default`` when absent)."""
        return (await self.memo()).get(key, default)


@dataclass(frozen=True)
class WorkflowExecutionCountAggregationGroup:
    """One group of ``count_workflows("... GROUP BY ExecutionStatus")``."""

    count: int
    group_values: Sequence[SearchAttributeValue]
    """The group's values (e.g. ``["Running"]``)."""


@dataclass(frozen=True)
class WorkflowExecutionCount:
    """``count_workflows()``'s answer (``temporalio.client.WorkflowExecutionCount``)."""

    count: int
    groups: Sequence[WorkflowExecutionCountAggregationGroup] = ()
    """With ``GROUP BY``: the count of each group."""


@dataclass
class WorkflowExecutionDescription(WorkflowExecution):
    """``handle.describe()``'s answer."""

    raw_description: Any = None


@dataclass
class WorkflowHistory:
    """A run's history (``handle.fetch_history()``)."""

    workflow_id: str
    events: Sequence[HistoryEvent]
    run_id: str = ""

    def to_json(self) -> str:
        """The history as JSON (``{"events": [...]}``); read back with :meth:`from_json`."""
        return json.dumps(self.to_json_dict())

    def to_json_dict(self) -> dict[str, Any]:
        """The history as a JSON-ready dict."""
        return {"workflow_id": self.workflow_id, "run_id": self.run_id,
                "events": [e.to_json() for e in self.events]}

    @staticmethod
    def from_json(workflow_id: str, history: str | dict[str, Any]) -> WorkflowHistory:
        """Parse a history exported with :meth:`to_json`."""
        obj = json.loads(history) if isinstance(history, str) else history
        return WorkflowHistory(workflow_id=workflow_id, run_id=obj.get("run_id", ""),
                               events=[HistoryEvent.from_json(e) for e in obj.get("events", [])])
