"""Engine metrics for Prometheus; every call is a cheap no-op without ``prometheus_client``.

Install the ``metrics`` extra (``prometheus-client``, ``django-prometheus``) to turn them on.
The metrics live in ``prometheus_client``'s default registry, so a web process serving
django-prometheus's ``/metrics`` shows them beside the HTTP and database metrics, and
``manage.py runworker --metrics-port N`` serves the same registry from the worker.

Labels are bounded: ``namespace``, ``task_queue``, ``workflow_type``, ``activity_type`` and a
few small enums (``status``, ``cause``, ``kind``), never workflow, run or activity ids.

Where each number comes from (all counted once the writing transaction committed):

* ``temporalflow_workflows_started_total``: a client's start that created a run (signal-with-start
  and the id-conflict policies included; a start that found the run already there is not
  counted). Child workflows and the new runs of continue-as-new, retries and cron start in
  the store without a client and are not counted here.
* ``temporalflow_workflows_closed_total{status}``: ``completed``, ``failed``, ``canceled`` and
  ``continued_as_new`` where a worker's workflow-task completion closing the run was stored;
  ``terminated`` and ``timed_out`` where the store closes the run (a terminate from any client,
  the admin or the API; the history-size limit; an id-conflict policy; a run or execution
  timeout found by a worker's timer loop).
* workflow-task and activity latencies are observed by the worker that ran them; the
  backlog is read from the database by the process being scraped; cache and slot figures
  come from the workers running in that process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

try:  # optional: the ``metrics`` extra
    import prometheus_client as _prom
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
except ImportError:  # pragma: no cover - exercised by tests/unit/test_metrics_noop.py
    _prom = None

__all__ = [
    "ENABLED",
    "activity_executed",
    "activity_failed",
    "activity_started",
    "register_worker",
    "start_http_server",
    "unregister_worker",
    "workflow_closed",
    "workflow_closed_by_commands",
    "workflow_started",
    "workflow_task_activated",
    "workflow_task_failed",
]

logger = logging.getLogger("temporalflow.metrics")

ENABLED: bool = _prom is not None
"""True when ``prometheus_client`` is importable and the metrics below exist."""

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_ACTIVITY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                     900.0, 3600.0)

# The command that closes a run, by class name (core.commands), and the status it closes it with.
_CLOSING_COMMANDS = {
    "CompleteWorkflowExecution": "completed",
    "FailWorkflowExecution": "failed",
    "CancelWorkflowExecution": "canceled",
    "ContinueAsNewWorkflowExecution": "continued_as_new",
}


class _Labeled:
    """A labelled metric with its children cached by label tuple (one dict lookup per call)."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, key: tuple[str, ...]) -> Any:
        c = self._children.get(key)
        if c is None:
            # A race between threads only makes labels() run twice; it returns the same child.
            c = self._children[key] = self._metric.labels(*key)
        return c


if _prom is not None:
    _WF = ("namespace", "task_queue", "workflow_type")
    _ACT = ("namespace", "task_queue", "activity_type")
    _started = _Labeled(_prom.Counter(
        "temporalflow_workflows_started", "Workflow runs started by a client.", _WF))
    _closed = _Labeled(_prom.Counter(
        "temporalflow_workflows_closed",
        "Workflow runs closed, by status (completed, failed, canceled, terminated, timed_out, continued_as_new).",
        (*_WF, "status")))
    _wft_s2s = _Labeled(_prom.Histogram(
        "temporalflow_workflow_task_schedule_to_start_seconds",
        "Time from a workflow task's WorkflowTaskScheduled event to its WorkflowTaskStarted event.",
        _WF, buckets=_LATENCY_BUCKETS))
    _wft_exec = _Labeled(_prom.Histogram(
        "temporalflow_workflow_task_execution_seconds",
        "Time a worker spent activating the workflow code for one workflow task (replay included).",
        _WF, buckets=_LATENCY_BUCKETS))
    _wft_failed = _Labeled(_prom.Counter(
        "temporalflow_workflow_task_failed", "Workflow tasks failed (retried with backoff), by cause.",
        (*_WF, "cause")))
    _act_s2s = _Labeled(_prom.Histogram(
        "temporalflow_activity_schedule_to_start_seconds",
        "Time from an activity attempt being scheduled to a worker starting it.", _ACT, buckets=_LATENCY_BUCKETS))
    _act_exec = _Labeled(_prom.Histogram(
        "temporalflow_activity_execution_seconds",
        "Time an activity attempt's function ran (its outcome not yet reported).", _ACT, buckets=_ACTIVITY_BUCKETS))
    _act_failed = _Labeled(_prom.Counter(
        "temporalflow_activity_execution_failed",
        "Activity attempts that raised (retried or not per their RetryPolicy; cancellations excluded).", _ACT))


# --- hot-path calls (worker, client, store) ------------------------------------------------


def workflow_started(namespace: str, task_queue: str, workflow_type: str) -> None:
    """A client started a run."""
    if ENABLED:
        _started.child((namespace, task_queue, workflow_type)).inc()


def workflow_closed(namespace: str, task_queue: str, workflow_type: str, status: str) -> None:
    """A run closed with ``status`` (call after the closing transaction committed)."""
    if ENABLED:
        _closed.child((namespace, task_queue, workflow_type, status)).inc()


def workflow_closed_by_commands(lease: Any, commands: Sequence[Any]) -> None:
    """A stored workflow-task completion closed ``lease``'s run: count it by its closing command."""
    if ENABLED:
        for cmd in reversed(commands):
            status = _CLOSING_COMMANDS.get(type(cmd).__name__)
            if status is not None:
                _closed.child((lease.namespace, lease.task_queue, lease.workflow_type, status)).inc()
                return


def workflow_task_activated(lease: Any, seconds: float) -> None:
    """A workflow task was activated in ``seconds``; also its schedule-to-start latency when known.

    Schedule-to-start is the difference between the task's WorkflowTaskScheduled and
    WorkflowTaskStarted event times, read from the events the lease carries (both written with
    the database's clock); a lease that does not carry both is not observed.
    """
    if not ENABLED:
        return
    key = (lease.namespace, lease.task_queue, lease.workflow_type)
    _wft_exec.child(key).observe(seconds)
    history = lease.history
    if history:
        first = history[0].event_id
        i, j = lease.scheduled_event_id - first, lease.started_event_id - first
        if 0 <= i < j < len(history):
            scheduled, started = history[i], history[j]
            if scheduled.event_id == lease.scheduled_event_id and started.event_id == lease.started_event_id:
                _wft_s2s.child(key).observe(max(0.0, started.event_time - scheduled.event_time))


def workflow_task_failed(lease: Any, cause: str | None) -> None:
    """A workflow task failed with Temporal's ``cause`` name."""
    if ENABLED:
        _wft_failed.child((lease.namespace, lease.task_queue, lease.workflow_type, cause or "")).inc()


def activity_started(lease: Any) -> None:
    """An activity attempt started: observe its schedule-to-start latency."""
    if ENABLED:
        _act_s2s.child((lease.namespace, lease.task_queue, lease.activity_type)).observe(
            max(0.0, lease.started_time - lease.current_attempt_scheduled_time))


def activity_executed(lease: Any, seconds: float) -> None:
    """An activity attempt's function returned or raised after ``seconds``."""
    if ENABLED:
        _act_exec.child((lease.namespace, lease.task_queue, lease.activity_type)).observe(seconds)


def activity_failed(lease: Any) -> None:
    """An activity attempt raised (not a cancellation)."""
    if ENABLED:
        _act_failed.child((lease.namespace, lease.task_queue, lease.activity_type)).inc()


# --- workers in this process: sticky cache and slots, read at scrape time -------------------

WorkerSnapshot = Callable[[], tuple[int, int, int, int, int, int, int]]
"""``() -> (cache_hits, cache_misses, cache_size, wf_slots_used, wf_slots, act_slots_used, act_slots)``."""

_workers: dict[int, tuple[str, str, WorkerSnapshot]] = {}
# Hits and misses of workers that stopped, so the counters never go down while the process lives.
_retired: dict[tuple[str, str], list[int]] = {}
_workers_lock = threading.Lock()  # taken on worker start/stop and scrapes only, never per task


def register_worker(token: int, namespace: str, task_queue: str, snapshot: WorkerSnapshot) -> None:
    """A worker started: report its cache and slots (``snapshot`` is read at scrape time)."""
    if ENABLED:
        with _workers_lock:
            _workers[token] = (namespace, task_queue, snapshot)


def unregister_worker(token: int) -> None:
    """A worker stopped: keep its hit/miss totals, drop its gauges."""
    if not ENABLED:
        return
    with _workers_lock:
        entry = _workers.pop(token, None)
        if entry is not None:
            ns, tq, snapshot = entry
            hits, misses = snapshot()[:2]
            totals = _retired.setdefault((ns, tq), [0, 0])
            totals[0] += hits
            totals[1] += misses


class _WorkerCollector:
    """Sticky cache hits/misses/size and slots used per (namespace, task queue) of this process's workers."""

    def describe(self) -> Iterable[Any]:
        return self._families()

    def _families(self) -> list[Any]:
        labels = ["namespace", "task_queue"]
        return [
            CounterMetricFamily("temporalflow_sticky_cache_hits", "Workflow tasks whose run was in the worker's "
                                "cache (no replay).", labels=labels),
            CounterMetricFamily("temporalflow_sticky_cache_misses", "Workflow tasks whose run was not cached "
                                "(replayed from history).", labels=labels),
            GaugeMetricFamily("temporalflow_sticky_cache_size", "Runs cached by the workers.", labels=labels),
            GaugeMetricFamily("temporalflow_worker_slots_used", "Task slots in use, by kind (workflow, activity).",
                              labels=[*labels, "kind"]),
            GaugeMetricFamily("temporalflow_worker_slots", "Task slots configured, by kind (workflow, activity).",
                              labels=[*labels, "kind"]),
        ]

    def collect(self) -> Iterable[Any]:
        hits, misses, size, used, slots = self._families()
        sums: dict[tuple[str, str], list[int]] = {}
        with _workers_lock:
            for key, (h, m) in _retired.items():
                sums[key] = [h, m, 0, 0, 0, 0, 0]
            workers = list(_workers.values())
        for ns, tq, snapshot in workers:
            try:
                values = snapshot()
            except Exception:  # noqa: BLE001 - a worker mid-shutdown must not break the scrape
                continue
            acc = sums.setdefault((ns, tq), [0] * 7)
            for i, v in enumerate(values):
                acc[i] += v
        for (ns, tq), (h, m, s, wu, w, au, a) in sorted(sums.items()):
            hits.add_metric([ns, tq], h)
            misses.add_metric([ns, tq], m)
            size.add_metric([ns, tq], s)
            used.add_metric([ns, tq, "workflow"], wu)
            used.add_metric([ns, tq, "activity"], au)
            slots.add_metric([ns, tq, "workflow"], w)
            slots.add_metric([ns, tq, "activity"], a)
        return [hits, misses, size, used, slots]


# --- task queue backlog, read from the database at scrape time --------------------------------


class _BacklogCollector:
    """Scheduled, not yet started workflow tasks and activity attempts per task queue.

    Two ``GROUP BY`` counts over the rows the claim indexes cover, at most once per
    ``TEMPORALFLOW["METRICS_BACKLOG_INTERVAL"]`` seconds per process (scrapes in between get the
    last figures). A database error leaves the backlog out of that scrape, logged at debug level.
    """

    def __init__(self) -> None:
        self._at = float("-inf")
        self._rows: list[tuple[str, str, str, int]] = []

    def describe(self) -> Iterable[Any]:
        return [self._family()]

    @staticmethod
    def _family() -> Any:
        return GaugeMetricFamily("temporalflow_task_queue_backlog",
                                 "Tasks scheduled and not yet started, by kind (workflow, activity).",
                                 labels=["namespace", "task_queue", "kind"])

    def collect(self) -> Iterable[Any]:
        family = self._family()
        try:
            from temporalflow.conf import settings

            interval = float(settings.METRICS_BACKLOG_INTERVAL)
            if time.monotonic() - self._at >= interval:
                self._rows = self._read(settings.DATABASE_ALIAS)
                self._at = time.monotonic()
        except Exception:  # noqa: BLE001 - no Django, no database, an async caller: skip the backlog
            logger.debug("could not read the task queue backlog", exc_info=True)
            return [family]
        for ns, tq, kind, n in self._rows:
            family.add_metric([ns, tq, kind], n)
        return [family]

    @staticmethod
    def _read(alias: str) -> list[tuple[str, str, str, int]]:
        from django.db import connections
        from django.db.models import Count

        from temporalflow.models import ActivityTask, ActivityTaskState, WorkflowRun, WorkflowTaskState

        conn = connections[alias]
        opened = conn.connection is None
        try:
            wft = (WorkflowRun.objects.using(alias).filter(wft_state=WorkflowTaskState.SCHEDULED)
                   .values_list("namespace", "task_queue").annotate(n=Count("id")).order_by())
            act = (ActivityTask.objects.using(alias).filter(state=ActivityTaskState.SCHEDULED)
                   .values_list("namespace", "task_queue").annotate(n=Count("id")).order_by())
            rows = [(ns, tq, "workflow", n) for ns, tq, n in wft]
            rows += [(ns, tq, "activity", n) for ns, tq, n in act]
        finally:
            # A scrape thread of runworker's metrics server opened it: do not leave it behind.
            if opened and not conn.in_atomic_block:
                conn.close()
        return sorted(rows)


if _prom is not None:
    _prom.REGISTRY.register(_WorkerCollector())
    _prom.REGISTRY.register(_BacklogCollector())


def start_http_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serve the default registry (engine metrics included) at ``http://addr:port/metrics``.

    Raises:
        RuntimeError: ``prometheus_client`` is not installed.
    """
    if _prom is None:
        raise RuntimeError("metrics need prometheus-client: pip install 'temporalflow[metrics]'")
    _prom.start_http_server(port, addr=addr)
