"""The benchmark's environment: database, Django setup, machine and version facts."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "temporalflow_bench"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
TABLES = ("temporalflow_run", "temporalflow_event", "temporalflow_activity", "temporalflow_timer",
          "temporalflow_query", "temporalflow_update", "temporalflow_poller")


def child_env(**extra: str) -> dict[str, str]:
    """Environment for manage.py subprocesses: the bench database, bench workloads, DEBUG off."""
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "project.settings",
            "TEMPORALFLOW_EXTRA_MODULES": "bench.workloads", "DJANGO_DEBUG": "0", "PYTHONUNBUFFERED": "1", **extra}


def pg_connect(url: str = DATABASE_URL) -> psycopg.Connection:
    """A plain autocommit psycopg connection (monitoring queries, no Django)."""
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True, connect_timeout=5)


def require_postgres() -> None:
    """Exit loudly (status 2) when PostgreSQL is not reachable."""
    try:
        with pg_connect(PG_ADMIN) as conn:
            conn.execute("SELECT 1")
    except Exception as err:  # noqa: BLE001 - any failure means "no database"
        sys.exit(f"bench: PostgreSQL is not reachable at {PG_ADMIN}: {err}")


def prepare_database() -> None:
    """Create the bench database if missing and migrate it."""
    with pg_connect(PG_ADMIN) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=child_env(), check=True)


def truncate() -> None:
    """Empty temporalflow's tables (call with no worker running), then CHECKPOINT.

    The checkpoint writes out what the previous workload left dirty, so a checkpoint it
    triggered does not land in the middle of the next one (each run's commits then pay
    only for their own writes).
    """
    with pg_connect() as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        conn.execute("CHECKPOINT")


def setup_django() -> None:
    """Configure Django in this process for the bench database."""
    keys = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "TEMPORALFLOW_EXTRA_MODULES", "DJANGO_DEBUG")
    os.environ.update({k: v for k, v in child_env().items() if k in keys})
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def database_latency(samples: int = 300) -> tuple[float, float]:
    """Median milliseconds of a durable one-row commit and of a ``SELECT 1`` round trip.

    Latency-bound figures (B above all) follow these from hour to hour on a shared machine.
    """
    import statistics
    import time

    with psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1), connect_timeout=5) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_latency_probe (x int)")
        conn.commit()
        commits, trips = [], []
        for _ in range(samples):
            t = time.perf_counter()
            conn.execute("INSERT INTO bench_latency_probe VALUES (1)")
            conn.commit()
            commits.append(time.perf_counter() - t)
            t = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            trips.append(time.perf_counter() - t)
        conn.rollback()
        conn.execute("DROP TABLE bench_latency_probe")
        conn.commit()
    return statistics.median(commits) * 1000, statistics.median(trips) * 1000


def python_speed(samples: int = 5) -> float:
    """Median milliseconds this machine's Python takes for 1,000,000 loop additions.

    The CPU share a session gets differs from day to day on a shared host (3x seen);
    CPU-bound figures (A's CPU per workflow, B) scale with it, so RESULTS.md records it.
    """
    import statistics
    import time

    times = []
    for _ in range(samples):
        started, total = time.perf_counter(), 0
        for i in range(1_000_000):
            total += i
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def host_speed() -> dict[str, str]:
    """The host's speed now: durable commit and ``SELECT 1`` milliseconds, Python loop milliseconds."""
    commit_ms, round_trip_ms = database_latency()
    return {"commit_ms": f"{commit_ms:.3f}", "round_trip_ms": f"{round_trip_ms:.3f}",
            "python_loop_ms": f"{python_speed():.1f}"}


def machine_facts() -> dict[str, str]:
    """Machine and version facts for RESULTS.md (the host's speed as :func:`host_speed` measures it now)."""
    import django

    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip("\n")
    with pg_connect() as conn:
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")}
    return {
        **host_speed(),
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "cpu": _cpu_model(),
        "free": free,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "psycopg": psycopg.__version__,
        **{f"pg_{k}": v for k, v in settings.items()},
    }
