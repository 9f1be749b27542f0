"""validate_event: normalisation and field-level errors (no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from ingest.validation import EventInvalid, changed_fields_of, validate_event

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def valid(**overrides):
    body = {"actor": {"id": "alice"}, "action": "update", "resource": {"type": "order"}}
    body.update(overrides)
    return validate_event(body, tenant_slug="acme", now=NOW)


def errors_of(**overrides):
    with pytest.raises(EventInvalid) as info:
        valid(**overrides)
    return info.value.errors


def test_defaults_and_normalisation():
    row = valid(severity="warning", context={"ip": " 10.0.0.1 "}, tags=["a", "a", "b"])
    assert row["action"] == "UPDATE"
    assert row["actor_type"] == "user"
    assert row["severity"] == "WARNING"
    assert row["occurred_at"] == NOW and row["received_at"] == NOW
    assert row["ip"] == "10.0.0.1"
    assert row["tags"] == ["a", "b"]
    assert row["metadata"] == {} and row["changes"] is None and row["changed_fields"] == []


def test_ipv6_is_normalised():
    assert valid(context={"ip": "2001:DB8:0:0::1"})["ip"] == "2001:db8::1"


def test_required_fields():
    with pytest.raises(EventInvalid) as info:
        validate_event({}, tenant_slug="acme", now=NOW)
    assert set(info.value.errors) == {"actor", "action", "resource"}
    assert "actor.id" in errors_of(actor={"name": "x"})
    assert "resource.type" in errors_of(resource={"id": "1"})


def test_unknown_fields_at_every_level():
    errors = errors_of(extra=1, actor={"id": "a", "role": "x"}, context={"city": "Paris"})
    assert {"extra", "actor.role", "context.city"} <= set(errors)


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"action": "has space"}, "action"),
        ({"action": "1BAD"}, "action"),
        ({"action": "A" * 65}, "action"),
        ({"action": 5}, "action"),
        ({"severity": "LOUD"}, "severity"),
        ({"actor": {"id": "a", "type": "robot"}}, "actor.type"),
        ({"actor": {"id": "a", "email": "not-an-email"}}, "actor.email"),
        ({"actor": {"id": 12}}, "actor.id"),
        ({"actor": {"id": "   "}}, "actor.id"),
        ({"actor": "alice"}, "actor"),
        ({"context": {"ip": "999.1.1.1"}}, "context.ip"),
        ({"message": "x" * 4097}, "message"),
        ({"metadata": []}, "metadata"),
        ({"metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}, "metadata"),
        ({"metadata": {"blob": "x" * 17000}}, "metadata"),
        ({"tags": "a,b"}, "tags"),
        ({"tags": [str(i) for i in range(21)]}, "tags"),
        ({"tags": ["ok", 3]}, "tags.1"),
        ({"tags": ["x" * 65]}, "tags.0"),
        ({"changes": {"before": "x"}}, "changes.before"),
        ({"changes": {"during": {}}}, "changes.during"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"tenant_id": 7}, "tenant_id"),
        ({"source": "s" * 129}, "source"),
    ],
)
def test_field_errors(overrides, path):
    assert path in errors_of(**overrides)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("2026-06-01T12:00:00", "Naive"),
        ("yesterday", "ISO 8601"),
        (1717243200, "ISO 8601"),
        ((NOW + timedelta(minutes=6)).isoformat(), "future"),
        ("1969-12-31T23:59:59+00:00", "1970"),
    ],
)
def test_bad_timestamps(value, fragment):
    assert fragment in " ".join(errors_of(occurred_at=value)["occurred_at"])


def test_timestamps_with_offsets_and_backfill():
    assert valid(occurred_at="2026-06-01T12:04:00Z")["occurred_at"] == NOW + timedelta(minutes=4)
    assert valid(occurred_at="2026-06-01T14:00:00+02:00")["occurred_at"] == NOW
    assert valid(occurred_at="2020-01-01T00:00:00+00:00")["occurred_at"].year == 2020


def test_control_characters_are_stripped():
    row = valid(message="a\x00b\x1bc\nd", metadata={"k\x00": "v\x07"}, actor={"id": "al\x00ice"})
    assert row["message"] == "abc\nd"
    assert row["metadata"] == {"k": "v"}
    assert row["actor_id"] == "alice"


def test_client_event_id_is_kept():
    row = valid(event_id="6f1c8f36-0c5e-4c8e-9a55-3a4e7a0b1c2d")
    assert str(row["id"]) == "6f1c8f36-0c5e-4c8e-9a55-3a4e7a0b1c2d"
    assert row["client_event_id"] is True


def test_changed_fields_are_derived():
    row = valid(changes={"before": {"a": 1, "b": {"c": 2}, "x": 1}, "after": {"a": 1, "b": {"c": 3}, "y": 2}})
    assert row["changed_fields"] == ["b.c", "x", "y"]
    assert row["changes"]["after"]["y"] == 2


def test_changed_fields_from_nothing_and_type_changes():
    assert changed_fields_of(None, {"a": 1}) == ["a"]
    assert changed_fields_of({"a": 1}, {"a": 1.0}) == ["a"]
    assert changed_fields_of({"a": {"b": 1}}, {"a": 5}) == ["a"]
    assert changed_fields_of({"a": 1}, {"a": 1}) == []


def test_not_an_object():
    with pytest.raises(EventInvalid) as info:
        validate_event([1, 2], tenant_slug="acme", now=NOW)
    assert "non_field_errors" in info.value.errors


def test_text_limits_count_utf8_bytes_and_printable_ascii_passes_unchanged():
    assert valid(actor={"id": "a" * 256})["actor_id"] == "a" * 256
    assert "actor.id" in errors_of(actor={"id": "a" * 257})
    assert valid(actor={"id": "é" * 128})["actor_id"] == "é" * 128  # 256 bytes
    assert "actor.id" in errors_of(actor={"id": "é" * 129})
    assert valid(message="  plain text, kept as sent  ")["message"] == "plain text, kept as sent"
    row = valid(message="tab\tnew\nline\x7f\x9f é\x85", actor={"id": " \tbob\x01 "}, tags=["a\x00b", "c"])
    assert row["message"] == "tab\tnew\nline é"
    assert row["actor_id"] == "bob"
    assert row["tags"] == ["ab", "c"]


def test_blank_tag_after_stripping_is_an_error():
    assert "tags.1" in errors_of(tags=["a\x00b", " \x02 "])


def test_addresses_are_checked_and_normalised_every_time():
    for _ in range(2):  # the second time from the cache of parsed addresses
        assert valid(context={"ip": " 2001:DB8:0:0::1 "})["ip"] == "2001:db8::1"
        assert valid(context={"ip": "10.0.0.1"})["ip"] == "10.0.0.1"
        assert "context.ip" in errors_of(context={"ip": "10.0.0.256"})
        assert "context.ip" in errors_of(context={"ip": "fe80::1%eth0"})
        assert "context.ip" in errors_of(context={"ip": 167772161})


def test_nesting_limit_counts_objects_and_arrays():
    deep = {"a": {"b": {"c": {"d": {"e": 1}}}}}  # 5 levels
    assert valid(metadata=deep)["metadata"] == deep
    assert "metadata" in errors_of(metadata={"a": {"b": {"c": {"d": {"e": [1]}}}}})
    assert "changes.after" in errors_of(changes={"before": None, "after": {"a": [[[[{"x": 1}]]]]}})
