"""The statistics page's filter form: time presets or a custom range, the interval and the main filters.

The form only gathers what was typed; the filters are parsed by the API's parser (search.filters.parse_filters)
and the interval checked by the API's rule (analytics.stats.interval_pick), so the page and
GET /api/v1/logs/stats agree on what every value means. Their errors come back as this form's errors.
"""

from datetime import UTC, datetime

from django import forms
from django.http import QueryDict
from django.utils import timezone

from analytics.stats import INTERVALS, interval_pick
from auditlog.errors import FieldErrors
from search.filters import EventFilter, parse_filters
from search.forms import (
    CUSTOM,
    PRESETS,
    TimeRangeFieldsMixin,
    local_value,
    main_filter_params,
    preset_choices,
    severity_field,
    text_field,
)

RANGE_PRESETS = ("24h", "7d", "30d")
RANGE_CHOICES = [*preset_choices(*RANGE_PRESETS), (CUSTOM, "Custom range")]


class StatsFilterForm(TimeRangeFieldsMixin, forms.Form):
    range = forms.ChoiceField(label="Time range", choices=RANGE_CHOICES, required=False, initial="24h")
    interval = forms.ChoiceField(
        label="Interval",
        choices=[("", "Automatic"), *((name, name.title()) for name in INTERVALS)],
        required=False,
        help_text="Width of the buckets of the chart over time.",
    )
    action = text_field("Action", "Comma-separated, e.g. LOGIN,DELETE")
    severity = severity_field()
    resource_type = text_field("Resource type")
    source = text_field("Source")
    actor_id = text_field("Actor id")
    q = text_field("Text", "Words in the message or metadata")

    def __init__(self, data=None, **kwargs):
        if data is not None:
            data = data.copy()
            for name in ("from", "to"):
                if data.get(name):
                    data[name] = local_value(data[name])
            if not data.get("range"):  # a link with the API's parameters: its from/to are a custom range
                data["range"] = CUSTOM if data.get("from") or data.get("to") else "24h"
        super().__init__(data, **kwargs)
        self.add_time_range_fields()
        self.order_fields(["range", "from", "to", "interval", "action", "severity"])
        self.event_filter: EventFilter | None = None
        self.interval: str | None = None

    def filter_params(self, now: datetime) -> QueryDict:
        """The API's query parameters for what was asked (from cleaned_data)."""
        data = self.cleaned_data
        params = QueryDict(mutable=True)
        preset = data.get("range") or "24h"
        if preset in RANGE_PRESETS:
            start = now.astimezone(UTC).replace(second=0, microsecond=0) - PRESETS[preset][1]
            params["from"] = start.isoformat()
        else:
            params.update(self.custom_range_params())
        params.update(main_filter_params(data))
        return params

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("range") == CUSTOM and not data.get("from"):
            self.add_error("from", "A custom range needs a start.")
            return data
        try:
            f, _extra = parse_filters(self.filter_params(timezone.now()))
            interval = interval_pick(f, data.get("interval") or None)
        except FieldErrors as exc:
            for name, messages in exc.details.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
            return data
        self.event_filter, self.interval = f, interval
        return data
