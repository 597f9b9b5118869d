"""Summarize a worker profile: py-spy raw (collapsed stacks) or cProfile output."""

from __future__ import annotations

import pstats
import re
from collections import Counter
from io import StringIO
from pathlib import Path

# Leaf frames that mean "waiting", not "working".
_IDLE = re.compile(r"\b(select|poll|epoll|_worker|wait|acquire|get|sleep|_wait_for_tstate_lock|read|recv|"
                   r"_run_once|accept|run_forever)\b")


def _frame_name(frame: str) -> str:
    # py-spy raw frames: "function (path/file.py:line)"
    m = re.match(r"(.+?) \((.+?)(?::\d+)?\)$", frame.strip())
    if not m:
        return frame.strip()
    fn, path = m.groups()
    short = "/".join(Path(path).parts[-2:])
    return f"{fn} ({short})"


def summarize_pyspy(path: Path, top: int = 25) -> str:
    """Top functions by self samples and by inclusive samples, idle leaves excluded."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    busy = 0
    for raw in path.read_text(errors="replace").splitlines():
        stack, _, count = raw.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith("thread (")
                  and not f.startswith("process ")]
        if not frames or _IDLE.search(frames[-1].split(" (")[0]):
            continue
        n = int(count)
        busy += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    out = [f"busy samples: {busy}", "self:"]
    out += [f"  {100 * c / busy:5.1f}%  {f}" for f, c in self_c.most_common(top)] if busy else []
    out.append("inclusive:")
    out += [f"  {100 * c / busy:5.1f}%  {f}" for f, c in incl.most_common(top * 2)] if busy else []
    return "\n".join(out)


def summarize_cprofile(path: Path, top: int = 25) -> str:
    """pstats: top functions by own time and by cumulative time."""
    buf = StringIO()
    stats = pstats.Stats(str(path), stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def summarize(path: Path) -> str:
    """Summarize whichever profile format ``path`` holds."""
    if not path.exists():
        return f"(no profile at {path})"
    return summarize_cprofile(path) if path.suffix == ".prof" else summarize_pyspy(path)


if __name__ == "__main__":
    import sys

    print(summarize(Path(sys.argv[1])))
