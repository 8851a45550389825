"""A challenge ends by its deadline on the real local stack: its schedule runs on its own,
and the sponsor and the beneficiary each get exactly one `challenge.ended` e-mail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Stack, assert_problem

pytestmark = pytest.mark.e2e

# The local stack runs its schedules every 5 s by default (the contract: at least every
# 10 s) and ends a challenge 2 s after its deadline; this bounds the wait, it is not a timing.
WAIT_SECONDS = 40.0
OPEN_SECONDS = 5


def ending_soon(stack: Stack, seconds: float, **fields: Any) -> dict[str, Any]:
    ends_at = datetime.now(UTC) + timedelta(seconds=seconds)
    return stack.create_challenge(ends_at=ends_at.isoformat(), **fields)


def status_of(stack: Stack, challenge_id: str) -> str:
    return str(stack.challenge(challenge_id)["status"])


def ended_deliveries(stack: Stack, challenge_id: str) -> list[dict[str, Any]]:
    return [n for n in stack.notifications(challenge_id) if n["event"] == "challenge.ended"]


def sent_to_both(stack: Stack, challenge_id: str) -> list[dict[str, Any]]:
    items = ended_deliveries(stack, challenge_id)
    done = len(items) == 2 and all(item["status"] == "sent" for item in items)
    return items if done else []


def ended_emails_to(stack: Stack, address: str) -> list[Any]:
    return [e for e in stack.sent_emails() if address in e.to and "terminé" in e.subject]


def test_a_challenge_ends_by_its_deadline_with_one_ended_email_each(
    stack: Stack, timings: dict[str, float]
) -> None:
    tag = uuid.uuid4().hex[:8]
    challenge = ending_soon(
        stack, OPEN_SECONDS, title=f"Deadline {tag}", target={"metric": "participants", "value": 3}
    )
    challenge_id = challenge["id"]
    sponsor, beneficiary = challenge["sponsor"]["email"], challenge["beneficiary"]["email"]
    pledger = stack.participant_token(f"deadline-{tag}")
    response = stack.request("POST", f"/challenges/{challenge_id}/pledges", token=pledger, json={})
    assert response.status_code == 201, response.text
    assert status_of(stack, challenge_id) == "live"
    started = datetime.now(UTC)

    stack.wait_until(
        lambda: status_of(stack, challenge_id) == "ended",
        WAIT_SECONDS,
        message="the challenge turned ended",
        interval=0.25,
    )
    timings["deadline: created -> ended"] = (datetime.now(UTC) - started).total_seconds()
    shown = stack.challenge(challenge_id)
    assert shown["progress"]["participants"] == 1
    assert shown["progress"]["reached"] is False
    ended_list = stack.request("GET", "/challenges", params={"status": "ended", "limit": 100})
    assert challenge_id in [item["id"] for item in ended_list.json()["items"]]
    late = stack.participant_token(f"late-{tag}")
    refused = stack.request("POST", f"/challenges/{challenge_id}/pledges", token=late, json={})
    assert "ended" in str(assert_problem(refused, 409)["detail"])
    assert_problem(
        stack.request("DELETE", f"/challenges/{challenge_id}/pledges/me", token=pledger), 409
    )

    deliveries = stack.wait_until(
        lambda: sent_to_both(stack, challenge_id),
        WAIT_SECONDS,
        message="both challenge.ended e-mails sent",
    )
    assert sorted((d["recipient_role"], d["channel"], d["to"]) for d in deliveries) == [
        ("beneficiary", "email", beneficiary),
        ("sponsor", "email", sponsor),
    ]

    # Let the schedule run again at least once (a second challenge ends after the first did),
    # then count: still one message per recipient, in the log and in SES.
    follower = ending_soon(stack, 0.5, title=f"Follower {tag}")
    stack.wait_until(
        lambda: status_of(stack, follower["id"]) == "ended",
        WAIT_SECONDS,
        message="a later schedule run",
        interval=0.25,
    )
    assert len(ended_deliveries(stack, challenge_id)) == 2
    for address in (sponsor, beneficiary):
        [email] = ended_emails_to(stack, address)
        assert "objectif non atteint" in email.subject
        body = email.html or email.text or ""
        assert "1 participants" in body
        assert "n'est pas due" in body
    assert [e for e in stack.sent_emails() if sponsor in e.to] == ended_emails_to(stack, sponsor)
