"""Data types and the source/sink interfaces of the ETL pipeline.

The pipeline copies the records of a source (say, yesterday's payment events) into a
sink (a reporting table), in batches of ``batch_size`` records addressed by offset.
Records are loaded by id, so loading a batch twice (an activity retried after a crash)
does not count anything twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

TASK_QUEUE = "etl"
"""The task queue the pipeline and its activities run on."""


@dataclass
class PipelineTotals:
    """Running totals, carried from one run of the chain to the next."""

    batches: int = 0
    records_read: int = 0
    records_loaded: int = 0
    records_skipped: int = 0
    amount_cents: int = 0
    runs: int = 1


@dataclass
class PipelineInput:
    """Where the pipeline stands: the workflow's argument, and what continue-as-new carries.

    Args:
        source: Name of the source to read (passed to the activities).
        batch_size: Records per batch (one activity each).
        batches_per_run: How many batches one run processes before it continues as new,
            which keeps every run's history short however large the source is.
        max_parallel: Batches processed at the same time.
        cursor: Offset of the first record not yet processed.
        totals: Totals of the runs before this one.
    """

    source: str
    batch_size: int = 100
    batches_per_run: int = 10
    max_parallel: int = 4
    cursor: int = 0
    totals: PipelineTotals = field(default_factory=PipelineTotals)


@dataclass
class Batch:
    """One unit of work: records ``[start, end)`` of ``source``."""

    source: str
    start: int
    end: int


@dataclass
class BatchResult:
    """What loading one batch did."""

    start: int
    read: int
    loaded: int
    skipped: int
    amount_cents: int


@dataclass
class SourceRecord:
    """A raw record as the source holds it."""

    id: str
    amount: str
    """A decimal string in the record's currency, e.g. ``"12.50"``."""
    currency: str


@dataclass
class LoadedRecord:
    """A cleaned record as the sink stores it."""

    id: str
    amount_cents: int
    currency: str


class RecordSource(Protocol):
    """Where records come from."""

    def count(self, source: str) -> int:
        """How many records the source holds."""

    def read(self, source: str, start: int, end: int) -> list[SourceRecord]:
        """Records ``[start, end)``."""


class RecordSink(Protocol):
    """Where cleaned records go. ``upsert`` must be idempotent per record id."""

    def upsert(self, records: list[LoadedRecord]) -> int:
        """Store the records (replacing any with the same id); returns how many were new."""


class InMemorySource:
    """A source holding lists of records in memory (swap in your database or API client)."""

    def __init__(self, data: dict[str, list[SourceRecord]]) -> None:
        """Serve ``data`` (source name → records)."""
        self.data = data

    def count(self, source: str) -> int:
        """Number of records in ``source``."""
        if source not in self.data:
            raise KeyError(f"unknown source {source!r}")
        return len(self.data[source])

    def read(self, source: str, start: int, end: int) -> list[SourceRecord]:
        """A slice of ``source``."""
        return list(self.data[source][start:end])


class InMemorySink:
    """A thread-safe sink keyed by record id."""

    def __init__(self) -> None:
        """Create an empty sink."""
        self._lock = threading.Lock()
        self.rows: dict[str, LoadedRecord] = {}

    def upsert(self, records: list[LoadedRecord]) -> int:
        """Insert or replace by id."""
        with self._lock:
            new = sum(1 for r in records if r.id not in self.rows)
            for r in records:
                self.rows[r.id] = r
            return new
