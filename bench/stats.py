"""Latency samples and their percentiles (nearest rank), in milliseconds."""

import math


class Latencies:
    """Seconds per operation; appending is safe from several threads."""

    def __init__(self):
        self.samples: list[float] = []

    def add(self, seconds: float):
        self.samples.append(seconds)

    @property
    def count(self) -> int:
        return len(self.samples)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    def summary(self) -> dict:
        if not self.samples:
            return {"count": 0, "p50_ms": math.nan, "p95_ms": math.nan, "p99_ms": math.nan}
        return {"count": self.count, **{f"p{p}_ms": self.percentile(p) for p in (50, 95, 99)}}
