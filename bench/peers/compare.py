"""Workloads A-D on temporalflow and on DBOS, interleaved, on the same PostgreSQL server.

Usage: ``python bench/peers/compare.py [--rounds 3] [-w A -w B ...]``.

The host's speed drifts by up to 2x within an hour, so figures measured on different
days (like the peer figures quoted in the issue) do not compare. Here each round runs
every system once, back to back, and the medians over the rounds go to
``bench/PEERS.md`` with the machine's facts. DBOS runs in its own virtualenv
(``.venv-peers``, made on first use from ``bench/peers/requirements.txt``) so its
dependencies never mix with the project's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import env  # noqa: E402
from bench.stats import summary  # noqa: E402

PEER_VENV = ROOT / ".venv-peers"
PEER_PYTHON = PEER_VENV / "bin" / "python"
DBOS_DB = "dbos_bench"
SYSTEMS = ("temporalflow", "dbos-inproc", "dbos-queue")
SHOWN = {"A": ("A.wfps", "A.cpu_total"), "B": ("B.p50", "B.p99", "B.cpu_total"), "C": ("C.actps",),
         "D": ("D.p50", "D.p99")}
_FIGURE = re.compile(r"([A-D]\.\w+)=([-\d.]+)")


def ensure_peer_venv() -> None:
    """Create ``.venv-peers`` with the pinned peer packages unless it already has them."""
    wanted = (ROOT / "bench/peers/requirements.txt").read_text()
    stamp = PEER_VENV / "requirements.txt"
    if PEER_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench/peers/requirements.txt")],
                   check=True)
    stamp.write_text(wanted)


def fresh_dbos_database() -> None:
    """Drop and recreate DBOS's database: every run starts on empty tables, as temporalflow's does."""
    with env.pg_connect(env.PG_ADMIN) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DBOS_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DBOS_DB}")


def _figures(output: str, marker: str) -> dict[str, float]:
    lines = [line for line in output.splitlines() if marker in line]
    if not lines:
        raise RuntimeError(f"no figures in the output:\n{output[-3000:]}")
    return {k: float(v) for k, v in _FIGURE.findall(lines[-1])}


def run_one(system: str, workload: str) -> dict[str, float]:
    """One run of ``workload`` on ``system``: its figures."""
    if system == "temporalflow":
        out = subprocess.run([sys.executable, "bench/run.py", "-w", workload, "--repeat", "1", "--no-results"],
                             cwd=ROOT, capture_output=True, text=True, timeout=900)
        return _figures(out.stdout + out.stderr, " run 1/1 ")
    fresh_dbos_database()
    mode = system.removeprefix("dbos-")
    out = subprocess.run([str(PEER_PYTHON), "bench/peers/dbos_bench.py", workload, mode], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    return _figures(out.stdout, f"{workload}.")


def write_peers(path: Path, facts: dict[str, str], results: dict[tuple[str, str], dict[str, list[float]]],
                rounds: int, command: str) -> None:
    """bench/PEERS.md: medians (min–max) per system and figure."""
    lines = [
        "# Peers on the same host, interleaved",
        "",
        f"Written by `{command}` at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, temporalflow at "
        f"{facts.get('commit', 'an unknown commit')}: {rounds} rounds, each "
        "running every system once, back to back; medians over the rounds (min–max).",
        "",
        f"- machine: {facts['nproc']} cores, {facts['cpu']}; kernel {facts['kernel']}",
        f"- host speed now: `SELECT 1` round trip {facts['round_trip_ms']} ms, durable commit "
        f"{facts['commit_ms']} ms, {facts['python_loop_ms']} ms per 10⁶ Python loop additions",
        f"- PostgreSQL {facts['pg_server_version']} (fsync {facts['pg_fsync']}, synchronous_commit "
        f"{facts['pg_synchronous_commit']}, shared_buffers {facts['pg_shared_buffers']}); Python "
        f"{facts['python']}; temporalflow with Django {facts['django']}, psycopg {facts['psycopg']}; "
        f"DBOS {(ROOT / 'bench/peers/requirements.txt').read_text().strip()}",
        "- temporalflow: `bench/run.py` (the client in the bench process, one `runworker` process).",
        "- dbos-inproc: the measuring process starts the workflows and runs them (DBOS's usual deployment).",
        "- dbos-queue: `DBOSClient.enqueue` to one worker process; its queue and `get_result` poll every "
        "5 ms (DBOS's default is 1 s).",
        "- The workloads are DESIGN §6's: A hello ×1,000 at once, B 100 sequential hello round trips, C a "
        "10-activity (DBOS: 10-step) workflow ×200 at once, D 200 workflows sleeping 2 s at once. A DBOS "
        "workflow sleeps with `DBOS.sleep` in the thread that runs it; a temporalflow workflow with a durable "
        "timer that the worker's timer loop fires.",
        "",
        "| workload | figure | " + " | ".join(SYSTEMS) + " |",
        "|---|---|" + "---:|" * len(SYSTEMS),
    ]
    for workload, keys in SHOWN.items():
        for key in keys:
            cells = []
            for system in SYSTEMS:
                values = results.get((system, workload), {}).get(key)
                if not values:
                    cells.append("—")
                    continue
                med, lo, hi = summary(values)
                cells.append(f"{med:.1f} ({lo:.1f}–{hi:.1f})")
            if any(c != "—" for c in cells):
                lines.append(f"| {workload} | {key} | " + " | ".join(cells) + " |")
    lines += ["", "Units: `wfps` completed workflows per second; `actps` activities (DBOS: steps) per second; "
              "`p50`/`p99` milliseconds (D: lateness of the wake-up after a 2 s sleep, measured inside the "
              "workflow); `cpu_total` milliseconds of CPU per workflow, all the system's processes and "
              "PostgreSQL's together.", ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-w", "--workload", action="append", choices=list(SHOWN))
    p.add_argument("--output", type=Path, default=ROOT / "bench/PEERS.md")
    args = p.parse_args(argv)
    env.require_postgres()
    env.prepare_database()
    env.setup_django()
    ensure_peer_venv()
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for workload in args.workload or ["B", "A", "C", "D"]:
            for system in SYSTEMS:
                figures = run_one(system, workload)
                print(f"round {r + 1} {system} {workload}: "
                      + " ".join(f"{k}={figures[k]:.2f}" for k in SHOWN[workload] if k in figures), flush=True)
                for k, v in figures.items():
                    results.setdefault((system, workload), {}).setdefault(k, []).append(v)
    command = "python bench/peers/compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    facts = {**env.machine_facts(), "commit": commit.stdout.strip() or "an unknown commit"}
    write_peers(args.output, facts, results, args.rounds, command.strip())
    print(f"compare: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
