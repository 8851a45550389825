"""Citizen proposals on the real local stack: propose, approve, 25 concurrent supports past a
threshold of 10 (counted exactly, the organisation told once by e-mail and by a webhook that
failed once), adopt, publish (the proposer and every supporter told once), and the 409s."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e import test_webhooks
from tests.e2e.conftest import Stack, assert_problem
from tests.e2e.test_webhooks import Receiver, expected_signature

pytestmark = pytest.mark.e2e

receiver = test_webhooks.receiver
SUPPORTERS = 25


def test_propose_approve_support_past_the_threshold_adopt_publish(
    stack: Stack, receiver: Receiver
) -> None:
    tag = uuid.uuid4().hex[:8]
    admin = stack.admin_token()
    created = stack.request(
        "POST", "/admin/organizations", token=admin, json={"name": f"Clichy {tag}", "kind": "city"}
    )
    assert created.status_code == 201, created.text
    org = created.json()["id"]
    contact = f"mairie-{tag}@clichy.example"
    patched = stack.request(
        "PATCH",
        f"/admin/organizations/{org}",
        token=admin,
        json={
            "proposal_contact": {"name": "Mairie", "email": contact, "webhook_url": receiver.url},
            "support_threshold": 10,
        },
    )
    assert patched.status_code == 200, patched.text
    secret = patched.json()["proposal_contact"]["webhook_secret"]

    proposer_email = f"ada-{tag}@people.example"
    ada = stack.participant_token(f"e2e-ada-{tag}", email=proposer_email, email_verified=True)
    body: dict[str, Any] = {
        "title": f"Repair café {tag}",
        "action": "I bring one broken thing a month",
        "suggested_target": {"metric": "participants", "value": 100},
        "postal_code": "92110",
        "organization_id": org,
    }
    proposed = stack.request("POST", "/proposals", token=ada, json=body)
    assert proposed.status_code == 201, proposed.text
    pid = proposed.json()["id"]
    assert proposed.json()["status"] == "pending"

    supporters = {
        f"e2e-sup-{tag}-{n:02d}": f"sup-{n:02d}-{tag}@people.example" for n in range(SUPPORTERS)
    }
    tokens = {
        sub: stack.participant_token(sub, email=address, email_verified=True)
        for sub, address in supporters.items()
    }
    first = next(iter(tokens.values()))
    problem = assert_problem(stack.request("PUT", f"/proposals/{pid}/support", token=first), 409)
    assert problem["type"].endswith("/proposal-not-open")

    approved = stack.request("POST", f"/admin/proposals/{pid}/approve", token=admin, json={})
    assert approved.status_code == 200, approved.text
    listed = stack.request("GET", "/proposals", params={"status": "open", "limit": 100})
    assert pid in [p["id"] for p in listed.json()["items"]]

    def support(token: str) -> int:
        return stack.request("PUT", f"/proposals/{pid}/support", token=token).status_code

    # Each supporter twice, all at once: each counts once.
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(support, [*tokens.values(), *tokens.values()]))
    assert set(statuses) == {200}, Counter(statuses)
    seen = stack.request("GET", f"/proposals/{pid}", token=first).json()
    assert seen["supports"] == SUPPORTERS
    assert seen["threshold_reached"] is True

    def contact_mails() -> int:
        return sum(contact in email.to for email in stack.sent_emails())

    def webhook_taken() -> bool:
        return any(r.status == 204 for r in receiver.received())

    stack.wait_until(
        lambda: contact_mails() == 1 and webhook_taken(), 30, message="the threshold told"
    )
    received = receiver.received()
    # The first try got a 500: one retry, under the same delivery id, correctly signed.
    assert [r.status for r in received] == [500, 204]
    assert len({r.headers["x-crowdact-delivery"] for r in received}) == 1
    for r in received:
        assert r.headers["x-crowdact-signature"] == expected_signature(secret, r.body)
        assert json.loads(r.body)["proposal"]["id"] == pid

    adoption = {
        "sponsor": {"name": "Ville de Clichy", "email": f"sponsor-{tag}@clichy.example"},
        "beneficiary": {"name": "Repair café", "email": f"hello-{tag}@repair.example"},
        "reward": "a workshop room for a year",
    }
    adopted = stack.request("POST", f"/admin/proposals/{pid}/adopt", token=admin, json=adoption)
    assert adopted.status_code == 201, adopted.text
    challenge = adopted.json()["challenge"]
    assert (challenge["status"], challenge["proposal_id"]) == ("draft", pid)
    assert_problem(stack.request("PUT", f"/proposals/{pid}/support", token=ada), 409)
    assert_problem(
        stack.request("POST", f"/admin/proposals/{pid}/adopt", token=admin, json=adoption), 409
    )

    published = stack.request("POST", f"/admin/challenges/{challenge['id']}/publish", token=admin)
    assert published.status_code == 200, published.text
    everyone = [proposer_email, *supporters.values()]

    def live_mails() -> Counter[str]:
        return Counter(
            to
            for email in stack.sent_emails()
            if challenge["id"] in (email.html or "") + (email.text or "")
            for to in email.to
        )

    stack.wait_until(
        lambda: set(live_mails()) >= set(everyone), 60, message="the proposer and supporters told"
    )
    assert live_mails() == Counter(everyone)  # once each
    assert contact_mails() == 1
    decided = [e for e in stack.sent_emails() if proposer_email in e.to]
    assert len(decided) == 2  # approved, then live


def test_a_rejected_proposal_takes_no_support(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    ada = stack.participant_token(f"e2e-rej-{tag}")
    body = {
        "title": f"Rejected {tag}",
        "action": "I do it",
        "suggested_target": {"metric": "participants", "value": 5},
        "location": {"lat": 45.76, "lon": 4.83},
    }
    pid = stack.request("POST", "/proposals", token=ada, json=body).json()["id"]
    rejected = stack.request(
        "POST",
        f"/admin/proposals/{pid}/reject",
        token=stack.admin_token(),
        json={"reason": "already exists"},
    )
    assert rejected.status_code == 200, rejected.text
    problem = assert_problem(
        stack.request("PUT", f"/proposals/{pid}/support", token=stack.participant_token("x")),
        409,
    )
    assert "rejected" in problem["detail"]
    assert_problem(stack.request("POST", "/proposals", token=ada, json={"title": "x"}), 400)
    assert_problem(stack.request("GET", "/proposals", params={"near": "x,y"}), 400)
