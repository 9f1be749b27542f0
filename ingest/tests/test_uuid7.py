"""Server-assigned event ids: RFC 9562 version 7, unique across threads, ordered by their millisecond."""

import threading
import time
import uuid

from ingest.uuid7 import uuid7


def test_ids_are_version_7_unique_across_threads_and_carry_their_time():
    before = time.time_ns() // 1_000_000
    made: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(out):
        out.extend(uuid7() for _ in range(2_500))  # several refills of each thread's random buffer

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = time.time_ns() // 1_000_000
    ids = [i for out in made for i in out]
    assert len(set(ids)) == len(ids) == 10_000
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert all(before <= i.int >> 80 <= after for i in ids)
    assert len({i.int & ((1 << 62) - 1) for i in ids}) == len(ids)  # the random part differs, not only the time
