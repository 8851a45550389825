"""Where the money went, over HTTP on the real local stack: a challenge is reached, an admin
records a payout (once, however often it is sent), anyone reads the trail; a payout before the
target is reached is a 409, a bad amount or currency a 400."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import Stack, assert_problem

pytestmark = pytest.mark.e2e

# How long the stream poller may take to mark a challenge reached (polled, not asserted on).
REACH_TIMEOUT_SECONDS = 10.0


def payout_body(**changes: Any) -> dict[str, Any]:
    return {
        "amount": "5000.00",
        "currency": "EUR",
        "paid_on": datetime.now(UTC).date().isoformat(),
        "to": "beneficiary",
        "proof_url": "https://solicycle.example/receipts/2026-12",
        "note": "Bike repair lessons, first term",
        **changes,
    }


def record(stack: Stack, challenge_id: str, body: Any, key: str | None = None) -> Any:
    return stack.request(
        "POST",
        f"/admin/challenges/{challenge_id}/payouts",
        token=stack.admin_token(),
        json=body,
        headers={"Idempotency-Key": key} if key else {},
    )


def trail(stack: Stack, challenge_id: str) -> dict[str, Any]:
    response = stack.request("GET", f"/challenges/{challenge_id}/payouts")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_reached_challenges_payout_is_recorded_once_and_shown(stack: Stack) -> None:
    challenge = stack.create_challenge(
        target={"metric": "participants", "value": 1},
        beneficiary={"name": "Solicycle", "email": f"s-{uuid.uuid4().hex[:6]}@b.example"},
    )
    challenge_id = challenge["id"]
    # Not reached yet: nothing can be paid out.
    problem = assert_problem(record(stack, challenge_id, payout_body()), 409)
    assert problem["type"].endswith("/not-reached")

    pledged = stack.request(
        "POST",
        f"/challenges/{challenge_id}/pledges",
        token=stack.participant_token(f"payer-{uuid.uuid4().hex[:6]}"),
    )
    assert pledged.status_code == 201, pledged.text
    stack.wait_until(
        lambda: stack.challenge(challenge_id)["progress"]["reached"],
        REACH_TIMEOUT_SECONDS,
        message="the challenge is reached",
    )

    # Bad input: a 400 naming the field, and nothing recorded.
    for change, field in (
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": 5000}, "amount"),
        ({"currency": "ABC"}, "currency"),
        ({"to": "someone-else"}, "to"),
    ):
        problem = assert_problem(record(stack, challenge_id, payout_body(**change)), 400)
        assert field in {error["loc"][1] for error in problem["errors"]}, problem

    key = f"payout-{uuid.uuid4().hex[:8]}"
    first = record(stack, challenge_id, payout_body(), key)
    assert first.status_code == 201, first.text
    again = record(stack, challenge_id, payout_body(), key)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert record(stack, challenge_id, payout_body(amount="120000", currency="JPY")).ok

    listed = trail(stack, challenge_id)
    assert [(p["amount"], p["currency"]) for p in listed["items"]] == [
        ("120000", "JPY"),
        ("5000.00", "EUR"),
    ]
    assert listed["items"][1]["recipient_name"] == "Solicycle"
    assert listed["items"][1]["proof_url"] == "https://solicycle.example/receipts/2026-12"
    assert listed["totals"] == [
        {"currency": "EUR", "amount": "5000.00"},
        {"currency": "JPY", "amount": "120000"},
    ]
    response = stack.request("GET", f"/challenges/{challenge_id}/payouts")
    assert "@" not in response.text  # no address, the beneficiary's included


def test_an_unknown_challenge_is_a_404(stack: Stack) -> None:
    assert_problem(record(stack, "ch_does_not_exist", payout_body()), 404)
    assert_problem(stack.request("GET", "/challenges/ch_does_not_exist/payouts"), 404)
