"""GET/POST /api/v1/alerts, GET/PATCH/DELETE /api/v1/alerts/{id}, GET /api/v1/alerts/{id}/history (Admin)."""

import re
from urllib.parse import urlencode

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from auditlog.errors import FieldErrors
from auditlog.openapi import error_responses

from ...models.alerts import AlertDelivery, AlertFiring, AlertRule
from .. import services
from . import serializers as s

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
DIGITS = re.compile(r"[0-9]{1,18}\Z")


def rule_out(rule: AlertRule, *, secret: bool) -> dict:
    out = {
        "id": rule.pk,
        "name": rule.name,
        "filters": rule.filters,
        "condition": rule.condition,
        "threshold_count": rule.threshold_count,
        "window_seconds": rule.window_seconds,
        "webhook_url": rule.webhook_url,
        "emails": rule.emails,
        "enabled": rule.enabled,
        "muted_until": rule.muted_until,
        "muted": rule.is_muted(),
        "created_by": rule.created_by,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }
    if secret:
        out["webhook_secret"] = rule.webhook_secret
    return out


def _rule(pk) -> AlertRule:
    rule = AlertRule.objects.filter(pk=pk).first()
    if rule is None:
        raise exceptions.NotFound("Not found.")
    return rule


class AlertListView(APIView):
    @extend_schema(operation_id="alerts_list", responses={200: s.AlertRulePageOut, **error_responses(401, 403)},
                   tags=["alerts"])  # fmt: skip
    def get(self, request):
        return Response({"results": [rule_out(r, secret=False) for r in AlertRule.objects.order_by("id")]})

    @extend_schema(
        request=s.AlertRuleIn,
        responses={201: s.AlertRuleOut, **error_responses(400, 401, 403)},
        tags=["alerts"],
        description="Create a rule. A webhook gets a generated secret (`webhook_secret`), which signs each "
        "notification; the rule's own responses show it to Admins.",
    )
    def post(self, request):
        rule = services.alert_rule_create(data=request.data, created_by=request.auth.actor)
        return Response(rule_out(rule, secret=True), status=status.HTTP_201_CREATED)


class AlertDetailView(APIView):
    @extend_schema(responses={200: s.AlertRuleOut, **error_responses(401, 403, 404)}, tags=["alerts"])
    def get(self, request, pk):
        return Response(rule_out(_rule(pk), secret=True))

    @extend_schema(
        request=s.AlertRulePatchIn,
        responses={200: s.AlertRuleOut, **error_responses(400, 401, 403, 404)},
        tags=["alerts"],
        description="Change the fields given. Mute with `muted_until`, unmute with null; takes effect with the "
        "next batch the relay evaluates.",
    )
    def patch(self, request, pk):
        rule = services.alert_rule_update(rule=_rule(pk), data=request.data)
        return Response(rule_out(rule, secret=True))

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)}, tags=["alerts"],
                   description="Delete the rule with its history.")  # fmt: skip
    def delete(self, request, pk):
        services.alert_rule_delete(rule=_rule(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertHistoryView(APIView):
    @extend_schema(
        operation_id="alerts_history",
        parameters=[
            OpenApiParameter(
                "limit",
                int,
                description=f"Firings per page, 1 to {HISTORY_MAX_LIMIT} (default {HISTORY_DEFAULT_LIMIT})",
            ),  # fmt: skip
            OpenApiParameter("before", int, description="Firings older than this firing id (from `next`)"),
        ],
        responses={200: s.FiringPageOut, **error_responses(400, 401, 403, 404)},
        tags=["alerts"],
        description="The rule's firings, newest first, each with its deliveries and their attempts.",
    )
    def get(self, request, pk):
        rule = _rule(pk)
        params = request.query_params
        errors = {}
        unknown = set(params) - {"limit", "before"}
        for name in unknown:
            errors[name] = ["Unknown parameter."]
        limit_raw, before_raw = params.get("limit", str(HISTORY_DEFAULT_LIMIT)), params.get("before")
        if not DIGITS.match(limit_raw) or not 1 <= int(limit_raw) <= HISTORY_MAX_LIMIT:
            errors["limit"] = [f"An integer from 1 to {HISTORY_MAX_LIMIT}."]
        if before_raw is not None and not DIGITS.match(before_raw):
            errors["before"] = ["A firing id."]
        if errors:
            raise FieldErrors(errors)
        limit = int(limit_raw)
        firings = AlertFiring.objects.filter(rule=rule).order_by("-id")
        if before_raw is not None:
            firings = firings.filter(id__lt=int(before_raw))
        page = list(
            firings.prefetch_related(Prefetch("deliveries", queryset=AlertDelivery.objects.order_by("id")))[: limit + 1]
        )
        next_url = None
        if len(page) > limit:
            page = page[:limit]
            query = urlencode({"limit": limit, "before": page[-1].pk})
            next_url = request.build_absolute_uri(request.path) + "?" + query
        return Response({"results": [_firing_out(f) for f in page], "next": next_url})


def _firing_out(f: AlertFiring) -> dict:
    return {
        "id": f.pk,
        "fired_at": f.fired_at,
        "condition": f.condition,
        "match_count": f.match_count,
        "event_ids": f.event_ids,
        "window_start": f.window_start,
        "window_end": f.window_end,
        "muted": f.muted,
        "deliveries": [
            {
                "id": d.pk,
                "channel": d.channel,
                "target": d.target,
                "status": d.status,
                "attempts": d.attempts,
                "response_code": d.response_code,
                "error": d.error,
                "next_attempt_at": d.next_attempt_at,
                "created_at": d.created_at,
                "delivered_at": d.delivered_at,
                "log": d.log,
            }
            for d in f.deliveries.all()
        ],
    }
