"""Apply a payload codec to every payload inside commands, events and failures.

temporalio's worker runs the codec at the edge of the workflow: activations are
decoded before workflow code sees them and completions encoded after it ran
(``temporalio.bridge.worker.decode_activation`` / ``encode_completion``, a visitor
over every ``Payload`` field). The engine's messages are dicts and dataclasses
holding payloads in Temporal's JSON form, so the visitor here walks them
generically: any ``{"payloads": [...]}`` list and any single payload object
(memo values, a failure's ``encoded_attributes``) is passed to the codec, and
the result written back in place. Walking by shape rather than by a list of
fields keeps new commands and events (children, external signals, ...) covered
without touching this module.

Left alone, as temporalio leaves them: ``search_attributes`` (indexed by the
server, never encoded) and ``header`` (temporalio encodes headers only when told
to). Patch markers (``core_patch``) are written and read by the engine itself
(temporalio's core SDK creates them, outside the codec), so their details stay
plain.

Pure: standard library and ``temporalflow.core``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.instance import PATCH_MARKER
from temporalflow.core.payload import Payload

__all__ = ["CodecFn", "decode_events", "visit_commands", "visit_payloads"]

CodecFn = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
"""A codec's ``encode`` or ``decode``."""

SKIPPED_KEYS = frozenset({"search_attributes", "header"})
"""Keys whose payloads the codec never sees (see the module docstring)."""

_MAX_DEPTH = 200
"""Nesting deeper than this is not walked (a failure's cause chain is cut at 100 by the converter)."""

_NO_PAYLOADS_READ = frozenset({
    # Command events: the driver matches them by identity and never reads their payloads,
    # so decoding them on every replay would be wasted work (UpdateAccepted and markers
    # other than patches are read on replay, so they are not here).
    EventType.ACTIVITY_TASK_SCHEDULED,
    EventType.WORKFLOW_EXECUTION_COMPLETED,
    EventType.WORKFLOW_EXECUTION_FAILED,
    EventType.WORKFLOW_EXECUTION_CANCELED,
    EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    EventType.WORKFLOW_TASK_SCHEDULED,
    EventType.WORKFLOW_TASK_STARTED,
    EventType.WORKFLOW_TASK_COMPLETED,
    EventType.WORKFLOW_TASK_FAILED,
    EventType.WORKFLOW_TASK_TIMED_OUT,
    EventType.TIMER_STARTED,
    EventType.TIMER_FIRED,
    EventType.TIMER_CANCELED,
    EventType.ACTIVITY_TASK_STARTED,
    EventType.ACTIVITY_TASK_CANCEL_REQUESTED,
})


def _is_payload(obj: dict[str, Any]) -> bool:
    return (isinstance(obj.get("metadata"), dict) and isinstance(obj.get("data", ""), str)
            and "data" in obj and set(obj) <= {"metadata", "data", "external_payloads"})


def _is_payloads(obj: dict[str, Any]) -> bool:
    items = obj.get("payloads")
    return len(obj) == 1 and isinstance(items, list) and all(isinstance(p, dict) for p in items)


async def _apply(items: list[Any], fn: CodecFn, where: str) -> list[dict[str, Any]]:
    payloads = [Payload.from_json(p) for p in items]
    result = await fn(payloads)
    if not isinstance(result, list | tuple):
        raise TypeError(f"payload codec returned {type(result).__name__}, expected a list of payloads ({where})")
    out = []
    for p in result:
        if not isinstance(p, Payload):
            raise TypeError(f"payload codec returned a {type(p).__name__}, expected a Payload ({where})")
        out.append(p.to_json())
    return out


async def visit_payloads(obj: Any, fn: CodecFn, where: str = "", _depth: int = 0) -> None:
    """Replace, in place, every payload and payload list inside ``obj`` with ``fn``'s result.

    Args:
        obj: A dict or list (event attributes, a Failure dict, a memo, ...); other values
            are left alone.
        fn: The codec's ``encode`` or ``decode``.
        where: What ``obj`` is, for error messages.

    Raises:
        Exception: Whatever ``fn`` raises (a payload that does not decode, ...).
        TypeError: If ``fn`` returns something other than a list of payloads, or a
            different number of payloads for a single payload.
    """
    if _depth > _MAX_DEPTH:
        return
    if isinstance(obj, dict):
        if _is_payloads(obj):
            if obj["payloads"]:
                obj["payloads"] = await _apply(obj["payloads"], fn, where)
            return
        if _is_payload(obj):
            [one] = await _single(obj, fn, where)
            obj.clear()
            obj.update(one)
            return
        patch_marker = obj.get("marker_name") == PATCH_MARKER
        for key, value in obj.items():
            if key in SKIPPED_KEYS or (patch_marker and key == "details"):
                continue
            if isinstance(value, dict | list):
                await visit_payloads(value, fn, where, _depth + 1)
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict | list):
                await visit_payloads(item, fn, where, _depth + 1)


async def _single(obj: dict[str, Any], fn: CodecFn, where: str) -> list[dict[str, Any]]:
    result = await _apply([obj], fn, where)
    if len(result) != 1:
        raise TypeError(f"payload codec turned one payload into {len(result)} ({where})")
    return result


async def visit_commands(commands: Sequence[Any], fn: CodecFn) -> None:
    """Apply ``fn`` to the payloads of a completion's commands, in place.

    Every dataclass field of every command is walked (``input``, ``args``, ``result``,
    ``details``, ``failure``, ``memo`` …) except ``search_attributes`` and ``header``;
    a patch marker's details stay plain.
    """
    for cmd in commands:
        if getattr(cmd, "marker_name", None) == PATCH_MARKER:
            continue
        name = type(cmd).__name__
        for f in dataclasses.fields(cmd):
            if f.name in SKIPPED_KEYS:
                continue
            value = getattr(cmd, f.name)
            if isinstance(value, dict | list):
                await visit_payloads(value, fn, f"{name}.{f.name}")


async def decode_events(events: Sequence[HistoryEvent], fn: CodecFn) -> list[HistoryEvent]:
    """Copies of ``events`` whose payloads went through ``fn`` (the codec's ``decode``).

    Events whose payloads replay never reads are passed through as they are (the same
    objects); the others are copied, so the stored (encoded) events are not changed.
    """
    out: list[HistoryEvent] = []
    for ev in events:
        if ev.event_type in _NO_PAYLOADS_READ or not ev.attributes:
            out.append(ev)
            continue
        attributes = _copy(ev.attributes)
        await visit_payloads(attributes, fn, f"event {ev.event_id} {ev.event_type}")
        out.append(HistoryEvent(event_id=ev.event_id, event_type=ev.event_type, event_time=ev.event_time,
                                attributes=attributes))
    return out


def _copy(obj: Any) -> Any:
    """A copy of JSON-shaped data (dicts and lists copied, leaves shared): cheaper than deepcopy."""
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj
