"""One accessor for the product's settings (the AUDITLOG dict in settings)."""

from django.conf import settings


def auditlog_setting(name: str):
    return settings.AUDITLOG[name]
