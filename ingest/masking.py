"""Masking at ingest, before storage, the mirror and the live tail (issue in progress: see the notes).

mask_row(row, policy) masks a validated row in place and records the masked paths.
"""


def mask_row(row: dict, policy) -> None:
    """Mask secrets in a validated row, in place, by the built-in detectors and the tenant's rules."""
