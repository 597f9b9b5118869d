"""Find workflows and activities the Django way.

A ``workflows.py`` / ``activities.py`` module in any installed app (like ``admin.py``), plus modules named in
settings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from temporalflow.conf import settings
from temporalflow.core.definitions import ActivityDefinition, WorkflowDefinition


def _modules() -> list[ModuleType]:
    found: list[ModuleType] = []
    names = tuple(settings.AUTODISCOVER_MODULE_NAMES)
    for config in apps.get_app_configs():
        for name in names:
            if module_has_submodule(config.module, name):
                found.append(importlib.import_module(f"{config.name}.{name}"))
    for path in [*settings.WORKFLOW_MODULES, *settings.ACTIVITY_MODULES]:
        found.append(importlib.import_module(path))
    return found


def _unique(kind: str, items: Iterable[tuple[str | None, Any]]) -> list[Any]:
    by_name: dict[str | None, Any] = {}
    for name, obj in items:
        if name in by_name and by_name[name] is not obj:
            raise ValueError(f"two different {kind}s are registered as {name!r}: {by_name[name]!r} and {obj!r}")
        by_name[name] = obj
    return list(by_name.values())


def discover() -> tuple[list[type], list[Callable[..., Any]]]:
    """All workflow classes and activity functions found in the discovered modules."""
    workflows: list[tuple[str | None, type]] = []
    activities: list[tuple[str | None, Callable[..., Any]]] = []
    for module in _modules():
        for value in vars(module).values():
            if isinstance(value, type):
                defn = WorkflowDefinition.from_class(value)
                if defn is not None:
                    workflows.append((defn.name, value))
            elif callable(value):
                adefn = getattr(value, "__temporalflow_activity_definition", None)
                if isinstance(adefn, ActivityDefinition) and adefn.fn is value:
                    activities.append((adefn.name, value))
    return _unique("workflow", workflows), _unique("activity", activities)
