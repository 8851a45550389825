"""Payouts over the API on moto: recorded by admins once a challenge is reached, refused
before, with bad input a 400; the public trail with totals per currency, a page at a time."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.model import Principal
from chalicelib.domain.payouts import parse_amount
from chalicelib.services.payouts import PayoutRequest
from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_public_api import assert_problem

OWN, OTHER = "org_own", "org_other"
OWN_ADMIN = bearer("csr-own", groups=("org-admin",), org_id=OWN)
OTHER_ADMIN = bearer("csr-other", groups=("org-admin",), org_id=OTHER)
# Today (UTC): never before a challenge created after this, never in the future.
TODAY = datetime.now(UTC).date()
PAYOUT = {
    "amount": "5000.00",
    "currency": "EUR",
    "paid_on": TODAY.isoformat(),
    "to": "beneficiary",
    "proof_url": "https://solicycle.example/receipts/1",
    "note": "First instalment",
}


def reached(api: Api, **overrides: Any) -> str:
    """A challenge of target 1, reached by one pledge (the stream triggers run)."""
    challenge = api.create(target={"metric": "participants", "value": 1}, **overrides)
    assert api.pledge(challenge["id"], "p-1").status_code == 201
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["reached"] is True
    challenge_id: str = challenge["id"]
    return challenge_id


def record(api: Api, challenge_id: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return api.request("POST", f"/admin/challenges/{challenge_id}/payouts", body, headers or ADMIN)


def trail(api: Api, challenge_id: str, **query: str) -> dict[str, Any]:
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    response = api.request("GET", f"/challenges/{challenge_id}/payouts{suffix}")
    assert response.status_code == 200, response.body
    result: dict[str, Any] = json.loads(response.body)
    return result


def test_a_payout_is_recorded_and_shown_in_the_public_trail(api: Api) -> None:
    challenge_id = reached(api)
    response = record(api, challenge_id, PAYOUT)
    assert response.status_code == 201, response.body
    payout = json.loads(response.body)
    assert payout["id"].startswith("po_")
    assert {k: payout[k] for k in PAYOUT} == PAYOUT
    assert payout["recipient_name"] == "Solicycle"
    listed = trail(api, challenge_id)
    assert listed["items"] == [payout]
    assert listed["totals"] == [{"currency": "EUR", "amount": "5000.00"}]
    assert listed["next_cursor"] is None
    # Nobody's address is in the public trail (the beneficiary's, the sponsor's).
    raw = api.request("GET", f"/challenges/{challenge_id}/payouts").body.decode()
    assert "@" not in raw


def test_totals_are_exact_per_currency_and_the_trail_pages_newest_first(api: Api) -> None:
    challenge_id = reached(api)
    bodies = [
        {**PAYOUT, "amount": "0.10", "note": "one"},
        {**PAYOUT, "amount": "0.20", "note": "two"},
        {**PAYOUT, "amount": "1500", "currency": "JPY", "note": "three"},
        {**PAYOUT, "amount": "1.005", "currency": "KWD", "note": "four"},
    ]
    for body in bodies:
        assert record(api, challenge_id, body).status_code == 201
    first = trail(api, challenge_id, limit="3")
    assert [p["note"] for p in first["items"]] == ["four", "three", "two"]
    rest = trail(api, challenge_id, limit="3", cursor=first["next_cursor"])
    assert [p["note"] for p in rest["items"]] == ["one"]
    assert (
        rest["totals"]
        == first["totals"]
        == [
            {"currency": "EUR", "amount": "0.30"},  # 0.1 + 0.2, exactly
            {"currency": "JPY", "amount": "1500"},
            {"currency": "KWD", "amount": "1.005"},
        ]
    )


def test_a_payout_before_the_challenge_is_reached_is_a_409(api: Api) -> None:
    challenge = api.create()
    problem = assert_problem(record(api, challenge["id"], PAYOUT), 409)
    assert str(problem["type"]).endswith("/not-reached")
    assert trail(api, challenge["id"])["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": 5000}, "amount"),  # a JSON number: the amount is a string
        ({"amount": 5000.5}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "5000.001"}, "amount"),  # EUR has 2 decimals
        ({"amount": "10.5", "currency": "JPY"}, "amount"),  # JPY has none
        ({"currency": "ABC"}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"to": "somebody-else"}, "to"),
        ({"paid_on": "2999-01-01"}, "paid_on"),
        ({"paid_on": "1999-01-01"}, "paid_on"),
        ({"paid_on": "15/01/2026"}, "paid_on"),
        ({"proof_url": "http://solicycle.example/receipt"}, "proof_url"),
        ({"note": "x" * 501}, "note"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api: Api, change: Any, field: str) -> None:
    challenge_id = reached(api)
    problem = assert_problem(record(api, challenge_id, {**PAYOUT, **change}), 400)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert field in {error["loc"][1] for error in errors}, errors
    assert trail(api, challenge_id)["items"] == []


def test_an_unknown_challenge_is_a_404(api: Api) -> None:
    assert_problem(record(api, "ch_nope", PAYOUT), 404)
    assert_problem(api.request("GET", "/challenges/ch_nope/payouts"), 404)


def test_a_drafts_trail_is_not_found(api: Api) -> None:
    draft = api.create(publish=False)
    assert_problem(api.request("GET", f"/challenges/{draft['id']}/payouts"), 404)


def test_an_idempotency_key_records_one_payout_however_often_it_is_sent(api: Api) -> None:
    challenge_id = reached(api)
    keyed = {**ADMIN, "Idempotency-Key": "payout-2026-01"}
    first = record(api, challenge_id, PAYOUT, keyed)
    again = record(api, challenge_id, PAYOUT, keyed)
    assert first.status_code == again.status_code == 201
    assert json.loads(again.body) == json.loads(first.body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(trail(api, challenge_id)["items"]) == 1
    other = record(api, challenge_id, {**PAYOUT, "amount": "1.00"}, keyed)
    assert_problem(other, 409)
    assert len(trail(api, challenge_id)["items"]) == 1


def test_a_lost_stored_answer_still_records_the_payout_once(api: Api) -> None:
    """The payout's id comes from the key: even without the stored answer (expired, or
    never written), the retry finds the same payout instead of recording a second."""
    challenge_id = reached(api)
    admin = Principal(sub="admin-1", groups=frozenset({"admin"}))
    request = PayoutRequest(
        amount=parse_amount("12.50"),
        currency="EUR",
        paid_on=TODAY,
        to="beneficiary",
        idempotency_key="k-1",
    )
    first = api.container.payouts.record(admin, challenge_id, request)
    second = api.container.payouts.record(admin, challenge_id, request)
    assert (first.created, second.created) == (True, False)
    assert second.payout.id == first.payout.id
    assert [p["amount"] for p in trail(api, challenge_id)["items"]] == ["12.50"]


def test_org_admins_record_for_their_own_organisations_challenges_only(api: Api) -> None:
    for organization_id in (OWN, OTHER):
        api.seed_organization(organization_id)
    challenge_id = reached(api, organization_id=OWN)
    assert_problem(record(api, challenge_id, PAYOUT, OTHER_ADMIN), 404)
    assert record(api, challenge_id, PAYOUT, OWN_ADMIN).status_code == 201
    participant = bearer("p-9")
    assert_problem(record(api, challenge_id, PAYOUT, participant), 403)


def test_a_recorded_payout_is_in_the_audit_trail_of_the_challenges_organisation(
    api: Api,
) -> None:
    api.seed_organization(OWN)
    challenge_id = reached(api, organization_id=OWN)
    payout = json.loads(record(api, challenge_id, PAYOUT).body)
    entries = json.loads(api.request("GET", "/admin/audit", None, OWN_ADMIN).body)["items"]
    recorded = [e for e in entries if e["action"] == "challenge.record_payout"]
    assert len(recorded) == 1
    assert recorded[0]["target"] == {"type": "challenge", "id": challenge_id}
    assert recorded[0]["details"] == {
        "payout_id": payout["id"],
        "amount": "5000.00",
        "currency": "EUR",
    }


def test_the_sponsors_report_says_what_was_paid_per_currency(api: Api) -> None:
    challenge_id = reached(api)
    for body in (PAYOUT, {**PAYOUT, "amount": "250.50"}, {**PAYOUT, "currency": "CHF"}):
        assert record(api, challenge_id, body).status_code == 201
    response = api.request("GET", f"/admin/challenges/{challenge_id}/report", None, ADMIN)
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["paid"] == [
        {"currency": "CHF", "amount": "5000.00"},
        {"currency": "EUR", "amount": "5250.50"},
    ]
    unpaid = api.create()
    response = api.request("GET", f"/admin/challenges/{unpaid['id']}/report", None, ADMIN)
    assert json.loads(response.body)["paid"] == []
