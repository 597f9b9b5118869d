"""The ETL example (examples/etl): totals across continue-as-new runs, a failing batch retried."""

from __future__ import annotations

import threading

import pytest

from examples.etl.activities import EtlActivities, transform
from examples.etl.shared import InMemorySink, InMemorySource, PipelineInput, PipelineTotals, SourceRecord
from examples.etl.workflows import EtlPipeline
from temporalflow.client import Client, WorkflowFailureError, WorkflowHandle
from temporalflow.exceptions import ApplicationError
from tests.integration.engine.conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def records(n: int) -> list[SourceRecord]:
    """n records; every 10th one is bad (skipped), the others are worth (i + 1) * 1.25 of a currency."""
    out = []
    for i in range(n):
        if i % 10 == 9:
            out.append(SourceRecord(id=f"r{i}", amount="n/a", currency="EUR"))
        else:
            out.append(SourceRecord(id=f"r{i}", amount=f"{(i + 1) * 1.25:.2f}", currency=["eur", "USD"][i % 2]))
    return out


def expected_cents(n: int) -> int:
    return sum(round((i + 1) * 125) for i in range(n) if i % 10 != 9)


class FlakySource(InMemorySource):
    """Fails the first read of each batch start in ``flaky`` (a transient outage)."""

    def __init__(self, data: dict[str, list[SourceRecord]], flaky: set[int]) -> None:
        super().__init__(data)
        self.flaky = set(flaky)
        self.reads: dict[int, int] = {}
        self._lock = threading.Lock()

    def read(self, source: str, start: int, end: int) -> list[SourceRecord]:
        with self._lock:
            self.reads[start] = self.reads.get(start, 0) + 1
            if start in self.flaky and self.reads[start] == 1:
                raise ConnectionError(f"source unavailable reading from {start}")
        return super().read(source, start, end)


async def runs_of(client: Client, handle: WorkflowHandle) -> list[str]:
    """The run ids of the chain, first to last (ContinuedAsNew events link them)."""
    chain, run_id = [], handle.result_run_id
    while run_id:
        chain.append(run_id)
        events = [e async for e in client.get_workflow_handle(handle.id, run_id=run_id).fetch_history_events()]
        last = events[-1]
        run_id = last.attributes.get("new_execution_run_id") if last.event_type.name.endswith("CONTINUED_AS_NEW") \
            else None
    return chain


async def test_totals_are_right_across_continue_as_new_runs(client: Client) -> None:
    n = 230  # 23 batches of 10, 5 per run: 5 runs, the last one short
    sink = InMemorySink()
    acts = EtlActivities(source=InMemorySource({"payments": records(n)}), sink=sink)
    async with running_worker(client, [EtlPipeline], acts.all(), max_concurrent_activities=8) as w:
        handle = await client.start_workflow(
            EtlPipeline.run, PipelineInput(source="payments", batch_size=10, batches_per_run=5, max_parallel=3),
            id=wf_id(), task_queue=w.task_queue)
        totals = await handle.result()
        chain = await runs_of(client, handle)
    assert isinstance(totals, PipelineTotals)
    bad = n // 10
    assert (totals.batches, totals.records_read, totals.records_loaded, totals.records_skipped, totals.runs) == \
        (23, n, n - bad, bad, 5)
    assert totals.amount_cents == expected_cents(n) == sum(r.amount_cents for r in sink.rows.values())
    assert len(sink.rows) == n - bad and {r.currency for r in sink.rows.values()} == {"EUR", "USD"}
    assert len(chain) == 5


async def test_a_failing_batch_is_retried_and_counted_once(client: Client) -> None:
    n = 60
    source = FlakySource({"payments": records(n)}, flaky={20, 40})
    sink = InMemorySink()
    acts = EtlActivities(source=source, sink=sink)
    async with running_worker(client, [EtlPipeline], acts.all()) as w:
        totals = await client.execute_workflow(
            EtlPipeline.run, PipelineInput(source="payments", batch_size=10, batches_per_run=4, max_parallel=4),
            id=wf_id(), task_queue=w.task_queue)
    assert source.reads[20] == 2 and source.reads[40] == 2 and source.reads[0] == 1
    assert (totals.batches, totals.records_read, totals.runs) == (6, n, 2)
    assert totals.amount_cents == expected_cents(n) == sum(r.amount_cents for r in sink.rows.values())


async def test_bad_input_fails_the_workflow_clearly(client: Client) -> None:
    acts = EtlActivities(source=InMemorySource({"payments": []}), sink=InMemorySink())
    async with running_worker(client, [EtlPipeline], acts.all()) as w:
        with pytest.raises(WorkflowFailureError) as err:
            await client.execute_workflow(EtlPipeline.run, PipelineInput(source="payments", batch_size=0),
                                          id=wf_id(), task_queue=w.task_queue)
        empty = await client.execute_workflow(EtlPipeline.run, PipelineInput(source="payments"),
                                              id=wf_id(), task_queue=w.task_queue)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert cause.message == "invalid pipeline input: batch_size must be at least 1, got 0"
    assert empty == PipelineTotals()


def test_transform_cleans_and_skips() -> None:
    assert transform(SourceRecord("a", " 12.505 ", "eur")).amount_cents == 1250  # banker's rounding of 1250.5
    assert transform(SourceRecord("b", "-1", "EUR")) is None
    assert transform(SourceRecord("c", "1", "JPY")) is None
    assert transform(SourceRecord("d", "NaN", "USD")) is None
