"""A token bucket per server, so one guest in a loop cannot starve the others.

Each worker keeps its own buckets (nothing shared between processes), so the limit a
server sees is per worker; with the kernel spreading connections over workers that is
close to ``workers`` times the setting, which the operator guide says.
"""

from __future__ import annotations

import time


class RateLimit:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        if self.rate <= 0:
            return True
        now = time.perf_counter() if now is None else now  # the clock requests are timed by
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # forget servers that went quiet
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        return True
