"""The per-participant sliding-window limiter, on a fake clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.services.ratelimit import Limit, SlidingWindowLimiter, retry_after_header

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class StepClock:
    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def test_allows_the_limit_then_refuses_with_the_time_left() -> None:
    clock = StepClock()
    limiter = SlidingWindowLimiter(Limit(3, 60), clock)
    assert [limiter.acquire("p1") for _ in range(3)] == [None, None, None]
    clock.advance(20)
    assert limiter.acquire("p1") == pytest.approx(40.0)
    # Another participant has a window of their own.
    assert limiter.acquire("p2") is None


def test_the_window_slides() -> None:
    clock = StepClock()
    limiter = SlidingWindowLimiter(Limit(2, 60), clock)
    assert limiter.acquire("p") is None
    clock.advance(30)
    assert limiter.acquire("p") is None
    clock.advance(29.5)
    assert limiter.acquire("p") == pytest.approx(0.5)
    clock.advance(0.5)  # the first request leaves the window
    assert limiter.acquire("p") is None
    assert limiter.acquire("p") == pytest.approx(30.0)


def test_refused_requests_do_not_extend_the_wait() -> None:
    clock = StepClock()
    limiter = SlidingWindowLimiter(Limit(1, 10), clock)
    assert limiter.acquire("p") is None
    for _ in range(5):
        clock.advance(1)
        assert limiter.acquire("p") is not None
    clock.advance(5)
    assert limiter.acquire("p") is None


def test_memory_is_bounded_forgetting_the_least_recent() -> None:
    clock = StepClock()
    limiter = SlidingWindowLimiter(Limit(1, 60), clock, max_keys=2)
    assert limiter.acquire("a") is None
    assert limiter.acquire("b") is None
    assert limiter.acquire("a") is not None  # a is now the most recent
    assert limiter.acquire("c") is None  # b is forgotten
    assert limiter.acquire("b") is None
    assert limiter.acquire("a") is None  # then a (forgotten when b came back)


def test_concurrent_requests_never_exceed_the_limit() -> None:
    limiter = SlidingWindowLimiter(Limit(25, 60), StepClock())
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(20):
            allowed.append(limiter.acquire("p") is None)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 25
    assert len(allowed) == 160


@pytest.mark.parametrize("limit", [Limit(0, 60), Limit(1, 0)])
def test_a_limit_that_allows_nothing_is_refused(limit: Limit) -> None:
    with pytest.raises(ValueError, match="at least one request"):
        SlidingWindowLimiter(limit, StepClock())


@pytest.mark.parametrize(("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (40.01, "41")])
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header
