"""Workflows and activities the benchmark runs in a ``runworker`` subprocess.

Loaded by the worker through ``TEMPORALFLOW_EXTRA_MODULES=bench.workloads``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalflow import activity, workflow

_TIMEOUT = timedelta(seconds=60)


@activity.defn
def bench_hello(name: str) -> str:
    """The hello activity: returns a greeting."""
    return f"Hello, {name}!"


@activity.defn
def bench_step(i: int) -> int:
    """A trivial step activity."""
    return i + 1


@workflow.defn
class HelloWorkflow:
    """Workloads A and B: one activity."""

    @workflow.run
    async def run(self, name: str) -> str:
        """Call the hello activity once."""
        return await workflow.execute_activity(bench_hello, name, start_to_close_timeout=_TIMEOUT)


@workflow.defn
class StepsWorkflow:
    """Workload C: ``n`` sequential activities."""

    @workflow.run
    async def run(self, n: int) -> int:
        """Run ``n`` step activities one after the other."""
        value = 0
        for _ in range(n):
            value = await workflow.execute_activity(bench_step, value, start_to_close_timeout=_TIMEOUT)
        return value


@workflow.defn
class SleepWorkflow:
    """Workload D: sleep, then return how late (seconds) the wake-up was, measured in real time."""

    def __init__(self) -> None:
        self._slept_at: float | None = None

    @workflow.run
    async def run(self, seconds: float) -> float | None:
        """Sleep ``seconds``; lateness = real wake time - (real sleep call time + seconds)."""
        if not workflow.unsafe.is_replaying():
            self._slept_at = time.time()
        await workflow.sleep(seconds)
        if workflow.unsafe.is_replaying() or self._slept_at is None:
            return None  # evicted and replayed: the real times are lost
        return time.time() - (self._slept_at + seconds)


@workflow.defn
class WaitSignalWorkflow:
    """Workload E: wait for one signal, return its value."""

    def __init__(self) -> None:
        self._value: str | None = None

    @workflow.signal
    def go(self, value: str) -> None:
        """Release the workflow."""
        self._value = value

    @workflow.run
    async def run(self) -> str:
        """Wait for ``go``."""
        await workflow.wait_condition(lambda: self._value is not None)
        assert self._value is not None
        return self._value


@workflow.defn
class LongHistoryWorkflow:
    """Workload F: build a long history with ``total`` activities run ``batch`` at a time."""

    @workflow.run
    async def run(self, total: int, batch: int) -> int:
        """Run the activities in parallel batches; return how many ran."""
        done = 0
        while done < total:
            k = min(batch, total - done)
            await asyncio.gather(*(workflow.execute_activity(bench_step, done + i, start_to_close_timeout=_TIMEOUT)
                                   for i in range(k)))
            done += k
        return done
