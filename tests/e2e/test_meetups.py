"""Meetups on the real local stack: 500 concurrent sign-ups for 50 places give exactly 50
seats and 450 on the waitlist; 10 cancellations (each sent twice at once, as a retry would)
promote exactly the 10 first waiting; each seat is e-mailed once."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Stack, assert_problem

PEOPLE, PLACES, LEAVING = 500, 50, 10
WORKERS = 32


def test_500_signups_for_50_places_then_10_promotions(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    challenge = stack.create_challenge()
    body = {
        "title": f"Repair café {tag}",
        "starts_at": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
        "place": "12 rue des Lilas, Lyon",
        "capacity": PLACES,
    }
    created = stack.request(
        "POST",
        f"/admin/challenges/{challenge['id']}/events",
        token=stack.admin_token(),
        json=body,
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    path = f"/events/{event_id}/rsvp"
    tokens = [
        stack.participant_token(
            f"e2e-rsvp-{tag}-{n:03d}",
            email=f"rsvp-{n:03d}-{tag}@people.example",
            email_verified=True,
        )
        for n in range(PEOPLE)
    ]

    def sign_up(token: str) -> dict[str, Any]:
        answer = stack.request("PUT", path, token=token)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        answers = list(pool.map(sign_up, tokens))
    assert Counter(a["status"] for a in answers) == {"confirmed": 50, "waitlisted": 450}
    shown = stack.request("GET", f"/events/{event_id}").json()
    assert (shown["confirmed"], shown["waitlisted"]) == (PLACES, PEOPLE - PLACES)

    def mine(token: str) -> dict[str, Any]:
        result: dict[str, Any] = stack.request("GET", path, token=token).json()
        return result

    positions = {n: mine(t)["position"] for n, t in enumerate(tokens) if answers[n]["position"]}
    assert sorted(positions.values()) == list(range(1, PEOPLE - PLACES + 1))
    queue = sorted(positions, key=lambda n: positions[n])
    first_waiting = queue[:LEAVING]
    leaving = [n for n, a in enumerate(answers) if a["status"] == "confirmed"][:LEAVING]

    def cancel(token: str) -> int:
        return stack.request("DELETE", path, token=token).status_code

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        statuses = list(pool.map(cancel, [tokens[n] for n in leaving] * 2))
    assert statuses == [204] * (2 * LEAVING)
    after = stack.request("GET", f"/events/{event_id}").json()
    assert (after["confirmed"], after["waitlisted"]) == (PLACES, PEOPLE - PLACES - LEAVING)
    assert all(mine(tokens[n])["status"] == "confirmed" for n in first_waiting)
    assert [mine(tokens[n])["position"] for n in queue[LEAVING : LEAVING + 3]] == [1, 2, 3]

    promoted = {f"rsvp-{n:03d}-{tag}@people.example" for n in first_waiting}

    def mailed() -> Counter[str]:
        return Counter(
            to for email in stack.sent_emails() if tag in email.subject for to in email.to
        )

    stack.wait_until(
        lambda: promoted <= set(mailed()) or None, 60, message="the promotions' e-mails"
    )
    counted = mailed()
    assert max(counted.values()) == 1
    assert {to for to, _ in counted.items() if to in promoted} == promoted
    # Only people with a seat were e-mailed: never someone still waiting.
    seated = {f"rsvp-{n:03d}-{tag}@people.example" for n, a in enumerate(answers)
              if a["status"] == "confirmed"} | promoted  # fmt: skip
    assert set(counted) <= seated


def test_capacity_below_confirmed_is_a_problem(stack: Stack) -> None:
    challenge = stack.create_challenge()
    body = {
        "title": "Small café",
        "starts_at": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
        "place": "Lyon",
        "capacity": 2,
    }
    admin = stack.admin_token()
    event_id = stack.request(
        "POST", f"/admin/challenges/{challenge['id']}/events", token=admin, json=body
    ).json()["id"]
    for n in range(2):
        token = stack.participant_token(f"e2e-small-{uuid.uuid4().hex[:6]}-{n}")
        assert stack.request("PUT", f"/events/{event_id}/rsvp", token=token).status_code == 200
    below = stack.request("PATCH", f"/admin/events/{event_id}", token=admin, json={"capacity": 1})
    assert_problem(below, 409)
    calendar = stack.request("GET", f"/events/{event_id}/calendar.ics")
    assert calendar.status_code == 200
    assert "BEGIN:VEVENT" in calendar.text
