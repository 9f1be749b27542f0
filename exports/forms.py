"""The exports page's form: the format, a time range and the main filters of a new export job.

It only gathers what was typed, as the `filters` of POST /api/v1/exports ({name: value}); the job service
(exports.services.export_job_create) parses them with the API's parser, and its errors come back as this
form's errors (exports.views).
"""

from datetime import UTC, datetime

from django import forms

from search.forms import (
    CUSTOM,
    PRESETS,
    TimeRangeFieldsMixin,
    main_filter_params,
    preset_choices,
    severity_field,
    text_field,
)

from .formats import FORMATS

RANGE_PRESETS = ("24h", "7d", "30d")
RANGE_CHOICES = [*preset_choices(*RANGE_PRESETS), ("all", "Everything"), (CUSTOM, "Custom range")]
FORMAT_LABELS = {"ndjson": "NDJSON", "csv": "CSV", "json": "JSON"}


class ExportJobForm(TimeRangeFieldsMixin, forms.Form):
    format = forms.ChoiceField(
        label="Format",
        choices=[(name, FORMAT_LABELS[name]) for name in FORMATS],
        help_text="NDJSON: one event per line; JSON: one array; CSV: flat columns.",
    )
    range = forms.ChoiceField(label="Time range", choices=RANGE_CHOICES, initial="24h")
    action = text_field("Action", "Comma-separated, e.g. LOGIN,DELETE")
    severity = severity_field()
    resource_type = text_field("Resource type")
    source = text_field("Source")
    actor_id = text_field("Actor id")
    q = text_field("Text", "Words in the message or metadata")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_time_range_fields()
        self.order_fields(["format", "range", "from", "to", "action", "severity"])

    def clean(self):
        data = super().clean()
        if data.get("range") == CUSTOM and not (data.get("from") or data.get("to")):
            self.add_error("from", "A custom range needs a start or an end.")
        return data

    def job_filters(self, now: datetime) -> dict:
        """The job's `filters` (the list's query parameters) for what was asked."""
        data = self.cleaned_data
        filters: dict[str, str] = {}
        if data["range"] in RANGE_PRESETS:
            filters["from"] = (now.astimezone(UTC).replace(microsecond=0) - PRESETS[data["range"]][1]).isoformat()
        elif data["range"] == CUSTOM:
            filters.update(self.custom_range_params())
        filters.update(main_filter_params(data))
        return filters
