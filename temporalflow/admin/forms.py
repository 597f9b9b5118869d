"""Forms of the admin's run actions: signal, cancel, terminate."""

from __future__ import annotations

import json
from typing import Any

from django import forms

__all__ = ["CancelForm", "SignalForm", "TerminateForm"]


class SignalForm(forms.Form):
    """A signal name and its arguments as a JSON list (each item is one argument)."""

    post = forms.CharField(widget=forms.HiddenInput, initial="yes", required=False)

    signal_name = forms.CharField(
        label="Signal name", max_length=255, strip=True,
        help_text="The name the workflow registered the signal handler under.",
    )
    signal_args = forms.CharField(
        label="Arguments (JSON list)", required=False, initial="[]",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "class": "vLargeTextField", "spellcheck": "false"}),
        help_text='A JSON list, one item per argument: [] for none, ["approved", {"by": "ann"}] for two.',
    )

    def clean_signal_args(self) -> list[Any]:
        """Parse the arguments: a JSON list, or a form error naming what is wrong."""
        text = (self.cleaned_data.get("signal_args") or "").strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except ValueError as err:
            raise forms.ValidationError(f"Not valid JSON: {err}", code="invalid_json") from None
        if not isinstance(value, list):
            raise forms.ValidationError(
                f"The arguments must be a JSON list (got a JSON {_json_kind(value)}); "
                "wrap a single argument in [ ].",
                code="not_a_list",
            )
        return value


class CancelForm(forms.Form):
    """Confirmation of a cancellation request (no fields beyond the confirmation)."""

    post = forms.CharField(widget=forms.HiddenInput, initial="yes")


class TerminateForm(forms.Form):
    """A termination reason (recorded in the WorkflowExecutionTerminated event)."""

    post = forms.CharField(widget=forms.HiddenInput, initial="yes")
    reason = forms.CharField(
        label="Reason", max_length=1000, required=False, strip=True,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Recorded in the run's history with your user name.",
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
