"""Per-participant rate limits on writes (pledges, reports): a sliding window per container."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.errors import RateLimitedError
from chalicelib.services.ports import NO_METRICS, Clock, MetricName, MetricsRecorder

# Bounds the limiter's memory in a long-lived container: the least recently seen participants
# are forgotten first (they are the least likely to be over their limit).
MAX_TRACKED_KEYS = 50_000


@dataclass(frozen=True)
class Limit:
    requests: int
    per_seconds: float


class SlidingWindowLimiter:
    """At most `limit.requests` acquisitions per key in any `limit.per_seconds` window.

    State lives in this container only: the fleet-wide bound is the WAF's rate rule keyed on
    the caller's token (infra/api.py); this one answers a client that hammers one container
    with a 429 and a precise `Retry-After` (docs/decisions.md).
    """

    def __init__(self, limit: Limit, clock: Clock, *, max_keys: int = MAX_TRACKED_KEYS) -> None:
        if limit.requests < 1 or limit.per_seconds <= 0:
            raise ValueError("a limit needs at least one request per positive window")
        self._limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._seen: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Count one request for `key`: None if allowed, else the seconds until one would be."""
        now = self._clock.now()
        with self._lock:
            times = self._seen.pop(key, None) or deque()
            self._seen[key] = times  # most recently seen last
            while times and (now - times[0]).total_seconds() >= self._limit.per_seconds:
                times.popleft()
            if len(times) >= self._limit.requests:
                waited = (now - times[0]).total_seconds()
                return max(self._limit.per_seconds - waited, 0.0)
            times.append(now)
            while len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)
            return None


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up, at least 1 (HTTP's Retry-After takes an integer)."""
    return str(max(1, math.ceil(seconds)))


class RateLimits:
    """One limiter per action (`pledge`, `report`), keyed by participant."""

    def __init__(
        self,
        limits: dict[str, Limit],
        clock: Clock,
        *,
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        self._limiters = {
            action: SlidingWindowLimiter(limit, clock) for action, limit in limits.items()
        }
        self._metrics = metrics

    def check(self, action: str, participant_id: str) -> None:
        """Count this request; raise RateLimitedError (with the wait) when over the limit."""
        wait = self._limiters[action].acquire(participant_id)
        if wait is not None:
            self._metrics.count(MetricName.RATE_LIMITED)
            raise RateLimitedError(action, wait)
