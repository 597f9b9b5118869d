"""Fixtures shared by all test tiers (unit, integration, e2e). Keep this file small."""

from __future__ import annotations

import pytest


@pytest.fixture
def db_vendor() -> str:
    """The vendor of the default database: ``"sqlite"`` or ``"postgresql"`` (no DB access needed)."""
    from django.db import connection

    return connection.vendor
