"""``@workflow.defn``, ``run``, ``init``, ``signal``, ``query``, ``update`` (temporalio's signatures)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from temporalflow.core.definitions import (
    HandlerDefinition,
    build_workflow_definition,
    handler_of,
    mark_handler,
    mark_init,
    mark_run,
)

ClassType = TypeVar("ClassType", bound=type)
CallableType = TypeVar("CallableType", bound=Callable[..., Any])


class HandlerUnfinishedPolicy(enum.Enum):
    """Actions taken if a workflow exits while update or signal handlers are running.

    The exit may be a successful return, a failure, a cancellation or a continue-as-new.
    A plain ``Enum``, as in temporalio.
    """

    WARN_AND_ABANDON = 1
    """Warn (``UnfinishedUpdateHandlersWarning`` / ``UnfinishedSignalHandlersWarning``),
    then abandon the handler."""
    ABANDON = 2
    """Abandon the handler silently; for an update, its client receives an error instead
    of the result."""


def _policy_value(policy: HandlerUnfinishedPolicy) -> int:
    if not isinstance(policy, HandlerUnfinishedPolicy):
        raise TypeError(f"unfinished_policy must be a workflow.HandlerUnfinishedPolicy, got {policy!r}")
    return policy.value


@overload
def defn(cls: ClassType) -> ClassType: ...
@overload
def defn(
    *, name: str | None = None, sandboxed: bool = True, dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Callable[[ClassType], ClassType]: ...
def defn(
    cls: ClassType | None = None,
    *,
    name: str | None = None,
    sandboxed: bool = True,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Any:
    """Make a class a workflow definition (``@workflow.defn`` / ``@workflow.defn(name=...)``).

    Args:
        cls: The class, when used without parentheses.
        name: Workflow type name; defaults to the class name.
        sandboxed: Accepted for compatibility; temporalflow has no sandbox.
        dynamic: Handle every workflow type no other class is registered for.
        failure_exception_types: Exception types that fail the workflow instead of the task.
    """
    if name is not None and dynamic:
        raise ValueError("a dynamic workflow cannot have a name")

    def decorator(c: ClassType) -> ClassType:
        build_workflow_definition(c, None if dynamic else (name or c.__name__), tuple(failure_exception_types))
        return c

    return decorator(cls) if cls is not None else decorator


def run(fn: CallableType) -> CallableType:
    """Mark the workflow's entry point (an ``async def`` method)."""
    mark_run(fn)
    return fn


def init(fn: CallableType) -> CallableType:
    """Mark ``__init__`` as receiving the same arguments as the run method."""
    if fn.__name__ != "__init__":
        raise ValueError("@workflow.init may only decorate __init__")
    mark_init(fn)
    return fn


def _handler_decorator(kind: str, fn: Callable[..., Any] | None, name: str | None, dynamic: bool,
                       **options: Any) -> Any:
    if name is not None and dynamic:
        raise ValueError(f"a dynamic {kind} handler cannot have a name")

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        handler = HandlerDefinition(kind=kind, name=None if dynamic else (name or f.__name__), fn=f, **options)
        mark_handler(f, handler)
        if kind == "update":
            def validator(vfn: Callable[..., Any]) -> Callable[..., Any]:
                handler.validator = vfn
                return vfn

            f.validator = validator  # type: ignore[attr-defined]
        return f

    return decorator(fn) if fn is not None else decorator


def signal(
    fn: CallableType | None = None, *, name: str | None = None, dynamic: bool = False,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
    description: str | None = None,
) -> Any:
    """Mark a method as a signal handler (``@workflow.signal`` / ``@workflow.signal(name=...)``)."""
    return _handler_decorator("signal", fn, name, dynamic, unfinished_policy=_policy_value(unfinished_policy),
                              description=description)


def query(
    fn: CallableType | None = None, *, name: str | None = None, dynamic: bool = False,
    description: str | None = None,
) -> Any:
    """Mark a (non-async) method as a query handler."""
    return _handler_decorator("query", fn, name, dynamic, description=description)


def update(
    fn: CallableType | None = None, *, name: str | None = None, dynamic: bool = False,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
    description: str | None = None,
) -> Any:
    """Mark a method as an update handler; ``@handler.validator`` adds its validator."""
    return _handler_decorator("update", fn, name, dynamic, unfinished_policy=_policy_value(unfinished_policy),
                              description=description)


def handler_name(fn: Callable[..., Any] | str) -> str:
    """The name of a signal/query/update given by method or by name (client side)."""
    if isinstance(fn, str):
        return fn
    handler = handler_of(fn)
    if handler is None or handler.name is None:
        raise ValueError(f"{fn!r} is not a named signal, query or update handler")
    return handler.name
