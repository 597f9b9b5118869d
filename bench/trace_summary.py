"""Summarize /tmp/trace.txt, the worker timeline ``bench/worker_trace.patch`` writes during B.

Development aid, not part of the benchmark: ``git apply bench/worker_trace.patch``, run
``python bench/run.py -w B --repeat 1 --no-results``, then ``python bench/trace_summary.py``
and ``git apply -R bench/worker_trace.patch``. Prints, for the round trips whose stamps
came in the most common order, the median time of each stamp since the wake-up and the
median step from the one before (milliseconds).
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from pathlib import Path


def main(path: str = "/tmp/trace.txt") -> None:
    """Print the medians."""
    rows = []
    for line in Path(path).read_text().splitlines():
        stamps = [(kv.split("=")[0], float(kv.split("=")[1])) for kv in line.split()]
        if stamps and stamps[0][0] == "wake":
            rows.append(stamps)
    if not rows:
        sys.exit(f"no round trips in {path}")
    order, count = Counter(tuple(k for k, _ in r) for r in rows).most_common(1)[0]
    chosen = [r for r in rows if tuple(k for k, _ in r) == order]
    print(f"{count} of {len(rows)} round trips in the most common order")
    for i, label in enumerate(order):
        at = statistics.median(r[i][1] for r in chosen)
        step = statistics.median(r[i][1] - (r[i - 1][1] if i else 0.0) for r in chosen)
        print(f"{label:20s} {at:7.3f}  step {step:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
