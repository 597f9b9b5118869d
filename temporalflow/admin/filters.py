"""List filters of the runs changelist."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

__all__ = ["DateTimeRangeFilter"]


class DateTimeRangeFilter(admin.DateFieldListFilter):
    """Django's date links (today, past 7 days, …) plus a from/to range form.

    The range is given as ``<field>__from`` and ``<field>__to`` query parameters,
    each a date (``2026-12-01``: ``to`` includes that whole day) or an ISO
    datetime; naive values are in the current time zone. A value that does not
    parse is Django's "incorrect lookup" error page, not a server error.
    """

    template = "temporalflow/admin/date_range_filter.html"

    def __init__(self, field: Any, request: Any, params: dict[str, Any], model: Any, model_admin: Any,
                 field_path: str) -> None:
        self.lookup_kwarg_from = f"{field_path}__from"
        self.lookup_kwarg_to = f"{field_path}__to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.value_from = self._last(self.used_parameters.pop(self.lookup_kwarg_from, None))
        self.value_to = self._last(self.used_parameters.pop(self.lookup_kwarg_to, None))
        # The range form submits with GET: keep every other filter and the search.
        own = (self.field_generic,)
        self.hidden_params = [
            (key, value)
            for key, values in request.GET.lists()
            if not key.startswith(own) and key not in ("p", "e")
            for value in values
        ]

    @staticmethod
    def _last(value: Any) -> str:
        if isinstance(value, list | tuple):
            value = value[-1] if value else ""
        return str(value or "").strip()

    def expected_parameters(self) -> list[str]:
        """The date links' parameters and the range's two."""
        return [*super().expected_parameters(), self.lookup_kwarg_from, self.lookup_kwarg_to]

    def has_output(self) -> bool:
        """Always shown."""
        return True

    @staticmethod
    def _is_date(text: str) -> bool:
        try:
            return parse_date(text) is not None
        except ValueError:
            return False

    @classmethod
    def _bound(cls, text: str, *, upper: bool) -> datetime.datetime:
        if cls._is_date(text):  # a whole day: from its start, or up to (excluding) the next day's
            day = parse_date(text)
            assert day is not None
            if upper:
                day += datetime.timedelta(days=1)
            parsed = datetime.datetime.combine(day, datetime.time())
        else:
            parsed = parse_datetime(text.replace(" ", "T", 1))
            if parsed is None:
                raise ValueError(f"not a date or datetime: {text!r}")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed

    def queryset(self, request: Any, queryset: Any) -> Any:
        """Apply the date links (Django's) and the from/to range."""
        queryset = super().queryset(request, queryset)
        field = self.field_path
        try:
            if self.value_from:
                queryset = queryset.filter(**{f"{field}__gte": self._bound(self.value_from, upper=False)})
            if self.value_to:
                upper = self._bound(self.value_to, upper=True)
                lookup = "lt" if self._is_date(self.value_to) else "lte"
                queryset = queryset.filter(**{f"{field}__{lookup}": upper})
        except ValueError as err:
            raise IncorrectLookupParameters(err) from err
        return queryset
