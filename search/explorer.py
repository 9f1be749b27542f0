"""The log explorer's search form (dashboard): its fields are the API's filters, parsed by search.filters.

The form only adds what a page needs around the filter language: time-range presets (`range=24h`: relative
to now, so a shared link keeps meaning "the last day"), a custom range entered in UTC without an offset
(what a `datetime-local` input sends), metadata filters written one `key=value` per line, and empty fields
left out. Everything then goes through parse_filters, so a filter means here what it means in the API, and a
bad value is a form error with the parser's message.
"""

import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from django import forms
from django.http import QueryDict
from django.utils import timezone

from auditlog.errors import FieldErrors
from ingest.models import Severity

from .filters import EventFilter, parse_filters
from .forms import CUSTOM, PRESETS, preset_choices

RANGE_CHOICES = [("", "Any time"), *preset_choices(*PRESETS), (CUSTOM, "Custom")]
# A `datetime-local` value: no offset, read as UTC (the form's labels say so).
_LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?$")
COMMA_HELP = "Comma list for any of."
# The filters shown under "More filters", in the order of the form (severity is a group of checkboxes).
TEXT_FILTERS = {
    "action": ("Action", "e.g. LOGIN or UPDATE,DELETE"),
    "actor_id": ("Actor id", ""),
    "actor_type": ("Actor type", "user, service or system"),
    "resource_type": ("Resource type", ""),
    "resource_id": ("Resource id", ""),
    "source": ("Source", ""),
    "tag": ("Tag", ""),
    "ip": ("IP address or network", "e.g. 203.0.113.0/24"),
    "correlation_id": ("Correlation id", ""),
    "request_id": ("Request id", ""),
    "session_id": ("Session id", ""),
}
# Names a page passes along that are not filters.
PAGE_PARAMS = {"cursor"}


class UtcDateTimeInput(forms.DateTimeInput):
    """A `datetime-local` input showing a time with an offset (as the URL holds it) in UTC without one."""

    input_type = "datetime-local"

    def format_value(self, value):
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed.isoformat(timespec="seconds")


def _form_data(params: QueryDict) -> QueryDict:
    """The query string as the form's fields read it: comma lists of severities split, `metadata.<key>=<value>`
    parameters (the API's form, used in shared links) gathered into the metadata box."""
    data = params.copy()
    for name in TEXT_FILTERS:
        if len(data.getlist(name)) > 1:  # the API reads a repeated filter as any of its values
            data[name] = ",".join(data.getlist(name))
    if "severity" in data:
        values = [v.strip().upper() for raw in data.getlist("severity") for v in raw.split(",")]
        data.setlist("severity", [v for v in values if v])
    lines = [data.get("metadata", "")] if data.get("metadata", "").strip() else []
    for name in [n for n in data.keys() if n.startswith("metadata.")]:
        lines.extend(f"{name[len('metadata.') :]}={value}" for value in data.getlist(name))
        del data[name]
    if lines:
        data["metadata"] = "\n".join(lines)
    return data


class LogSearchForm(forms.Form):
    """Bound to a page's query string; when valid, `event_filter` is the parsed filter and `query_string()`
    the canonical query string of the page (the API's parameters, a preset as `range`)."""

    q = forms.CharField(
        label="Search",
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Words in the message or metadata"}),
        help_text='Full text: words, "a phrase", -excluded, or.',
    )
    range = forms.ChoiceField(
        label="Time range", choices=RANGE_CHOICES, required=False, help_text="A preset leaves From and To aside."
    )
    severity = forms.MultipleChoiceField(
        label="Severity", choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    metadata = forms.CharField(
        label="Metadata",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "plan=pro"}),
        help_text="One key=value per line; nested keys with dots (customer.tier=gold).",
    )

    def __init__(self, params: QueryDict, *, with_time: bool = True):
        super().__init__(_form_data(params))
        self.params = params
        self.with_time = with_time
        self.event_filter: EventFilter | None = None
        self.preset: str | None = None
        if with_time:
            for name, label in (("from", "From (UTC)"), ("to", "To (UTC)")):
                self.fields[name] = forms.CharField(
                    label=label, required=False, widget=UtcDateTimeInput(attrs={"step": "1"})
                )
        else:
            del self.fields["range"]
        for name, (label, example) in TEXT_FILTERS.items():
            help_text = f"{example}. {COMMA_HELP}" if example else COMMA_HELP
            self.fields[name] = forms.CharField(label=label, required=False, help_text=help_text)

    @property
    def advanced_fields(self):
        return [self[name] for name in ("severity", *TEXT_FILTERS, "metadata")]

    @property
    def advanced_used(self) -> bool:
        return any(self.data.get(name) for name in ("severity", *TEXT_FILTERS, "metadata")) or any(
            name in self.errors for name in ("severity", *TEXT_FILTERS, "metadata")
        )

    def clean(self):
        data = super().clean()
        params = QueryDict(mutable=True)
        self.preset = data.get("range") if data.get("range") in PRESETS else None
        if self.preset:
            params["from"] = (timezone.now() - PRESETS[self.preset][1]).isoformat()
        elif self.with_time:
            for name in ("from", "to"):
                value = data.get(name) or ""
                if value:
                    params[name] = value + "+00:00" if _LOCAL_TIME.match(value) else value
        for name in TEXT_FILTERS:
            if data.get(name):
                params[name] = data[name]
        if data.get("severity"):
            params["severity"] = ",".join(data["severity"])
        if data.get("q"):
            params["q"] = data["q"]
        for number, line in enumerate((data.get("metadata") or "").splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                self.add_error("metadata", f"Line {number}: write key=value.")
                continue
            params.appendlist("metadata." + key.strip(), value.strip())
        ignored = {*self.fields, *PAGE_PARAMS}
        if not self.with_time:
            ignored |= {"from", "to", "range"}  # the live tail's page keeps no time range
        for name in self.params.keys():
            if name not in ignored and not name.startswith("metadata."):
                params.setlist(name, self.params.getlist(name))  # unknown: the parser says so
        if self.errors:
            return data
        try:
            self.event_filter, _extra = parse_filters(params)
        except FieldErrors as exc:
            for name, messages in exc.details.items():
                self._parser_error(name, messages)
        return data

    def _parser_error(self, name: str, messages: list[str]) -> None:
        if name.startswith("metadata."):
            self.add_error("metadata", [f"{name[len('metadata.') :]}: {m}" for m in messages])
        elif name in self.fields:
            self.add_error(name, messages)
        else:
            self.add_error(None, [f"{name}: {m}" for m in messages])

    def query_params(self) -> dict:
        """The canonical parameters of a valid form: the API's filters, a preset as `range` instead of `from`."""
        params = self.event_filter.as_params()
        if self.preset:
            params.pop("from", None)
            params = {"range": self.preset, **params}
        return params

    def query_string(self) -> str:
        return urlencode(self.query_params())
