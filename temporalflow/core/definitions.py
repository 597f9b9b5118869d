"""What the authoring decorators record about a workflow or activity class.

``@workflow.defn`` builds a :class:`WorkflowDefinition` from the class's
decorated members and stores it on the class; the worker reads it back with
:meth:`WorkflowDefinition.must_from_class`. Type hints are resolved here, once,
so decoding arguments at run time is a dictionary lookup.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_WORKFLOW_ATTR = "__temporalflow_workflow_definition"
_ACTIVITY_ATTR = "__temporalflow_activity_definition"
_HANDLER_ATTR = "__temporalflow_handler"
_RUN_ATTR = "__temporalflow_workflow_run"
_INIT_ATTR = "__temporalflow_workflow_init"


def param_type_hints(fn: Callable[..., Any], skip_self: bool) -> tuple[list[Any] | None, Any]:
    """Return ``(parameter type hints, return type hint)`` of ``fn``.

    Parameter hints are None when the function takes ``*args`` (dynamic
    handlers), so callers decode without hints.
    """
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: decode without hints
        hints = {}
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if skip_self and params:
        params = params[1:]
    arg_hints: list[Any] | None = []
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            arg_hints = None
            break
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            assert arg_hints is not None
            arg_hints.append(hints.get(p.name, Any))
    return arg_hints, hints.get("return", Any)


@dataclass
class HandlerDefinition:
    """A signal, query or update handler declared on a workflow class."""

    kind: str
    """``"signal"``, ``"query"`` or ``"update"``."""
    name: str | None
    """None for a dynamic handler (receives the name and raw values)."""
    fn: Callable[..., Any]
    is_method: bool = True
    dynamic_vararg: bool = False
    """Old-style dynamic handler taking ``(name, *args)`` instead of ``(name, Sequence[RawValue])``."""
    unfinished_policy: int = 1
    validator: Callable[..., Any] | None = None
    arg_types: list[Any] | None = None
    ret_type: Any = None
    description: str | None = None

    def __post_init__(self) -> None:
        """Resolve type hints once."""
        if self.arg_types is None and self.name is not None:
            self.arg_types, self.ret_type = param_type_hints(self.fn, skip_self=self.is_method)


@dataclass
class WorkflowDefinition:
    """Everything the engine needs to run a workflow class."""

    cls: type
    name: str | None
    """None for a dynamic workflow (handles any unregistered type)."""
    run_fn: Callable[..., Any]
    init_takes_args: bool = False
    signals: dict[str | None, HandlerDefinition] = field(default_factory=dict)
    queries: dict[str | None, HandlerDefinition] = field(default_factory=dict)
    updates: dict[str | None, HandlerDefinition] = field(default_factory=dict)
    arg_types: list[Any] | None = None
    ret_type: Any = None
    failure_exception_types: tuple[type[BaseException], ...] = ()

    @staticmethod
    def from_class(cls: type) -> WorkflowDefinition | None:
        """The definition stored on ``cls`` by ``@workflow.defn``, or None."""
        return cls.__dict__.get(_WORKFLOW_ATTR)

    @staticmethod
    def must_from_class(cls: type) -> WorkflowDefinition:
        """The definition of ``cls``; a clear error if it is not a workflow class."""
        defn = WorkflowDefinition.from_class(cls) if isinstance(cls, type) else None
        if defn is None:
            raise ValueError(f"{cls!r} is not a workflow class: decorate it with @workflow.defn")
        return defn

    @staticmethod
    def from_run_fn(fn: Callable[..., Any]) -> WorkflowDefinition:
        """The definition of the class whose ``@workflow.run`` method is ``fn``."""
        cls_name = getattr(fn, "__qualname__", "").rsplit(".", 1)[0]
        module = inspect.getmodule(fn)
        cls = getattr(module, cls_name, None) if module and cls_name else None
        defn = WorkflowDefinition.from_class(cls) if isinstance(cls, type) else None
        if defn is None or defn.run_fn.__name__ != fn.__name__:
            raise ValueError(f"{fn!r} is not the @workflow.run method of a @workflow.defn class")
        return defn


@dataclass
class ActivityDefinition:
    """An ``@activity.defn`` function (or method)."""

    name: str | None
    """None for a dynamic activity."""
    fn: Callable[..., Any]
    is_async: bool
    arg_types: list[Any] | None = None
    ret_type: Any = None

    @staticmethod
    def from_callable(fn: Callable[..., Any]) -> ActivityDefinition | None:
        """The definition stored on ``fn`` (or its bound method's function)."""
        defn = getattr(fn, _ACTIVITY_ATTR, None)
        if defn is not None and inspect.ismethod(fn):
            # A bound method: the worker calls it bound, hints skip ``self``.
            return ActivityDefinition(name=defn.name, fn=fn, is_async=defn.is_async,
                                      arg_types=defn.arg_types, ret_type=defn.ret_type)
        return defn

    @staticmethod
    def must_from_callable(fn: Callable[..., Any]) -> ActivityDefinition:
        """The definition of ``fn``; a clear error if it is not an activity."""
        defn = ActivityDefinition.from_callable(fn)
        if defn is None:
            raise ValueError(f"{fn!r} is not an activity: decorate it with @activity.defn")
        return defn


def activity_name(activity: Callable[..., Any] | str) -> str:
    """The registered name of an activity given by function or by name."""
    if isinstance(activity, str):
        return activity
    defn = ActivityDefinition.from_callable(activity)
    if defn is None:
        raise ValueError(f"{activity!r} is not an activity: decorate it with @activity.defn")
    if defn.name is None:
        raise ValueError("a dynamic activity cannot be called by function; call it by name")
    return defn.name


def mark_handler(fn: Callable[..., Any], defn: HandlerDefinition) -> None:
    """Attach a handler definition to its function (read by ``@workflow.defn``)."""
    setattr(fn, _HANDLER_ATTR, defn)


def handler_of(obj: Any) -> HandlerDefinition | None:
    """The handler definition attached to a function, if any."""
    return getattr(obj, _HANDLER_ATTR, None)


def mark_run(fn: Callable[..., Any]) -> None:
    """Mark ``fn`` as the workflow's ``@workflow.run`` method."""
    setattr(fn, _RUN_ATTR, True)


def mark_init(fn: Callable[..., Any]) -> None:
    """Mark ``__init__`` as receiving the workflow arguments (``@workflow.init``)."""
    setattr(fn, _INIT_ATTR, True)


def build_workflow_definition(
    cls: type, name: str | None, failure_exception_types: tuple[type[BaseException], ...] = ()
) -> WorkflowDefinition:
    """Collect the decorated members of ``cls`` into a definition and store it on the class."""
    run_fn = None
    signals: dict[str | None, HandlerDefinition] = {}
    queries: dict[str | None, HandlerDefinition] = {}
    updates: dict[str | None, HandlerDefinition] = {}
    for klass in reversed(cls.__mro__):
        for member in klass.__dict__.values():
            if getattr(member, _RUN_ATTR, False):
                run_fn = member
            handler = handler_of(member)
            if handler is None:
                continue
            table = {"signal": signals, "query": queries, "update": updates}[handler.kind]
            table[handler.name] = handler
    if run_fn is None:
        raise ValueError(f"workflow class {cls.__qualname__} has no @workflow.run method")
    if not inspect.iscoroutinefunction(run_fn):
        raise ValueError(f"@workflow.run method {cls.__qualname__}.{run_fn.__name__} must be 'async def'")
    for q in queries.values():
        if inspect.iscoroutinefunction(q.fn):
            raise ValueError(f"query handler {q.name!r} must not be 'async def'")
    arg_types, ret_type = param_type_hints(run_fn, skip_self=True)
    init = cls.__dict__.get("__init__")
    defn = WorkflowDefinition(
        cls=cls,
        name=name,
        run_fn=run_fn,
        init_takes_args=bool(init and getattr(init, _INIT_ATTR, False)),
        signals=signals,
        queries=queries,
        updates=updates,
        arg_types=arg_types,
        ret_type=ret_type,
        failure_exception_types=failure_exception_types,
    )
    setattr(cls, _WORKFLOW_ATTR, defn)
    return defn


def build_activity_definition(fn: Callable[..., Any], name: str | None) -> ActivityDefinition:
    """Record ``fn`` as an activity named ``name`` (None: dynamic)."""
    is_async = inspect.iscoroutinefunction(fn)
    if name is None:
        arg_types, ret_type = None, Any
    else:
        params = list(inspect.signature(fn).parameters)
        arg_types, ret_type = param_type_hints(fn, skip_self=bool(params and params[0] == "self"))
    defn = ActivityDefinition(name=name, fn=fn, is_async=is_async, arg_types=arg_types, ret_type=ret_type)
    setattr(fn, _ACTIVITY_ATTR, defn)
    return defn
