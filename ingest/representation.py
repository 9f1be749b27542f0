"""The API shape of a stored event (nested as in the request, plus id, received_at, changed_fields, masked_fields)."""

from .models import Event


def event_json(e: Event) -> dict:
    out = {
        "id": e.id,
        "occurred_at": e.occurred_at,
        "received_at": e.received_at,
        "actor": _compact(
            {
                "id": e.actor_id,
                "type": e.actor_type,
                "name": e.actor_name,
                "email": e.actor_email,
                "session_id": e.session_id,
            }
        ),
        "action": e.action,
        "resource": _compact({"type": e.resource_type, "id": e.resource_id, "name": e.resource_name}),
        "severity": e.severity,
        "message": e.message,
        "context": _compact(
            {"ip": e.ip, "user_agent": e.user_agent, "request_id": e.request_id, "correlation_id": e.correlation_id}
        ),
        "changes": e.changes,
        "changed_fields": e.changed_fields,
        "masked_fields": e.masked_fields,
        "metadata": e.metadata,
        "source": e.source,
        "tags": e.tags,
    }
    if e.sequence is not None:
        out["sequence"] = e.sequence
        out["hash"] = e.hash
    return out


def _compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}
