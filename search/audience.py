"""Who is reading: what a credential may see of the events it is allowed to read.

Decided once per request or live-tail connection from its tenants.principal.Principal:
- sensitive content (encrypted at rest: changes.before/after, the tenant's sensitive fields) is shown
  decrypted to Auditors, Admins and export keys, and masked for Users and read keys;
- the access trail (events of source `auditlog`: who read the log) is shown to Auditors and Admins.
"""

from dataclasses import dataclass

from django.db import connection

from ingest.crypto import content_decrypt, content_mask
from ingest.models import Event
from ingest.representation import event_json
from tenants.models import Role, Scope

ACCESS_TRAIL_SOURCE = "auditlog"


@dataclass(frozen=True, slots=True)
class Audience:
    sensitive: bool  # decrypted sensitive content, else masked
    access_trail: bool  # events of source `auditlog`


FULL = Audience(sensitive=True, access_trail=True)
RESTRICTED = Audience(sensitive=False, access_trail=False)


def audience_of(principal) -> Audience:
    if principal.kind == "key":
        return FULL if principal.has_scope(Scope.EXPORT) else RESTRICTED
    return FULL if principal.has_role(Role.AUDITOR) else RESTRICTED


def event_view(event: Event, audience: Audience) -> dict:
    """An event in the API shape, as this audience may see it (call in the event's tenant schema)."""
    return content_view(event_json(event), connection.tenant, audience)


def content_view(event: dict, tenant, audience: Audience, *, load: bool = True) -> dict:
    """An event in the API shape with its encrypted content decrypted for an audience allowed sensitive
    content, masked for the others (ingest.crypto). Without `load`, raises tenants.keys.KeyNotLoaded rather
    than reading the database for a key (event loops)."""
    if audience.sensitive:
        return content_decrypt(event, tenant, load=load)
    return content_mask(event)
