"""Per-action permissions: the same Django permissions the admin checks.

========================  ===========================================================
action                    permission
========================  ===========================================================
list, describe, history,  ``temporalflow.view_workflowrun``
result, query, task queues
start (and signal-with-   ``temporalflow.start_workflow`` (signal-with-start also needs
start)                    ``temporalflow.signal_workflow``)
signal                    ``temporalflow.signal_workflow``
update                    ``temporalflow.update_workflow``
cancel                    ``temporalflow.cancel_workflow``
terminate                 ``temporalflow.terminate_workflow``
========================  ===========================================================

Queries need only the view permission: in Temporal a query is a read that cannot change
the workflow's state.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

__all__ = ["VIEW", "ActionPermission"]

VIEW = "temporalflow.view_workflowrun"
"""The permission every read needs."""


class ActionPermission(BasePermission):
    """Allow an authenticated user holding every permission in the view's ``required_permissions``."""

    message = "you do not have the permission this action needs"

    def has_permission(self, request: Any, view: Any) -> bool:
        """True when the user is authenticated and has all of ``view.required_permissions``."""
        user = request.user
        if not (user and user.is_authenticated):
            return False
        perms = tuple(getattr(view, "required_permissions", ()) or ())
        if not perms:
            return False  # a view that forgets to declare its permissions is closed, not open
        if user.has_perms(perms):
            return True
        missing = [p for p in perms if not user.has_perm(p)]
        self.message = f"you need the permission(s) {', '.join(missing)} for this action"
        return False
