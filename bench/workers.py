"""Threads that share a list of work items, started and joined together."""

import threading
import time


class Pending:
    """Items handed out once each, to whichever thread asks first."""

    def __init__(self, items):
        self._items = list(reversed(items))
        self._lock = threading.Lock()

    def take(self):
        """The next item, or None when all are taken."""
        with self._lock:
            return self._items.pop() if self._items else None


def run_threads(count: int, target) -> float:
    """Run target(index) in `count` threads; returns the wall time in seconds until all finished."""
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started
