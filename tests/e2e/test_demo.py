"""`make run` with demo data: the product brief's challenges exist, counted, Humanis' hidden;
a citizen proposal one support short of its threshold and a meetup one seat short of full."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.model import tidy_quantity
from chalicelib.local.demo import (
    CLICHY_ORG,
    CLICHY_PROPOSAL_CONTACT,
    CLICHY_SUPPORT_THRESHOLD,
    DEMO_CHALLENGES,
    DEMO_PROPOSALS,
    GRDF_CAMPAIGN,
    GRDF_KEYS,
    HUMANIS_KEYS,
    REPAIR_SESSION,
    REPAIR_SESSION_CAPACITY,
    demo_participant,
    demo_reports,
    humanis_employee,
)
from chalicelib.local.embedded_aws import SentEmail
from tests.e2e.conftest import Stack, assert_problem

# One stack with demo data for the whole session, shared by the tests of this module only.
pytestmark = pytest.mark.e2e

COUNT_TIMEOUT_SECONDS = 20.0
HUMANIS_ORG = "org_humanis"
PUBLIC_DEMO_PLEDGES = {
    "Clichy à vélo": 57,
    "Switch to e-statements": 12,
    "Local fruit and vegetables": 8,
    "Coffee grounds for the gardens": 6,
}
HUMANIS_DEMO_PLEDGES = {
    "Humanis mobility week: public transport": 9,
    "Humanis mobility week: car-pooling": 5,
    "Humanis mobility week: cycling": 7,
    "Humanis mobility week: walking": 4,
    "Humanis mobility week: scooter": 3,
}


def listed(stack: Stack, token: str | None = None) -> dict[str, dict[str, Any]]:
    """Every challenge GET /challenges lists for this caller, by title."""
    challenges: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        response = stack.request("GET", "/challenges", token=token, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        challenges.update((item["title"], item) for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return challenges


def counts(challenges: dict[str, dict[str, Any]], titles: dict[str, int]) -> dict[str, int]:
    return {
        title: challenges[title]["progress"]["participants"]
        for title in titles
        if title in challenges
    }


def test_public_demo_challenges_are_listed_with_their_pledges_counted(
    demo_stack: Stack, timings: dict[str, float]
) -> None:
    def all_counted() -> dict[str, dict[str, Any]] | None:
        challenges = listed(demo_stack)
        return (
            challenges if counts(challenges, PUBLIC_DEMO_PLEDGES) == PUBLIC_DEMO_PLEDGES else None
        )

    challenges = demo_stack.wait_until(
        all_counted, COUNT_TIMEOUT_SECONDS, message="demo pledges counted"
    )
    clichy = challenges["Clichy à vélo"]
    assert clichy["target"] == {"metric": "participants", "value": 200, "unit": "km"}
    assert clichy["progress"]["percent"] == 28.5
    assert clichy["progress"]["reached"] is False
    assert clichy["sponsor"] == {"name": "Ville de Clichy"}
    assert clichy["beneficiary"] == {"name": "Solicycle"}
    assert clichy["status"] == "live"
    coffee = challenges["Coffee grounds for the gardens"]
    assert coffee["target"] == {"metric": "quantity", "value": 500, "unit": "kg"}


def test_humanis_challenges_are_for_humanis_employees_only(demo_stack: Stack) -> None:
    anonymous = listed(demo_stack)
    assert not [title for title in anonymous if title.startswith("Humanis")]

    employee = demo_stack.employee_token("humanis-e2e-employee", HUMANIS_ORG)

    def all_counted() -> dict[str, dict[str, Any]] | None:
        challenges = listed(demo_stack, employee)
        return (
            challenges if counts(challenges, HUMANIS_DEMO_PLEDGES) == HUMANIS_DEMO_PLEDGES else None
        )

    challenges = demo_stack.wait_until(
        all_counted, COUNT_TIMEOUT_SECONDS, message="Humanis demo pledges counted"
    )
    humanis = [challenges[title] for title in HUMANIS_DEMO_PLEDGES]
    assert {c["visibility"] for c in humanis} == {"organization"}
    assert {c["organization_id"] for c in humanis} == {HUMANIS_ORG}
    # Employees see the public challenges too.
    assert set(PUBLIC_DEMO_PLEDGES) <= challenges.keys()

    outsider = demo_stack.employee_token("other-e2e-employee", "org_elsewhere")
    participant = demo_stack.participant_token("plain-e2e-participant")
    assert not [title for title in listed(demo_stack, outsider) if title.startswith("Humanis")]
    for challenge in humanis:
        path = f"/challenges/{challenge['id']}"
        assert demo_stack.request("GET", path, token=employee).status_code == 200
        assert_problem(demo_stack.request("GET", path), 404)
        assert_problem(demo_stack.request("GET", path, token=outsider), 404)
        assert_problem(demo_stack.request("GET", path, token=participant), 404)


def test_the_humanis_week_counts_each_employee_once(demo_stack: Stack) -> None:
    employee = demo_stack.employee_token("humanis-e2e-employee", HUMANIS_ORG)
    pledges = sum(HUMANIS_DEMO_PLEDGES.values())
    people = {
        humanis_employee(demo.key, number)
        for demo in DEMO_CHALLENGES
        if demo.key in HUMANIS_KEYS
        for number in range(demo.pledges)
    }
    assert len(people) < pledges  # the demo does have people on several challenges

    def counted() -> dict[str, Any] | None:
        response = demo_stack.request("GET", "/campaigns/cmp_humanis_mobility_week", token=employee)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        totals = body["totals"]
        return (
            body if (totals["pledges"], totals["participants"]) == (pledges, len(people)) else None
        )

    week = demo_stack.wait_until(counted, COUNT_TIMEOUT_SECONDS, message="campaign counted")
    assert {c["title"] for c in week["challenges"]} == set(HUMANIS_DEMO_PLEDGES)
    # An employee-only week is not found by outsiders: not even its title leaks.
    outsider = demo_stack.request("GET", "/campaigns/cmp_humanis_mobility_week")
    assert_problem(outsider, 404)
    assert "mobility week" not in outsider.text


def test_grdf_week_is_seen_by_a_verified_grdf_address_and_counts_each_employee_once(
    demo_stack: Stack,
) -> None:
    grdf = {demo.draft.title: demo for demo in DEMO_CHALLENGES if demo.key in GRDF_KEYS}
    pledges = sum(demo.pledges for demo in grdf.values())
    people = {
        demo_participant(demo.key, number).sub
        for demo in grdf.values()
        for number in range(demo.pledges)
    }
    assert len(people) < pledges  # some employees take part in several challenges
    # An employee known only by a verified e-mail in GRDF's domain (no custom:org_id).
    employee = demo_stack.participant_token(
        "grdf-e2e-employee", email="ines@grdf.example", email_verified=True
    )

    def counted() -> dict[str, Any] | None:
        response = demo_stack.request("GET", f"/campaigns/{GRDF_CAMPAIGN}", token=employee)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        totals = body["totals"]
        return (
            body if (totals["pledges"], totals["participants"]) == (pledges, len(people)) else None
        )

    week = demo_stack.wait_until(counted, COUNT_TIMEOUT_SECONDS, message="GRDF week counted")
    assert {c["title"]: c["progress"]["participants"] for c in week["challenges"]} == {
        title: demo.pledges for title, demo in grdf.items()
    }
    # The same domain unverified, or another domain: none of it, not even the week's title.
    for token in (
        demo_stack.participant_token("grdf-unverified", email="max@grdf.example"),
        demo_stack.participant_token("outsider", email="eve@other.example", email_verified=True),
    ):
        assert_problem(demo_stack.request("GET", f"/campaigns/{GRDF_CAMPAIGN}", token=token), 404)
        assert not [title for title in listed(demo_stack, token) if title in grdf]


def reported(keys: tuple[str, ...]) -> int | float:
    """What the demo's reports add up to on these challenges."""
    return tidy_quantity(sum(r.quantity for r in demo_reports() if r.challenge_key in keys))


# The demo's reports, summed (demo_reports() is the same on every run).
COFFEE_KG = 51.9
HUMANIS_KM = 615.5


def test_demo_reports_are_counted_in_kg_and_in_the_week_s_km(demo_stack: Stack) -> None:
    assert reported(("coffee",)) == COFFEE_KG
    assert reported(HUMANIS_KEYS) == HUMANIS_KM
    titles = {demo.key: demo.draft.title for demo in DEMO_CHALLENGES}
    employee = demo_stack.employee_token("humanis-e2e-employee", HUMANIS_ORG)
    expected = {titles[key]: reported((key,)) for key in ("coffee", *HUMANIS_KEYS)}

    def all_counted() -> dict[str, dict[str, Any]] | None:
        challenges = listed(demo_stack, employee)
        quantities = {
            title: challenges[title]["progress"]["quantity"]
            for title in expected
            if title in challenges
        }
        return challenges if quantities == expected else None

    challenges = demo_stack.wait_until(
        all_counted, COUNT_TIMEOUT_SECONDS, message="demo reports counted"
    )
    coffee = challenges[titles["coffee"]]["progress"]
    assert (coffee["quantity"], coffee["percent"], coffee["reached"]) == (
        COFFEE_KG, round(100 * COFFEE_KG / 500, 1), False,
    )  # fmt: skip
    week = demo_stack.request("GET", "/campaigns/cmp_humanis_mobility_week", token=employee)
    assert week.json()["totals"]["quantity"] == {"km": HUMANIS_KM}


def test_the_demo_holds_a_vote_under_way_and_a_reached_challenge_with_its_payout(
    demo_stack: Stack,
) -> None:
    challenges = listed(demo_stack)
    vote_id = challenges["Zéro déchet à Saint-Ouen"]["id"]
    tallies = demo_stack.request("GET", f"/challenges/{vote_id}/votes").json()
    assert tallies["status"] == "open"
    assert len(tallies["candidates"]) == 3
    # 24 pledgers, every sixth has not voted yet: 20 votes, a close race.
    assert tallies["total"] == 20
    assert all(candidate["votes"] > 0 for candidate in tallies["candidates"])

    repair = challenges["Repair Café Clichy"]
    assert repair["progress"]["reached"]
    trail = demo_stack.request("GET", f"/challenges/{repair['id']}/payouts").json()
    assert [(p["amount"], p["currency"], p["to"]) for p in trail["items"]] == [
        ("1500.00", "EUR", "beneficiary")
    ]
    news = demo_stack.request("GET", f"/challenges/{repair['id']}/updates").json()
    assert [u["title"] for u in news["items"]] == [
        "The tools have arrived",
        "24 Clichois ont dit oui !",
    ]  # newest first


PROPOSAL_TITLES = {demo.key: demo.draft.title for demo in DEMO_PROPOSALS}
MAIL_TIMEOUT_SECONDS = 30.0


def test_a_visitor_s_support_takes_the_demo_proposal_over_the_city_s_threshold(
    demo_stack: Stack,
) -> None:
    """Changes the demo: the compost proposal has reached its threshold afterwards."""
    listed = demo_stack.request("GET", "/proposals", params={"status": "open", "limit": 100})
    assert listed.status_code == 200, listed.text
    open_ = {p["title"]: p for p in listed.json()["items"]}
    compost = open_[PROPOSAL_TITLES["compost"]]
    assert compost["organization_id"] == CLICHY_ORG
    assert (compost["supports"], compost["support_threshold"], compost["threshold_reached"]) == (
        CLICHY_SUPPORT_THRESHOLD - 1, CLICHY_SUPPORT_THRESHOLD, False,
    )  # fmt: skip
    # The other one waits for an admin.
    assert PROPOSAL_TITLES["school-street"] not in open_
    pending = demo_stack.request(
        "GET", "/admin/proposals", token=demo_stack.admin_token(), params={"status": "pending"}
    )
    assert [p["title"] for p in pending.json()["items"]] == [PROPOSAL_TITLES["school-street"]]

    visitor = demo_stack.participant_token(f"demo-visitor-{uuid.uuid4().hex[:8]}")
    supported = demo_stack.request("PUT", f"/proposals/{compost['id']}/support", token=visitor)
    assert supported.status_code == 200, supported.text
    after = supported.json()["proposal"]
    assert (after["supports"], after["threshold_reached"]) == (CLICHY_SUPPORT_THRESHOLD, True)

    contact = CLICHY_PROPOSAL_CONTACT.email

    def told() -> list[SentEmail]:
        return [e for e in demo_stack.sent_emails() if contact in e.to]

    [email] = demo_stack.wait_until(told, MAIL_TIMEOUT_SECONDS, message="the city told")
    assert PROPOSAL_TITLES["compost"] in email.subject


def test_the_demo_repair_session_has_one_seat_left_then_a_waitlist(demo_stack: Stack) -> None:
    """Changes the demo: the session is full afterwards, with one person waiting."""
    repair = listed(demo_stack)["Repair Café Clichy"]
    response = demo_stack.request("GET", f"/challenges/{repair['id']}/events")
    assert response.status_code == 200, response.text
    [session] = [e for e in response.json()["items"] if e["title"] == REPAIR_SESSION]
    assert (session["capacity"], session["confirmed"], session["waitlisted"]) == (
        REPAIR_SESSION_CAPACITY, REPAIR_SESSION_CAPACITY - 1, 0,
    )  # fmt: skip
    assert datetime.fromisoformat(session["starts_at"]) > datetime.now(UTC)

    statuses: list[str] = []
    for visitor in ("first", "second"):
        token = demo_stack.participant_token(f"demo-{visitor}-{uuid.uuid4().hex[:8]}")
        rsvp = demo_stack.request("PUT", f"/events/{session['id']}/rsvp", token=token)
        assert rsvp.status_code == 200, rsvp.text
        statuses.append(rsvp.json()["status"])
    assert statuses == ["confirmed", "waitlisted"]
    full = demo_stack.request("GET", f"/events/{session['id']}").json()
    assert (full["confirmed"], full["waitlisted"]) == (REPAIR_SESSION_CAPACITY, 1)
