"""System checks for temporalflow's configuration (``manage.py check``).

Ids are stable: ``temporalflow.E001`` settings (including a ``DATA_CONVERTER`` that does not
import), ``E002`` database vendor,
``W001`` SQLite without IMMEDIATE transactions, ``W002`` Django Channels listed before
temporalflow (its ``runworker`` command would replace temporalflow's), ``E003`` the registered
search attributes (``TEMPORALFLOW["SEARCH_ATTRIBUTES"]``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from temporalflow.conf import get_data_converter, settings
from temporalflow.core.search_attributes import SYSTEM_ATTRIBUTES, TYPE_NAMES


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
    try:
        get_data_converter()  # imported now, so a typo shows here rather than in the first worker
    except ImproperlyConfigured as err:
        return [Error(str(err), hint="Name a temporalflow.converter.DataConverter (see docs/data-conversion.md).",
                      id="temporalflow.E001")]
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


@register(Tags.compatibility)
def check_search_attributes(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``TEMPORALFLOW["SEARCH_ATTRIBUTES"]`` registers custom attributes with Temporal's type names."""
    try:
        setting = settings.SEARCH_ATTRIBUTES
    except ImproperlyConfigured:
        return []  # reported by check_settings
    return search_attribute_problems(setting)


def search_attribute_problems(setting: Any) -> list[Any]:
    """Problems of a ``SEARCH_ATTRIBUTES`` setting: name -> type, or namespace -> {name: type}."""
    hint = ("Map each name to one of " + ", ".join(TYPE_NAMES) + ", e.g. {'CustomerId': 'Keyword'} "
            "(or a namespace to such a dict).")
    if setting is None:
        return []
    if not isinstance(setting, dict):
        return [Error(f"TEMPORALFLOW['SEARCH_ATTRIBUTES'] must be a dict, not {type(setting).__name__}",
                      hint=hint, id="temporalflow.E003")]
    problems: list[Any] = []

    def check(name: Any, type_name: Any, where: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            problems.append(Error(f"search attribute name {name!r}{where} is not a valid name (letters, digits and "
                                  "underscores, not starting with a digit)", hint=hint, id="temporalflow.E003"))
        elif name in SYSTEM_ATTRIBUTES:
            problems.append(Error(f"search attribute {name}{where} is a Temporal system attribute and cannot be "
                                  "registered", hint="Choose another name.", id="temporalflow.E003"))
        elif type_name not in TYPE_NAMES:
            problems.append(Error(f"search attribute {name}{where} has unknown type {type_name!r}", hint=hint,
                                  id="temporalflow.E003"))

    for name, value in setting.items():
        if isinstance(value, dict):
            for inner, type_name in value.items():
                check(inner, type_name, f" (namespace {name!r})")
        else:
            check(name, value, "")
    return problems
