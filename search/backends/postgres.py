"""The Postgres query backend: EventFilter -> queryset over the tenant's event table."""

import operator
from functools import reduce

from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from ingest.models import Event
from ingest.services import ACCESS_TRAIL_SOURCE

from ..filters import EventFilter, metadata_values


def _nested(path: list[str], value) -> dict:
    out = value
    for key in reversed(path):
        out = {key: out}
    return out


def _metadata_q(path: list[str], value: str) -> Q:
    """metadata.<path>=<value> matches the string, or the number/boolean it spells."""
    return reduce(operator.or_, (Q(metadata__contains=_nested(path, v)) for v in metadata_values(value)))


def filtered(f: EventFilter) -> QuerySet:
    qs = Event.objects.all()
    if f.time_from:
        qs = qs.filter(occurred_at__gte=f.time_from)
    if f.time_to:
        qs = qs.filter(occurred_at__lt=f.time_to)
    for column, values in f.columns.items():
        qs = qs.filter(**({column: values[0]} if len(values) == 1 else {f"{column}__in": values}))
    if f.ips:
        # An address is an equality (ordered index range); a network a containment test.
        clause = " OR ".join("ip <<= %s::inet" if "/" in ip else "ip = %s::inet" for ip in f.ips)
        qs = qs.filter(RawSQL(f"({clause})", f.ips, output_field=BooleanField()))
    if f.tags:
        qs = qs.filter(tags__overlap=f.tags)
    if f.q:
        qs = qs.filter(
            RawSQL("search_vector @@ websearch_to_tsquery('simple', %s)", [f.q], output_field=BooleanField())
        )
    for path, value in f.metadata:
        qs = qs.filter(_metadata_q(path, value))
    if not f.access_trail:
        # A filter on the rows an index scan reads (source is nullable: NULL is not the trail), never a sort.
        qs = qs.exclude(source=ACCESS_TRAIL_SOURCE)
    return qs


def page(f: EventFilter, *, after=None, limit: int) -> list[Event]:
    """Newest first, strictly after the (occurred_at, id) position when given; limit + 1 rows to detect more."""
    qs = filtered(f)
    if after is not None:
        qs = qs.filter(RawSQL("(occurred_at, id) < (%s, %s)", list(after), output_field=BooleanField()))
    return list(qs.order_by("-occurred_at", "-id")[: limit + 1])


def get(event_id) -> Event | None:
    return Event.objects.filter(id=event_id).first()
