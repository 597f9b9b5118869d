"""Run ``manage.py <command> ...`` under cProfile, every thread included.

Usage: ``python bench/profile_worker.py OUT.prof runworker -q QUEUE [...]``.
The merged stats are written to OUT.prof when the command returns (SIGTERM
the worker to stop it gracefully). Read them with ``python -m pstats OUT.prof``.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_profiles: list[cProfile.Profile] = []


def _start_thread_profile(*_args: object) -> None:
    """First profile event of a new thread: hand the thread over to its own cProfile."""
    sys.setprofile(None)
    prof = cProfile.Profile()
    _profiles.append(prof)
    prof.enable()


def main() -> None:
    """Profile the management command named on the command line."""
    out, argv = sys.argv[1], sys.argv[2:]
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django
    from django.core.management import execute_from_command_line

    django.setup()
    threading.setprofile(_start_thread_profile)
    main_prof = cProfile.Profile()
    main_prof.enable()
    try:
        execute_from_command_line(["manage.py", *argv])
    finally:
        main_prof.disable()
        stats = pstats.Stats(main_prof)
        for prof in list(_profiles):
            try:
                stats.add(prof)
            except (TypeError, ValueError):  # a thread whose profiler recorded nothing
                pass
        stats.dump_stats(out)


if __name__ == "__main__":
    main()
