"""GET /api/v1/logs/verify: recompute the tenant's hash chain over a range of sequences (ingest.sealing)."""

from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from auditlog.errors import FieldErrors
from auditlog.openapi import error_responses

from .. import sealing

PARAMS = ("from_sequence", "to_sequence")
SEQUENCE_MAX = 2**63 - 1


class HeadSchema(serializers.Serializer):
    sequence = serializers.IntegerField(help_text="The last sealed sequence (0: nothing sealed yet).")
    hash = serializers.CharField(help_text="Its hash (64 zeros when nothing is sealed).")
    sealed_at = serializers.DateTimeField(allow_null=True, help_text="When the chain last grew.")


class AnchorSchema(serializers.Serializer):
    sequence = serializers.IntegerField(help_text="Events up to this sequence were removed by retention.")
    hash = serializers.CharField(help_text="The hash of the event at that sequence, verified before it went.")


class BrokenAtSchema(serializers.Serializer):
    sequence = serializers.IntegerField(help_text="The first sequence whose link is broken.")
    event_id = serializers.UUIDField(allow_null=True, help_text="The event there (null for a missing sequence).")
    reason = serializers.ChoiceField(
        choices=["hash mismatch", "missing sequence", "unexpected row"],
        help_text="hash mismatch: the event's content or hash was changed; missing sequence: an event was "
        "deleted; unexpected row: a second event at one sequence, or one beyond the head (inserted).",
    )


class VerificationSchema(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField(help_text="Events whose link was recomputed and found right.")
    first_sequence = serializers.IntegerField(
        required=False, allow_null=True, help_text="When ok: the range checked (null: nothing to check)."
    )
    last_sequence = serializers.IntegerField(required=False, allow_null=True)
    broken_at = BrokenAtSchema(required=False, help_text="When not ok: the first broken link.")
    head = HeadSchema()
    anchor = AnchorSchema(allow_null=True, help_text="Where verification starts (retention removed the events before).")
    next = serializers.URLField(
        required=False,
        allow_null=True,
        help_text="When ok and the range is longer than one request checks (1,000,000 events): the verification "
        "of the rest, linked to this one's last event; null when done.",
    )


def _sequence(params, name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= SEQUENCE_MAX:
        raise FieldErrors({name: ["A positive integer."]})
    return int(value)


class LogVerifyView(APIView):
    @extend_schema(
        operation_id="logs_verify",
        description="Recomputes the tenant's hash chain from the stored events over `from_sequence` to "
        "`to_sequence` (both optional, inclusive; by default the whole chain, from the retention anchor to the "
        "head) and reports the first broken link. At most 1,000,000 events per request: `next` verifies the rest. "
        "A range starting above the anchor is linked to the stored hash of the event before it. Events not sealed "
        "yet (the last second or so) are not part of the chain.",
        parameters=[
            OpenApiParameter("from_sequence", int, description="First sequence to check (default: the first kept)"),
            OpenApiParameter("to_sequence", int, description="Last sequence to check (default: the head)"),
        ],
        responses={200: VerificationSchema, **error_responses(400, 401, 403)},
        tags=["logs"],
    )
    def get(self, request):
        params = request.query_params
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise FieldErrors({name: ["Unknown parameter."] for name in unknown})
        first, last = _sequence(params, "from_sequence"), _sequence(params, "to_sequence")
        if first is not None and last is not None and first > last:
            raise FieldErrors({"to_sequence": ["Must not be less than from_sequence."]})
        result = sealing.chain_verify(from_sequence=first, to_sequence=last, max_events=sealing.VERIFY_MAX_EVENTS)
        body = result.as_dict()
        if result.ok:
            body["next"] = None
            if result.next_from is not None:
                query = {"from_sequence": result.next_from, **({"to_sequence": last} if last is not None else {})}
                body["next"] = request.build_absolute_uri(request.path) + "?" + urlencode(query)
        return Response(body)
