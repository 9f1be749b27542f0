"""The alert rule form of the dashboard: what POST/PATCH /api/v1/alerts take, typed as text.

Filters are typed one `name=value` a line (the list's query parameters); emails one a line or comma-separated.
Everything else is checked by analytics.alerts.services, as for the API.
"""

from datetime import timedelta

from django import forms

from tenants.forms import lines

from ..models.alerts import AlertRule

FILTERS_HELP = (
    "One filter a line, as name=value, with the log list's parameters: action=LOGIN, severity=ERROR,CRITICAL, "
    "actor_id, actor_type, resource_type, resource_id, source, ip, tag, q (full text), metadata.<key>=<value>."
)

MUTE_CHOICES = [
    ("3600", "1 hour"),
    ("28800", "8 hours"),
    ("86400", "1 day"),
    ("604800", "7 days"),
]


def filters_parse(text: str) -> tuple[dict, list[str]]:
    """({name: value}, problems) of filters typed one name=value a line."""
    out: dict[str, str] = {}
    problems = []
    for line in lines(text):
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            problems.append(f"\u201c{line}\u201d: write name=value.")
        else:
            out[name.strip()] = value.strip()
    return out, problems


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    filters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=FILTERS_HELP + " Empty: every event.",
    )
    condition = forms.ChoiceField(
        choices=[
            (AlertRule.Condition.EVERY, "Every matching event"),
            (AlertRule.Condition.THRESHOLD, "At least N matching events within a window"),
        ],
        initial=AlertRule.Condition.EVERY,
        widget=forms.RadioSelect,
    )
    threshold_count = forms.IntegerField(
        required=False, label="N (matching events)", help_text="For a threshold rule: 1 to 100,000."
    )
    window_seconds = forms.IntegerField(
        required=False, label="Window (seconds)", help_text="For a threshold rule: up to 604,800 (7 days)."
    )
    webhook_url = forms.CharField(
        required=False,
        max_length=2000,
        label="Webhook URL",
        widget=forms.URLInput(attrs={"spellcheck": "false"}),
        help_text="Receives a signed JSON POST per firing (http or https; private addresses are refused).",
    )
    emails = forms.CharField(
        required=False,
        label="Email addresses",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="One a line or comma-separated, up to 20. A rule needs a webhook URL or emails (or both).",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    # Where the service's error paths land on this form.
    SERVICE_FIELDS = {"filters": "filters", "emails": "emails", "muted_until": None, "rotate_secret": None}

    def clean_filters(self) -> dict:
        filters, problems = filters_parse(self.cleaned_data["filters"])
        if problems:
            raise forms.ValidationError(problems)
        return filters

    def email_list(self) -> list[str]:
        return [e.strip() for line in lines(self.cleaned_data.get("emails", "")) for e in line.split(",") if e.strip()]

    def service_data(self) -> dict:
        """The body the alert service takes (a create, or an update of every field the form shows)."""
        data = self.cleaned_data
        threshold = data["condition"] == AlertRule.Condition.THRESHOLD
        return {
            "name": data["name"],
            "filters": data["filters"],
            "condition": data["condition"],
            "threshold_count": data.get("threshold_count") if threshold else None,
            "window_seconds": data.get("window_seconds") if threshold else None,
            "webhook_url": data.get("webhook_url", "").strip(),
            "emails": self.email_list(),
            "enabled": bool(data.get("enabled")),
        }

    @staticmethod
    def initial_of(rule: AlertRule) -> dict:
        return {
            "name": rule.name,
            "filters": "\n".join(f"{name}={value}" for name, value in rule.filters.items()),
            "condition": rule.condition,
            "threshold_count": rule.threshold_count,
            "window_seconds": rule.window_seconds,
            "webhook_url": rule.webhook_url,
            "emails": "\n".join(rule.emails),
            "enabled": rule.enabled,
        }


class AlertRuleEditForm(AlertRuleForm):
    rotate_secret = forms.BooleanField(
        required=False, label="Rotate the webhook secret", help_text="The receiver must use the new secret at once."
    )

    def service_data(self) -> dict:
        return {**super().service_data(), "rotate_secret": bool(self.cleaned_data.get("rotate_secret"))}


class MuteForm(forms.Form):
    action = forms.ChoiceField(choices=[("mute", "Mute"), ("unmute", "Unmute")])
    duration = forms.TypedChoiceField(choices=MUTE_CHOICES, coerce=int, required=False, label="Mute for")

    def muted_until(self, now) -> str | None:
        """The service's `muted_until`: an ISO time, or None to unmute."""
        if self.cleaned_data["action"] == "unmute":
            return None
        seconds = self.cleaned_data.get("duration") or int(MUTE_CHOICES[0][0])
        return (now + timedelta(seconds=seconds)).isoformat()
