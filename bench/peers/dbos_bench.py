"""Workloads A-D on DBOS, on the bench's PostgreSQL server (database ``dbos_bench``).

Runs in the peers' virtualenv, not the project's: ``bench/peers/compare.py`` makes it
and calls this script. The workflows mirror ``bench/workloads.py``: hello (one step returning a
greeting) for A and B, ten sequential steps for C, a 2-second durable sleep for D.

Two ways to run it:

- ``inproc``: the measuring process starts the workflows and runs them itself (DBOS's
  usual deployment: workflows run in the process that starts them).
- ``queue``: the measuring process enqueues through ``DBOSClient`` to a worker
  subprocess, as temporalflow's bench starts workflows for a ``runworker`` process.
  DBOS's queues and the client's ``get_result`` poll; both poll every ``DBOS_POLL``
  seconds (default 5 ms; DBOS's own default is 1 s).

Usage: ``python dbos_bench.py {A,B,C,D} {inproc,queue}``. Prints one line of
``key=value`` figures with the same keys as temporalflow's (``B.p50``, ``A.wfps`` …).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.procs import cpu_seconds, postgres_cpu_delta, postgres_ticks, self_cpu_seconds  # noqa: E402
from bench.stats import percentile  # noqa: E402

DB = "dbos_bench"
URL = os.environ.get("DBOS_DATABASE_URL", f"postgresql://postgres@127.0.0.1:5432/{DB}")
QUEUE = "bench"
POLL = float(os.environ.get("DBOS_POLL", "0.005"))


def _dbos() -> tuple[object, dict[str, Callable[..., Any]]]:
    """Configure DBOS and register the workflows (before launch, as DBOS requires)."""
    from dbos import DBOS, DBOSConfig

    DBOS(config=DBOSConfig(name="bench", system_database_url=URL, log_level="WARNING"))

    @DBOS.step(name="bench_hello")
    def bench_hello(name: str) -> str:
        return f"Hello, {name}!"

    @DBOS.workflow(name="hello_workflow")
    def hello_workflow(name: str) -> str:
        return bench_hello(name)

    @DBOS.step(name="bench_step")
    def bench_step(i: int) -> int:
        return i + 1

    @DBOS.workflow(name="steps_workflow")
    def steps_workflow(n: int) -> int:
        value = 0
        for _ in range(n):
            value = bench_step(value)
        return value

    @DBOS.workflow(name="sleep_workflow")
    def sleep_workflow(seconds: float) -> float:
        # Lateness in real time, as temporalflow's SleepWorkflow measures it (no recovery here).
        slept_at = time.time()
        DBOS.sleep(seconds)
        return time.time() - (slept_at + seconds)

    return DBOS, {"hello_workflow": hello_workflow, "steps_workflow": steps_workflow,
                  "sleep_workflow": sleep_workflow}


def worker() -> None:
    """The ``queue`` mode's worker process: launch DBOS with the queue, then wait to be killed."""
    dbos, _wf = _dbos()
    dbos.launch()
    dbos.register_queue(QUEUE, polling_interval_sec=POLL)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


class _Runner:
    """Starts hello workflows one way or the other; ``start(i)`` returns a handle with ``get_result``."""

    def __init__(self, mode: str) -> None:
        self.proc: subprocess.Popen[str] | None = None
        if mode == "inproc":
            dbos, workflows = _dbos()
            dbos.launch()
            self.start = lambda name, arg: dbos.start_workflow(workflows[name], arg)
            self.result = lambda h: h.get_result()
            return
        from dbos import DBOSClient

        self.proc = subprocess.Popen([sys.executable, __file__, "worker"], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the DBOS worker did not start")
        client = DBOSClient(system_database_url=URL)
        self.start = lambda name, arg: client.enqueue({"queue_name": QUEUE, "workflow_name": name}, arg)
        self.result = lambda h: h.get_result(polling_interval_sec=POLL)

    def cpu(self) -> tuple[float, float, dict[int, int]]:
        """(this process, the worker, PostgreSQL) CPU readings."""
        return self_cpu_seconds(), cpu_seconds(self.proc.pid) if self.proc else 0.0, postgres_ticks(DB)

    def per_wf(self, before: tuple[float, float, dict[int, int]], n: int, key: str) -> dict[str, float]:
        """CPU per workflow since ``before``, as temporalflow's keys (client = this process)."""
        c1, w1, p1 = self.cpu()
        c0, w0, p0 = before
        client, work, pg = (c1 - c0) * 1000 / n, (w1 - w0) * 1000 / n, postgres_cpu_delta(p0, p1) * 1000 / n
        return {f"{key}.cpu_client": client, f"{key}.cpu_worker": work, f"{key}.cpu_pg": pg,
                f"{key}.cpu_total": client + work + pg}


def workload_b(run: _Runner, n: int = 100) -> dict[str, float]:
    """B: ``n`` sequential start -> result round trips."""
    lat = []
    before = run.cpu()
    for _ in range(n):
        t = time.perf_counter()
        run.result(run.start("hello_workflow", "bench"))
        lat.append((time.perf_counter() - t) * 1000)
    return {"B.p50": percentile(lat, 50), "B.p99": percentile(lat, 99), **run.per_wf(before, n, "B")}


def workload_a(run: _Runner, n: int = 1000) -> dict[str, float]:
    """A: ``n`` hello workflows started at once, then every result collected."""
    before = run.cpu()
    t0 = time.perf_counter()
    handles = [run.start("hello_workflow", "bench") for _ in range(n)]
    for h in handles:
        run.result(h)
    elapsed = time.perf_counter() - t0
    return {"A.wfps": n / elapsed, **run.per_wf(before, n, "A")}


def workload_c(run: _Runner, n: int = 200, steps: int = 10) -> dict[str, float]:
    """C: ``n`` workflows of ``steps`` sequential steps started at once: steps per second."""
    t0 = time.perf_counter()
    handles = [run.start("steps_workflow", steps) for _ in range(n)]
    for h in handles:
        if run.result(h) != steps:
            raise RuntimeError("a steps workflow returned a wrong value")
    return {"C.actps": n * steps / (time.perf_counter() - t0)}


def workload_d(run: _Runner, n: int = 200, seconds: float = 2.0) -> dict[str, float]:
    """D: ``n`` workflows sleeping ``seconds`` at once: lateness of the wake-up (ms)."""
    handles = [run.start("sleep_workflow", seconds) for _ in range(n)]
    late = [run.result(h) * 1000 for h in handles]
    return {"D.p50": percentile(late, 50), "D.p99": percentile(late, 99)}


WORKLOADS = {"A": workload_a, "B": workload_b, "C": workload_c, "D": workload_d}


def main(workload: str, mode: str) -> None:
    """Warm up, run the workload once, print its figures."""
    run = _Runner(mode)
    try:
        for _ in range(20):
            run.result(run.start("hello_workflow", "warm-up"))
        figures = WORKLOADS[workload](run)
    finally:
        if run.proc:
            run.proc.kill()
    print(" ".join(f"{k}={v:.2f}" for k, v in figures.items()), flush=True)
    os._exit(0)  # DBOS's background threads would keep the process alive


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        worker()
    else:
        main(sys.argv[1], sys.argv[2])
