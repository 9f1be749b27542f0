"""Encryption at rest of sensitive event content, with per-tenant data keys (tenants.keys).

What is encrypted: `changes.before` and `changes.after` (each whole, when not null), and every path of
the tenant's `sensitive_fields` found in `metadata` (dotted paths such as `metadata.card.holder`; the
value there, whatever its JSON type). Masking runs first, so a masked value is encrypted masked.
`changed_fields` stays in clear: field names are not secret, and it is derived before this step.

Stored form: the JSON value is replaced in place by `{"$enc": "v1:<key version>:<base64url(nonce ||
ciphertext)>"}`: AES-256-GCM under the tenant's active data key, a random 96-bit nonce, the JSON text of
the value as plaintext, and as associated data the tenant's schema, the key version, the event id and
the value's path. A ciphertext copied to another tenant, event or field, or edited, does not decrypt.
Everything that carries stored events (the database, the live-tail channel, the search mirror, the
outbox) carries only this form; it is opened when an event is shown (search.audience.event_view):
decrypted for readers allowed sensitive content, otherwise replaced by ENCRYPTED_MARK; a value that
cannot be decrypted (tampered, or its key destroyed) is shown as UNREADABLE_MARK.
"""

import base64
import binascii
import os
from functools import lru_cache

import orjson
from cryptography.exceptions import InvalidTag

from tenants.keys import KeyUnavailable, active_key, data_key

from .uuid7 import uuid7

ENC = "$enc"
FORMAT = "v1"
ENCRYPTED_MARK = "[ENCRYPTED]"
UNREADABLE_MARK = "[UNREADABLE]"
NONCE_BYTES = 12
CHANGE_SIDES = ("before", "after")
_SIDE_PATHS = {side: f"changes.{side}".encode() for side in CHANGE_SIDES}


class Undecryptable(Exception):
    """An encrypted value that cannot be opened: malformed, tampered, moved, or its key is gone."""


def _aad_prefix(schema: str, version: int, event_id) -> bytes:
    """What every ciphertext of one event binds before its path (made once per event)."""
    return f"{schema}\x00{version}\x00{event_id}\x00".encode()


def is_encrypted(value) -> bool:
    return type(value) is dict and len(value) == 1 and ENC in value


def value_encrypt(value, cipher, version: int, aad: bytes) -> dict:
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + cipher.encrypt(nonce, orjson.dumps(value), aad)
    return {ENC: f"{FORMAT}:{version}:{base64.urlsafe_b64encode(sealed).decode()}"}


def _parse(sealed) -> tuple[int, bytes]:
    try:
        fmt, version, data = sealed.split(":", 2)
        if fmt != FORMAT:
            raise ValueError(fmt)
        return int(version), base64.urlsafe_b64decode(data)
    except (AttributeError, ValueError, binascii.Error):
        raise Undecryptable("not an encrypted value of a known format")


def value_decrypt(value: dict, tenant, event_id, path: str, *, load: bool = True):
    """The plaintext of an encrypted value at `path` of the tenant's event. Raises Undecryptable; without
    `load`, tenants.keys.KeyNotLoaded when the key is not in this process's cache."""
    version, sealed = _parse(value[ENC])
    try:
        cipher = data_key(tenant, version, load=load)
        aad = _aad_prefix(tenant.schema_name, version, event_id) + path.encode()
        plain = cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (KeyUnavailable, InvalidTag, ValueError):
        raise Undecryptable(f"{path} does not decrypt")
    return orjson.loads(plain)


@lru_cache(maxsize=256)
def _split_paths(paths: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A policy's sensitive paths as (path, keys under metadata), shortest first (once per policy)."""
    return tuple((path, tuple(path.split(".")[1:])) for path in sorted(paths, key=lambda p: p.count(".")))


def _sensitive_targets(metadata: dict, paths: tuple[str, ...]) -> list[tuple[dict, str, str]]:
    """(parent object, key, full path) of each sensitive path present; shortest first, so a path under one
    already chosen (and to be encrypted with it) is not chosen again."""
    found = []
    for path, parts in _split_paths(paths):
        parent = metadata
        for part in parts[:-1]:
            parent = parent.get(part) if type(parent) is dict else None
        if type(parent) is dict and parts[-1] in parent and not is_encrypted(parent):
            if not any(path.startswith(chosen + ".") for _, _, chosen in found):
                found.append((parent, parts[-1], path))
    return found


def encrypt_row(row: dict, tenant, policy) -> None:
    """Encrypt changes.before/after and the tenant's sensitive fields of a row, in place.

    A row with nothing to encrypt costs no key lookup. The row gets its id here when it has none yet
    (the id is bound into each ciphertext).
    """
    changes = row.get("changes")
    sides = [side for side in CHANGE_SIDES if changes and changes.get(side) is not None]
    metadata = row.get("metadata")
    targets = _sensitive_targets(metadata, policy.sensitive_fields) if metadata and policy.sensitive_fields else []
    if not sides and not targets:
        return
    version, cipher = active_key(tenant)
    if row.get("id") is None:
        row["id"] = uuid7()
    prefix = _aad_prefix(tenant.schema_name, version, row["id"])
    for parent, key, path in targets:
        parent[key] = value_encrypt(parent[key], cipher, version, prefix + path.encode())
    for side in sides:
        changes[side] = value_encrypt(changes[side], cipher, version, prefix + _SIDE_PATHS[side])


def _open(value, path: str, reveal):
    """value with every encrypted part replaced by reveal(part, path); the same object when nothing is."""
    if is_encrypted(value):
        return reveal(value, path)
    if type(value) is not dict:
        return value
    out = None
    for key, item in value.items():
        if type(item) is dict:
            opened = _open(item, f"{path}.{key}", reveal)
            if opened is not item:
                if out is None:
                    out = dict(value)
                out[key] = opened
    return value if out is None else out


def _content_open(event: dict, reveal) -> dict:
    """The event with its encrypted values opened by reveal; the same object when it has none (never changed
    in place: a live batch's events are shared by every connection)."""
    opened = {}
    changes = event.get("changes")
    if changes:
        sides = {side: _open(value, f"changes.{side}", reveal) for side, value in changes.items()}
        if any(sides[side] is not changes[side] for side in changes):
            opened["changes"] = sides
    metadata = event.get("metadata")
    if metadata:
        opened_metadata = _open(metadata, "metadata", reveal)
        if opened_metadata is not metadata:
            opened["metadata"] = opened_metadata
    return {**event, **opened} if opened else event


def content_mask(event: dict) -> dict:
    """The event (API shape) with each encrypted value shown as ENCRYPTED_MARK."""
    return _content_open(event, lambda value, path: ENCRYPTED_MARK)


def content_decrypt(event: dict, tenant, *, load: bool = True) -> dict:
    """The event (API shape) with each encrypted value decrypted, or shown as
    UNREADABLE_MARK when it cannot be. Without `load`, raises tenants.keys.KeyNotLoaded rather than reading
    the database (for event loops: load the keys in a thread, then call again)."""
    event_id = event["id"]

    def reveal(value, path):
        try:
            return value_decrypt(value, tenant, event_id, path, load=load)
        except Undecryptable:
            return UNREADABLE_MARK

    return _content_open(event, reveal)
