"""The fixed workloads A-F (DESIGN §6). Each returns ``{figure key: value}`` for one run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.env import DB_NAME, pg_connect
from bench.procs import WorkerProcess, cpu_seconds, postgres_cpu_delta, postgres_ticks, rss_mb, self_cpu_seconds
from bench.stats import percentile
from bench.workloads import HelloWorkflow, LongHistoryWorkflow, SleepWorkflow, StepsWorkflow, WaitSignalWorkflow

now = time.perf_counter
STATS_FLUSH = 11.0


@dataclass
class Ctx:
    """What a workload run gets: a client, the worker subprocess, its queue and a unique id prefix."""

    client: Any
    worker: WorkerProcess | None
    queue: str
    tag: str


def xact_count() -> int:
    """Committed + rolled-back transactions of the bench database so far (pg_stat_database)."""
    with pg_connect() as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                            (DB_NAME,)).fetchone()[0]


def _db_latencies(queue: str, prefix: str) -> tuple[float, float, float, float]:
    """(first start, last close, p50, p99 of close-start) of the closed runs, from the run table (epoch s)."""
    with pg_connect() as conn:
        row = conn.execute(
            "SELECT min(start_ts), max(close_ts), percentile_cont(0.5) WITHIN GROUP (ORDER BY close_ts - start_ts),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY close_ts - start_ts) FROM temporalflow_run"
            " WHERE task_queue = %s AND workflow_id LIKE %s AND close_ts IS NOT NULL", (queue, prefix + "%")).fetchone()
    return row


async def _start_all_and_collect(ctx: Ctx, wf: Callable[..., Any], arg: Any, n: int, name: str
                                 ) -> tuple[float, float, list[tuple[float, float, Any]]]:
    """Start ``n`` runs at once, await every result: (t0, t1, [(started, finished, result)])."""
    async def one(i: int) -> tuple[float, float, Any]:
        handle = await ctx.client.start_workflow(wf, arg, id=f"{ctx.tag}-{name}-{i}", task_queue=ctx.queue)
        started = now()
        result = await handle.result()
        return started, now(), result

    t0 = now()
    rows = await asyncio.gather(*(one(i) for i in range(n)))
    return t0, now(), rows


async def workload_a(ctx: Ctx, n: int = 1000) -> dict[str, float]:
    """A: hello (one activity) x n started at once: throughput, latency, CPU per workflow."""
    assert ctx.worker is not None
    x0 = xact_count()
    w0, c0, p0 = cpu_seconds(ctx.worker.pid), self_cpu_seconds(), postgres_ticks()
    t0, t1, rows = await _start_all_and_collect(ctx, HelloWorkflow.run, "bench", n, "a")
    w1, c1, p1 = cpu_seconds(ctx.worker.pid), self_cpu_seconds(), postgres_ticks()
    lat = [(end - start) * 1000 for start, end, _ in rows]
    first, last, db50, db99 = _db_latencies(ctx.queue, f"{ctx.tag}-a-")
    await asyncio.sleep(STATS_FLUSH)  # idle backends flush their transaction counts within 10 s (PostgreSQL 15)
    xacts = (xact_count() - x0) / n
    worker_ms, client_ms, pg_ms = ((w1 - w0) * 1000 / n, (c1 - c0) * 1000 / n, postgres_cpu_delta(p0, p1) * 1000 / n)
    return {"A.wfps": n / (t1 - t0), "A.wfps_db": n / (last - first), "A.p50": percentile(lat, 50),
            "A.p99": percentile(lat, 99), "A.db_p50": db50 * 1000, "A.db_p99": db99 * 1000,
            "A.cpu_worker": worker_ms, "A.cpu_client": client_ms, "A.cpu_pg": pg_ms,
            "A.cpu_total": worker_ms + client_ms + pg_ms, "A.xacts": xacts}


async def workload_b(ctx: Ctx, n: int = 100) -> dict[str, float]:
    """B: n sequential start -> result round trips, and the CPU each one takes (worker, client, PostgreSQL)."""
    assert ctx.worker is not None
    lat = []
    stamps: list[tuple[str, float, float]] = []  # workflow id, wall clock before start, after result
    w0, c0, p0 = cpu_seconds(ctx.worker.pid), self_cpu_seconds(), postgres_ticks()
    for i in range(n):
        t, wall = now(), time.time()
        handle = await ctx.client.start_workflow(HelloWorkflow.run, "bench", id=f"{ctx.tag}-b-{i}",
                                                 task_queue=ctx.queue)
        await handle.result()
        lat.append((now() - t) * 1000)
        stamps.append((handle.id, wall, time.time()))
    w1, c1, p1 = cpu_seconds(ctx.worker.pid), self_cpu_seconds(), postgres_ticks()
    worker_ms, client_ms, pg_ms = ((w1 - w0) * 1000 / n, (c1 - c0) * 1000 / n, postgres_cpu_delta(p0, p1) * 1000 / n)
    return {"B.p50": percentile(lat, 50), "B.p99": percentile(lat, 99), "B.cpu_worker": worker_ms,
            "B.cpu_client": client_ms, "B.cpu_pg": pg_ms, "B.cpu_total": worker_ms + client_ms + pg_ms,
            **_b_phases(stamps)}


def _b_phases(stamps: list[tuple[str, float, float]]) -> dict[str, float]:
    """Medians of where one B round trip's time goes, from the events' database timestamps.

    The database and this process read the same machine clock. Event times are the
    statement times of the writing transactions: WorkflowExecutionStarted (the client's
    insert), WorkflowTaskStarted (the worker's claim), ActivityTaskCompleted (the
    activity's report, which also completes the workflow when handed back directly).
    """
    with pg_connect() as conn:
        rows = conn.execute(
            "SELECT r.workflow_id, e.event_type, min(e.event_time) FROM temporalflow_run r "
            "JOIN temporalflow_event e ON e.run_id = r.id WHERE r.workflow_id = ANY(%s) AND e.event_type IN "
            "('WorkflowExecutionStarted', 'WorkflowTaskStarted', 'ActivityTaskCompleted', "
            "'WorkflowExecutionCompleted') GROUP BY r.workflow_id, e.event_type",
            ([w for w, _, _ in stamps],)).fetchall()
    at: dict[str, dict[str, float]] = {}
    for wid, kind, ts in rows:
        at.setdefault(wid, {})[kind] = float(ts)
    phases: dict[str, list[float]] = {k: [] for k in ("start", "claim", "activity", "close", "result")}
    for wid, before, after in stamps:
        ev = at.get(wid, {})
        if len(ev) < 4:
            continue
        started, claimed = ev["WorkflowExecutionStarted"], ev["WorkflowTaskStarted"]
        done, closed = ev["ActivityTaskCompleted"], ev["WorkflowExecutionCompleted"]
        for key, ms in (("start", started - before), ("claim", claimed - started), ("activity", done - claimed),
                        ("close", closed - done), ("result", after - closed)):
            phases[key].append(ms * 1000)
    return {f"B.phase_{k}": percentile(v, 50) for k, v in phases.items() if v}


async def workload_c(ctx: Ctx, n: int = 200, steps: int = 10) -> dict[str, float]:
    """C: n workflows of ``steps`` sequential activities, started at once."""
    t0, t1, rows = await _start_all_and_collect(ctx, StepsWorkflow.run, steps, n, "c")
    assert all(r == steps for _, _, r in rows), "StepsWorkflow returned a wrong value"
    first, last, _, _ = _db_latencies(ctx.queue, f"{ctx.tag}-c-")
    return {"C.actps": n * steps / (t1 - t0), "C.actps_db": n * steps / (last - first)}


async def workload_d(ctx: Ctx, n: int = 200, seconds: float = 2.0) -> dict[str, float]:
    """D: n workflows sleeping ``seconds``; lateness measured inside the workflow in real time."""
    _, _, rows = await _start_all_and_collect(ctx, SleepWorkflow.run, seconds, n, "d")
    late = [r * 1000 for _, _, r in rows if r is not None]
    out = {"D.p50": percentile(late, 50), "D.p99": percentile(late, 99), "D.max": max(late)}
    out["D.lost"] = float(n - len(late))  # runs replayed after eviction: no real-time reading
    return out


def _waiting_count(queue: str, prefix: str) -> int:
    """Runs that finished their first workflow task and have none pending (5 = next event after task completed)."""
    with pg_connect() as conn:
        return conn.execute(
            "SELECT count(*) FROM temporalflow_run WHERE task_queue = %s AND workflow_id LIKE %s AND status = 1"
            " AND wft_state = 0 AND next_event_id >= 5", (queue, prefix + "%")).fetchone()[0]


async def workload_e(ctx: Ctx, n: int = 5000, timeout: float = 600.0) -> dict[str, float]:
    """E: n runs waiting for a signal: worker RSS growth, then signal all and collect."""
    assert ctx.worker is not None
    rss0 = rss_mb(ctx.worker.pid)
    t0 = now()
    handles = await asyncio.gather(*(ctx.client.start_workflow(WaitSignalWorkflow.run, id=f"{ctx.tag}-e-{i}",
                                                               task_queue=ctx.queue) for i in range(n)))
    t_started = now()
    while await asyncio.to_thread(_waiting_count, ctx.queue, f"{ctx.tag}-e-") < n:
        ctx.worker.check_alive()
        if now() - t0 > timeout:
            raise TimeoutError(f"E: the first workflow tasks did not all complete in {timeout:.0f} s")
        await asyncio.sleep(0.2)
    t_waiting = now()
    await asyncio.sleep(1.0)  # let allocator/GC settle before reading RSS
    rss1 = rss_mb(ctx.worker.pid)

    async def release(handle: Any) -> Any:
        await handle.signal(WaitSignalWorkflow.go, "go")
        return await handle.result()

    t1 = now()
    results = await asyncio.gather(*(release(h) for h in handles))
    t2 = now()
    assert all(r == "go" for r in results), "WaitSignalWorkflow returned a wrong value"
    return {"E.rss_mb": rss1 - rss0, "E.kb_per_run": (rss1 - rss0) * 1024 / n, "E.start_wfps": n / (t_started - t0),
            "E.first_task_s": t_waiting - t0, "E.signal_wfps": n / (t2 - t1)}


_HISTORY: dict[str, Any] = {}


async def build_history(ctx: Ctx, total: int = 3200, batch: int = 25) -> Any:
    """Run LongHistoryWorkflow once and fetch its history (kept for the next repeats)."""
    if "h" not in _HISTORY:
        handle = await ctx.client.start_workflow(LongHistoryWorkflow.run, args=[total, batch], id=f"{ctx.tag}-f",
                                                 task_queue=ctx.queue)
        assert await handle.result() == total
        _HISTORY["h"] = await handle.fetch_history()
    return _HISTORY["h"]


async def workload_f(ctx: Ctx) -> dict[str, float]:
    """F: replay a ~10,000-event history in-process with ``Replayer``."""
    from temporalflow.worker import Replayer

    history = await build_history(ctx)
    replayer = Replayer(workflows=[LongHistoryWorkflow])
    t0 = now()
    await replayer.replay_workflow(history)
    dt = now() - t0
    return {"F.events": float(len(history.events)), "F.replay_s": dt, "F.eventsps": len(history.events) / dt}


Workload = Callable[[Ctx], Awaitable[dict[str, float]]]

# name -> (function, extra runworker arguments). E caches every waiting run (default cache: 1,000).
WORKLOADS: dict[str, tuple[Workload, list[str]]] = {
    "A": (workload_a, []),
    "B": (workload_b, []),
    "C": (workload_c, []),
    "D": (workload_d, []),
    "E": (workload_e, ["--max-cached-workflows", "6000"]),
    "F": (workload_f, []),
}
