"""OpenAPI shapes of events (documentation only: validation lives in ingest.validation)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..crypto import ENCRYPTED_MARK, UNREADABLE_MARK


class ActorSchema(serializers.Serializer):
    id = serializers.CharField(max_length=256)
    type = serializers.ChoiceField(choices=["user", "service", "system"], required=False, default="user")
    name = serializers.CharField(max_length=256, required=False)
    email = serializers.EmailField(required=False)
    session_id = serializers.CharField(max_length=256, required=False)


class ResourceSchema(serializers.Serializer):
    type = serializers.CharField(max_length=64)
    id = serializers.CharField(max_length=256, required=False)
    name = serializers.CharField(max_length=256, required=False)


class ContextSchema(serializers.Serializer):
    ip = serializers.IPAddressField(required=False)
    user_agent = serializers.CharField(max_length=1024, required=False)
    request_id = serializers.CharField(max_length=256, required=False)
    correlation_id = serializers.CharField(max_length=256, required=False)


class ChangesSchema(serializers.Serializer):
    before = serializers.DictField(required=False, allow_null=True, help_text="An object or null.")
    after = serializers.DictField(required=False, allow_null=True, help_text="An object or null.")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "object", "additionalProperties": {}},
            {"type": "string", "enum": [ENCRYPTED_MARK, UNREADABLE_MARK]},
        ],
        "nullable": True,
        "description": f"An object or null; `{ENCRYPTED_MARK}` for readers not allowed sensitive content, "
        f"`{UNREADABLE_MARK}` when it cannot be decrypted.",
    }
)
class StoredChangeSide(serializers.JSONField):
    """One side of a stored event's changes: encrypted at rest, shown by the reader's audience."""


class StoredChangesSchema(serializers.Serializer):
    before = StoredChangeSide()
    after = StoredChangeSide()


class EventInSchema(serializers.Serializer):
    event_id = serializers.UUIDField(required=False, help_text="Client-chosen id; a repeat is not stored twice.")
    tenant_id = serializers.CharField(required=False, help_text="If given, must be the credential's tenant slug.")
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with offset; default now; at most 5 minutes ahead."
    )
    actor = ActorSchema()
    action = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
    resource = ResourceSchema()
    severity = serializers.ChoiceField(choices=["INFO", "WARNING", "ERROR", "CRITICAL"], required=False)
    message = serializers.CharField(max_length=4096, required=False)
    context = ContextSchema(required=False)
    changes = ChangesSchema(required=False)
    metadata = serializers.DictField(required=False, help_text="Up to 16 KiB as JSON, nesting depth up to 5.")
    source = serializers.CharField(max_length=128, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), max_length=20, required=False)


class EventSchema(EventInSchema):
    event_id = None
    tenant_id = None
    id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    # A stored event names every field; those the request left out are null.
    message = serializers.CharField(allow_null=True)
    changes = StoredChangesSchema(allow_null=True)
    source = serializers.CharField(allow_null=True)
    changed_fields = serializers.ListField(child=serializers.CharField())
    masked_fields = serializers.ListField(
        child=serializers.CharField(),
        help_text="Dotted paths whose values were masked at ingest (e.g. `message`, `metadata.card`, "
        "`changes.after.password`); masked text reads `[MASKED:<kind>]`.",
    )
    sequence = serializers.IntegerField(required=False, help_text="Position in the tenant's hash chain, once sealed.")
    hash = serializers.CharField(required=False, help_text="Chain hash, once sealed.")


class BulkInSchema(serializers.Serializer):
    events = EventInSchema(many=True, min_length=1, max_length=1000)


class BulkOutSchema(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.UUIDField())


class EventPageSchema(serializers.Serializer):
    results = EventSchema(many=True)
    next = serializers.URLField(allow_null=True)
