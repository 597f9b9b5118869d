"""An import hook resolving ``temporalio`` and its submodules to ``temporalflow``'s.

Only for the compatibility tests: it proves that code importing ``temporalio.*`` names
finds each one at the same place in temporalflow.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "temporalio" and not fullname.startswith("temporalio."):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        real = importlib.import_module("temporalflow" + spec.name[len("temporalio"):])
        return real

    def exec_module(self, module: ModuleType) -> None:
        pass  # the real module is already executed


_FINDER = _Alias()


def install() -> None:
    """Make ``import temporalio...`` resolve to temporalflow (idempotent)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Remove the hook and the aliased entries from ``sys.modules``."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n == "temporalio" or n.startswith("temporalio.")]:
        del sys.modules[name]
