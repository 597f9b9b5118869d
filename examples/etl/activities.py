"""Activities of the ETL pipeline: count the source, and extract-transform-load one batch.

Bound to a source and a sink (:class:`EtlActivities`); a worker builds them with real
clients, a test with in-memory ones. ``load_batch`` is idempotent (the sink upserts by
record id), so the engine may retry it freely after a crash or a transient error.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from temporalflow import activity

from .shared import Batch, BatchResult, LoadedRecord, RecordSink, RecordSource, SourceRecord

SUPPORTED_CURRENCIES = frozenset({"EUR", "USD", "GBP"})


def transform(record: SourceRecord) -> LoadedRecord | None:
    """Clean one record: amount to integer cents, currency upper-cased; None to skip it.

    Records with an unparsable or negative amount or an unsupported currency are skipped
    (counted, not loaded): bad rows in the source must not stop the pipeline.
    """
    currency = record.currency.strip().upper()
    if currency not in SUPPORTED_CURRENCIES:
        return None
    try:
        amount = Decimal(record.amount.strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    cents = int((amount * 100).to_integral_value())
    return LoadedRecord(id=record.id, amount_cents=cents, currency=currency)


class EtlActivities:
    """The pipeline's activities, bound to a source and a sink.

    Args:
        source: Where records are read from.
        sink: Where cleaned records are written.
    """

    def __init__(self, *, source: RecordSource, sink: RecordSink) -> None:
        self.source = source
        self.sink = sink

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, bound to this instance, for ``Worker(activities=...)``."""
        return [self.count_records, self.load_batch]

    @activity.defn
    def count_records(self, source: str) -> int:
        """How many records the source holds now."""
        return self.source.count(source)

    @activity.defn
    def load_batch(self, batch: Batch) -> BatchResult:
        """Extract records ``[start, end)``, clean them and upsert them into the sink."""
        records = self.source.read(batch.source, batch.start, batch.end)
        cleaned = [r for r in (transform(rec) for rec in records) if r is not None]
        self.sink.upsert(cleaned)
        activity.heartbeat(batch.start)
        return BatchResult(start=batch.start, read=len(records), loaded=len(cleaned),
                           skipped=len(records) - len(cleaned),
                           amount_cents=sum(r.amount_cents for r in cleaned))
