"""Acceptance: a burst of concurrent pledges is counted once per person and notified once."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

TARGET = 10
PARTICIPANTS = 64
WORKERS = 32
# Every fourth participant pledges a second time, four requests after the first one, so the
# two requests of one person are in flight together.
DUPLICATE_EVERY = 4
COUNT_TIMEOUT_SECONDS = 30.0
NOTIFY_TIMEOUT_SECONDS = 30.0
SETTLE_SECONDS = 3.0
POLL_SECONDS = 0.05
NO_ANSWER = 0  # the "status" of a request that got no full HTTP answer (refused, reset, cut)


@dataclass(frozen=True)
class PledgeCall:
    sub: str
    status: int
    body: dict[str, Any]
    finished_at: float


def display_name(sub: str) -> str:
    return f"Burst {sub.rsplit('-', 1)[-1]}"


def burst_order(subs: list[str]) -> list[str]:
    order: list[str] = []
    for index, sub in enumerate(subs):
        order.append(sub)
        if index % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
            order.append(subs[index - (DUPLICATE_EVERY - 1)])
    return order


def pledge_burst(stack: Stack, challenge_id: str, order: list[str]) -> list[PledgeCall]:
    tokens = {sub: stack.participant_token(sub) for sub in set(order)}
    waiting = threading.Semaphore(0)
    go = threading.Event()

    def pledge(sub: str) -> PledgeCall:
        # The first wave waits until every worker is ready, so it really arrives at once.
        waiting.release()
        go.wait(timeout=10)
        try:
            response = stack.request(
                "POST",
                f"/challenges/{challenge_id}/pledges",
                token=tokens[sub],
                json={"display_name": display_name(sub)},
            )
        except requests.RequestException as error:
            # Counted as a failed answer, so the assertion shows how many were lost and why.
            return PledgeCall(sub, NO_ANSWER, {"error": repr(error)}, time.monotonic())
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text}
        return PledgeCall(sub, response.status_code, body, time.monotonic())

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = pool.map(pledge, order)
        for _ in range(WORKERS):
            waiting.acquire(timeout=10)
        go.set()
        return list(results)


def reached_emails(stack: Stack, challenge_id: str) -> dict[str, list[dict[str, Any]]]:
    """The challenge.reached e-mail log entries, by recipient role."""
    by_role: dict[str, list[dict[str, Any]]] = {"sponsor": [], "beneficiary": []}
    for item in stack.notifications(challenge_id):
        if item["event"] == "challenge.reached" and item["channel"] == "email":
            by_role.setdefault(item["recipient_role"], []).append(item)
    return by_role


def both_sent(stack: Stack, challenge_id: str) -> bool:
    log = reached_emails(stack, challenge_id)
    return all(
        any(item["status"] == "sent" for item in log[role]) for role in ("sponsor", "beneficiary")
    )


def assert_one_sent_email_each(stack: Stack, challenge: dict[str, Any]) -> None:
    log = reached_emails(stack, challenge["id"])
    for role in ("sponsor", "beneficiary"):
        entries = log[role]
        assert len(entries) == 1, f"{role}: {entries}"
        assert entries[0]["status"] == "sent", entries
        assert entries[0]["to"] == challenge[role]["email"], entries
        assert entries[0]["sent_at"] is not None, entries


class Watcher:
    """Polls the challenge during the burst to time when `reached` and the e-mails show up.

    Polls queue behind the burst, so each moment is bracketed: after the start of the last
    poll that did not see it, before the answer of the first poll that did.
    """

    def __init__(self, stack: Stack, challenge_id: str) -> None:
        self._stack = stack
        self._challenge_id = challenge_id
        self.reached = (0.0, 0.0)  # (not before, seen by)
        self.sent = (0.0, 0.0)
        self._thread = threading.Thread(target=self._watch, name="burst-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        not_reached = not_sent = time.monotonic()
        # It stops by itself, even when the test fails before waiting for it.
        deadline = not_reached + COUNT_TIMEOUT_SECONDS + NOTIFY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            started = time.monotonic()
            # A lost poll only delays the measurement; the test makes its own assertions.
            with contextlib.suppress(requests.RequestException, AssertionError):
                if not self.reached[1]:
                    if self._stack.challenge(self._challenge_id)["progress"]["reached"]:
                        self.reached = (not_reached, time.monotonic())
                        not_sent = not_reached  # nothing is sent before the target is reached
                    else:
                        not_reached = started
                elif both_sent(self._stack, self._challenge_id):
                    self.sent = (not_sent, time.monotonic())
                    return
                else:
                    not_sent = started
            time.sleep(POLL_SECONDS)

    def wait_for_sent(self, timeout: float) -> None:
        self._thread.join(timeout=timeout)


def test_burst_of_pledges_counts_each_participant_once_and_notifies_once(
    stack: Stack, timings: dict[str, float]
) -> None:
    challenge = stack.create_challenge(target={"metric": "participants", "value": TARGET})
    challenge_id = challenge["id"]
    run = uuid.uuid4().hex[:8]
    subs = [f"burst-{run}-{number:02d}" for number in range(PARTICIPANTS)]
    order = burst_order(subs)
    assert len(order) == 80
    assert len(set(order)) == PARTICIPANTS

    watcher = Watcher(stack, challenge_id)
    watcher.start()
    burst_started = time.monotonic()
    calls = pledge_burst(stack, challenge_id, order)
    burst_done = time.monotonic()
    timings["burst: 80 requests, first sent -> last answered"] = burst_done - burst_started

    statuses = Counter(call.status for call in calls)
    unexpected = [
        (call.sub, call.status, call.body) for call in calls if call.status not in (200, 201)
    ]
    assert statuses == {201: PARTICIPANTS, 200: len(order) - PARTICIPANTS}, unexpected
    created = Counter(call.sub for call in calls if call.status == 201)
    assert created == Counter(subs), "each participant gets exactly one 201"
    # Each answer is about the caller's own pledge, never another request's.
    mixed_up = [
        call
        for call in calls
        if call.body["pledge"]["participant_id"] != call.sub
        or call.body["pledge"]["display_name"] != display_name(call.sub)
    ]
    assert not mixed_up, mixed_up
    assert all(call.body["pledge"]["challenge_id"] == challenge_id for call in calls)

    # By the TARGET-th 201 answer the target was met: time from there, as from the reaching pledge.
    reaching_pledge_done = sorted(call.finished_at for call in calls if call.status == 201)[
        TARGET - 1
    ]

    def counted() -> dict[str, Any] | None:
        current = stack.challenge(challenge_id)
        progress = current["progress"]
        return current if progress["participants"] == PARTICIPANTS and progress["reached"] else None

    counted_challenge = stack.wait_until(
        counted, COUNT_TIMEOUT_SECONDS, message=f"{PARTICIPANTS} participants counted, reached"
    )
    timings["burst: last answer -> all 64 counted"] = time.monotonic() - burst_done
    assert counted_challenge["progress"]["reached_at"] is not None

    stack.wait_until(
        lambda: both_sent(stack, challenge_id),
        NOTIFY_TIMEOUT_SECONDS,
        message="challenge.reached e-mails to sponsor and beneficiary sent",
    )
    watcher.wait_for_sent(NOTIFY_TIMEOUT_SECONDS)
    for name, (not_before, seen_by) in (
        ("reached", watcher.reached),
        ("e-mails sent", watcher.sent),
    ):
        if seen_by:
            timings[f"burst: reaching pledge answered -> {name}, at least"] = (
                not_before - reaching_pledge_done
            )
            timings[f"burst: reaching pledge answered -> {name}, at most"] = (
                seen_by - reaching_pledge_done
            )
    assert_one_sent_email_each(stack, challenge)

    # Redeliveries and late stream records must not add a second message.
    time.sleep(SETTLE_SECONDS)
    assert_one_sent_email_each(stack, challenge)
    final = stack.challenge(challenge_id)["progress"]
    assert final["participants"] == PARTICIPANTS
    assert final["reached"] is True

    emails = stack.sent_emails()
    for role in ("sponsor", "beneficiary"):
        address = challenge[role]["email"]
        to_them = [email for email in emails if address in email.to]
        assert len(to_them) == 1, f"{role}: {to_them}"
        assert challenge["title"] in to_them[0].subject
