"""The exports page's form: the format, a time range and the main filters of a new export job.

It only gathers what was typed, as the `filters` of POST /api/v1/exports ({name: value}); the job service
(exports.services.export_job_create) parses them with the API's parser, and its errors come back as this
form's errors (exports.views).
"""

from datetime import UTC, datetime, timedelta

from django import forms

from ingest.models import Severity

from .formats import FORMATS

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGE_CHOICES = [
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("all", "Everything"),
    ("custom", "Custom range"),
]
TEXT_FILTERS = ("action", "resource_type", "source", "actor_id", "q")
FORMAT_LABELS = {"ndjson": "NDJSON", "csv": "CSV", "json": "JSON"}


def _text(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=1000, help_text=help_text)


def time_param(raw: str) -> str:
    """A time as typed: ISO 8601 with an offset as is, a browser's datetime-local value (no offset) as UTC."""
    raw = raw.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return raw  # the filter parser says what is wrong with it
    return raw if value.tzinfo else value.replace(tzinfo=UTC).isoformat()


class ExportJobForm(forms.Form):
    format = forms.ChoiceField(
        label="Format",
        choices=[(name, FORMAT_LABELS[name]) for name in FORMATS],
        help_text="NDJSON: one event per line; JSON: one array; CSV: flat columns.",
    )
    range = forms.ChoiceField(label="Time range", choices=RANGE_CHOICES, initial="24h")
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})
        # `from` is a Python keyword: the fields carry the API's parameter names, so they are added here.
        self.fields["from"] = forms.CharField(label="From (UTC)", required=False, max_length=64, widget=widget)
        self.fields["to"] = forms.CharField(label="To (UTC)", required=False, max_length=64, widget=widget)
        self.order_fields(["format", "range", "from", "to", "action", "severity"])

    def clean(self):
        data = super().clean()
        if data.get("range") == "custom" and not (data.get("from") or data.get("to")):
            self.add_error("from", "A custom range needs a start or an end.")
        return data

    def job_filters(self, now: datetime) -> dict:
        """The job's `filters` (the list's query parameters) for what was asked."""
        data = self.cleaned_data
        filters: dict[str, str] = {}
        if data["range"] in PRESETS:
            filters["from"] = (now.astimezone(UTC).replace(microsecond=0) - PRESETS[data["range"]]).isoformat()
        elif data["range"] == "custom":
            for name in ("from", "to"):
                if data.get(name):
                    filters[name] = time_param(data[name])
        for name in TEXT_FILTERS:
            if data.get(name, "").strip():
                filters[name] = data[name].strip()
        if data.get("severity"):
            filters["severity"] = ",".join(data["severity"])
        return filters
