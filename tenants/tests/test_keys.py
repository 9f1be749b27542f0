"""Per-tenant data keys: wrapping under the master key, first key, rotation, master-key rewrap, the start-up
check, crypto-shredding (DELETE /api/v1/tenants/{id}), and who may delete a tenant."""

import base64
import os
import subprocess
import sys
import uuid
from io import StringIO

import orjson
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from ingest.crypto import UNREADABLE_MARK, Undecryptable, content_decrypt, value_decrypt
from ingest.services import event_create
from tenants import keys
from tenants.keys import KeyUnavailable, LocalKeyProvider, active_key, data_keys_forget, master_key_id
from tenants.models import Membership, Role, Tenant, TenantKey, User
from tenants.selectors import tenant_policy_cache_clear
from tenants.services import tenant_create, tenant_settings_update

PASSWORD = "correct-horse-battery-staple"
URL = "/api/v1/tenants"
CHANGES = {"before": {"plan": "free"}, "after": {"plan": "enterprise"}}


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(autouse=True)
def fresh_key_caches():
    """Every test starts and ends with empty key caches and the configured provider: keys made in a rolled-back
    test transaction, or under another master key, must not outlive it in this process."""
    keys.key_provider.cache_clear()
    data_keys_forget()
    yield
    keys.key_provider.cache_clear()
    data_keys_forget()
    tenant_policy_cache_clear()


def write(tenant, **body) -> dict:
    """An event stored in the tenant (through the ingest service), and its stored content read back raw."""
    connection.set_tenant(tenant)
    try:
        event, _ = event_create(
            tenant_slug=tenant.slug,
            body={"actor": {"id": "alice"}, "action": "UPDATE", "resource": {"type": "account"}, **body},
        )
        return stored_content(tenant, event.id)
    finally:
        connection.set_schema_to_public()


def stored_content(tenant, event_id) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT id, changes, metadata FROM "{tenant.schema_name}".ingest_event WHERE id = %s', [event_id]
        )
        row = cursor.fetchone()
    return {"id": row[0], "changes": orjson.loads(row[1]) if row[1] else None, "metadata": orjson.loads(row[2])}


def opened(tenant, row: dict) -> dict:
    return content_decrypt({"id": row["id"], "changes": row["changes"], "metadata": row["metadata"]}, tenant)


def key_version(sealed: dict) -> int:
    return int(sealed["$enc"].split(":")[1])


# The key provider


def test_a_wrapped_key_unwraps_only_with_its_context_and_master_key():
    provider = LocalKeyProvider(new_master_key(), [])
    data_key = os.urandom(32)
    key_id, wrapped = provider.wrap(data_key, b"t_acme/1")
    assert key_id == provider.current_key_id() and data_key not in wrapped
    assert provider.unwrap(key_id, wrapped, b"t_acme/1") == data_key
    with pytest.raises(KeyUnavailable):
        provider.unwrap(key_id, wrapped, b"t_globex/1")  # another tenant's, or another version's, context
    with pytest.raises(KeyUnavailable):
        provider.unwrap(key_id, wrapped[:-1] + bytes([wrapped[-1] ^ 1]), b"t_acme/1")
    with pytest.raises(KeyUnavailable):
        LocalKeyProvider(new_master_key(), []).unwrap(key_id, wrapped, b"t_acme/1")  # another master key


def test_previous_master_keys_still_unwrap():
    old = new_master_key()
    key_id, wrapped = LocalKeyProvider(old, []).wrap(b"k" * 32, b"ctx")
    rotated = LocalKeyProvider(new_master_key(), [old])
    assert rotated.current_key_id() != key_id == master_key_id(base64.b64decode(old))
    assert rotated.unwrap(key_id, wrapped, b"ctx") == b"k" * 32


@pytest.mark.parametrize("value", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_master_key_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match="ENCRYPTION_MASTER_KEY must be the base64 of 32"):
        LocalKeyProvider(value or "=", [])


def _start(**env) -> subprocess.CompletedProcess:
    """`manage.py check` in a fresh process with this environment (over the current one)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "auditlog.settings", "SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_master_key_the_service_refuses_to_start_unless_debug():
    refused = _start(DEBUG="0", ENCRYPTION_MASTER_KEY="")
    assert refused.returncode != 0 and "ENCRYPTION_MASTER_KEY is not set" in refused.stderr
    malformed = _start(DEBUG="0", ENCRYPTION_MASTER_KEY="dG9vIHNob3J0")
    assert malformed.returncode != 0 and "must be the base64 of 32 random bytes" in malformed.stderr
    started = _start(DEBUG="0", ENCRYPTION_MASTER_KEY=new_master_key())
    assert started.returncode == 0 and "tenants.W001" not in started.stderr
    development = _start(DEBUG="1", ENCRYPTION_MASTER_KEY="")  # the labelled development key, and a warning
    assert development.returncode == 0 and "tenants.W001" in development.stderr
    assert "public development master key" in development.stderr


# Data keys


def test_the_first_data_key_is_made_on_first_need_and_stored_only_wrapped(world):
    tenant = world.acme.tenant
    TenantKey.objects.filter(tenant=tenant).delete()  # as for a tenant older than encryption
    version, cipher = active_key(tenant)
    row = TenantKey.objects.get(tenant=tenant)
    assert (row.version, row.retired_at, row.provider) == (version, None, "local") == (1, None, "local")
    assert row.master_key_id == master_key_id(base64.b64decode(django_settings.ENCRYPTION_MASTER_KEY))
    assert len(bytes(row.wrapped_key)) == 12 + 32 + 16  # nonce, key, tag: never the key itself
    assert active_key(tenant) == (1, cipher)  # cached


def test_rotation_keeps_old_events_readable_and_new_ones_use_the_new_version(world):
    tenant = world.acme.tenant
    before = write(tenant, changes=CHANGES)
    old_version = key_version(before["changes"]["after"])
    out = StringIO()
    call_command("tenant_keys_rotate", "--tenant", "acme", stdout=out)
    assert out.getvalue().strip() == f"acme: data key version {old_version + 1} active"
    after = write(tenant, changes=CHANGES)
    assert key_version(after["changes"]["after"]) == old_version + 1
    assert opened(tenant, before)["changes"] == opened(tenant, after)["changes"] == CHANGES
    versions = dict(TenantKey.objects.filter(tenant=tenant).values_list("version", "retired_at"))
    assert versions[old_version] is not None and versions[old_version + 1] is None  # old kept, retired


def test_rotation_of_every_tenant_and_of_an_unknown_one(world):
    out = StringIO()
    call_command("tenant_keys_rotate", stdout=out)
    assert {line.split(":")[0] for line in out.getvalue().splitlines()} >= {"acme", "globex"}
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        call_command("tenant_keys_rotate", "--tenant", "nope")


def test_rewrap_under_a_new_master_key_makes_the_old_one_unneeded(world, settings):
    tenant = world.acme.tenant
    old_master = settings.ENCRYPTION_MASTER_KEY
    first = write(tenant, changes=CHANGES)
    call_command("tenant_keys_rotate", "--tenant", "acme", stdout=StringIO())
    second = write(tenant, changes=CHANGES)
    assert key_version(first["changes"]["after"]) != key_version(second["changes"]["after"])

    def reconfigure(master, olds):
        settings.ENCRYPTION_MASTER_KEY, settings.ENCRYPTION_OLD_MASTER_KEYS = master, olds
        keys.key_provider.cache_clear()
        data_keys_forget()

    new_master = new_master_key()
    reconfigure(new_master, [])  # the new key alone cannot unwrap what the old one wrapped
    assert opened(tenant, first)["changes"] == {"before": UNREADABLE_MARK, "after": UNREADABLE_MARK}
    reconfigure(new_master, [old_master])  # during the rotation: both
    assert opened(tenant, first)["changes"] == CHANGES
    out = StringIO()
    call_command("tenant_keys_rotate", "--tenant", "acme", "--rewrap", stdout=out)
    assert "data key(s) re-wrapped" in out.getvalue()
    assert set(TenantKey.objects.filter(tenant=tenant).values_list("master_key_id", flat=True)) == {
        master_key_id(base64.b64decode(new_master))
    }
    again = StringIO()
    call_command("tenant_keys_rotate", "--tenant", "acme", "--rewrap", stdout=again)
    assert again.getvalue().strip() == "acme: 0 data key(s) re-wrapped"  # done already: nothing to do
    reconfigure(new_master, [])  # the old master key is gone from the environment
    assert opened(tenant, first)["changes"] == opened(tenant, second)["changes"] == CHANGES
    third = write(tenant, changes=CHANGES)
    assert opened(tenant, third)["changes"] == CHANGES
    reconfigure(old_master, [])  # and the old one alone no longer opens anything
    assert opened(tenant, first)["changes"]["after"] == UNREADABLE_MARK


def test_rewrap_without_the_old_master_key_changes_nothing_and_says_so(world, settings):
    tenant = world.acme.tenant
    write(tenant, changes=CHANGES)
    wrapped_before = sorted(
        bytes(k) for k in TenantKey.objects.filter(tenant=tenant).values_list("wrapped_key", flat=True)
    )
    settings.ENCRYPTION_MASTER_KEY = new_master_key()
    keys.key_provider.cache_clear()
    err = StringIO()
    with pytest.raises(CommandError, match="Not re-wrapped: acme"):
        call_command("tenant_keys_rotate", "--tenant", "acme", "--rewrap", stdout=StringIO(), stderr=err)
    assert "ENCRYPTION_OLD_MASTER_KEYS" in err.getvalue()
    wrapped_after = sorted(
        bytes(k) for k in TenantKey.objects.filter(tenant=tenant).values_list("wrapped_key", flat=True)
    )
    assert wrapped_after == wrapped_before


def test_a_key_of_another_provider_is_unavailable_and_not_rewrapped(world):
    tenant = world.acme.tenant
    active_key(tenant)
    TenantKey.objects.filter(tenant=tenant).update(provider="cloud-kms")
    data_keys_forget()
    with pytest.raises(KeyUnavailable):
        keys.data_key(tenant, 1)
    with pytest.raises(KeyUnavailable, match="cloud-kms"):
        keys.tenant_keys_rewrap(tenant)


def test_the_key_cache_is_bounded(world, monkeypatch):
    tenant = world.acme.tenant
    monkeypatch.setattr(keys, "KEYS_KEPT", 2)
    for _ in range(3):
        keys.tenant_key_create(tenant)
    for version in range(1, 4):
        keys.data_key(tenant, version)
    assert len(keys._KEYS) == 2 and (tenant.pk, 3) in keys._KEYS


# Deleting a tenant: crypto-shredding


@pytest.fixture
def throwaway():
    """A tenant of its own, made for deletion (never acme or globex)."""
    slug = f"shred-{uuid.uuid4().hex[:8]}"
    tenant = tenant_create(
        slug=slug,
        name="Shred",
        admin={"username": f"{slug}-admin", "email": f"admin@{slug}.test", "password": PASSWORD},
    )
    connection.set_schema_to_public()
    return tenant


def test_deleting_a_tenant_destroys_its_keys_so_a_copy_of_its_ciphertext_cannot_be_read(world, api, throwaway):
    tenant_settings_update(tenant=throwaway, changes={"sensitive_fields": ["metadata.diagnosis"]})
    assert TenantKey.objects.filter(tenant=throwaway).count() == 1  # made with the tenant
    copy = write(
        throwaway, changes=CHANGES, metadata={"diagnosis": "hay fever", "plan": "gold"}
    )  # as a backup holds it
    assert opened(throwaway, copy)["metadata"] == {"diagnosis": "hay fever", "plan": "gold"}
    admin = User.objects.get(username=f"{throwaway.slug}-admin")

    response = api(world.staff_token).delete(f"{URL}/{throwaway.pk}")
    assert response.status_code == 204, response.content

    assert not TenantKey.objects.filter(tenant_id=throwaway.pk).exists()
    assert not Tenant.objects.filter(pk=throwaway.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [throwaway.schema_name])
        assert cursor.fetchone() is None  # its events are gone with it
    admin.refresh_from_db()
    assert not admin.is_active and not Membership.objects.filter(user=admin).exists()
    for path, sealed in (
        ("changes.after", copy["changes"]["after"]),
        ("metadata.diagnosis", copy["metadata"]["diagnosis"]),
    ):
        with pytest.raises(Undecryptable):
            value_decrypt(sealed, throwaway, copy["id"], path)
    shown = opened(throwaway, copy)
    assert shown["changes"] == {"before": UNREADABLE_MARK, "after": UNREADABLE_MARK}
    assert shown["metadata"] == {"diagnosis": UNREADABLE_MARK, "plan": "gold"}


def test_only_platform_staff_may_delete_a_tenant(world, api):
    """Everyone else is refused before anything happens, for their own tenant as for another."""
    acme, globex = world.acme, world.globex
    for tenant in (acme.tenant, globex.tenant):
        for role in Role.values:
            response = api(acme.tokens[role]).delete(f"{URL}/{tenant.pk}")
            assert response.status_code == 403, (role, response.content)
        for scope in ("ingest", "read", "export"):
            assert api(acme.keys[scope]).delete(f"{URL}/{tenant.pk}").status_code == 403
        assert api(None).delete(f"{URL}/{tenant.pk}").status_code == 401
        assert api(acme.keys["revoked"]).delete(f"{URL}/{tenant.pk}").status_code == 401
    assert Tenant.objects.filter(pk__in=[acme.tenant.pk, globex.tenant.pk]).count() == 2
    assert TenantKey.objects.filter(tenant__in=[acme.tenant, globex.tenant]).exists()


def test_an_unknown_tenant_or_the_platform_itself_is_not_found(world, api):
    staff = api(world.staff_token)
    response = staff.delete(f"{URL}/999999999")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    public = Tenant.objects.filter(schema_name="public").first()
    if public is not None:
        assert staff.delete(f"{URL}/{public.pk}").status_code == 404
    assert staff.get(f"{URL}/{world.acme.tenant.pk}").status_code == 405  # DELETE is its only method
