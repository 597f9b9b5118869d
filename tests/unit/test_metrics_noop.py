"""Without prometheus_client every metrics call is a cheap no-op (and imports no Django)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from types import ModuleType, SimpleNamespace
from unittest import mock

import pytest


def _metrics_without_prometheus() -> ModuleType:
    """A fresh copy of temporalflow.metrics, imported while ``import prometheus_client`` fails."""
    spec = importlib.util.find_spec("temporalflow.metrics")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)  # not put in sys.modules: the real one is untouched
    with mock.patch.dict(sys.modules, {"prometheus_client": None, "prometheus_client.core": None}):
        spec.loader.exec_module(module)
    return module


LEASE = SimpleNamespace(namespace="default", task_queue="q", workflow_type="W", activity_type="a",
                        history=None, scheduled_event_id=2, started_event_id=3, started_time=2.0,
                        current_attempt_scheduled_time=1.0)


def test_every_call_is_a_no_op() -> None:
    m = _metrics_without_prometheus()
    assert m.ENABLED is False
    m.workflow_started("default", "q", "W")
    m.workflow_closed("default", "q", "W", "completed")
    m.workflow_closed_by_commands(LEASE, [object()])
    m.workflow_task_activated(LEASE, 0.01)
    m.workflow_task_failed(LEASE, "WorkflowWorkerUnhandledFailure")
    m.activity_started(LEASE)
    m.activity_executed(LEASE, 0.5)
    m.activity_failed(LEASE)
    m.register_worker(1, "default", "q", lambda: (0, 0, 0, 0, 0, 0, 0))
    m.unregister_worker(1)
    with pytest.raises(RuntimeError, match="prometheus-client"):
        m.start_http_server(0)


def test_no_op_calls_are_cheap() -> None:
    m = _metrics_without_prometheus()
    t0 = time.perf_counter()
    for _ in range(100_000):
        m.workflow_task_activated(LEASE, 0.01)
        m.activity_executed(LEASE, 0.01)
    per_call = (time.perf_counter() - t0) / 200_000
    assert per_call < 5e-6  # a function call and one global check (~0.1 µs); generous for a loaded machine


def test_module_imports_without_prometheus_or_django() -> None:
    code = ("import sys; sys.modules['prometheus_client'] = None; import temporalflow.metrics as m; "
            "import temporalflow.logging; assert not m.ENABLED; assert 'django' not in sys.modules; "
            "m.workflow_started('ns', 'q', 'W')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
