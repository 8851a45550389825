"""Who may use each admin route: every route of the route table × every kind of caller.

The routes come from `chalicelib.api.routes.ROUTES`, so a new admin route without a case
here fails `test_every_admin_route_has_a_case` (and its own matrix row) until one is added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.api.routes import ROUTES, Route
from chalicelib.domain.model import Metric, OrganizationKind, Principal, Target
from chalicelib.local.tokens import mint_local_token
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.services.organizations import OrganizationDraft
from chalicelib.services.proposals import ProposalDraft
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT
from tests.functional.conftest import ADMIN, Api, bearer, challenge_body

OWN, OTHER = "org_own", "org_other"
PLEDGER = "someone"  # the participant who pledged on the live challenge
ADMIN_ROUTES = tuple(route for route in ROUTES if route.is_admin)


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]


def _expired() -> dict[str, str]:
    token = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT,
        "admin-expired",
        groups=["admin"],
        ttl_seconds=60,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


CALLERS = (
    Caller("anonymous", {"Content-Type": "application/json"}),
    Caller("expired token", _expired()),
    Caller("participant", bearer("participant-1")),
    Caller("org-admin of O", bearer("csr-own", groups=("org-admin",), org_id=OWN)),
    Caller("org-admin of another", bearer("csr-other", groups=("org-admin",), org_id=OTHER)),
    Caller("admin", ADMIN),
)


@dataclass(frozen=True)
class Resources:
    """Fresh for each caller: what a route's path and body name, all of organisation O."""

    live: str  # a live challenge of O, in O's campaign, with a pledge
    draft: str  # a draft challenge of O
    campaign: str  # O's campaign
    reached: str = ""  # a reached challenge of O (only for the routes that need one)
    pending_proposal: str = ""  # a citizen proposal addressed to O, pending
    open_proposal: str = ""  # one approved (open)
    event: str = ""  # a meetup on the live challenge


def _event_body() -> dict[str, Any]:
    starts = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    return {"title": "Repair café", "starts_at": starts, "place": "Lyon", "capacity": 20}


@dataclass(frozen=True)
class Case:
    """A request for one route, and the answer for an admin and for O's own org-admin;
    another organisation's org-admin gets `other`."""

    path: Callable[[Resources], str]
    ok: int
    other: int
    body: Callable[[Resources], Any] = field(default=lambda r: None)
    own: int | None = None  # O's org-admin, when not `ok`

    def expected(self, caller: str) -> int:
        return {
            "anonymous": 401,
            "expired token": 401,
            "participant": 403,
            "org-admin of O": self.own if self.own is not None else self.ok,
            "org-admin of another": self.other,
            "admin": self.ok,
        }[caller]


def _challenge(r: Resources) -> str:
    return f"/admin/challenges/{r.live}"


# The routes whose case needs a reached challenge (a pledge and a run of the stream triggers).
NEEDS_REACHED = frozenset({"/admin/challenges/{challenge_id}/payouts"})
PAYOUT = {
    "amount": "10.00",
    "currency": "EUR",
    "paid_on": datetime.now(UTC).date().isoformat(),
    "to": "beneficiary",
}


ADOPTION = {
    "sponsor": {"name": "Own Co", "email": "sponsor@own.example"},
    "beneficiary": {"name": "Repair café", "email": "hello@repair.example"},
    "reward": "a workshop room",
}


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/admin/challenges"): Case(
        lambda r: "/admin/challenges",
        201,
        403,
        body=lambda r: challenge_body(organization_id=OWN, publish=False),
    ),
    ("GET", "/admin/challenges"): Case(lambda r: "/admin/challenges", 200, 200),
    ("GET", "/admin/challenges/{challenge_id}"): Case(_challenge, 200, 404),
    ("PATCH", "/admin/challenges/{challenge_id}"): Case(
        _challenge, 200, 404, body=lambda r: {"title": "Renamed"}
    ),
    ("POST", "/admin/challenges/{challenge_id}/publish"): Case(
        lambda r: f"/admin/challenges/{r.draft}/publish", 200, 404
    ),
    ("POST", "/admin/challenges/{challenge_id}/close"): Case(
        lambda r: f"{_challenge(r)}/close", 200, 404
    ),
    ("GET", "/admin/challenges/{challenge_id}/notifications"): Case(
        lambda r: f"{_challenge(r)}/notifications", 200, 404
    ),
    ("GET", "/admin/challenges/{challenge_id}/report"): Case(
        lambda r: f"{_challenge(r)}/report", 200, 404
    ),
    ("GET", "/admin/challenges/{challenge_id}/pledges/{participant_id}"): Case(
        lambda r: f"{_challenge(r)}/pledges/{PLEDGER}", 200, 404
    ),
    ("POST", "/admin/challenges/{challenge_id}/pledges/{participant_id}/hide-name"): Case(
        lambda r: f"{_challenge(r)}/pledges/{PLEDGER}/hide-name", 200, 404, body=lambda r: {}
    ),
    ("POST", "/admin/challenges/{challenge_id}/pledges/{participant_id}/remove"): Case(
        lambda r: f"{_challenge(r)}/pledges/{PLEDGER}/remove",
        200,
        404,
        body=lambda r: {"reason": "spam"},
    ),
    ("POST", "/admin/challenges/{challenge_id}/updates"): Case(
        lambda r: f"{_challenge(r)}/updates",
        201,
        404,
        body=lambda r: {"title": "News", "body": "Forty trees planted.", "locale": "en"},
    ),
    ("POST", "/admin/challenges/{challenge_id}/events"): Case(
        lambda r: f"{_challenge(r)}/events", 201, 404, body=lambda r: _event_body()
    ),
    ("PATCH", "/admin/events/{event_id}"): Case(
        lambda r: f"/admin/events/{r.event}", 200, 404, body=lambda r: {"capacity": 30}
    ),
    ("POST", "/admin/organizations"): Case(
        lambda r: "/admin/organizations",
        201,
        403,
        own=403,
        body=lambda r: {"name": "New Co", "kind": "company"},
    ),
    ("GET", "/admin/organizations"): Case(lambda r: "/admin/organizations", 200, 200),
    ("GET", "/admin/organizations/{organization_id}"): Case(
        lambda r: f"/admin/organizations/{OWN}", 200, 404
    ),
    ("PATCH", "/admin/organizations/{organization_id}"): Case(
        lambda r: f"/admin/organizations/{OWN}",
        200,
        404,
        body=lambda r: {"primary_color": "#123456"},
    ),
    ("POST", "/admin/organizations/{organization_id}/teams"): Case(
        lambda r: f"/admin/organizations/{OWN}/teams",
        201,
        404,
        body=lambda r: {"name": f"Team {datetime.now(UTC).timestamp()}"},
    ),
    ("GET", "/admin/organizations/{organization_id}/teams"): Case(
        lambda r: f"/admin/organizations/{OWN}/teams", 200, 404
    ),
    ("POST", "/admin/campaigns"): Case(
        lambda r: "/admin/campaigns",
        201,
        403,
        body=lambda r: {"title": "Week", "organization_id": OWN},
    ),
    ("GET", "/admin/campaigns"): Case(lambda r: "/admin/campaigns", 200, 200),
    ("GET", "/admin/campaigns/{campaign_id}"): Case(
        lambda r: f"/admin/campaigns/{r.campaign}", 200, 404
    ),
    ("GET", "/admin/campaigns/{campaign_id}/report"): Case(
        lambda r: f"/admin/campaigns/{r.campaign}/report", 200, 404
    ),
    # Another organisation's admin reads its own trail (empty here), never O's.
    ("GET", "/admin/audit"): Case(lambda r: "/admin/audit", 200, 200),
    ("POST", "/admin/challenges/{challenge_id}/payouts"): Case(
        lambda r: f"/admin/challenges/{r.reached}/payouts", 201, 404, body=lambda r: PAYOUT
    ),
    # Another organisation's admin lists its own proposals (none here), never O's.
    ("GET", "/admin/proposals"): Case(lambda r: "/admin/proposals", 200, 200),
    ("POST", "/admin/proposals/{proposal_id}/approve"): Case(
        lambda r: f"/admin/proposals/{r.pending_proposal}/approve", 200, 404, body=lambda r: {}
    ),
    ("POST", "/admin/proposals/{proposal_id}/reject"): Case(
        lambda r: f"/admin/proposals/{r.pending_proposal}/reject",
        200,
        404,
        body=lambda r: {"reason": "done already"},
    ),
    ("POST", "/admin/proposals/{proposal_id}/adopt"): Case(
        lambda r: f"/admin/proposals/{r.open_proposal}/adopt",
        201,
        404,
        body=lambda r: ADOPTION,
    ),
    ("POST", "/admin/proposals/{proposal_id}/events"): Case(
        lambda r: f"/admin/proposals/{r.open_proposal}/events",
        201,
        404,
        body=lambda r: _event_body(),
    ),
}


def _proposal(api: Api, *, approve: bool) -> str:
    proposal = api.container.proposals.propose(
        Principal(sub="citizen"),
        ProposalDraft(
            title="Repair café",
            action="I repair one thing a month",
            description="",
            suggested_target=Target(Metric.PARTICIPANTS, 50),
            area="u09tv",
            organization_id=OWN,
        ),
    )
    if approve:
        api.container.proposals.approve(proposal.id, None)
    return proposal.id


def _reached(api: Api, organization_id: str | None) -> str:
    challenge = api.create(
        organization_id=organization_id, target={"metric": "participants", "value": 1}
    )
    assert api.pledge(challenge["id"], PLEDGER).status_code == 201
    api.drain()
    challenge_id: str = challenge["id"]
    return challenge_id


def _organizations(api: Api) -> None:
    for organization_id, name in ((OWN, "Own Co"), (OTHER, "Other Co")):
        api.container.organizations.create(
            OrganizationDraft(name, OrganizationKind.COMPANY, id=organization_id)
        )


def _resources(api: Api, *, reached: bool = False) -> Resources:
    campaign = api.container.campaigns.create(CampaignDraft("O's week", organization_id=OWN))
    live = api.create(organization_id=OWN, campaign_id=campaign.id)
    draft = api.create(organization_id=OWN, publish=False)
    assert api.pledge(live["id"], PLEDGER).status_code == 201
    event = api.request("POST", f"/admin/challenges/{live['id']}/events", _event_body(), ADMIN)
    assert event.status_code == 201, event.body
    return Resources(
        live=live["id"],
        draft=draft["id"],
        campaign=campaign.id,
        reached=_reached(api, OWN) if reached else "",
        pending_proposal=_proposal(api, approve=False),
        open_proposal=_proposal(api, approve=True),
        event=json.loads(event.body)["id"],
    )


def test_every_admin_route_has_a_case() -> None:
    declared = {(route.method, route.path) for route in ADMIN_ROUTES}
    assert declared == set(CASES), "add a Case for each new admin route (and only for those)"


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=lambda route: route.name)
def test_each_caller_gets_the_expected_answer(api: Api, route: Route) -> None:
    case = CASES.get((route.method, route.path))
    assert case is not None, f"no authorisation case for {route.method} {route.path}"
    _organizations(api)
    answers: dict[str, int] = {}
    for caller in CALLERS:
        # Fresh: a publish or a close happens once per caller.
        resources = _resources(api, reached=route.path in NEEDS_REACHED)
        body = case.body(resources)
        response = api.request(route.method, case.path(resources), body, caller.headers)
        answers[caller.name] = response.status_code
        if response.status_code >= 400:
            problem = json.loads(response.body)
            assert problem["status"] == response.status_code, problem
    expected = {caller.name: case.expected(caller.name) for caller in CALLERS}
    assert answers == expected


@pytest.mark.parametrize(
    "route",
    [r for r in ADMIN_ROUTES if "{challenge_id}" in r.path],
    ids=lambda route: route.name,
)
def test_an_org_admin_cannot_touch_a_challenge_of_no_organisation(api: Api, route: Route) -> None:
    _organizations(api)
    if route.path in NEEDS_REACHED:
        platform = {"id": _reached(api, None)}
    else:
        platform = api.create(publish=not route.path.endswith("/publish"))  # no organisation
    if "{participant_id}" in route.path:
        assert api.pledge(platform["id"], PLEDGER).status_code == 201
    own_admin = CALLERS[3].headers
    path = route.path.replace("{challenge_id}", platform["id"])
    path = path.replace("{participant_id}", PLEDGER)
    body = {"title": "Mine now"} if route.method == "PATCH" else None
    if route.path.endswith("/remove"):
        body = {"reason": "spam"}
    if route.path in NEEDS_REACHED:
        body = PAYOUT
    if route.path.endswith("/updates"):
        body = {"title": "News", "body": "Forty trees planted.", "locale": "en"}
    if route.path.endswith("/events"):
        body = _event_body()
    answer = api.request(route.method, path, body, own_admin)
    assert answer.status_code == 404, answer.body
    # ...while the platform admin still may.
    assert api.request(route.method, path, body, ADMIN).status_code in (200, 201), route


def test_lists_hold_only_the_org_admins_own(api: Api) -> None:
    _organizations(api)
    mine = _resources(api)
    theirs = api.create(organization_id=OTHER)
    platform = api.create()
    own_admin, other_admin = CALLERS[3].headers, CALLERS[4].headers
    listed = json.loads(api.request("GET", "/admin/challenges", None, own_admin).body)
    ids = {item["id"] for item in listed["items"]}
    assert {mine.live, mine.draft} <= ids
    assert theirs["id"] not in ids
    assert platform["id"] not in ids
    other = json.loads(api.request("GET", "/admin/challenges", None, other_admin).body)
    assert {item["id"] for item in other["items"]} == {theirs["id"]}
    campaigns = json.loads(api.request("GET", "/admin/campaigns", None, other_admin).body)
    assert campaigns["items"] == []
    everything = json.loads(api.request("GET", "/admin/challenges", None, ADMIN).body)
    assert {mine.live, theirs["id"], platform["id"]} <= {i["id"] for i in everything["items"]}


def test_an_org_admin_creates_for_its_own_organisation_by_default(api: Api) -> None:
    _organizations(api)
    own_admin = CALLERS[3].headers
    created = api.request("POST", "/admin/challenges", challenge_body(), own_admin)
    assert created.status_code == 201, created.body
    assert json.loads(created.body)["organization_id"] == OWN
    campaign = api.request("POST", "/admin/campaigns", {"title": "Week"}, own_admin)
    assert json.loads(campaign.body)["organization_id"] == OWN
    # Moving one's challenge to another organisation, or to none, is refused.
    challenge_id = json.loads(created.body)["id"]
    for organization_id in (OTHER, None):
        moved = api.request(
            "PATCH",
            f"/admin/challenges/{challenge_id}",
            {"organization_id": organization_id},
            own_admin,
        )
        assert moved.status_code == 403, moved.body
    # A campaign of another organisation is as unknown as one that does not exist.
    theirs = api.container.campaigns.create(CampaignDraft("Their week", organization_id=OTHER))
    joined = api.request(
        "POST", "/admin/challenges", challenge_body(campaign_id=theirs.id), own_admin
    )
    assert joined.status_code == 400, joined.body
    assert "campaign_id" in joined.body.decode()


def test_an_organisations_campaign_holds_only_its_own_challenges(api: Api) -> None:
    # Else its admins would read another organisation's challenge in the campaign's report.
    _organizations(api)
    ours = api.container.campaigns.create(CampaignDraft("Our week", organization_id=OWN))
    for organization_id in (OTHER, None):
        body = challenge_body(campaign_id=ours.id, organization_id=organization_id)
        refused = api.request("POST", "/admin/challenges", body, ADMIN)
        assert refused.status_code == 400, refused.body
        assert "campaign_id" in refused.body.decode()
    mine = api.create(campaign_id=ours.id, organization_id=OWN, publish=False)
    moved = api.request(
        "PATCH", f"/admin/challenges/{mine['id']}", {"organization_id": OTHER}, ADMIN
    )
    assert moved.status_code == 400, moved.body
    # A campaign of no organisation takes anyone's.
    open_week = api.container.campaigns.create(CampaignDraft("Open week"))
    assert api.create(campaign_id=open_week.id, organization_id=OTHER)["campaign_id"]
