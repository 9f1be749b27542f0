"""Per-tenant data keys for encryption at rest, wrapped by a key provider.

Each tenant has numbered data keys (TenantKey, public schema): AES-256 keys stored only wrapped
(encrypted) by the key provider named in ENCRYPTION_KEY_PROVIDER. The newest unretired version
encrypts new writes; older versions stay for reading what they encrypted. A tenant's first key is
made on first need (its first event with sensitive content), so creating a tenant costs nothing more.

The provider is a small interface (wrap, unwrap, current key id), so a cloud KMS can replace
LocalKeyProvider, which wraps with AES-256-GCM under ENCRYPTION_MASTER_KEY; previous master keys
(ENCRYPTION_OLD_MASTER_KEYS) still unwrap until every data key is re-wrapped (tenant_keys_rewrap).
Wrapping binds the tenant's schema and the key version as associated data, so a wrapped key copied
to another tenant or version does not unwrap.

Unwrapped keys are cached per process, bounded, for ENCRYPTION_KEY_CACHE_SECONDS: a rotation
reaches new writes, and a deleted tenant's keys leave every process's memory, within that time.
"""

import base64
import hashlib
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import Tenant, TenantKey

logger = logging.getLogger(__name__)

DATA_KEY_BYTES = 32
NONCE_BYTES = 12


class KeyUnavailable(Exception):
    """A data key cannot be had: it does not exist (never made, or destroyed with its tenant) or cannot be unwrapped."""


class KeyNotLoaded(Exception):
    """A data key is not in this process's cache, and the caller may not touch the database (an event loop):
    it asks again from a database thread, with `load`."""

    def __init__(self, tenant_id: int, version: int):
        super().__init__(f"data key {version} of tenant {tenant_id} is not loaded")
        self.tenant_id, self.version = tenant_id, version


class KeyProvider(ABC):
    """Wraps and unwraps data keys. `context` is bound to the wrapped key (associated data, or a KMS
    encryption context): unwrapping with another context fails."""

    name: str

    @abstractmethod
    def current_key_id(self) -> str:
        """The id of the key that wrap() uses now (stored with each wrapped key, to find it again)."""

    @abstractmethod
    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        """(key id, wrapped key)."""

    @abstractmethod
    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        """The data key; raises KeyUnavailable when the key id is unknown or the wrapped key does not open."""


def master_key_decode(value: str, name: str) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != DATA_KEY_BYTES:
        raise ImproperlyConfigured(f"{name} must be the base64 of {DATA_KEY_BYTES} random bytes.")
    return key


def master_key_id(key: bytes) -> str:
    """A public fingerprint of a master key (it says which key wrapped a data key, and reveals nothing of it)."""
    return "local:" + hashlib.sha256(b"auditlog master key id\x00" + key).hexdigest()[:16]


class LocalKeyProvider(KeyProvider):
    """AES-256-GCM key wrapping under a master key from the environment."""

    name = "local"

    def __init__(self, master_key: str | None = None, old_master_keys: list[str] | None = None):
        current = master_key_decode(master_key or settings.ENCRYPTION_MASTER_KEY, "ENCRYPTION_MASTER_KEY")
        olds = settings.ENCRYPTION_OLD_MASTER_KEYS if old_master_keys is None else old_master_keys
        self._current = master_key_id(current)
        self._keys = {self._current: AESGCM(current)}
        for value in olds:
            old = master_key_decode(value, "ENCRYPTION_OLD_MASTER_KEYS")
            self._keys.setdefault(master_key_id(old), AESGCM(old))

    def current_key_id(self) -> str:
        return self._current

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self._current, nonce + self._keys[self._current].encrypt(nonce, data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        master = self._keys.get(key_id)
        if master is None:
            raise KeyUnavailable(f"the master key {key_id} is not configured")
        try:
            return master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            raise KeyUnavailable(f"a data key does not unwrap under {key_id}")


def development_key_check(app_configs=None, **kwargs) -> list:
    """A warning from `manage.py check` (and at every start) while the public development master key is in use."""
    if settings.ENCRYPTION_MASTER_KEY != settings.DEVELOPMENT_MASTER_KEY:
        return []
    return [
        checks.Warning(
            "Encryption at rest uses the public development master key (DEBUG without ENCRYPTION_MASTER_KEY).",
            hint="Never store real data like this: set ENCRYPTION_MASTER_KEY (make .env writes one).",
            id="tenants.W001",
        )
    ]


@cache
def key_provider() -> KeyProvider:
    """The configured provider (one per process)."""
    return import_string(settings.ENCRYPTION_KEY_PROVIDER)()


def _wrap_context(tenant: Tenant, version: int) -> bytes:
    return f"auditlog data key\x00{tenant.schema_name}\x00{version}".encode()


# (tenant id, version) -> (expires at, cipher or None for a key known not to exist); bounded, oldest out.
_KEYS: OrderedDict[tuple[int, int], tuple[float, AESGCM | None]] = OrderedDict()
_ACTIVE: dict[int, tuple[float, int]] = {}  # tenant id -> (expires at, active version)
_LOCK = threading.Lock()
KEYS_KEPT = 4096


def _remember(tenant_id: int, version: int, cipher: AESGCM | None) -> None:
    with _LOCK:
        _KEYS[(tenant_id, version)] = (time.monotonic() + settings.ENCRYPTION_KEY_CACHE_SECONDS, cipher)
        _KEYS.move_to_end((tenant_id, version))
        while len(_KEYS) > KEYS_KEPT:
            _KEYS.popitem(last=False)


def _unwrapped(tenant: Tenant, row: TenantKey) -> AESGCM | None:
    try:
        provider = key_provider()
        if row.provider != provider.name:
            raise KeyUnavailable(f"data key {row.version} was wrapped by the {row.provider} provider")
        return AESGCM(provider.unwrap(row.master_key_id, bytes(row.wrapped_key), _wrap_context(tenant, row.version)))
    except KeyUnavailable as exc:
        # Its events read as unreadable: most likely a master key missing from the environment.
        logger.error("data key %s of tenant %s cannot be unwrapped: %s", row.version, tenant.pk, exc)
        return None


def data_key(tenant: Tenant, version: int, *, load: bool = True) -> AESGCM:
    """The cipher of a data key version. Raises KeyUnavailable when there is no such key (or it does not
    unwrap); without `load`, raises KeyNotLoaded rather than reading the database."""
    hit = _KEYS.get((tenant.pk, version))
    if hit is None or hit[0] < time.monotonic():
        if not load:
            raise KeyNotLoaded(tenant.pk, version)
        row = TenantKey.objects.filter(tenant_id=tenant.pk, version=version).first()
        hit = (0.0, _unwrapped(tenant, row) if row is not None else None)
        _remember(tenant.pk, version, hit[1])
    if hit[1] is None:
        raise KeyUnavailable(f"tenant {tenant.pk} has no usable data key {version}")
    return hit[1]


def active_key(tenant: Tenant) -> tuple[int, AESGCM]:
    """(version, cipher) of the key that encrypts the tenant's new writes; made on first need."""
    hit = _ACTIVE.get(tenant.pk)
    if hit is not None and hit[0] >= time.monotonic():
        return hit[1], data_key(tenant, hit[1])
    row = TenantKey.objects.filter(tenant_id=tenant.pk, retired_at=None).order_by("-version").first()
    version = row.version if row is not None else tenant_key_create(tenant).version
    _ACTIVE[tenant.pk] = (time.monotonic() + settings.ENCRYPTION_KEY_CACHE_SECONDS, version)
    return version, data_key(tenant, version)


def tenant_key_create(tenant: Tenant) -> TenantKey:
    """A new data key version for the tenant, active for new writes; the previous one is retired (kept
    for reading). Two processes making one at once: one wins, the other gets the winner's key."""
    latest = TenantKey.objects.filter(tenant_id=tenant.pk).order_by("-version").first()
    version = latest.version + 1 if latest is not None else 1
    provider = key_provider()
    key_id, wrapped = provider.wrap(AESGCM.generate_key(bit_length=256), _wrap_context(tenant, version))
    try:
        with transaction.atomic():
            TenantKey.objects.filter(tenant_id=tenant.pk, retired_at=None).update(retired_at=timezone.now())
            row = TenantKey.objects.create(
                tenant_id=tenant.pk, version=version, wrapped_key=wrapped, provider=provider.name, master_key_id=key_id
            )
    except IntegrityError:
        return TenantKey.objects.get(tenant_id=tenant.pk, retired_at=None)
    _ACTIVE.pop(tenant.pk, None)
    return row


def tenant_keys_rewrap(tenant: Tenant) -> int:
    """Re-wrap every data key of the tenant under the provider's current key (after a master-key rotation,
    so the old master key is no longer needed). Returns how many were re-wrapped; raises KeyUnavailable
    (changing nothing) if one cannot be unwrapped."""
    provider = key_provider()
    current = provider.current_key_id()
    count = 0
    with transaction.atomic():
        for row in TenantKey.objects.select_for_update().filter(tenant_id=tenant.pk).order_by("version"):
            if row.provider == provider.name and row.master_key_id == current:
                continue
            context = _wrap_context(tenant, row.version)
            if row.provider != provider.name:
                raise KeyUnavailable(f"data key {row.version} was wrapped by the {row.provider} provider")
            plain = provider.unwrap(row.master_key_id, bytes(row.wrapped_key), context)
            row.master_key_id, row.wrapped_key = provider.wrap(plain, context)
            row.save(update_fields=["master_key_id", "wrapped_key"])
            count += 1
    return count


def data_keys_forget(tenant_id: int | None = None) -> None:
    """Drop cached keys (of one tenant, or all): after its deletion, or when the master keys change."""
    with _LOCK:
        for cache_key in [k for k in _KEYS if tenant_id is None or k[0] == tenant_id]:
            del _KEYS[cache_key]
        if tenant_id is None:
            _ACTIVE.clear()
        else:
            _ACTIVE.pop(tenant_id, None)
