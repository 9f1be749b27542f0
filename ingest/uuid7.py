"""Time-ordered UUIDs (RFC 9562 version 7) for server-assigned event ids: index-friendly.

The random bits come from the OS's CSPRNG, read 4 KiB at a time per thread: one system call per
400 ids rather than one per id (a bulk request assigns 1,000 of them while other threads wait).
"""

import os
import threading
import time
import uuid

_CHUNK = 4000  # bytes: 400 ids of 10 random bytes
_local = threading.local()


def _random_bits() -> int:
    """80 random bits from this thread's buffer of OS randomness (never shared between threads)."""
    buffer, offset = getattr(_local, "buffer", b""), getattr(_local, "offset", 0)
    if offset + 10 > len(buffer):
        buffer, offset = os.urandom(_CHUNK), 0
        _local.buffer = buffer
    _local.offset = offset + 10
    return int.from_bytes(buffer[offset : offset + 10], "big")


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = _random_bits()
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
