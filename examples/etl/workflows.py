"""The ETL pipeline: fan batches out to activities, fan the results in, continue as new.

One run plans up to ``batches_per_run`` batches from its cursor, keeps at most
``max_parallel`` of them running (``workflow.wait`` with ``FIRST_COMPLETED``: a new batch
starts as soon as one finishes), adds their results to the totals, and then either
returns the totals (the source is exhausted) or continues as new with the advanced
cursor and the totals so far. Each run's history stays small, however many records
there are; ``handle.result()`` on the first run follows the chain to the final totals.

A batch whose activity fails is retried by the engine with backoff (the retry policy
below); the other batches are not affected, and the sink's upsert makes the retry safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalflow import workflow
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import ApplicationError

from .activities import EtlActivities
from .shared import Batch, BatchResult, PipelineInput, PipelineTotals

BATCH_OPTIONS = {
    "start_to_close_timeout": timedelta(minutes=5),
    "heartbeat_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                maximum_interval=timedelta(minutes=1), maximum_attempts=10),
}


@dataclasses.dataclass
class PipelineProgress:
    """What the ``progress`` query returns."""

    cursor: int
    total_records: int | None
    in_flight: list[int]
    totals: PipelineTotals


@workflow.defn
class EtlPipeline:
    """Copies a source into a sink in parallel batches, continuing as new every few batches."""

    def __init__(self) -> None:
        self._cursor = 0
        self._total: int | None = None
        self._in_flight: list[int] = []
        self._totals = PipelineTotals()

    @workflow.run
    async def run(self, params: PipelineInput) -> PipelineTotals:
        """Process this run's share of batches; return the totals once the source is exhausted."""
        _check(params)
        self._cursor = params.cursor
        self._totals = dataclasses.replace(params.totals)
        self._total = await workflow.execute_activity_method(
            EtlActivities.count_records, params.source, start_to_close_timeout=timedelta(seconds=30))

        planned: list[Batch] = []
        cursor = params.cursor
        while cursor < self._total and len(planned) < params.batches_per_run:
            end = min(cursor + params.batch_size, self._total)
            planned.append(Batch(source=params.source, start=cursor, end=end))
            cursor = end

        running: list[asyncio.Task[BatchResult]] = []
        while planned or running:
            while planned and len(running) < params.max_parallel:
                batch = planned.pop(0)
                self._in_flight.append(batch.start)
                running.append(workflow.start_activity_method(EtlActivities.load_batch, batch, **BATCH_OPTIONS))
            done, running = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._add(task.result())

        self._cursor = cursor
        if cursor < self._total:
            next_totals = dataclasses.replace(self._totals, runs=self._totals.runs + 1)
            workflow.continue_as_new(dataclasses.replace(params, cursor=cursor, totals=next_totals))
        return self._totals

    def _add(self, result: BatchResult) -> None:
        self._in_flight.remove(result.start)
        t = self._totals
        t.batches += 1
        t.records_read += result.read
        t.records_loaded += result.loaded
        t.records_skipped += result.skipped
        t.amount_cents += result.amount_cents

    @workflow.query
    def progress(self) -> PipelineProgress:
        """The run's cursor, the batches still running (by start offset) and the totals so far."""
        return PipelineProgress(cursor=self._cursor, total_records=self._total, in_flight=list(self._in_flight),
                                totals=self._totals)


def _check(params: PipelineInput) -> None:
    problems = [f"{name} must be at least 1, got {getattr(params, name)}"
                for name in ("batch_size", "batches_per_run", "max_parallel") if getattr(params, name) < 1]
    if params.cursor < 0:
        problems.append(f"cursor must not be negative, got {params.cursor}")
    if problems:
        raise ApplicationError(f"invalid pipeline input: {'; '.join(problems)}", type="InvalidInput",
                               non_retryable=True)
