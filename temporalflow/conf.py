"""temporalflow's settings: one ``TEMPORALFLOW = {...}`` dict in the Django settings.

Values are read on every access (so ``override_settings(TEMPORALFLOW=...)``
works in tests) and fall back to the typed defaults below::

    from temporalflow.conf import settings
    settings.POLL_INTERVAL  # 0.5 unless TEMPORALFLOW["POLL_INTERVAL"] says otherwise

An unknown key in ``TEMPORALFLOW`` raises ``ImproperlyConfigured`` naming the
known keys, so a typo is not silently ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["Settings", "get_data_converter", "settings"]


class Settings:
    """Defaults for every ``TEMPORALFLOW`` key; an instance reads the live value."""

    NAMESPACE: str = "default"
    """Namespace used when a caller gives none; every table carries a namespace column."""

    DATABASE_ALIAS: str = "default"
    """The ``DATABASES`` alias holding temporalflow's tables."""

    DEFAULT_TASK_QUEUE: str = "default"
    """Task queue used by workers and clients when none is given."""

    POLL_INTERVAL: float = 0.5
    """Seconds between polls when no LISTEN/NOTIFY wake-up is available (SQLite)."""

    WORKFLOW_TASK_TIMEOUT: float = 10.0
    """Default start-to-close timeout of a workflow task, in seconds."""

    STICKY_SCHEDULE_TO_START_TIMEOUT: float = 5.0
    """How long a run's next workflow task is reserved for the worker caching it."""

    HEARTBEAT_THROTTLE_MAX: float = 30.0
    """Upper bound, in seconds, on how long activity heartbeats are buffered before sent."""

    WORKFLOW_MODULES: list[str] = []
    """Extra dotted module paths to import workflow definitions from."""

    ACTIVITY_MODULES: list[str] = []
    """Extra dotted module paths to import activity definitions from."""

    AUTODISCOVER_MODULE_NAMES: tuple[str, ...] = ("workflows", "activities")
    """Module names looked up in every installed app by ``runworker``."""

    PAYLOAD_SIZE_WARN: int = 256 * 1024
    """Log a warning when one payload exceeds this many bytes."""

    PAYLOAD_SIZE_LIMIT: int = 2 * 1024 * 1024
    """Refuse payloads larger than this many bytes (the task fails with a clear error)."""

    HISTORY_COUNT_WARN: int = 10240
    """Log a warning when a run's history grows past this many events."""

    HISTORY_COUNT_LIMIT: int = 51200
    """Terminate a run whose history grows past this many events."""

    WORKER_IDLE_IN_TRANSACTION_TIMEOUT: float = 10.0
    """PostgreSQL ``idle_in_transaction_session_timeout`` (seconds) of worker connections: a
    frozen worker (SIGSTOP, a VM pause) holding a run's row lock is cut off after this long
    instead of blocking the run until it wakes. A worker frozen in the middle of a pipelined
    transaction (its session still counts as active) is ended by another worker's timer loop
    after as long again. The engine's own transactions take milliseconds. Worker connections
    are named ``temporalflow-worker pid=N`` (before any ``application_name`` the project sets)."""

    WORKER_METRICS_PORT: int | None = None
    """Port on which every ``manage.py runworker`` serves Prometheus metrics at ``/metrics``
    (``--metrics-port`` overrides it); None: no metrics server. Needs the ``metrics`` extra."""

    WORKER_METRICS_ADDR: str = "0.0.0.0"
    """Address the worker's metrics server binds (``--metrics-addr`` overrides it)."""

    METRICS_BACKLOG_INTERVAL: float = 5.0
    """Seconds a process reuses its last task-queue backlog figures (``temporalflow_task_queue_backlog``)
    before a scrape counts the scheduled tasks in the database again."""

    SEARCH_ATTRIBUTES: dict[str, Any] = {}
    """Custom search attributes, registered as Temporal requires: name -> type (``"Text"``,
    ``"Keyword"``, ``"Int"``, ``"Double"``, ``"Bool"``, ``"Datetime"``, ``"KeywordList"``) for
    every namespace, or namespace -> such a dict for one namespace. Starting or upserting an
    attribute that is not registered (or with a value of another type) is refused."""

    DATA_CONVERTER: Any = None
    """The project's data converter: a dotted path to a ``temporalflow.converter.DataConverter``
    (or to a callable returning one), e.g. ``"myapp.converters.data_converter"``, or the object
    itself; None: ``DataConverter.default``. ``runworker``, ``Client.connect()`` /
    ``SyncClient.connect()`` without ``data_converter=``, the admin, the REST API and the
    Channels run socket use it, so payloads stored through its codec (encrypted, compressed)
    are read back decoded there. See docs/data-conversion.md."""

    _checked: Any = None  # the TEMPORALFLOW dict last validated (engine hot paths read settings often)
    _known: frozenset[str] | None = None

    @classmethod
    def known_keys(cls) -> list[str]:
        """Every key ``TEMPORALFLOW`` may contain."""
        return sorted(k for k in vars(cls) if k.isupper())

    def user_settings(self) -> dict[str, Any]:
        """The project's ``TEMPORALFLOW`` dict, validated for unknown keys."""
        user = getattr(django_settings, "TEMPORALFLOW", None) or {}
        if user is Settings._checked:
            return user  # validated already (override_settings installs a new dict, checked anew)
        if not isinstance(user, dict):
            raise ImproperlyConfigured("settings.TEMPORALFLOW must be a dict")
        if Settings._known is None:
            Settings._known = frozenset(self.known_keys())
        unknown = set(user) - Settings._known
        if unknown:
            raise ImproperlyConfigured(
                f"Unknown key(s) in settings.TEMPORALFLOW: {', '.join(sorted(unknown))}. "
                f"Known keys: {', '.join(self.known_keys())}."
            )
        if user:
            Settings._checked = user
        return user

    def __getattribute__(self, name: str) -> Any:
        if name.isupper():
            default = getattr(type(self), name)  # AttributeError for unknown names
            user = object.__getattribute__(self, "user_settings")()
            if name in user:
                return user[name]
            # Copy mutable defaults so a caller cannot change them for everyone.
            return copy.copy(default) if isinstance(default, (list, dict)) else default
        return object.__getattribute__(self, name)


settings = Settings()
"""The settings object; attributes read ``settings.TEMPORALFLOW`` on every access."""


_converters: dict[str, Any] = {}


def get_data_converter() -> Any:
    """The ``DATA_CONVERTER`` setting's data converter (``DataConverter.default`` when unset).

    Also ``DataConverter.default`` when Django settings are not configured at all (a plain
    script or test using the in-process client), so callers need not check.

    Raises:
        ImproperlyConfigured: If the setting names nothing importable, or something that is
            not a ``DataConverter`` (nor a callable returning one).
    """
    from temporalflow.core.converter import DataConverter

    if not django_settings.configured:
        return DataConverter.default
    value = settings.DATA_CONVERTER
    if value is None or value == "":
        return DataConverter.default
    if isinstance(value, DataConverter):
        return value
    if not isinstance(value, str):
        raise ImproperlyConfigured(
            "TEMPORALFLOW['DATA_CONVERTER'] must be a dotted path to a DataConverter (or a callable returning one), "
            f"or a DataConverter; got {type(value).__name__}")
    cached = _converters.get(value)
    if cached is not None:
        return cached
    from django.utils.module_loading import import_string

    try:
        obj = import_string(value)
    except ImportError as err:
        raise ImproperlyConfigured(f"TEMPORALFLOW['DATA_CONVERTER'] = {value!r} cannot be imported: {err}") from err
    if not isinstance(obj, DataConverter) and callable(obj) and not isinstance(obj, type):
        obj = obj()
    if not isinstance(obj, DataConverter):
        raise ImproperlyConfigured(
            f"TEMPORALFLOW['DATA_CONVERTER'] = {value!r} is a {type(obj).__name__}, not a "
            "temporalflow.converter.DataConverter (nor a function returning one)")
    _converters[value] = obj
    return obj
