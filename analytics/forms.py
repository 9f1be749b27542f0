"""The statistics page's filter form: time presets or a custom range, the interval and the main filters.

The form only gathers what was typed; the filters are parsed by the API's parser (search.filters.parse_filters)
and the interval checked by the API's rule (analytics.stats.interval_pick), so the page and
GET /api/v1/logs/stats agree on what every value means. Their errors come back as this form's errors.
"""

from datetime import UTC, datetime, timedelta

from django import forms
from django.http import QueryDict
from django.utils import timezone

from analytics.stats import INTERVALS, interval_pick
from auditlog.errors import FieldErrors
from ingest.models import Severity
from search.filters import EventFilter, parse_filters

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGE_CHOICES = [("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("custom", "Custom range")]
TEXT_FILTERS = ("action", "resource_type", "source", "actor_id", "q")
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def _text(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=1000, help_text=help_text)


def local_value(raw: str) -> str:
    """A time with an offset (from a shared link) as a datetime-local input shows it: UTC, no offset."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw
    if value.tzinfo is None:
        return raw
    value = value.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    return value.strftime(DATETIME_LOCAL + (":%S" if value.second else ""))


def time_param(raw: str) -> str:
    """A time as typed: ISO 8601 with an offset as is, a browser's datetime-local value (no offset) as UTC."""
    raw = raw.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return raw  # parse_filters says what is wrong with it
    return raw if value.tzinfo else value.replace(tzinfo=UTC).isoformat()


class StatsFilterForm(forms.Form):
    range = forms.ChoiceField(label="Time range", choices=RANGE_CHOICES, required=False, initial="24h")
    interval = forms.ChoiceField(
        label="Interval",
        choices=[("", "Automatic"), *((name, name.title()) for name in INTERVALS)],
        required=False,
        help_text="Width of the buckets of the chart over time.",
    )
    action = _text("Action", "Comma-separated, e.g. LOGIN,DELETE")
    severity = forms.MultipleChoiceField(
        label="Severity",
        choices=[(value, value.title()) for value in Severity.values],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    resource_type = _text("Resource type")
    source = _text("Source")
    actor_id = _text("Actor id")
    q = _text("Text", "Words in the message or metadata")

    def __init__(self, data=None, **kwargs):
        if data is not None:
            data = data.copy()
            for name in ("from", "to"):
                if data.get(name):
                    data[name] = local_value(data[name])
            if not data.get("range"):  # a link with the API's parameters: its from/to are a custom range
                data["range"] = "custom" if data.get("from") or data.get("to") else "24h"
        super().__init__(data, **kwargs)
        widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})
        # `from` is a Python keyword: the fields carry the API's parameter names, so they are added here.
        self.fields["from"] = forms.CharField(label="From (UTC)", required=False, max_length=64, widget=widget)
        self.fields["to"] = forms.CharField(label="To (UTC)", required=False, max_length=64, widget=widget)
        self.order_fields(["range", "from", "to", "interval", "action", "severity"])
        self.event_filter: EventFilter | None = None
        self.interval: str | None = None

    def filter_params(self, now: datetime) -> QueryDict:
        """The API's query parameters for what was asked (from cleaned_data)."""
        data = self.cleaned_data
        params = QueryDict(mutable=True)
        preset = data.get("range") or "24h"
        if preset in PRESETS:
            start = now.astimezone(UTC).replace(second=0, microsecond=0) - PRESETS[preset]
            params["from"] = start.isoformat()
        else:
            for name in ("from", "to"):
                if data.get(name):
                    params[name] = time_param(data[name])
        for name in TEXT_FILTERS:
            if data.get(name, "").strip():
                params[name] = data[name].strip()
        if data.get("severity"):
            params["severity"] = ",".join(data["severity"])
        return params

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("range") == "custom" and not data.get("from"):
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
