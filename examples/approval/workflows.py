"""A multi-level approval with escalation timers.

The request goes to level 1's approvers. If none of them decides within
``escalation_timeout_seconds``, it escalates to level 2, then to level 3 (as many levels
as the request lists); when the last level lets its time pass too, the request expires.
Any approver of the current level or of a higher one may decide (a department head can
approve what still waits for a team lead); a rejection ends the request at once. The
``pending`` query tells who the request is waiting for and until when.

The timers are durable: a request that waits two days for its director survives worker
restarts and deploys, and costs nothing while it waits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalflow import workflow
from temporalflow.exceptions import ApplicationError

from .activities import ApprovalActivities
from .shared import ApprovalOutcome, ApprovalRequest, Decision, PendingApproval

NOTIFY_OPTIONS = {"start_to_close_timeout": timedelta(seconds=30)}


@workflow.defn
class MultiLevelApproval:
    """One request, from level 1 to a decision (or to expiry)."""

    @workflow.init
    def __init__(self, request: ApprovalRequest) -> None:
        self._request = request
        self._level = 1
        self._deadline: datetime | None = None
        self._decision: tuple[str, Decision] | None = None
        self._ignored: list[str] = []
        self._status = "pending"

    @workflow.run
    async def run(self, request: ApprovalRequest) -> ApprovalOutcome:
        """Escalate level by level until someone decides or the last level's time is up."""
        _check(request)
        timeout = timedelta(seconds=request.escalation_timeout_seconds)
        escalations = 0
        for level in range(1, len(request.levels) + 1):
            self._level = level
            # The level's window starts once it was asked.
            self._deadline = workflow.now() + timeout
            await workflow.execute_activity_method(
                ApprovalActivities.request_decision, args=[request, level, self._deadline.isoformat()],
                **NOTIFY_OPTIONS)
            remaining = self._deadline - workflow.now()
            try:
                await workflow.wait_condition(lambda: self._decision is not None, timeout=remaining)
                break
            except TimeoutError:
                if level < len(request.levels):
                    escalations += 1
                    workflow.logger.info("request %s escalates to level %d", request.request_id, level + 1)
        self._deadline = None
        if self._decision is None:
            self._status = "expired"
            outcome = ApprovalOutcome(request_id=request.request_id, status="expired", level=self._level,
                                      escalations=escalations, ignored=list(self._ignored))
        else:
            verdict, decision = self._decision
            self._status = verdict
            outcome = ApprovalOutcome(request_id=request.request_id, status=verdict, level=self._level,
                                      decided_by=decision.approver, comment=decision.comment,
                                      escalations=escalations, ignored=list(self._ignored))
        await workflow.execute_activity_method(ApprovalActivities.announce_outcome, args=[request, outcome],
                                               **NOTIFY_OPTIONS)
        return outcome

    def _allowed(self) -> list[str]:
        """Approvers who may decide now: the current level's and every higher level's."""
        allowed: list[str] = []
        for approvers in self._request.levels[self._level - 1:]:
            allowed.extend(a for a in approvers if a not in allowed)
        return allowed

    def _decide(self, verdict: str, decision: Decision) -> None:
        if self._decision is not None or self._status != "pending":
            return  # the first decision wins; later ones change nothing
        if decision.approver not in self._allowed():
            # A signal cannot be refused to its sender; record it for the audit trail instead.
            workflow.logger.warning("ignoring %s from %s: not an approver at level %d or above", verdict,
                                    decision.approver, self._level)
            self._ignored.append(decision.approver)
            return
        self._decision = (verdict, decision)

    @workflow.signal
    def approve(self, decision: Decision) -> None:
        """An approver of the current (or a higher) level approves."""
        self._decide("approved", decision)

    @workflow.signal
    def reject(self, decision: Decision) -> None:
        """An approver of the current (or a higher) level rejects: the request ends."""
        self._decide("rejected", decision)

    @workflow.query
    def pending(self) -> PendingApproval:
        """Who the request is waiting for, and until when."""
        if self._status != "pending" or self._decision is not None:
            return PendingApproval(status=self._decision[0] if self._decision else self._status,
                                   level=self._level, waiting_for=[], deadline=None)
        return PendingApproval(status="pending", level=self._level, waiting_for=self._allowed(),
                               deadline=self._deadline.isoformat() if self._deadline else None)


def _check(request: ApprovalRequest) -> None:
    problems = []
    if not request.levels:
        problems.append("at least one level of approvers is needed")
    problems += [f"level {i} has no approvers" for i, level in enumerate(request.levels, 1) if not level]
    if request.escalation_timeout_seconds <= 0:
        problems.append(f"escalation_timeout_seconds must be positive, got {request.escalation_timeout_seconds}")
    if problems:
        raise ApplicationError(f"invalid approval request {request.request_id}: {'; '.join(problems)}",
                               type="InvalidRequest", non_retryable=True)
