"""The curl walk-through as a test: create, pledge, reach, notify, withdraw; and the errors."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Stack, assert_problem

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 30.0
MAX_BODY_BYTES = 64 * 1024


def new_sub(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def pledge(stack: Stack, challenge_id: str, token: str, **body: Any) -> Any:
    return stack.request("POST", f"/challenges/{challenge_id}/pledges", token=token, json=body)


def progress(stack: Stack, challenge_id: str) -> dict[str, Any]:
    result: dict[str, Any] = stack.challenge(challenge_id)["progress"]
    return result


def reached_emails(stack: Stack, challenge_id: str) -> list[dict[str, Any]]:
    return [
        item
        for item in stack.notifications(challenge_id)
        if item["event"] == "challenge.reached"
        and item["channel"] == "email"
        and item["recipient_role"] in ("sponsor", "beneficiary")
    ]


def all_sent(items: list[dict[str, Any]], count: int) -> bool:
    return len(items) == count and all(item["status"] == "sent" for item in items)


def sent_reached_emails(stack: Stack, challenge_id: str, count: int) -> list[dict[str, Any]]:
    """The sponsor and beneficiary e-mails once `count` of them are sent, else []."""
    items = reached_emails(stack, challenge_id)
    return items if all_sent(items, count) else []


def progress_with(stack: Stack, challenge_id: str, *, participants: int) -> dict[str, Any] | None:
    current = progress(stack, challenge_id)
    return current if current["participants"] == participants else None


def visible_ids(stack: Stack, token: str | None = None) -> set[str]:
    """Every challenge id GET /challenges lists for this caller, all pages."""
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        response = stack.request("GET", "/challenges", token=token, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_walkthrough_create_pledge_reach_notify_withdraw(
    stack: Stack, timings: dict[str, float]
) -> None:
    # The admin creates a live challenge: IF 3 people cycle, THEN the sponsor pays.
    challenge = stack.create_challenge(
        title="Cycle to work (walk-through)",
        target={"metric": "participants", "value": 3},
        publish=True,
    )
    challenge_id = challenge["id"]
    assert challenge["status"] == "live"
    assert challenge["sponsor"]["email"].endswith("@sponsor.example")  # admins see contacts

    # Anyone can read it, without the contacts.
    public = stack.request("GET", f"/challenges/{challenge_id}")
    assert public.status_code == 200
    assert public.headers["Content-Type"].startswith("application/json")
    assert challenge["sponsor"]["email"] not in public.text
    assert challenge["beneficiary"]["email"] not in public.text
    assert public.json()["progress"] == {
        "participants": 0,
        "quantity": 0,
        "promised": 0,
        "percent": 0.0,
        "reached": False,
        "reached_at": None,
    }
    assert challenge_id in visible_ids(stack)

    # Three participants pledge; pledging again changes nothing.
    subs = [new_sub("lea"), new_sub("hugo"), new_sub("chloe")]
    tokens = {sub: stack.participant_token(sub) for sub in subs}
    first = pledge(
        stack,
        challenge_id,
        tokens[subs[0]],
        display_name="Léa",
        location={"lat": 48.9045, "lon": 2.3057},
    )
    assert first.status_code == 201, first.text
    assert first.json()["pledge"]["participant_id"] == subs[0]
    assert "48.9045" not in first.text  # only a coarse area is kept
    again = pledge(stack, challenge_id, tokens[subs[0]])
    assert again.status_code == 200, again.text
    assert again.json()["pledge"]["display_name"] == "Léa"
    assert pledge(stack, challenge_id, tokens[subs[1]], display_name="Hugo").status_code == 201
    reaching = pledge(
        stack, challenge_id, tokens[subs[2]], location={"postal_code": "92110", "country": "FR"}
    )
    assert reaching.status_code == 201, reaching.text
    reaching_answered = time.monotonic()

    # The challenge reaches its target, and the sponsor and the beneficiary are told once.
    stack.wait_until(
        lambda: progress(stack, challenge_id)["reached"],
        WAIT_SECONDS,
        message="challenge reached",
    )
    timings["walk-through: reaching pledge answered -> reached"] = (
        time.monotonic() - reaching_answered
    )
    emails = stack.wait_until(
        lambda: sent_reached_emails(stack, challenge_id, 2),
        WAIT_SECONDS,
        message="2 sent challenge.reached e-mails",
    )
    timings["walk-through: reaching pledge answered -> e-mails sent"] = (
        time.monotonic() - reaching_answered
    )
    assert sorted((item["recipient_role"], item["to"]) for item in emails) == sorted(
        [
            ("beneficiary", challenge["beneficiary"]["email"]),
            ("sponsor", challenge["sponsor"]["email"]),
        ]
    )
    reached = progress(stack, challenge_id)
    assert reached["participants"] == 3
    assert reached["reached_at"] is not None

    # A participant's own pledges.
    mine = stack.request("GET", "/me/pledges", token=tokens[subs[0]])
    assert mine.status_code == 200, mine.text
    assert [item["challenge_id"] for item in mine.json()["items"]] == [challenge_id]
    assert mine.json()["items"][0]["participant_id"] == subs[0]

    # Withdrawing lowers the count; a reached challenge stays reached.
    withdrawn = stack.request(
        "DELETE", f"/challenges/{challenge_id}/pledges/me", token=tokens[subs[2]]
    )
    assert withdrawn.status_code == 204, withdrawn.text
    assert withdrawn.content == b""
    after = stack.wait_until(
        lambda: progress_with(stack, challenge_id, participants=2),
        WAIT_SECONDS,
        message="withdrawal counted",
    )
    assert after["reached"] is True
    assert after["reached_at"] == reached["reached_at"]
    assert_problem(
        stack.request("DELETE", f"/challenges/{challenge_id}/pledges/me", token=tokens[subs[2]]),
        404,
    )
    assert all_sent(reached_emails(stack, challenge_id), 2)


def test_cors_preflight_on_public_endpoints(stack: Stack) -> None:
    origin = "https://app.crowdact.example"
    preflight = stack.request(
        "OPTIONS",
        "/challenges",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code in (200, 204), preflight.text
    assert preflight.headers.get("Access-Control-Allow-Origin") in ("*", origin)
    listed = stack.request("GET", "/challenges", headers={"Origin": origin})
    assert listed.status_code == 200
    assert listed.headers.get("Access-Control-Allow-Origin") in ("*", origin)


def test_unknown_route_is_a_404_problem(stack: Stack) -> None:
    body = assert_problem(stack.request("GET", "/no/such/route"), 404)
    assert "/no/such/route" in body["detail"]


def test_unknown_challenge_is_a_404_problem(stack: Stack) -> None:
    assert_problem(stack.request("GET", "/challenges/ch_does_not_exist"), 404)
    token = stack.participant_token(new_sub("nobody"))
    assert_problem(pledge(stack, "ch_does_not_exist", token), 404)


def test_malformed_json_is_a_400_problem(stack: Stack) -> None:
    challenge = stack.create_challenge()
    token = stack.participant_token(new_sub("typo"))
    response = stack.request(
        "POST",
        f"/challenges/{challenge['id']}/pledges",
        token=token,
        data=b'{"display_name": "L',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400)
    bad_admin_body = stack.request(
        "POST",
        "/admin/challenges",
        token=stack.admin_token(),
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(bad_admin_body, 400)


def test_invalid_fields_are_a_400_problem_with_locations(stack: Stack) -> None:
    response = stack.request(
        "POST",
        "/admin/challenges",
        token=stack.admin_token(),
        json={"title": "Negative", "target": {"metric": "participants", "value": -1}},
    )
    body = assert_problem(response, 400)
    locations = [tuple(error["loc"]) for error in body["errors"]]
    assert ("body", "target", "value") in locations
    assert_problem(stack.request("GET", "/challenges", params={"status": "draft"}), 400)


def test_missing_or_bad_token_is_a_401_problem(stack: Stack) -> None:
    missing = stack.request("GET", "/me/pledges")
    assert_problem(missing, 401)
    assert missing.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert_problem(stack.request("GET", "/me/pledges", token="not-a-jwt"), 401)
    # A token on a public endpoint is optional, but a bad one is not treated as anonymous.
    assert_problem(stack.request("GET", "/challenges", token="not-a-jwt"), 401)
    expired = stack.participant_token(
        new_sub("late"), ttl_seconds=1, now=datetime.now(UTC) - timedelta(hours=1)
    )
    assert_problem(stack.request("GET", "/me/pledges", token=expired), 401)


def test_participant_token_on_admin_endpoint_is_a_403_problem(stack: Stack) -> None:
    token = stack.participant_token(new_sub("curious"))
    assert_problem(stack.request("GET", "/admin/challenges", token=token), 403)
    assert_problem(stack.request("POST", "/admin/challenges", token=token, json={}), 403)


def test_body_over_64_kib_is_a_413_problem(stack: Stack) -> None:
    challenge = stack.create_challenge()
    token = stack.participant_token(new_sub("verbose"))
    body = b'{"display_name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = stack.request(
        "POST",
        f"/challenges/{challenge['id']}/pledges",
        token=token,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 413)
    assert progress(stack, challenge["id"])["participants"] == 0


def test_pledging_on_a_closed_challenge_is_a_409_problem(stack: Stack) -> None:
    challenge = stack.create_challenge()
    challenge_id = challenge["id"]
    early = stack.participant_token(new_sub("early"))
    assert pledge(stack, challenge_id, early).status_code == 201
    closed = stack.request(
        "POST", f"/admin/challenges/{challenge_id}/close", token=stack.admin_token()
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"

    late = stack.participant_token(new_sub("late"))
    assert_problem(pledge(stack, challenge_id, late), 409)
    assert_problem(
        stack.request("DELETE", f"/challenges/{challenge_id}/pledges/me", token=early), 409
    )
    assert_problem(
        stack.request("POST", f"/admin/challenges/{challenge_id}/close", token=stack.admin_token()),
        409,
    )


def test_drafts_are_not_public(stack: Stack) -> None:
    draft = stack.create_challenge(publish=False)
    assert draft["status"] == "draft"
    assert_problem(stack.request("GET", f"/challenges/{draft['id']}"), 404)
    token = stack.participant_token(new_sub("eager"))
    assert_problem(pledge(stack, draft["id"], token), 404)
    assert draft["id"] not in visible_ids(stack)
