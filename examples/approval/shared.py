"""Data types and the notification interface of the multi-level approval."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

TASK_QUEUE = "approvals"
"""The task queue the approval workflow and its activities run on."""


@dataclass
class ApprovalRequest:
    """Something that needs a yes or no, e.g. a purchase over the team's budget.

    Args:
        request_id: The caller's id for the request (also a good workflow id).
        requester: Who asks.
        summary: One line for the approvers' notification.
        levels: The approvers of each level, level 1 first (e.g. team lead, head of
            department, finance director); the request escalates one level at a time.
        escalation_timeout_seconds: How long each level has to decide before the request
            escalates to the next one (after the last level, it expires).
    """

    request_id: str
    requester: str
    summary: str
    levels: list[list[str]]
    escalation_timeout_seconds: float = 24 * 3600.0


@dataclass
class Decision:
    """What an approver sends with the ``approve`` or ``reject`` signal."""

    approver: str
    comment: str = ""


@dataclass
class PendingApproval:
    """What the ``pending`` query returns: who the request is waiting for, and until when."""

    status: str
    """``"pending"``, ``"approved"``, ``"rejected"`` or ``"expired"``."""
    level: int
    """The current level (1-based); the deciding level once decided; the last one once expired."""
    waiting_for: list[str]
    """The approvers who may decide now (this level's and every higher level's); empty once closed."""
    deadline: str | None
    """ISO-8601 time at which the current level escalates; None once closed."""


@dataclass
class ApprovalOutcome:
    """The workflow's result."""

    request_id: str
    status: str
    """``"approved"``, ``"rejected"`` or ``"expired"``."""
    level: int
    decided_by: str | None = None
    comment: str = ""
    escalations: int = 0
    ignored: list[str] = field(default_factory=list)
    """Approvers whose decision was ignored (not allowed to decide at that level)."""


class Notifier(Protocol):
    """Sends messages to people (e-mail, chat, …)."""

    def notify(self, recipients: list[str], subject: str, body: str) -> None:
        """Deliver one message to every recipient."""


class RecordingNotifier:
    """A notifier that keeps the messages in memory (development and tests); thread-safe."""

    def __init__(self) -> None:
        """Create an empty outbox."""
        self._lock = threading.Lock()
        self.sent: list[tuple[list[str], str, str]] = []

    def notify(self, recipients: list[str], subject: str, body: str) -> None:
        """Record the message."""
        with self._lock:
            self.sent.append((list(recipients), subject, body))

    def subjects_for(self, recipient: str) -> list[str]:
        """Subjects of the messages ``recipient`` got, in order."""
        with self._lock:
            return [subject for to, subject, _ in self.sent if recipient in to]
