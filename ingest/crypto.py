"""Encryption at rest of sensitive event content, with per-tenant data keys (issue in progress).

encrypt_row(row, tenant, policy) encrypts a validated, masked row's sensitive content in place.
"""


def encrypt_row(row: dict, tenant, policy) -> None:
    """Encrypt changes.before/after and the tenant's sensitive fields of a row, in place."""
