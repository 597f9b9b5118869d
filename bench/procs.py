"""The worker subprocess, and CPU / memory readings from /proc."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.env import DB_NAME, ROOT, child_env

TICK = os.sysconf("SC_CLK_TCK")
READY = "polling task queue"
_BACKEND = re.compile(r"^postgres: (?:[^:]+: )?\S+ (\S+) \S+\(\d+\)")  # "postgres: 15/main: user db host(port) ..."


def _stat_fields(pid: int | str) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields from #3 (state) on


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / TICK


def self_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process."""
    t = os.times()
    return t.user + t.system


def rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def postgres_ticks(db: str = DB_NAME) -> dict[int, int]:
    """utime+stime ticks of every ``postgres`` process except client backends of OTHER databases.

    The machine is shared: other engineers' test databases are left out by the
    database name in the backend's process title.
    """
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if Path(f"/proc/{entry.name}/comm").read_text().strip() != "postgres":
                continue
            title = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            m = _BACKEND.match(title.strip())
            if m and m.group(1) != db:
                continue
            f = _stat_fields(entry.name)
            out[int(entry.name)] = int(f[11]) + int(f[12])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return out


def postgres_cpu_delta(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds spent by the bench's postgres processes between two ``postgres_ticks`` readings."""
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / TICK


class WorkerProcess:
    """One ``manage.py runworker`` subprocess on the bench database."""

    def __init__(self, queue: str, log_dir: Path, args: list[str] | None = None, profile: str | None = None) -> None:
        self.queue = queue
        self.log_path = log_dir / f"worker-{queue}.log"
        self.args = args or []
        self.profile = profile  # None, "cprofile" or "py-spy"
        self.profile_path = log_dir / f"worker-{queue}.{'prof' if profile == 'cprofile' else 'pyspy.txt'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._spy: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The worker's pid."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the worker and wait until it polls its queue."""
        cmd = [sys.executable, "manage.py", "runworker", "-q", self.queue, *self.args]
        if self.profile == "cprofile":
            cmd = [sys.executable, "bench/profile_worker.py", str(self.profile_path), *cmd[2:]]
        log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the process' life
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while READY not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start; log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.05)
        if self.profile == "py-spy":
            self._spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(self.pid), "-r", "100", "--gil",
                 "--nonblocking", "-f", "raw", "-o", str(self.profile_path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the worker's log."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise if the worker died."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"worker exited; log {self.log_path}:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the worker (and its profiler), kill it if it hangs."""
        if self._spy is not None and self._spy.poll() is None:
            self._spy.send_signal(signal.SIGINT)
            try:
                self._spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._spy.kill()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
