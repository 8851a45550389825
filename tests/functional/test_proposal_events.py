"""Meetups on citizen proposals over chalice.test.Client on moto: created by admins and by
the addressed organisation's admins on an open or adopted proposal, listed, signed up for
with the same seats, waitlist, e-mails and calendar as a challenge's; problem+json for an
unknown (404), pending or rejected (409) proposal and bad input (400)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_events_api import person
from tests.functional.test_proposals_api import ORG, call, ok, propose, setup_org


def meetup(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Repair café: the first evening",
        "starts_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "place": "Bibliothèque, Clichy",
        "capacity": 2,
        **overrides,
    }


def open_proposal(api: Api, **overrides: Any) -> str:
    pid: str = propose(api, **overrides)["id"]
    ok(call(api, "POST", f"/admin/proposals/{pid}/approve", ADMIN, {}))
    return pid


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.body)
    return body


def test_a_proposals_meetup_takes_seats_a_waitlist_and_mails_like_a_challenges(api: Api) -> None:
    setup_org(api)
    pid = open_proposal(api)
    event = ok(call(api, "POST", f"/admin/proposals/{pid}/events", ADMIN, meetup()), 201)
    assert (event["proposal_id"], event["challenge_id"]) == (pid, None)
    listed = ok(call(api, "GET", f"/proposals/{pid}/events", {}))["items"]
    assert [e["id"] for e in listed] == [event["id"]]

    path = f"/events/{event['id']}/rsvp"
    answers = [ok(call(api, "PUT", path, person(n))) for n in range(3)]
    assert [a["status"] for a in answers] == ["confirmed", "confirmed", "waitlisted"]
    api.drain()  # the two seats are e-mailed
    assert call(api, "DELETE", path, person(0)).status_code == 204
    assert ok(call(api, "GET", path, person(2)))["status"] == "confirmed"  # promoted
    shown = ok(call(api, "GET", f"/events/{event['id']}", {}))
    assert (shown["confirmed"], shown["waitlisted"], shown["proposal_id"]) == (2, 0, pid)
    calendar = call(api, "GET", f"/events/{event['id']}/calendar.ics", {})
    assert calendar.status_code == 200
    assert b"BEGIN:VEVENT" in calendar.body
    api.drain()
    api.drain()
    sent = sorted(a for mail in api.emails() for a in mail.to if a.endswith("example.org"))
    assert sent == ["p0@example.org", "p1@example.org", "p2@example.org"]  # once each
    audit = ok(call(api, "GET", "/admin/audit", ADMIN))["items"]
    assert any(e["action"] == "event.create" and e["organization_id"] == ORG for e in audit)


def test_an_adopted_proposal_keeps_and_takes_meetups(api: Api) -> None:
    setup_org(api)
    pid = open_proposal(api)
    ok(call(api, "POST", f"/admin/proposals/{pid}/events", ADMIN, meetup()), 201)
    adoption = {
        "sponsor": {"name": "Ville de Clichy", "email": "sponsor@clichy.example"},
        "beneficiary": {"name": "Repair café", "email": "hello@repair.example"},
        "reward": "a workshop room",
    }
    ok(call(api, "POST", f"/admin/proposals/{pid}/adopt", ADMIN, adoption), 201)
    ok(call(api, "POST", f"/admin/proposals/{pid}/events", ADMIN, meetup(title="Second")), 201)
    listed = ok(call(api, "GET", f"/proposals/{pid}/events", {}))["items"]
    assert len(listed) == 2


def test_unknown_pending_and_rejected_proposals_are_problems(api: Api) -> None:
    setup_org(api)
    problem(call(api, "POST", "/admin/proposals/prop_missing/events", ADMIN, meetup()), 404)
    problem(call(api, "GET", "/proposals/prop_missing/events", {}), 404)
    pending = propose(api)["id"]
    refused = problem(call(api, "POST", f"/admin/proposals/{pending}/events", ADMIN, meetup()), 409)
    assert refused["type"].endswith("/proposal-not-public")
    problem(call(api, "GET", f"/proposals/{pending}/events", {}), 404)  # not public yet
    ok(call(api, "POST", f"/admin/proposals/{pending}/reject", ADMIN, {"reason": "no"}))
    problem(call(api, "POST", f"/admin/proposals/{pending}/events", ADMIN, meetup()), 409)


@pytest.mark.parametrize(
    "body",
    [
        meetup(starts_at="2020-01-01T10:00:00+00:00"),
        meetup(capacity=0),
        meetup(capacity="2"),
        meetup(place=""),
        meetup(extra=1),
        {"title": "x"},
    ],
)
def test_bad_meetups_are_400_problems(api: Api, body: dict[str, Any]) -> None:
    setup_org(api)
    pid = open_proposal(api)
    problem(call(api, "POST", f"/admin/proposals/{pid}/events", ADMIN, body), 400)


def test_an_org_admin_holds_meetups_on_their_organisations_proposals_only(api: Api) -> None:
    setup_org(api)
    api.seed_organization("org_other", "Other")
    mine = open_proposal(api)
    unaddressed = open_proposal(api, organization_id=None)
    own = bearer("oa", groups=("org-admin",), org_id=ORG)
    other = bearer("ob", groups=("org-admin",), org_id="org_other")
    event = ok(call(api, "POST", f"/admin/proposals/{mine}/events", own, meetup()), 201)
    problem(call(api, "POST", f"/admin/proposals/{mine}/events", other, meetup()), 404)
    problem(call(api, "POST", f"/admin/proposals/{unaddressed}/events", own, meetup()), 404)
    problem(call(api, "PATCH", f"/admin/events/{event['id']}", other, {"capacity": 5}), 404)
    assert (
        ok(call(api, "PATCH", f"/admin/events/{event['id']}", own, {"capacity": 5}))["capacity"]
        == 5
    )
