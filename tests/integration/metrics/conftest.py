"""Metrics tests: the engine tests' environments (a real client and worker on the test database)."""

from __future__ import annotations

from tests.integration.engine.conftest import env, time_env  # noqa: F401  (fixtures)
