"""System checks for temporalflow's configuration (``manage.py check``).

Ids are stable: ``temporalflow.E001`` settings, ``E002`` database vendor,
``W001`` SQLite without IMMEDIATE transactions, ``W002`` Django Channels listed before
temporalflow (its ``runworker`` command would replace temporalflow's).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from temporalflow.conf import settings


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``TEMPORALFLOW`` is a dict with known keys, naming a configured database."""
    try:
        alias = settings.DATABASE_ALIAS
    except ImproperlyConfigured as err:
        return [Error(str(err), hint="Fix settings.TEMPORALFLOW.", id="temporalflow.E001")]
    if alias not in django_settings.DATABASES:
        return [Error(f"TEMPORALFLOW['DATABASE_ALIAS'] is {alias!r}, which is not in settings.DATABASES",
                      hint=f"Use one of: {', '.join(django_settings.DATABASES)}.", id="temporalflow.E001")]
    return []


@register(Tags.database)
def check_database(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The engine's database is PostgreSQL, or SQLite set up for several writers."""
    try:
        alias = settings.DATABASE_ALIAS
        db = django_settings.DATABASES[alias]
    except (ImproperlyConfigured, KeyError):
        return []  # reported by check_settings
    return database_problems(alias, db)


def database_problems(alias: str, db: dict[str, Any]) -> list[Any]:
    """Problems of one ``DATABASES`` entry used by the engine."""
    engine = db.get("ENGINE", "")
    if engine.endswith(("postgresql", "postgis")):
        return []
    if not engine.endswith("sqlite3"):
        return [Error(f"temporalflow supports PostgreSQL and SQLite, not {engine!r}",
                      hint="Point TEMPORALFLOW['DATABASE_ALIAS'] at a PostgreSQL (or SQLite) database.",
                      id="temporalflow.E002")]
    if (db.get("OPTIONS") or {}).get("transaction_mode") != "IMMEDIATE":
        return [Warning(
            f"SQLite database {alias!r} does not use IMMEDIATE transactions: a worker and a web process writing "
            "at once can fail with 'database is locked'",
            hint="Add 'OPTIONS': {'transaction_mode': 'IMMEDIATE', 'timeout': 30} to the database settings "
                 "(and consider 'init_command': 'PRAGMA journal_mode=WAL;'). Use PostgreSQL in production.",
            id="temporalflow.W001")]
    return []


@register(Tags.compatibility)
def check_command_order(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``manage.py runworker`` is temporalflow's, although Django Channels has a command of that name."""
    return runworker_problems(list(django_settings.INSTALLED_APPS))


def runworker_problems(installed_apps: list[str]) -> list[Any]:
    """Problems of the app order for ``runworker``: Django uses the command of the app listed first."""

    def position(app: str) -> int | None:
        for i, entry in enumerate(installed_apps):
            if entry == app or entry.startswith(app + "."):
                return i
        return None

    ours, channels = position("temporalflow"), position("channels")
    if ours is not None and channels is not None and channels < ours:
        return [Warning(
            "'channels' comes before 'temporalflow' in INSTALLED_APPS, so 'manage.py runworker' runs Django "
            "Channels' worker instead of temporalflow's",
            hint="List 'temporalflow' before 'channels' in INSTALLED_APPS.", id="temporalflow.W002")]
    return []
