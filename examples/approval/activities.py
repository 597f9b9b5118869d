"""Activities of the approval: ask a level's approvers, tell the requester the outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalflow import activity

from .shared import ApprovalOutcome, ApprovalRequest, Notifier


class ApprovalActivities:
    """The approval's activities, bound to a notifier.

    Args:
        notifier: How people are told.
    """

    def __init__(self, *, notifier: Notifier) -> None:
        self.notifier = notifier

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, bound to this instance, for ``Worker(activities=...)``."""
        return [self.request_decision, self.announce_outcome]

    @activity.defn
    def request_decision(self, request: ApprovalRequest, level: int, deadline: str) -> None:
        """Ask level ``level``'s approvers to decide before ``deadline``."""
        approvers = request.levels[level - 1]
        escalated = f" (escalated to level {level})" if level > 1 else ""
        self.notifier.notify(
            approvers, f"Approval needed{escalated}: {request.summary}",
            f"{request.requester} asks for approval of {request.summary!r} (request {request.request_id}). "
            f"Please approve or reject before {deadline}; after that it goes to the next level.")

    @activity.defn
    def announce_outcome(self, request: ApprovalRequest, outcome: ApprovalOutcome) -> None:
        """Tell the requester how the request ended."""
        by = f" by {outcome.decided_by}" if outcome.decided_by else ""
        comment = f": {outcome.comment}" if outcome.comment else ""
        self.notifier.notify([request.requester], f"Request {outcome.status}: {request.summary}",
                             f"Your request {request.request_id} was {outcome.status}{by} at level "
                             f"{outcome.level}{comment}.")
