"""Citizen proposals on moto through the app: propose, approve or reject (scoped), support
once per person, the threshold told once by e-mail and webhook, adopt, publish (proposer and
supporters told once), and the 4xx problems."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from chalicelib.domain.model import Challenge, ChallengeStatus
from chalicelib.local.tokens import mint_local_token
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import SystemClock
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, Settings
from chalicelib.storage.challenges import DynamoChallengeRepository
from chalicelib.storage.proposals import supporter_chunk_from_item
from chalicelib.storage.tables import ChallengeEventItem
from chalicelib.wiring import set_container
from tests.functional.conftest import ADMIN, Api, Endpoint, bearer, make_api

ORG = "org_clichy"


def person(sub: str, **claims: Any) -> dict[str, str]:
    token = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT,
        sub,
        email=f"{sub}@people.example",
        email_verified=True,
        **claims,
    )
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def proposal_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Repair café in Clichy",
        "action": "I bring one broken thing a month",
        "description": "At the library.",
        "suggested_target": {"metric": "participants", "value": 100},
        "location": {"lat": 48.904, "lon": 2.305},
        "organization_id": ORG,
    }
    body.update(overrides)
    return body


def call(api: Api, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    return api.request(method, path, body, headers)


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.body
    result: dict[str, Any] = json.loads(response.body)
    return result


def setup_org(api: Api, endpoint: Endpoint | None = None, threshold: int = 3) -> None:
    api.seed_organization(ORG, "Ville de Clichy")
    contact: dict[str, Any] = {"name": "Mairie", "email": "mairie@clichy.example"}
    if endpoint is not None:
        contact["webhook_url"] = endpoint.url
    patch = {"proposal_contact": contact, "support_threshold": threshold}
    ok(call(api, "PATCH", f"/admin/organizations/{ORG}", ADMIN, patch))


def emails_to(api: Api) -> Counter[str]:
    return Counter(address for email in api.emails() for address in email.to)


def propose(api: Api, sub: str = "p1", **overrides: Any) -> dict[str, Any]:
    return ok(call(api, "POST", "/proposals", person(sub), proposal_body(**overrides)), 201)


def test_the_whole_life_of_a_proposal(api: Api, endpoint: Endpoint) -> None:
    setup_org(api, endpoint)
    created = propose(api)
    pid = created["id"]
    assert (created["status"], created["support_threshold"]) == ("pending", 3)
    assert "proposer" not in json.dumps(created)  # no identity or address shown
    # Not listed and not supportable while pending.
    assert ok(call(api, "GET", "/proposals?status=open", person("x")))["items"] == []
    pending = call(api, "PUT", f"/proposals/{pid}/support", person("s1"))
    assert pending.status_code == 409
    assert json.loads(pending.body)["type"].endswith("/proposal-not-open")
    assert pending.headers["Content-Type"] == "application/problem+json"

    approved = ok(call(api, "POST", f"/admin/proposals/{pid}/approve", ADMIN, {}))
    assert approved["status"] == "open"
    again = call(api, "POST", f"/admin/proposals/{pid}/reject", ADMIN, {"reason": "late"})
    assert again.status_code == 409
    api.drain()
    api.drain()
    assert emails_to(api)["p1@people.example"] == 1

    listed = ok(call(api, "GET", "/proposals?status=open", person("x")))["items"]
    assert [p["id"] for p in listed] == [pid]
    near = ok(call(api, "GET", "/proposals?near=48.9,2.3", person("x")))["items"]
    assert [p["id"] for p in near] == [pid]
    far = ok(call(api, "GET", "/proposals?near=43.3,5.4", person("x")))["items"]
    assert far == []

    for sub in ("s1", "s2", "s2", "s3", "s4"):
        ok(call(api, "PUT", f"/proposals/{pid}/support", person(sub)))
    api.drain()
    api.drain()
    seen = ok(call(api, "GET", f"/proposals/{pid}", person("s1")))
    assert (seen["supports"], seen["threshold_reached"], seen["supported_by_me"]) == (4, True, True)
    assert emails_to(api)["mairie@clichy.example"] == 1
    assert len(endpoint.received) == 1
    headers, body = endpoint.received[0]
    assert json.loads(body)["event"] == "proposal.threshold_reached"
    assert headers["X-Crowdact-Signature"].startswith("sha256=")

    # Withdrawing and supporting again crosses the threshold again: nobody is told twice.
    ok(call(api, "DELETE", f"/proposals/{pid}/support", person("s4")))
    ok(call(api, "DELETE", f"/proposals/{pid}/support", person("s3")))
    ok(call(api, "PUT", f"/proposals/{pid}/support", person("s3")))
    ok(call(api, "PUT", f"/proposals/{pid}/support", person("s4")))
    api.drain()
    assert emails_to(api)["mairie@clichy.example"] == 1
    assert len(endpoint.received) == 1

    adoption = {
        "sponsor": {"name": "Ville de Clichy", "email": "sponsor@clichy.example"},
        "beneficiary": {"name": "Repair café", "email": "hello@repair.example"},
        "reward": "a workshop room",
    }
    adopted = ok(call(api, "POST", f"/admin/proposals/{pid}/adopt", ADMIN, adoption), 201)
    challenge = adopted["challenge"]
    assert challenge["status"] == "draft"
    assert challenge["proposal_id"] == pid
    assert adopted["proposal"]["challenge_id"] == challenge["id"]
    assert challenge["title"] == "Repair café in Clichy"
    twice = call(api, "POST", f"/admin/proposals/{pid}/adopt", ADMIN, adoption)
    assert twice.status_code == 409
    closed = call(api, "PUT", f"/proposals/{pid}/support", person("s9"))
    assert closed.status_code == 409

    ok(call(api, "POST", f"/admin/challenges/{challenge['id']}/publish", ADMIN))
    api.drain()
    api.drain()
    sent = emails_to(api)
    assert sent["p1@people.example"] == 2  # approved, then live
    assert [sent[f"s{n}@people.example"] for n in range(1, 5)] == [1, 1, 1, 1]


class DiesAfterPublishing(DynamoChallengeRepository):
    """The function dies right after the publish's write, before it answers."""

    def transition(
        self,
        challenge_id: str,
        source: ChallengeStatus,
        target: ChallengeStatus,
        now: datetime,
        *,
        proposal_live: str | None = None,
    ) -> Challenge | None:
        super().transition(challenge_id, source, target, now, proposal_live=proposal_live)
        raise TimeoutError("the Lambda timed out here")


def adopted_with_supporters(api: Api, supporters: int) -> tuple[str, str]:
    setup_org(api, threshold=1000)
    pid = propose(api)["id"]
    ok(call(api, "POST", f"/admin/proposals/{pid}/approve", ADMIN, {}))
    for n in range(supporters):
        ok(call(api, "PUT", f"/proposals/{pid}/support", person(f"s{n}")))
    adoption = {
        "sponsor": {"name": "Ville de Clichy", "email": "sponsor@clichy.example"},
        "beneficiary": {"name": "Repair café", "email": "hello@repair.example"},
        "reward": "a workshop room",
    }
    adopted = ok(call(api, "POST", f"/admin/proposals/{pid}/adopt", ADMIN, adoption), 201)
    return pid, adopted["challenge"]["id"]


def test_a_crash_right_after_publishing_cannot_lose_the_live_message(api: Api) -> None:
    pid, cid = adopted_with_supporters(api, 3)
    container = api.container
    crashing = ChallengeService(
        DiesAfterPublishing(container.settings),
        container.progress,
        SystemClock(),
        counter_shards=container.settings.counter_shards,
    )
    set_container(replace(container, challenges=crashing))
    try:
        died = call(api, "POST", f"/admin/challenges/{cid}/publish", ADMIN)
        assert died.status_code == 500
    finally:
        set_container(container)
    # Published, and the news of it written by the same transaction: publishing again is a
    # 409, and there is nothing left to do but deliver the outbox.
    assert api.challenge(cid)["status"] == "live"
    again = call(api, "POST", f"/admin/challenges/{cid}/publish", ADMIN)
    assert again.status_code == 409
    assert "proposal#challenge_live" in {item.event for item in ChallengeEventItem.query(pid)}
    api.drain()
    api.drain()
    sent = emails_to(api)
    assert sent["p1@people.example"] == 2  # approved, then live
    assert [sent[f"s{n}@people.example"] for n in range(3)] == [1, 1, 1]


@pytest.fixture
def small_chunks(env: Settings) -> Iterator[Api]:
    yield from make_api(dataclasses.replace(env, participant_email_chunk=4))


def test_supporters_are_told_in_chunks_once_each_even_redelivered(small_chunks: Api) -> None:
    api = small_chunks
    pid, cid = adopted_with_supporters(api, 10)
    ok(call(api, "POST", f"/admin/challenges/{cid}/publish", ADMIN))
    api.drain()
    api.drain()
    chunks = [
        supporter_chunk_from_item(item)
        for item in ChallengeEventItem.query(pid, consistent_read=True)
        if str(item.event).startswith("supporters#")
    ]
    assert sorted(chunk.page for chunk in chunks) == [0, 1, 2]  # 10 supporters, 4 a chunk
    for chunk in chunks:  # every chunk delivered again: nothing more is sent or written
        api.container.proposal_mail.run(chunk)
    api.drain()
    sent = emails_to(api)
    assert [sent[f"s{n}@people.example"] for n in range(10)] == [1] * 10
    assert sent["p1@people.example"] == 2  # approved, then live
    assert len([i for i in ChallengeEventItem.query(pid) if i.event.startswith("supp")]) == 3


def test_redelivered_outbox_records_send_nothing_twice(api: Api) -> None:
    setup_org(api)
    pid = propose(api)["id"]
    ok(call(api, "POST", f"/admin/proposals/{pid}/approve", ADMIN, {}))
    for sub in ("a", "b", "c"):
        ok(call(api, "PUT", f"/proposals/{pid}/support", person(sub)))
    api.drain()
    api.drain()
    before = emails_to(api)
    container = api.container
    for item in ChallengeEventItem.query(pid):
        container.proposal_mail.notify(pid, _event(item.event))
    assert emails_to(api) == before
    assert before["mairie@clichy.example"] == 1


def _event(key: str) -> Any:
    from chalicelib.domain.proposals import proposal_event_from_key

    return proposal_event_from_key(key)


def test_rejection_tells_the_proposer_with_the_reason(api: Api) -> None:
    setup_org(api)
    pid = propose(api, "p2")["id"]
    rejected = ok(
        call(api, "POST", f"/admin/proposals/{pid}/reject", ADMIN, {"reason": "Already done"})
    )
    assert (rejected["status"], rejected["decision_reason"]) == ("rejected", "Already done")
    api.drain()
    api.drain()
    mails = [e for e in api.emails() if "p2@people.example" in e.to]
    assert len(mails) == 1
    assert "Already done" in (mails[0].html or "")
    refused = call(api, "PUT", f"/proposals/{pid}/support", person("s1"))
    assert refused.status_code == 409
    # Nobody else sees a rejected proposal; its proposer does.
    assert call(api, "GET", f"/proposals/{pid}", person("s1")).status_code == 404
    assert ok(call(api, "GET", f"/proposals/{pid}", person("p2")))["mine"] is True


def test_an_org_admin_decides_only_for_their_organisation(api: Api) -> None:
    setup_org(api)
    api.seed_organization("org_other", "Other")
    mine = propose(api)["id"]
    unaddressed = propose(api, organization_id=None)["id"]
    org_admin = bearer("oa", groups=("org-admin",), org_id=ORG)
    other_admin = bearer("ob", groups=("org-admin",), org_id="org_other")
    assert call(api, "POST", f"/admin/proposals/{mine}/approve", other_admin, {}).status_code == 404
    assert (
        call(api, "POST", f"/admin/proposals/{unaddressed}/approve", org_admin, {}).status_code
        == 404
    )
    ok(call(api, "POST", f"/admin/proposals/{mine}/approve", org_admin, {}))
    listed = ok(call(api, "GET", "/admin/proposals?status=pending", org_admin))["items"]
    assert unaddressed not in [p["id"] for p in listed]
    audit = ok(call(api, "GET", "/admin/audit", ADMIN))["items"]
    assert any(e["action"] == "proposal.approve" and e["organization_id"] == ORG for e in audit), (
        audit
    )


@pytest.mark.parametrize(
    "body",
    [
        proposal_body(location=None),
        proposal_body(postal_code="92110"),
        proposal_body(location=None, postal_code="9"),
        proposal_body(location={"lat": 91, "lon": 0}),
        proposal_body(organization_id="org_missing"),
        proposal_body(title=""),
        proposal_body(suggested_target={"metric": "quantity", "value": 3}),
        proposal_body(extra=1),
    ],
)
def test_bad_proposals_are_400_problems(api: Api, body: dict[str, Any]) -> None:
    api.seed_organization(ORG)
    response = call(api, "POST", "/proposals", person("p1"), body)
    assert response.status_code == 400, response.body
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("near", ["1", "a,b", "91,0", "nan,1", "1,2,3"])
def test_a_bad_near_is_a_400(api: Api, near: str) -> None:
    response = call(api, "GET", f"/proposals?near={near}", {})
    assert response.status_code == 400, response.body


def test_a_postal_code_proposal_and_anonymous_reads(api: Api) -> None:
    created = propose(api, location=None, postal_code="92110", organization_id=None)
    assert created["area"] == "FR-92"
    assert call(api, "POST", "/proposals", {}, proposal_body()).status_code == 401
    assert call(api, "GET", f"/proposals/{created['id']}", {}).status_code == 404
    assert call(api, "GET", "/proposals/prop_missing", {}).status_code == 404
    assert call(api, "PUT", "/proposals/prop_missing/support", person("s")).status_code == 404


PROPOSAL_INTERNAL = {
    "id",
    "created_key",
    "open_area",
    "suggested_target",
    "support_threshold",
    "supports",
    "decided_at",
    "decision_reason",
    "threshold_reached_at",
    "challenge_id",
    "lease_until",
    "last_error",
    "expires_at",
}


def test_the_privacy_inventory_lists_every_proposal_attribute() -> None:
    from pynamodb.attributes import Attribute

    from chalicelib.storage.proposal_tables import ProposalDeliveryItem, ProposalItem, SupportItem
    from tests.functional.test_personal_data import PERSONAL_ATTRIBUTES

    for model, base in (
        (ProposalItem, "proposals"),
        (SupportItem, "proposal_supports"),
        (ProposalDeliveryItem, "proposal_deliveries"),
    ):
        listed = PERSONAL_ATTRIBUTES[base]
        assert isinstance(listed, dict)
        stored = {n for n, a in vars(model).items() if isinstance(a, Attribute)}
        assert stored - set(listed) - PROPOSAL_INTERNAL == set(), model


def test_export_and_erasure_of_proposals_and_supports(api: Api) -> None:
    setup_org(api, threshold=1)
    mine = propose(api, "lea", location=None, postal_code="75011")["id"]
    other = propose(api, "p9")["id"]
    for pid in (mine, other):
        ok(call(api, "POST", f"/admin/proposals/{pid}/approve", ADMIN, {}))
    ok(call(api, "PUT", f"/proposals/{other}/support", person("lea", locale="en")))
    api.drain()
    api.drain()
    document = ok(call(api, "GET", "/me/export", person("lea")))
    assert [(p["id"], p["email"]) for p in document["proposals"]] == [(mine, "lea@people.example")]
    assert [(s["proposal_id"], s["email"], s["locale"]) for s in document["proposal_supports"]] == [
        (other, "lea@people.example", "en")
    ]
    assert [(e["proposal_id"], e["status"]) for e in document["proposal_emails"]] == [
        (mine, "sent")
    ]

    assert call(api, "DELETE", "/me", person("lea")).status_code == 204
    after = ok(call(api, "GET", "/me/export", person("lea")))
    assert (after["proposals"], after["proposal_supports"], after["proposal_emails"]) == (
        [],
        [],
        [],
    )
    # The proposal stays, without its proposer; the support is counted out.
    assert ok(call(api, "GET", f"/proposals/{mine}", person("x")))["status"] == "open"
    assert ok(call(api, "GET", f"/proposals/{other}", person("x")))["supports"] == 0
    stored = api.container.proposals.get_visible(mine, None)
    assert stored.proposer_email is None
    assert "lea" not in stored.proposer_id
