"""Settings of the demo/dev project (never imported by the temporalflow app).

SQLite by default (``var/db.sqlite3``); PostgreSQL when ``DATABASE_URL`` is set,
e.g. ``postgres://postgres@127.0.0.1:5432/temporalflow``.
"""

import importlib.util
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TEMPORALFLOW_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

# HTTP and database metrics at /metrics, beside temporalflow's engine metrics (the metrics extra;
# django-prometheus 2.5 declares Django<6.1, so the Django 6.1 environment may not have it).
PROMETHEUS = importlib.util.find_spec("django_prometheus") is not None
_PROMETHEUS = ["django_prometheus"] if PROMETHEUS else []

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves HTTP and WebSockets (project.asgi)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    *_PROMETHEUS,
    "temporalflow",
    "channels",  # after temporalflow: its own runworker command must not shadow temporalflow's
    "project.demo",
]

MIDDLEWARE = [
    *[f"{app}.middleware.PrometheusBeforeMiddleware" for app in _PROMETHEUS],  # first: HTTP metrics
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    *[f"{app}.middleware.PrometheusAfterMiddleware" for app in _PROMETHEUS],  # last
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

# The run socket follows runs through the store's wake-ups and needs no channel layer; one is
# configured for other consumers: in-memory (one process) by default, Redis across processes.
# redis-py 8 reads with a 5 s socket timeout by default, as long as channels-redis' blocking receive
# (BZPOPMIN, 5 s): an idle socket's receive then fails with "Timeout reading". A longer read timeout fixes it.
CHANNEL_LAYERS = (
    {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                 "CONFIG": {"hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 15}]}}}
    if os.environ.get("REDIS_URL")
    else {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
)


_SQLITE_OPTIONS = {
    # WAL so readers never block the writer, IMMEDIATE transactions so a write
    # transaction takes the lock up front (no lock-upgrade deadlocks between
    # worker processes), and a generous busy timeout.
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        db = dj_database_url.parse(url, conn_max_age=600)
        if db["ENGINE"] == "django.db.backends.sqlite3":
            db["OPTIONS"] = {**_SQLITE_OPTIONS, **db.get("OPTIONS", {})}
            db["CONN_MAX_AGE"] = 0
        elif db["ENGINE"] == "django.db.backends.postgresql":
            # Server-side parameter binding + prepare_threshold let psycopg prepare the
            # engine's statements (after 5 runs on a connection): PostgreSQL stops parsing and
            # planning the same SQL again and again. Django leaves preparing off unless
            # prepare_threshold is set. (Behind PgBouncer in transaction mode, leave both out.)
            db["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5, **db.get("OPTIONS", {})}
        return db
    # SQLite for development and tests. The test database is a file so worker
    # subprocesses (e2e tests) can share it.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        "OPTIONS": dict(_SQLITE_OPTIONS),
        "TEST": {"NAME": str(VAR_DIR / f"test_db{os.environ.get('PYTEST_XDIST_WORKER', '')}.sqlite3")},
    }


DATABASES = {"default": _database()}

AUTH_PASSWORD_VALIDATORS = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "static"))  # manage.py collectstatic
# The app serves STATIC_ROOT itself (project/urls.py) when no proxy does: the Docker image's web role,
# where daphne serves the ASGI app directly.
SERVE_STATIC = os.environ.get("DJANGO_SERVE_STATIC", "0") == "1"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    # Token first: an unauthenticated API call gets 401 with "WWW-Authenticate: Token".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "temporalflow.api.errors.exception_handler",
}

TEMPORALFLOW = {
    "NAMESPACE": "default",
    "DEFAULT_TASK_QUEUE": "default",
    # Extra modules with workflows/activities, e.g. the e2e tests' workloads.
    "WORKFLOW_MODULES": [m for m in os.environ.get("TEMPORALFLOW_EXTRA_MODULES", "").split(",") if m],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "temporalflow": {"handlers": ["console"], "level": os.environ.get("TEMPORALFLOW_LOG_LEVEL", "INFO")},
    },
}
