"""Locust users pledging on one challenge, each pledge by a new participant (bench.local_burst)."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, constant, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.exception import StopUser

from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT

PLEDGE_STATS_NAME = "/challenges/[id]/pledges"
NO_ANSWER = 0  # the status of a request that got no HTTP answer (refused, reset, timed out)
ERROR_SAMPLES = 20  # error descriptions kept for the report; the count covers them all

# locust's EventHook.add_listener is untyped, hence the ignores on the three listeners.


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def add_burst_arguments(parser: LocustArgumentParser) -> None:
    parser.add_argument("--burst-challenge", default="", help="challenge id to pledge on")
    parser.add_argument("--burst-pledges", type=int, default=0, help="pledges in all, by all users")
    parser.add_argument("--burst-results", default="", help="where to write the outcomes (JSON)")
    parser.add_argument(
        "--burst-deadline",
        type=float,
        default=0.0,
        help="seconds after which no new pledge starts (0: none); those in flight are answered",
    )


@dataclass
class Burst:
    """The shared quota, one participant per pledge, and every answer as it comes.

    Users are greenlets on one thread, so these counters need no lock.
    """

    challenge_id: str
    quota: int
    results_path: Path
    tokens: list[str]
    deadline: float | None = None  # time.monotonic() after which no new pledge starts
    issued: int = 0
    cut_short: bool = False  # the deadline stopped the burst before the quota was used
    quitting: bool = False
    statuses: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    # time.time() at each 201's answer: the bench process compares it with its own reads of
    # the counts (perf_counter and monotonic are not comparable across processes).
    created_at: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    first_sent: float | None = None
    last_answered: float | None = None

    def next_participant(self) -> int | None:
        """The next participant's number, or None once no new pledge may start."""
        if self.issued >= self.quota:
            return None
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.cut_short = True
            return None
        number = self.issued
        self.issued += 1
        return number

    def finished(self) -> bool:
        """Every pledge that will ever start has been answered."""
        closed = self.issued >= self.quota or self.cut_short
        return closed and len(self.statuses) == self.issued

    def record(
        self, status: int, latency_ms: float, sent: float, answered_at: float, error: str | None
    ) -> None:
        """One answer; `sent` is perf_counter() at the request, `answered_at` time.time() at
        its answer."""
        if self.first_sent is None or sent < self.first_sent:
            self.first_sent = sent
        self.last_answered = time.perf_counter()
        self.statuses.append(status)
        self.latencies_ms.append(latency_ms)
        if status == 201:
            self.created_at.append(answered_at)
        if error is not None and len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(error)

    def write(self) -> None:
        seconds = 0.0
        if self.first_sent is not None and self.last_answered is not None:
            seconds = self.last_answered - self.first_sent
        outcome = {
            "statuses": self.statuses,
            "latencies_ms": self.latencies_ms,
            "created_at": self.created_at,
            "seconds": seconds,
            "cut_short": self.cut_short,
            # Only when locust's own --run-time killed users mid-request.
            "unanswered": self.issued - len(self.statuses),
            "error_samples": self.error_samples,
        }
        self.results_path.write_text(json.dumps(outcome), encoding="utf-8")


_bursts: list[Burst] = []  # the one burst of this locust process, set up by `set_up_burst`


def current_burst() -> Burst:
    if not _bursts:
        raise RuntimeError("no burst: run through bench.local_burst (--burst-challenge …)")
    return _bursts[0]


@events.init.add_listener  # type: ignore[untyped-decorator]
def set_up_burst(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None or not options.burst_challenge:
        return
    quota: int = options.burst_pledges
    secret = os.environ.get("CROWDACT_LOCAL_JWT_SECRET") or LOCAL_JWT_SECRET_DEFAULT
    run = uuid.uuid4().hex[:8]
    # Minted before the first request (≈50 µs each), so the burst measures the API, not PyJWT.
    tokens = [mint_local_token(secret, f"burst-{run}-{number:05d}") for number in range(quota)]
    deadline = None
    if options.burst_deadline > 0:
        deadline = time.monotonic() + options.burst_deadline
    _bursts.append(
        Burst(options.burst_challenge, quota, Path(options.burst_results), tokens, deadline)
    )


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def write_outcomes(**_kwargs: Any) -> None:
    if _bursts:
        _bursts[0].write()


class Pledger(FastHttpUser):
    """Pledges back to back, each time as the next participant, until the quota is used."""

    wait_time = constant(0)

    @task
    def pledge(self) -> None:
        burst = current_burst()
        number = burst.next_participant()
        if number is None:
            self._quit_when_finished(burst)
            raise StopUser
        headers = {
            "Authorization": f"Bearer {burst.tokens[number]}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        body = {"display_name": f"Burst {number}", "location": {"lat": 48.904, "lon": 2.305}}
        sent = time.perf_counter()
        with self.client.post(
            f"/challenges/{burst.challenge_id}/pledges",
            json=body,
            headers=headers,
            name=PLEDGE_STATS_NAME,
            catch_response=True,
        ) as response:
            answered_at = time.time()  # the answer is in: before any of our own work
            status = response.status_code or NO_ANSWER
            error = None
            if status != 201:
                detail = repr(response.error) if status == NO_ANSWER else response.text
                error = f"{status}: {(detail or '')[:300]}"
                response.failure(error)
            else:
                response.success()
            latency_ms: float = response.request_meta["response_time"]
        burst.record(status, latency_ms, sent, answered_at, error)
        self._quit_when_finished(burst)

    def _quit_when_finished(self, burst: Burst) -> None:
        if burst.finished() and not burst.quitting:
            burst.quitting = True
            # On its own greenlet: quit() kills every user, this one included.
            gevent.spawn(self.environment.runner.quit)
