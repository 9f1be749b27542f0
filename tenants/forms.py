"""Forms of the dashboard's settings pages: members, API keys and the tenant's policies.

Forms only shape what a person types into what the API takes; the rules are the services' (tenants.services,
tenants.policies) and the API's serializers (tenants.api.serializers), so a page and the API accept and refuse
the same things. A service's field errors come back onto the form with `service_errors_apply`.
"""

from django import forms
from django.core.validators import RegexValidator

from auditlog.errors import ApiError

from .api import serializers as api_serializers
from .models import Role, Scope
from .policies import LIMIT_NAMES, MASK_KEYS_MAX, MASK_PATHS_MAX, MASK_PATTERNS_MAX, RETENTION_MAX_DAYS, SENSITIVE_MAX

USERNAME_RE = r"^[\w.@+-]+\Z"  # as the API's MemberIn


def service_errors_apply(
    form: forms.Form, exc: ApiError, fields: dict[str, str] | None = None, entries: dict[str, list | dict] | None = None
) -> None:
    """Put a service's errors on the form: a detail key (a field path such as `masking.patterns.2`) goes to
    the form field `fields` names for its first part(s), or the field of that name; anything else to the form.
    `entries` holds the lists that were sent (by path), so an error of one entry names it."""
    fields, entries = fields or {}, entries or {}
    details = exc.details or {}
    if not details:
        form.add_error(None, exc.message)
        return
    for path, messages in details.items():
        target = _field_for(path, form, fields)
        for message in messages:
            form.add_error(target, _naming_entry(path, message, entries))


def problems_of(exc: ApiError) -> list[str]:
    """A service's error messages, without their field paths (for a page with one control per row)."""
    return [message for found in (exc.details or {}).values() for message in found] or [exc.message]


def _field_for(path: str, form: forms.Form, fields: dict[str, str]) -> str | None:
    parts = path.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        if prefix in fields:
            return fields[prefix]
        if prefix in form.fields:
            return prefix
    return None


def _naming_entry(path: str, message: str, entries: dict[str, list | dict]) -> str:
    """An error of one entry names it: `masking.patterns.2` -> '"(a": Not a valid RE2 ...' when the third
    pattern sent was "(a"; `filters.metadata.x` -> '"metadata.x": ...' for a dict sent as `filters`."""
    for head, sent in entries.items():
        if not path.startswith(head + "."):
            continue
        rest = path[len(head) + 1 :]
        if isinstance(sent, list) and rest.isdigit() and int(rest) < len(sent):
            return f"\u201c{sent[int(rest)]}\u201d: {message}"
        if isinstance(sent, dict):
            return f"\u201c{rest}\u201d: {message}"
    return message


def serializer_errors_apply(form: forms.Form, serializer_class, data: dict) -> dict | None:
    """Check `data` with an API serializer; its errors go on the form. Returns the validated data, or None."""
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return serializer.validated_data
    for name, messages in serializer.errors.items():
        target = name if name in form.fields else None
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(target, str(message))
    return None


def lines(value: str) -> list[str]:
    """One entry a line; blank lines, surrounding spaces and repeats ignored."""
    return list(dict.fromkeys(line.strip() for line in (value or "").splitlines() if line.strip()))


class MemberCreateForm(forms.Form):
    """What POST /api/v1/members takes: a new person with a role in this tenant."""

    username = forms.CharField(
        max_length=150,
        validators=[RegexValidator(USERNAME_RE, "Use letters, digits and @ . + - _ only.")],
        help_text="Letters, digits and @ . + - _ only.",
    )
    email = forms.EmailField(max_length=254)
    password = forms.CharField(
        min_length=12,
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=api_serializers.PASSWORD_HELP,
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.USER)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            validated = serializer_errors_apply(self, api_serializers.MemberIn, cleaned)
            if validated is not None:
                cleaned.update(validated)
        return cleaned


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyCreateForm(forms.Form):
    """What POST /api/v1/api-keys takes: a name, scopes and an optional expiry."""

    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="ingest: send events; read: search and read them; export: export them.",
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for a key that does not expire.",
    )

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            data = {"name": cleaned["name"], "scopes": cleaned["scopes"], "expires_at": cleaned.get("expires_at")}
            validated = serializer_errors_apply(self, api_serializers.ApiKeyIn, data)
            if validated is not None:
                cleaned.update(validated)
        return cleaned


LIMIT_LABELS = {
    "ingest_per_second": "Ingest requests per second (whole tenant)",
    "ingest_per_second_per_credential": "Ingest requests per second, per credential",
    "read_per_minute": "Read requests per minute (whole tenant)",
    "read_per_minute_per_credential": "Read requests per minute, per credential",
}


def _lines_field(label: str, help_text: str, rows: int = 4) -> forms.CharField:
    """A list typed one entry a line (split and checked by the settings service)."""
    textarea = forms.Textarea(attrs={"rows": rows, "spellcheck": "false"})
    return forms.CharField(label=label, required=False, widget=textarea, help_text=help_text)


class PolicyForm(forms.Form):
    """What PATCH /api/v1/settings takes, one list entry a line; checked whole by the settings service."""

    retention_days = forms.IntegerField(
        label="Retention (days)",
        help_text=f"Events older than this are archived, then deleted. 1 to {RETENTION_MAX_DAYS}.",
    )
    masking_keys = _lines_field(
        "Masked key names",
        f"One a line (up to {MASK_KEYS_MAX}); their values are masked wherever they occur, any case.",
    )
    masking_paths = _lines_field(
        "Masked paths",
        f"One a line (up to {MASK_PATHS_MAX}): message, actor.name, actor.email, resource.name, "
        "context.user_agent, or a dotted path under metadata, changes.before, changes.after.",
    )
    masking_patterns = _lines_field(
        "Masked patterns (RE2)",
        f"One RE2 regular expression a line (up to {MASK_PATTERNS_MAX}); what they match is masked.",
    )
    sensitive_fields = _lines_field(
        "Sensitive fields (encrypted at rest)",
        f"One dotted path under metadata a line (up to {SENSITIVE_MAX}), such as metadata.card.holder.",
        rows=3,
    )

    # Where the settings service's error paths land on this form.
    SERVICE_FIELDS = {
        "retention_days": "retention_days",
        "masking": "masking_keys",
        "masking.keys": "masking_keys",
        "masking.paths": "masking_paths",
        "masking.patterns": "masking_patterns",
        "sensitive_fields": "sensitive_fields",
        **{f"limits.{name}": f"limit_{name}" for name in LIMIT_NAMES},
    }

    def __init__(self, *args, defaults: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in LIMIT_NAMES:
            default = (defaults or {}).get(name)
            self.fields[f"limit_{name}"] = forms.IntegerField(
                label=LIMIT_LABELS.get(name, name),
                required=False,
                help_text=f"Empty: the service's default ({default:,})." if default else "Empty: the default.",
            )

    def limit_fields(self):
        return [self[f"limit_{name}"] for name in LIMIT_NAMES]

    def changes(self) -> dict:
        """The PATCH body of the settings service (every field given: the form shows them all)."""
        data = self.cleaned_data
        return {
            "retention_days": data["retention_days"],
            "masking": {
                "keys": lines(data["masking_keys"]),
                "paths": lines(data["masking_paths"]),
                "patterns": lines(data["masking_patterns"]),
            },
            "sensitive_fields": lines(data["sensitive_fields"]),
            "limits": {name: data.get(f"limit_{name}") for name in LIMIT_NAMES},
        }

    @staticmethod
    def initial_of(values: dict, stored_limits: dict) -> dict:
        """The form's initial values from the tenant's settings (limits: only those the tenant set)."""
        return {
            "retention_days": values["retention_days"],
            "masking_keys": "\n".join(values["masking"]["keys"]),
            "masking_paths": "\n".join(values["masking"]["paths"]),
            "masking_patterns": "\n".join(values["masking"]["patterns"]),
            "sensitive_fields": "\n".join(values["sensitive_fields"]),
            **{f"limit_{name}": stored_limits.get(name) for name in LIMIT_NAMES},
        }
