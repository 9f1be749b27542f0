"""Time-range and filter pieces the dashboard's forms share: the log explorer's (search.explorer), the statistics
page's (analytics.forms) and the exports page's (exports.forms).

Each form picks its own presets from PRESETS and keeps its own labels; the values they send are the API's query
parameters, parsed by search.filters.parse_filters.
"""

from datetime import UTC, datetime, timedelta

from django import forms

from ingest.models import Severity

# Time-range presets, relative to now: key (the `range` parameter) -> (label, length).
PRESETS = {
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
CUSTOM = "custom"
# The filters the statistics and exports pages offer as text fields, in the order they are read.
MAIN_FILTERS = ("action", "resource_type", "source", "actor_id", "q")
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def preset_choices(*keys: str) -> list[tuple[str, str]]:
    """The choices of a `range` field for these presets, in this order."""
    return [(key, PRESETS[key][0]) for key in keys]


def text_field(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=1000, help_text=help_text)


def severity_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label="Severity",
        choices=[(value, value.title()) for value in Severity.values],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


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


def main_filter_params(data: dict) -> dict[str, str]:
    """The API's parameters for the main filters of cleaned data: MAIN_FILTERS as typed, severities as a comma list."""
    params = {name: data[name].strip() for name in MAIN_FILTERS if data.get(name, "").strip()}
    if data.get("severity"):
        params["severity"] = ",".join(data["severity"])
    return params


class TimeRangeFieldsMixin:
    """Adds the `from` and `to` fields of a custom range (UTC, as datetime-local inputs); call from `__init__`."""

    def add_time_range_fields(self) -> None:
        widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})
        # `from` is a Python keyword: the fields carry the API's parameter names, so they are added here.
        self.fields["from"] = forms.CharField(label="From (UTC)", required=False, max_length=64, widget=widget)
        self.fields["to"] = forms.CharField(label="To (UTC)", required=False, max_length=64, widget=widget)

    def custom_range_params(self) -> dict[str, str]:
        """The custom range's `from` and `to` (of cleaned data) as the API reads them."""
        data = self.cleaned_data
        return {name: time_param(data[name]) for name in ("from", "to") if data.get(name)}
