"""The test harness itself works, on whichever database this run uses."""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command
from django.db import connection


@pytest.mark.django_db  # Django 6.1's field checks may ask the database what it supports
def test_system_checks_pass():
    call_command("check", fail_level="WARNING", databases=["default"])


@pytest.mark.django_db
def test_migrations_are_in_sync_with_models():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(
            "Models and migrations are out of sync; run `python manage.py makemigrations` "
            f"and commit the new migration (exit {exc.code}):\n{out.getvalue()}"
        )


@pytest.mark.django_db
def test_database_vendor_matches_database_url(db_vendor):
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://", "pgsql://")) else "sqlite"
    if url and expected == "sqlite":
        pytest.fail(f"unexpected DATABASE_URL scheme for this suite: {url!r}")
    assert db_vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    # pytest-django switched to the throw-away test database, never the dev one.
    assert "test" in os.path.basename(str(connection.settings_dict["NAME"]))
