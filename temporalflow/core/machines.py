"""History → activations, and commands ↔ events: how replay stays honest.

A :class:`RunDriver` owns one run's :class:`WorkflowInstance` and feeds it the
run's history one workflow task at a time. Fresh from a full history or
continuing from where a cached instance stopped, the same code runs:

- non-command events (activity results, timers fired, signals, cancel
  requests) become jobs of the next activation;
- each ``WorkflowTaskStarted`` that history shows was completed is replayed:
  the instance is activated (``is_replaying``) and the commands it produces
  are queued as *unmatched*;
- the command events following each ``WorkflowTaskCompleted`` must match the
  unmatched commands one by one (type and identity: activity id and type,
  timer id, update id, marker) — anything else is a
  :class:`NondeterminismError` naming the event and the command;
- the last ``WorkflowTaskStarted`` without an outcome is the current task: it
  is activated live and its commands are the task's result.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds
from temporalflow.core.children import RELATION_COMMANDS, RelationTracker
from temporalflow.core.errors import NondeterminismError
from temporalflow.core.events import CLOSE_EVENT_TYPES, COMMAND_EVENT_TYPES, EventType, HistoryEvent
from temporalflow.core.instance import PATCH_MARKER, WorkflowInstance

ET = EventType

_WFT_OUTCOMES = {ET.WORKFLOW_TASK_COMPLETED, ET.WORKFLOW_TASK_FAILED, ET.WORKFLOW_TASK_TIMED_OUT}

_EXPECTED_COMMAND: dict[EventType, type] = {
    ET.ACTIVITY_TASK_SCHEDULED: cmds.ScheduleActivityTask,
    ET.ACTIVITY_TASK_CANCEL_REQUESTED: cmds.RequestCancelActivityTask,
    ET.TIMER_STARTED: cmds.StartTimer,
    ET.TIMER_CANCELED: cmds.CancelTimer,
    ET.MARKER_RECORDED: cmds.RecordMarker,
    ET.WORKFLOW_EXECUTION_UPDATE_ACCEPTED: cmds.AcceptUpdate,
    ET.WORKFLOW_EXECUTION_UPDATE_COMPLETED: cmds.CompleteUpdate,
    ET.START_CHILD_WORKFLOW_EXECUTION_INITIATED: cmds.StartChildWorkflowExecution,
    ET.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: cmds.SignalExternalWorkflowExecution,
    ET.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: cmds.RequestCancelExternalWorkflowExecution,
    ET.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: cmds.UpsertWorkflowSearchAttributes,
    ET.WORKFLOW_EXECUTION_COMPLETED: cmds.CompleteWorkflowExecution,
    ET.WORKFLOW_EXECUTION_FAILED: cmds.FailWorkflowExecution,
    ET.WORKFLOW_EXECUTION_CANCELED: cmds.CancelWorkflowExecution,
    ET.WORKFLOW_EXECUTION_CONTINUED_AS_NEW: cmds.ContinueAsNewWorkflowExecution,
}


class CacheInvalidError(Exception):
    """The history shows the task this instance ran live did not complete: rebuild it."""


class HistoryGapError(Exception):
    """Events were handed over out of order or with a gap."""


InstanceFactory = Callable[[HistoryEvent], WorkflowInstance]
"""Builds the instance from the WorkflowExecutionStarted event (raises if the type is unknown)."""


class RunDriver:
    """Feeds one run's history to its workflow instance; see the module docstring."""

    def __init__(self, instance_factory: InstanceFactory, *, continue_as_new_suggested_at: int = 10240) -> None:
        self._factory = instance_factory
        self._suggest_at = continue_as_new_suggested_at
        self.instance: WorkflowInstance | None = None
        self.last_event_id = 0
        self._unmatched: list[cmds.Command] = []  # few at a time; a deque costs ~760 bytes idle
        self._pending: list[jobs.Job] = []
        # Pending activities only, by ActivityTaskScheduled id: (seq, activity_id, type). Entries
        # go when the activity resolves, so a long-lived cached run does not grow with its history.
        self._activities: dict[int, tuple[int, str, str]] = {}
        self._live_started_id = 0
        self._relations: RelationTracker | None = None  # children, external signals/cancels; on first use
        # Local activities of the task being replayed, by seq, until their marker resolves them.
        self._local: dict[int, cmds.ScheduleLocalActivity] = {}
        self._task_started: HistoryEvent | None = None
        self.closed = False

    # --- public ---------------------------------------------------------------

    def process(
        self,
        events: Sequence[HistoryEvent],
        *,
        current_started_event_id: int | None = None,
        pending_updates: Sequence[jobs.DoUpdate] = (),
    ) -> jobs.Completion | None:
        """Apply ``events`` (those after ``last_event_id``); activate the current task.

        ``current_started_event_id`` is the WorkflowTaskStarted of the task being
        worked on: it is activated live and its completion returned. Events after it
        are left for the next call. Without it (queries, the Replayer), every task
        history shows completed is replayed and None is returned.

        Raises :class:`NondeterminismError`, :class:`CacheInvalidError` or
        :class:`HistoryGapError`; the instance must then be discarded.
        """
        completion = None
        for i, ev in enumerate(events):
            if ev.event_id <= self.last_event_id:
                continue
            if ev.event_id != self.last_event_id + 1:
                raise HistoryGapError(f"expected event {self.last_event_id + 1}, got {ev.event_id}")
            if current_started_event_id is not None and ev.event_id > current_started_event_id:
                break
            self.last_event_id = ev.event_id
            if ev.event_type is ET.WORKFLOW_TASK_STARTED:
                if ev.event_id == current_started_event_id:
                    completion = self._activate(ev, events, i, replaying=False, updates=pending_updates)
                    self._live_started_id = ev.event_id
                    break
                outcome = self._outcome(events, i, ev.event_id)
                if outcome is ET.WORKFLOW_TASK_COMPLETED:
                    self._activate(ev, events, i, replaying=True, updates=())
            elif ev.event_type in COMMAND_EVENT_TYPES:
                self._match(ev)
            else:
                self._on_event(ev)
            if ev.event_type in CLOSE_EVENT_TYPES:
                self.closed = True
        if completion is None:
            self._check_all_matched(None)
        return completion

    def mark_unmatched(self, completion: jobs.Completion) -> None:
        """Queue a live completion's commands for matching against the events it writes.

        Call this only once the completion was accepted by the store. Local activities
        write no event: their marker does, and it resolves them on replay.
        """
        for c in completion.commands:
            if isinstance(c, cmds.ScheduleLocalActivity):
                self._local[c.seq] = c
            elif not isinstance(c, cmds.RejectUpdate | cmds.RequestCancelLocalActivity):
                self._unmatched.append(c)

    def resolve_local(self, resolutions: Sequence[jobs.ResolveActivity]) -> jobs.Completion:
        """Hand local activities' outcomes to the live task; returns the commands that follow.

        The worker calls this while the task (the last one :meth:`process` activated live)
        is still open, once per batch of finished local activities.
        """
        if self.instance is None or self._task_started is None:
            raise RuntimeError("no live workflow task to resolve local activities in")
        ev = self._task_started
        return self.instance.activate(jobs.Activation(
            jobs=list(resolutions), timestamp=ev.event_time, is_replaying=False, history_length=ev.event_id,
            continue_as_new_suggested=ev.event_id >= self._suggest_at))

    # --- activations ------------------------------------------------------------

    def _activate(
        self, ev: HistoryEvent, events: Sequence[HistoryEvent], index: int, *, replaying: bool,
        updates: Sequence[jobs.DoUpdate],
    ) -> jobs.Completion:
        self._check_all_matched(ev)
        job_list = self._pending
        self._pending = []
        if replaying:
            job_list = self._lookahead_jobs(events, index) + job_list
        else:
            job_list = job_list + list(updates)
        if self.instance is None:
            raise NondeterminismError(f"workflow task {ev.event_id} started before the workflow was started")
        self._task_started = ev
        completion = self.instance.activate(jobs.Activation(
            jobs=job_list,
            timestamp=ev.event_time,
            is_replaying=replaying,
            history_length=ev.event_id,
            continue_as_new_suggested=ev.event_id >= self._suggest_at,
        ))
        if replaying:
            if completion.failure is not None:
                raise NondeterminismError(
                    f"replaying workflow task {ev.event_id} failed although history shows it completed: "
                    f"{completion.failure.get('message')}"
                )
            self.mark_unmatched(completion)
        return completion

    def _lookahead_jobs(self, events: Sequence[HistoryEvent], index: int) -> list[jobs.Job]:
        """Jobs a replayed task needs from its own completion: accepted updates, patches."""
        found: list[jobs.Job] = []
        for ev in events[index + 1:]:
            if ev.event_type in (ET.WORKFLOW_TASK_SCHEDULED, ET.WORKFLOW_TASK_STARTED):
                break
            if ev.event_type is ET.WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                req = ev.attributes.get("accepted_request") or {}
                found.append(jobs.DoUpdate(
                    update_id=(req.get("meta") or {}).get("update_id", ""),
                    name=(req.get("input") or {}).get("name", ""),
                    input=(req.get("input") or {}).get("args") or {"payloads": []},
                    run_validator=False,
                    identity=(req.get("meta") or {}).get("identity", ""),
                ))
            elif ev.event_type is ET.MARKER_RECORDED and ev.attributes.get("marker_name") == PATCH_MARKER:
                found.insert(0, jobs.NotifyHasPatch(patch_id=_patch_id(ev)))
        return found

    @staticmethod
    def _outcome(events: Sequence[HistoryEvent], index: int, started_id: int) -> EventType | None:
        for ev in events[index + 1:]:
            if ev.event_type in _WFT_OUTCOMES and ev.attributes.get("started_event_id") == started_id:
                return ev.event_type
        return None

    # --- non-command events -> jobs ---------------------------------------------

    def _on_event(self, ev: HistoryEvent) -> None:
        a = ev.attributes
        match ev.event_type:
            case ET.WORKFLOW_EXECUTION_STARTED:
                self.instance = self._factory(ev)
                self._pending.append(jobs.InitializeWorkflow(
                    arguments=a.get("input") or {"payloads": []}, attributes=a, event_time=ev.event_time))
            case ET.ACTIVITY_TASK_COMPLETED:
                pending = self._activities.pop(a.get("scheduled_event_id", 0), None)
                if pending is not None:
                    self._pending.append(jobs.ResolveActivity(seq=pending[0], result=a.get("result")))
            case ET.ACTIVITY_TASK_FAILED:
                self._resolve_failed(a, "Activity task failed", a.get("failure"))
            case ET.ACTIVITY_TASK_TIMED_OUT:
                self._resolve_failed(a, "Activity task timed out", a.get("failure"))
            case ET.ACTIVITY_TASK_CANCELED:
                cause = {"message": "Activity cancelled", "canceled_failure_info": {"details": a.get("details")}}
                self._resolve_failed(a, "Activity cancelled", cause, cancelled=True)
            case ET.TIMER_FIRED:
                self._pending.append(jobs.FireTimer(seq=int(a.get("timer_id", 0))))
            case ET.WORKFLOW_EXECUTION_SIGNALED:
                self._pending.append(jobs.SignalWorkflow(
                    name=a.get("signal_name", ""), input=a.get("input") or {"payloads": []},
                    identity=a.get("identity", ""), header=a.get("header") or {}))
            case ET.WORKFLOW_EXECUTION_CANCEL_REQUESTED:
                self._pending.append(jobs.CancelWorkflow())
            case ET.WORKFLOW_TASK_FAILED | ET.WORKFLOW_TASK_TIMED_OUT:
                if self._live_started_id and a.get("started_event_id") == self._live_started_id:
                    raise CacheInvalidError(f"workflow task {self._live_started_id} did not complete")
            case _:
                if self._relations is not None and (job := self._relations.on_event(ev)) is not None:
                    self._pending.append(job)

    def _resolve_failed(self, a: dict[str, Any], message: str, cause: Any, cancelled: bool = False) -> None:
        sched_id = a.get("scheduled_event_id", 0)
        pending = self._activities.pop(sched_id, None)
        if pending is None:
            return
        seq, activity_id, activity_type = pending
        retry_state = a.get("retry_state") or ("RETRY_STATE_CANCEL_REQUESTED" if cancelled else
                                               "RETRY_STATE_NON_RETRYABLE_FAILURE")
        failure = {
            "message": message,
            "activity_failure_info": {
                "scheduled_event_id": sched_id,
                "started_event_id": a.get("started_event_id", 0),
                "identity": a.get("identity", ""),
                "activity_type": {"name": activity_type},
                "activity_id": activity_id,
                "retry_state": retry_state,
            },
            "cause": cause or {"message": message},
        }
        self._pending.append(jobs.ResolveActivity(seq=seq, failure=failure, cancelled=cancelled))

    # --- command events <-> commands --------------------------------------------

    def _match(self, ev: HistoryEvent) -> None:
        if ev.event_type is ET.MARKER_RECORDED and ev.attributes.get("marker_name") == cmds.LOCAL_ACTIVITY_MARKER:
            if self._replay_local(ev):
                return
        while True:
            cmd = self._unmatched.pop(0) if self._unmatched else None
            if cmd is None:
                if _is_deprecated_patch_event(ev):
                    return  # a deprecate_patch() call that has since been removed
                raise NondeterminismError(
                    f"[TMPRL1100] Nondeterminism error: history event {ev.event_id} {ev.event_type} "
                    f"({_event_key(ev)}) has no matching command: the workflow code no longer produces it"
                )
            if _matches(cmd, ev):
                break
            if isinstance(cmd, cmds.RecordMarker) and _is_deprecated_patch_command(cmd):
                continue  # a deprecated patch marker that older history never recorded
            if _is_deprecated_patch_event(ev):
                self._unmatched.insert(0, cmd)
                return
            raise NondeterminismError(
                f"[TMPRL1100] Nondeterminism error: history event {ev.event_id} {ev.event_type} "
                f"({_event_key(ev)}) does not match command {type(cmd).__name__} ({_command_key(cmd)})"
            )
        if isinstance(cmd, RELATION_COMMANDS):
            if self._relations is None:
                self._relations = RelationTracker()
            self._relations.matched(cmd, ev)
        if isinstance(cmd, cmds.ScheduleActivityTask):
            self._activities[ev.event_id] = (cmd.seq, cmd.activity_id, cmd.activity_type)
            if self.instance is not None:
                self.instance.on_activity_scheduled(cmd.seq, ev.event_id)

    def _replay_local(self, ev: HistoryEvent) -> bool:
        """A local activity's marker: resolve the replayed command and run on (True), as live.

        False when no replayed command waits for it (the marker of a live completion, matched
        as a plain marker command).
        """
        details = ev.attributes.get("details") or {}
        data = _decode_json(details.get("data"))
        seq = data.get("seq") if isinstance(data, dict) else None
        cmd = self._local.pop(seq, None) if isinstance(seq, int) else None
        if cmd is None:
            return False
        if cmd.activity_type != data.get("activity_type"):
            raise NondeterminismError(
                f"[TMPRL1100] Nondeterminism error: history event {ev.event_id} {ev.event_type} records local "
                f"activity {data.get('activity_type')!r} for seq {seq}, but the workflow code scheduled "
                f"local activity {cmd.activity_type!r}")
        started = self._task_started
        if self.instance is None or started is None:
            raise NondeterminismError(f"local activity marker {ev.event_id} outside a workflow task")
        job = jobs.ResolveActivity(seq=cmd.seq, result=details.get("result"), failure=ev.attributes.get("failure"),
                                   backoff=data.get("backoff"))
        completion = self.instance.activate(jobs.Activation(
            jobs=[job], timestamp=started.event_time, is_replaying=True, history_length=started.event_id,
            continue_as_new_suggested=started.event_id >= self._suggest_at))
        if completion.failure is not None:
            raise NondeterminismError(
                f"replaying the local activity resolved at event {ev.event_id} failed although history shows "
                f"its task completed: {completion.failure.get('message')}")
        self.mark_unmatched(completion)
        return True

    def _check_all_matched(self, at: HistoryEvent | None) -> None:
        # A local activity without a marker was still running when its task closed the run.
        self._local.clear()
        leftover = [c for c in self._unmatched if not _is_deprecated_patch_command(c)]
        if leftover:
            where = f"before event {at.event_id}" if at else "at the end of the history"
            cmd = leftover[0]
            raise NondeterminismError(
                f"[TMPRL1100] Nondeterminism error: the workflow code produced command "
                f"{type(cmd).__name__} ({_command_key(cmd)}) that is not in the history ({where})"
            )
        self._unmatched.clear()


def _matches(cmd: cmds.Command, ev: HistoryEvent) -> bool:
    if not isinstance(cmd, _EXPECTED_COMMAND.get(ev.event_type, ())):
        return False
    a = ev.attributes
    match cmd:
        case cmds.ScheduleActivityTask():
            return a.get("activity_id") == cmd.activity_id and (a.get("activity_type") or {}).get(
                "name") == cmd.activity_type
        case cmds.RequestCancelActivityTask():
            return a.get("scheduled_event_id") == cmd.scheduled_event_id
        case cmds.StartTimer() | cmds.CancelTimer():
            return a.get("timer_id") == str(cmd.seq)
        case cmds.RecordMarker():
            if a.get("marker_name") != cmd.marker_name:
                return False
            if cmd.marker_name == PATCH_MARKER:
                return _patch_id(ev) == _decode_json(cmd.details.get("patch_id"))
            return True
        case cmds.StartChildWorkflowExecution():
            return a.get("workflow_id") == cmd.workflow_id and (a.get("workflow_type") or {}).get(
                "name") == cmd.workflow_type
        case cmds.SignalExternalWorkflowExecution():
            return ((a.get("workflow_execution") or {}).get("workflow_id") == cmd.workflow_id
                    and a.get("signal_name") == cmd.signal_name)
        case cmds.RequestCancelExternalWorkflowExecution():
            return (a.get("workflow_execution") or {}).get("workflow_id") == cmd.workflow_id
        case cmds.AcceptUpdate():
            return ((a.get("accepted_request") or {}).get("meta") or {}).get("update_id") == cmd.update_id
        case cmds.CompleteUpdate():
            return (a.get("meta") or {}).get("update_id") == cmd.update_id
    return True


def _event_key(ev: HistoryEvent) -> str:
    a = ev.attributes
    if ev.event_type is ET.ACTIVITY_TASK_SCHEDULED:
        return f"activity_id={a.get('activity_id')!r}, activity_type={(a.get('activity_type') or {}).get('name')!r}"
    if ev.event_type in (ET.TIMER_STARTED, ET.TIMER_CANCELED):
        return f"timer_id={a.get('timer_id')!r}"
    if ev.event_type is ET.MARKER_RECORDED:
        return f"marker_name={a.get('marker_name')!r}"
    if ev.event_type is ET.START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        return f"workflow_id={a.get('workflow_id')!r}, workflow_type={(a.get('workflow_type') or {}).get('name')!r}"
    if ev.event_type is ET.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        return (f"workflow_id={(a.get('workflow_execution') or {}).get('workflow_id')!r}, "
                f"signal_name={a.get('signal_name')!r}")
    if ev.event_type is ET.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        return f"workflow_id={(a.get('workflow_execution') or {}).get('workflow_id')!r}"
    return ""


def _command_key(cmd: cmds.Command) -> str:
    match cmd:
        case cmds.ScheduleActivityTask():
            return f"activity_id={cmd.activity_id!r}, activity_type={cmd.activity_type!r}"
        case cmds.StartTimer() | cmds.CancelTimer():
            return f"timer_id={str(cmd.seq)!r}"
        case cmds.RecordMarker():
            return f"marker_name={cmd.marker_name!r}"
        case cmds.AcceptUpdate() | cmds.CompleteUpdate():
            return f"update_id={cmd.update_id!r}"
        case cmds.StartChildWorkflowExecution():
            return f"workflow_id={cmd.workflow_id!r}, workflow_type={cmd.workflow_type!r}"
        case cmds.SignalExternalWorkflowExecution():
            return f"workflow_id={cmd.workflow_id!r}, signal_name={cmd.signal_name!r}"
        case cmds.RequestCancelExternalWorkflowExecution():
            return f"workflow_id={cmd.workflow_id!r}"
    return ""


def _decode_json(payloads: Any) -> Any:
    try:
        data = (payloads or {}).get("payloads", [])[0]["data"]
        return json.loads(base64.b64decode(data))
    except (LookupError, ValueError, TypeError):
        return None


def _patch_id(ev: HistoryEvent) -> Any:
    return _decode_json((ev.attributes.get("details") or {}).get("patch_id"))


def _is_deprecated_patch_event(ev: HistoryEvent) -> bool:
    return (ev.event_type is ET.MARKER_RECORDED and ev.attributes.get("marker_name") == PATCH_MARKER
            and _decode_json((ev.attributes.get("details") or {}).get("deprecated")) is True)


def _is_deprecated_patch_command(cmd: cmds.Command) -> bool:
    return (isinstance(cmd, cmds.RecordMarker) and cmd.marker_name == PATCH_MARKER
            and _decode_json(cmd.details.get("deprecated")) is True)
