"""Retrying a transient failure on the spot: exponential backoff with full jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How a transient failure is retried on the spot: `attempts` tries in all, separated by
    exponential backoff with full jitter, so that senders throttled together spread out."""

    attempts: int = 3
    base: float = 0.2  # seconds
    cap: float = 2.0  # seconds
    rng: RandomSource = field(default_factory=random.Random, compare=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < self.base:
            raise ValueError(f"invalid retry policy: {self!r}")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number `retry` (0 for the first retry)."""
        return min(self.cap, self.base * 2.0**retry)

    def delays(self) -> Iterator[float]:
        """The waits before each retry, drawn as they are needed."""
        for retry in range(self.attempts - 1):
            yield self.rng.uniform(0, self.ceiling(retry))

    @property
    def worst_case_delay(self) -> float:
        """The longest a caller can spend waiting across all its retries."""
        return sum(self.ceiling(retry) for retry in range(self.attempts - 1))


SINGLE_TRY = RetryPolicy(attempts=1)
