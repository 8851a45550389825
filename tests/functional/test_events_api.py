"""Meetup routes over chalice.test.Client on moto: create, list, sign up and cancel, the
counts, problem+json for bad input and past events, the calendar file, the seat e-mails
(sent once by the outbox's stream), and the sign-ups in the export and erasure."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT
from chalicelib.storage.events import DynamoEventRepository
from tests.functional.conftest import ADMIN, Api


def person(n: int, *, locale: str = "en") -> dict[str, str]:
    token = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT,
        f"person-{n:03d}",
        email=f"p{n}@example.org",
        email_verified=True,
        locale=locale,
    )
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def create_event(api: Api, capacity: int = 2, **overrides: Any) -> dict[str, Any]:
    challenge = api.create()
    body = {
        "title": "Repair café",
        "starts_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "place": "12 rue des Lilas, Lyon",
        "capacity": capacity,
        **overrides,
    }
    response = api.request("POST", f"/admin/challenges/{challenge['id']}/events", body, ADMIN)
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def test_signups_waitlist_promotion_and_mail(api: Api) -> None:
    event = create_event(api, capacity=2)
    path = f"/events/{event['id']}/rsvp"
    answers = [json.loads(api.request("PUT", path, None, person(n)).body) for n in range(4)]
    assert [a["status"] for a in answers] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert [a["position"] for a in answers] == [None, None, 1, 2]
    shown = json.loads(api.request("GET", f"/events/{event['id']}").body)
    assert (shown["confirmed"], shown["waitlisted"]) == (2, 2)
    assert "p0@example.org" not in json.dumps(shown)
    listed = json.loads(api.request("GET", f"/challenges/{event['challenge_id']}/events").body)
    assert [e["id"] for e in listed["items"]] == [event["id"]]
    api.drain()
    assert api.request("DELETE", path, None, person(0)).status_code == 204
    assert api.request("DELETE", path, None, person(0)).status_code == 204
    mine = json.loads(api.request("GET", path, None, person(2)).body)
    assert mine["status"] == "confirmed"
    assert json.loads(api.request("GET", path, None, person(3)).body)["position"] == 1
    api.drain()
    api.drain()
    sent = sorted(address for mail in api.emails() for address in mail.to)
    assert sent == ["p0@example.org", "p1@example.org", "p2@example.org"]


def test_bad_input_and_conflicts_are_problems(api: Api) -> None:
    event = create_event(api, capacity=2)
    past = api.request(
        "POST",
        f"/admin/challenges/{event['challenge_id']}/events",
        {"title": "x", "starts_at": "2020-01-01T10:00:00+00:00", "place": "y", "capacity": 3},
        ADMIN,
    )
    assert past.status_code == 400
    assert past.headers["Content-Type"] == "application/problem+json"
    for body in ({"capacity": 0}, {"capacity": "3"}, {"capacity": 3, "x": 1}):
        bad = api.request("PATCH", f"/admin/events/{event['id']}", body, ADMIN)
        assert bad.status_code == 400, body
    for n in range(2):
        api.request("PUT", f"/events/{event['id']}/rsvp", None, person(n))
    below = api.request("PATCH", f"/admin/events/{event['id']}", {"capacity": 1}, ADMIN)
    assert below.status_code == 409
    assert json.loads(below.body)["type"].endswith("/capacity-below-confirmed")
    assert api.request("GET", "/events/evt_nope").status_code == 404
    assert api.request("PUT", "/events/evt_nope/rsvp", None, person(1)).status_code == 404
    assert api.request("PUT", f"/events/{event['id']}/rsvp").status_code == 401


def test_rsvp_to_a_past_event_is_409(api: Api) -> None:
    event = create_event(api, capacity=2)
    # An event that has started (the API only creates future ones: time passes).
    DynamoEventRepository().add(
        replace(
            api.container.events.get_visible(event["id"], None),
            id="evt_past",
            starts_at=datetime.now(UTC) - timedelta(hours=1),
        )
    )
    answer = api.request("PUT", "/events/evt_past/rsvp", None, person(1))
    assert answer.status_code == 409
    assert json.loads(answer.body)["type"].endswith("/event-past")


def test_calendar_file(api: Api) -> None:
    event = create_event(api)
    answer = api.request("GET", f"/events/{event['id']}/calendar.ics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/calendar")
    text = answer.body.decode() if isinstance(answer.body, bytes) else answer.body
    assert "BEGIN:VCALENDAR" in text
    assert "SUMMARY:Repair café" in text


def test_signups_are_exported_and_erased(api: Api) -> None:
    event = create_event(api, capacity=1)
    for n in range(2):
        api.request("PUT", f"/events/{event['id']}/rsvp", None, person(n))
    export = json.loads(api.request("GET", "/me/export", None, person(0)).body)
    assert [(r["event_id"], r["email"]) for r in export["rsvps"]] == [
        (event["id"], "p0@example.org")
    ]
    assert api.request("DELETE", "/me", None, person(0)).status_code in (200, 202, 204)
    again = json.loads(api.request("GET", "/me/export", None, person(0)).body)
    assert again["rsvps"] == []
    promoted = json.loads(api.request("GET", f"/events/{event['id']}/rsvp", None, person(1)).body)
    assert promoted["status"] == "confirmed"
