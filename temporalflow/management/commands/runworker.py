"""``manage.py runworker``: run workflow tasks, activities and timers until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from temporalflow import metrics
from temporalflow.client import Client
from temporalflow.conf import get_data_converter, settings
from temporalflow.discovery import discover
from temporalflow.store import get_store
from temporalflow.worker import Worker


class Command(BaseCommand):
    """Run a worker for one or more task queues."""

    help = "Run temporalflow workers: workflow tasks, activities and the timer loop (stop with SIGTERM/SIGINT)."

    def add_arguments(self, parser: Any) -> None:
        """Command-line options."""
        parser.add_argument("--task-queue", "-q", action="append", dest="task_queues",
                            help="Task queue to poll (repeatable; default: TEMPORALFLOW['DEFAULT_TASK_QUEUE']).")
        parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=None)
        parser.add_argument("--max-concurrent-activities", "--concurrency", type=int, default=None)
        parser.add_argument("--max-cached-workflows", type=int, default=1000)
        parser.add_argument("--graceful-shutdown-timeout", type=float, default=10.0,
                            help="Seconds running activities get to finish on shutdown.")
        parser.add_argument("--identity", default=None)
        parser.add_argument("--database", default=None, help="Django database alias.")
        parser.add_argument("--namespace", default=None)
        parser.add_argument("--metrics-port", type=int, default=None,
                            help="Serve Prometheus metrics at http://<addr>:PORT/metrics "
                                 "(default: TEMPORALFLOW['WORKER_METRICS_PORT']; needs the metrics extra).")
        parser.add_argument("--metrics-addr", default=None,
                            help="Address of the metrics server (default: TEMPORALFLOW['WORKER_METRICS_ADDR']).")

    def handle(self, *args: Any, **options: Any) -> None:
        """Discover definitions, then run until a stop signal."""
        workflows, activities = discover()
        if not workflows and not activities:
            raise CommandError("no workflows or activities found: add a workflows.py / activities.py module to an "
                               "installed app, or list modules in TEMPORALFLOW['WORKFLOW_MODULES']")
        queues = options["task_queues"] or [settings.DEFAULT_TASK_QUEUE]
        port = options["metrics_port"] if options["metrics_port"] is not None else settings.WORKER_METRICS_PORT
        if port is not None:
            addr = options["metrics_addr"] or settings.WORKER_METRICS_ADDR
            try:
                metrics.start_http_server(int(port), addr)
            except (RuntimeError, OSError) as err:
                raise CommandError(f"cannot serve metrics on {addr}:{port}: {err}") from err
            self.stdout.write(f"temporalflow worker metrics at http://{addr}:{port}/metrics")
        self.stdout.write(f"temporalflow worker pid {os.getpid()}: queues {', '.join(queues)}; "
                          f"{len(workflows)} workflow(s), {len(activities)} activity(ies)")
        asyncio.run(self._run(queues, workflows, activities, options))
        self.stdout.write("temporalflow worker stopped")

    async def _run(self, queues: list[str], workflows: list[type], activities: list[Any],
                   options: dict[str, Any]) -> None:
        client = Client(get_store(options["database"]), namespace=options["namespace"] or settings.NAMESPACE,
                        data_converter=get_data_converter())
        workers = [
            Worker(client, task_queue=q, workflows=workflows, activities=activities,
                   max_concurrent_workflow_tasks=options["max_concurrent_workflow_tasks"],
                   max_concurrent_activities=options["max_concurrent_activities"],
                   max_cached_workflows=options["max_cached_workflows"], identity=options["identity"],
                   graceful_shutdown_timeout=timedelta(seconds=options["graceful_shutdown_timeout"]),
                   run_timers=(i == 0))
            for i, q in enumerate(queues)
        ]
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()

        def on_signal(signum: int) -> None:
            if stopping.is_set():
                # A second signal: leave now; leases expire and other workers take over.
                os._exit(0)
            self.stderr.write(f"received {signal.Signals(signum).name}: shutting down gracefully")
            stopping.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        runs = [asyncio.create_task(w.run()) for w in workers]
        await stopping.wait()
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*runs, return_exceptions=True)
