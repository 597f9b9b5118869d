"""Run the benchmark workloads: ``python bench/run.py [--workload A ...] [--repeat 3]``.

Starts a fresh ``manage.py runworker`` subprocess for every workload run,
prints one line per figure (median, min, max) and writes ``bench/RESULTS.md``.
Fails loudly (exit status 2) when PostgreSQL is not reachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import env  # noqa: E402

NOTES = [
    "A, C, D, E start all their workflows at once (`asyncio.gather` of `client.start_workflow`), then await every "
    "`handle.result()`; the client serializes its database calls on one thread (sync_to_async thread_sensitive), so "
    "its figures include client-side queueing. The run-table figures (start_ts/close_ts written by the engine) "
    "leave the client out.",
    "A latency (client) runs from `start_workflow` returning to `result()` returning; B latency includes the "
    "start call.",
    "A CPU per workflow: utime+stime from /proc/<pid>/stat of the worker, `os.times()` of the bench process, and "
    "every `postgres` process except client backends of other databases (other engineers' tests share the server), "
    "measured from just before the first start to the last result, divided by 1,000.",
    "D lateness = `time.time()` after `workflow.sleep(2)` − (`time.time()` just before it + 2 s), both on the "
    "non-replay path inside the workflow.",
    "E runs the worker with `--max-cached-workflows 6000` so all 5,000 waiting runs stay cached (default 1,000). RSS "
    "is VmRSS of the worker after a warm-up workflow vs. 1 s after every run has no pending workflow task "
    "(wft_state = 0, next_event_id ≥ 5 in temporalflow_run).",
    "Every run starts on empty tables (TRUNCATE) and after a CHECKPOINT, so a checkpoint the previous run "
    "triggered does not land in the middle of it.",
    "B phases: medians over the 100 round trips of the time between the client's clock before the start, the "
    "statement times of WorkflowExecutionStarted, of the first WorkflowTaskStarted and of ActivityTaskCompleted "
    "(written by the activity's report, which also closes the run when it hands the next task back), and the "
    "client's clock after `result()`.",
    "F builds the history once (LongHistoryWorkflow: 3,200 activities in parallel batches of 25) and replays it "
    "in the bench process each run.",
    "The machine has 2 cores and is shared with other engineers' test runs; PostgreSQL, worker and bench compete "
    "for the same CPUs. Quote medians; min/max show the noise.",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", "-w", action="append", choices=list("ABCDEF"),
                   help="Workload to run (repeatable; default: all).")
    p.add_argument("--repeat", "-r", type=int, default=3, help="Runs per workload (default 3).")
    p.add_argument("--profile", choices=["py-spy", "cprofile"], help="Profile the worker; prints the hot spots.")
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md",
                   help="Where to write the results (default bench/RESULTS.md).")
    p.add_argument("--no-results", action="store_true", help="Do not write the results file.")
    return p.parse_args(argv)


async def run_once(name: str, index: int, client: object, log_dir: Path, profile: str | None) -> dict[str, float]:
    """One run of one workload on a fresh worker and empty tables."""
    from bench.procs import WorkerProcess
    from bench.scenarios import WORKLOADS, Ctx
    from bench.workloads import HelloWorkflow

    fn, worker_args = WORKLOADS[name]
    env.truncate()
    tag = uuid.uuid4().hex[:8]
    queue = f"bench-{name.lower()}{index}-{tag}"
    worker = WorkerProcess(queue, log_dir, worker_args, profile)
    worker.start()
    try:
        await client.execute_workflow(HelloWorkflow.run, "warm-up", id=f"{tag}-warm", task_queue=queue)
        figures = await fn(Ctx(client, worker, queue, tag))
        worker.check_alive()
    finally:
        worker.stop()
    if profile:
        from bench.hotspots import summarize

        print(f"  profile {worker.profile_path}:\n{summarize(worker.profile_path)}", file=sys.stderr)
    return figures


async def main_async(args: argparse.Namespace) -> dict[str, list[float]]:
    """Run the chosen workloads ``--repeat`` times; return every figure's values."""
    from temporalflow.client import Client

    client = await Client.connect()
    log_dir = Path(tempfile.mkdtemp(prefix="temporalflow-bench-"))
    print(f"bench: worker logs in {log_dir}", file=sys.stderr)
    results: dict[str, list[float]] = {}
    for name in args.workload or list("ABCDEF"):
        for i in range(args.repeat):
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            figures = await run_once(name, i, client, log_dir, args.profile)
            LOADS.append(f"{name} run {i + 1}: {load}")
            print(f"  {name} run {i + 1}/{args.repeat} (load {load}): "
                  + ", ".join(f"{k}={v:.2f}" for k, v in figures.items()), file=sys.stderr, flush=True)
            for k, v in figures.items():
                results.setdefault(k, []).append(v)
    return results


LOADS: list[str] = []


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    env.require_postgres()
    env.prepare_database()
    env.setup_django()
    from bench.report import FIGURES, line, write_results

    # The host's speed can change by half within a run of all workloads: recorded before and after.
    before = env.host_speed()
    results = asyncio.run(main_async(args))
    for key in FIGURES:
        if key in results:
            print(line(key, results[key]), flush=True)
    if not args.no_results:
        command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
        facts = env.machine_facts()
        facts.update({f"{k}_before": v for k, v in before.items()})
        write_results(args.results, facts, results, LOADS, command.strip(), NOTES)
        print(f"bench: wrote {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
