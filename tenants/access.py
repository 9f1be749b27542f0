"""The permission matrix: for every API route (by URL name) and method, who may call it.

Every API view is checked against this table by tenants.permissions.AccessPolicy, and every
WebSocket route (its handshake being a GET) by tenants.ws.ws_refusal, which runs the same policy;
a route or method missing here is refused, so a new endpoint needs an entry.
"""

from dataclasses import dataclass

from .models import Role, Scope


@dataclass(frozen=True)
class Rule:
    role: str | None = None  # minimum tenant role for people; None: people are refused
    scope: str | None = None  # API key scope; None: keys are refused
    staff: bool = False  # platform staff, with or without a tenant
    anonymous: bool = False  # no credential needed


ANYONE = Rule(anonymous=True)
STAFF = Rule(staff=True)
ADMIN = Rule(role=Role.ADMIN)
AUDITOR = Rule(role=Role.AUDITOR)
READ = Rule(role=Role.USER, scope=Scope.READ)
INGEST = Rule(role=Role.ADMIN, scope=Scope.INGEST)
EXPORT = Rule(role=Role.AUDITOR, scope=Scope.EXPORT)

MATRIX: dict[str, dict[str, Rule]] = {
    "auth-token": {"POST": ANYONE},
    "auth-token-refresh": {"POST": ANYONE},
    "tenant-list": {"GET": STAFF, "POST": STAFF},
    "tenant-detail": {"DELETE": STAFF},
    "apikey-list": {"GET": ADMIN, "POST": ADMIN},
    "apikey-detail": {"GET": ADMIN, "DELETE": ADMIN},
    "member-list": {"GET": ADMIN, "POST": ADMIN},
    "member-detail": {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN},
    "settings": {"GET": AUDITOR, "PATCH": ADMIN},
    "log-list": {"GET": READ, "POST": INGEST},
    "log-bulk": {"POST": INGEST},
    "log-detail": {"GET": READ},
    "log-export": {"GET": EXPORT},
    "export-list": {"GET": EXPORT, "POST": EXPORT},
    "export-detail": {"GET": EXPORT},
    # The signed link is the credential (a browser can follow it): exports.services.download_claims.
    "export-download": {"GET": ANYONE},
    "log-stats": {"GET": READ},
    "log-related": {"GET": READ},
    "log-verify": {"GET": AUDITOR},
    "alert-list": {"GET": ADMIN, "POST": ADMIN},
    "alert-detail": {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN},
    "alert-history": {"GET": ADMIN},
    # WebSocket routes (search/routing.py): the handshake is a GET; tenants.ws.ws_refusal applies the rule.
    "log-stream": {"GET": READ},
}


def rule_for(url_name: str | None, method: str) -> Rule | None:
    if method == "HEAD":
        method = "GET"
    return MATRIX.get(url_name or "", {}).get(method)
