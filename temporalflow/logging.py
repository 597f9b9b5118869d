"""Structured logs: :class:`JSONFormatter` renders a record as one JSON object per line.

The engine's log lines carry their context as ``LogRecord`` attributes (``extra``):
``workflow.logger`` and the worker's lines about a run add ``workflow_id``, ``run_id``,
``workflow_type`` and ``namespace``; ``activity.logger`` and the worker's lines about an
activity add ``activity_id``, ``activity_type`` and ``attempt`` too. ``workflow.logger`` and
``activity.logger`` also keep temporalio's ``temporal_workflow`` / ``temporal_activity`` dict.
The formatter writes every such field, plus anything else passed in ``extra``, beside the
time, level, logger name and message::

    LOGGING = {
        "version": 1,
        "formatters": {"json": {"()": "temporalflow.logging.JSONFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"temporalflow": {"handlers": ["console"], "level": "INFO"}},
    }

Standard library only.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["JSONFormatter"]

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message``, then the extra fields.

    ``exc_info`` becomes ``exception`` (the formatted traceback) and ``stack_info`` ``stack``.
    Values JSON cannot encode are written with ``str()``. The message is the plain formatted
    message (``record.getMessage()``).

    Args:
        fields: names of standard record attributes to add too (e.g. ``("process", "threadName")``).
    """

    def __init__(self, *args: Any, fields: tuple[str, ...] | list[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields = tuple(fields)

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.fields:
            out[name] = getattr(record, name, None)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)
