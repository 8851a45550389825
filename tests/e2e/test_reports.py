"""A campaign with a quantity challenge, over HTTP: reports reach it once, totals per unit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Stack, assert_problem

pytestmark = pytest.mark.e2e

COUNT_TIMEOUT_SECONDS = 10.0
NOTIFY_TIMEOUT_SECONDS = 10.0


def post_report(
    stack: Stack, challenge_id: str, sub: str, body: dict[str, Any], key: str | None = None
) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return stack.request(
        "POST",
        f"/challenges/{challenge_id}/reports",
        token=stack.participant_token(sub),
        json=body,
        headers=headers,
    )


def test_a_campaign_s_quantity_challenge_is_reached_by_reports_once(stack: Stack) -> None:
    campaign_id = stack.create_campaign("Semaine sans déchets")
    coffee = stack.create_challenge(
        title="Marc de café",
        target={"metric": "quantity", "value": 50, "unit": "kg"},
        report_cap=20,
        campaign_id=campaign_id,
    )
    cycling = stack.create_challenge(
        title="Au travail à vélo",
        target={"metric": "participants", "value": 100, "unit": "km"},
        campaign_id=campaign_id,
    )
    run = uuid.uuid4().hex[:6]
    ana, ben, chloe, dan, eve = (f"{name}-{run}" for name in ("ana", "ben", "chloe", "dan", "eve"))
    for sub, challenge in (
        (ana, coffee), (ben, coffee), (chloe, coffee), (dan, coffee),
        (ana, cycling), (ben, cycling), (eve, cycling),
    ):  # fmt: skip
        response = stack.request(
            "POST", f"/challenges/{challenge['id']}/pledges", token=stack.participant_token(sub)
        )
        assert response.status_code == 201, response.text

    # Refused: no pledge, over the cap, the wrong unit; none of them counts.
    assert_problem(post_report(stack, coffee["id"], eve, {"quantity": 5}), 409)
    assert_problem(post_report(stack, coffee["id"], ana, {"quantity": 25}), 400)
    assert_problem(post_report(stack, coffee["id"], ana, {"quantity": 5, "unit": "km"}), 400)

    for sub, quantity in ((ana, 12.5), (ben, 15), (chloe, 10), (dan, 8.5)):
        response = post_report(stack, coffee["id"], sub, {"quantity": quantity})
        assert response.status_code == 201, response.text
    # A retried request with its Idempotency-Key: one report.
    for _ in range(2):
        retried = post_report(stack, coffee["id"], ana, {"quantity": 3}, key=f"retry-{run}")
        assert retried.status_code == 201, retried.text
    for sub, km in ((ana, 12.4), (ben, 30), (eve, 7.6)):
        response = post_report(stack, cycling["id"], sub, {"quantity": km, "unit": "km"})
        assert response.status_code == 201, response.text

    def progress_of(challenge_id: str, expected: dict[str, Any]) -> dict[str, Any] | None:
        progress: dict[str, Any] = stack.challenge(challenge_id)["progress"]
        return progress if expected.items() <= progress.items() else None

    stack.wait_until(
        lambda: progress_of(coffee["id"], {"quantity": 49, "reached": False}),
        COUNT_TIMEOUT_SECONDS,
        message="coffee reports counted",
    )
    # The report that crosses the target.
    assert post_report(stack, coffee["id"], dan, {"quantity": 4}).status_code == 201
    reached = stack.wait_until(
        lambda: progress_of(coffee["id"], {"quantity": 53, "reached": True}),
        COUNT_TIMEOUT_SECONDS,
        message="coffee target reached",
    )
    assert reached["percent"] == 106.0
    assert reached["participants"] == 4
    stack.wait_until(
        lambda: progress_of(cycling["id"], {"quantity": 50, "participants": 3, "reached": False}),
        COUNT_TIMEOUT_SECONDS,
        message="km reports counted",
    )

    def counterparts_sent() -> list[tuple[str, str]] | None:
        sent = sorted(
            (n["recipient_role"], n["status"])
            for n in stack.notifications(coffee["id"])
            if n["recipient_role"] in ("sponsor", "beneficiary")
        )
        return sent if len(sent) >= 2 and all(status == "sent" for _, status in sent) else None

    sent = stack.wait_until(
        counterparts_sent, NOTIFY_TIMEOUT_SECONDS, message="sponsor and beneficiary told"
    )
    assert sent == [("beneficiary", "sent"), ("sponsor", "sent")]
    log = stack.notifications(coffee["id"])
    assert {n["event"] for n in log} == {"challenge.reached"}
    emails = [address for email in stack.sent_emails() for address in email.to]
    # The admin's view of the challenge (the 201 answer) carries the contacts.
    assert emails.count(coffee["sponsor"]["email"]) == 1
    assert emails.count(coffee["beneficiary"]["email"]) == 1

    week = stack.request("GET", f"/campaigns/{campaign_id}")
    assert week.status_code == 200, week.text
    assert week.json()["totals"] == {
        "participants": 5,
        "pledges": 7,
        "quantity": {"kg": 53, "km": 50},
        "promised": {},  # nothing offered (volunteering)
    }

    mine = stack.request("GET", "/me/reports", token=stack.participant_token(ana))
    assert mine.status_code == 200, mine.text
    items = mine.json()["items"]
    assert [(r["challenge_id"], r["quantity"]) for r in items] == [
        (cycling["id"], 12.4), (coffee["id"], 3), (coffee["id"], 12.5),
    ]  # fmt: skip
    assert "@" not in mine.text
