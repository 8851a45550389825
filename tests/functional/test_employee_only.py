"""Employee-only challenges over HTTP: seen and pledged by employees (org_id claim or verified
e-mail domain), 404 and unlisted for everyone else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT
from tests.functional.conftest import ADMIN, Api
from tests.functional.test_public_api import assert_problem


def headers(sub: str, **claims: Any) -> dict[str, str]:
    token = mint_local_token(LOCAL_JWT_SECRET_DEFAULT, sub, **claims)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def cognito_headers(sub: str, email: str, email_verified: object) -> dict[str, str]:
    """A token shaped as Cognito sometimes sends it: `email_verified` as the string "true"."""
    now = datetime.now(UTC)
    claims = {
        "sub": sub,
        "token_use": "id",
        "iat": now,
        "exp": now + timedelta(hours=1),
        "email": email,
        "email_verified": email_verified,
    }
    token = jwt.encode(claims, LOCAL_JWT_SECRET_DEFAULT, algorithm="HS256")
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


EMPLOYEE = headers("ana", email="ana@acme.example", email_verified=True)
UNVERIFIED = headers("ana-unverified", email="ana@acme.example", email_verified=False)
OUTSIDER = headers("bob", email="bob@other.example", email_verified=True)
SUBDOMAIN = headers("eve", email="eve@eu.acme.example", email_verified=True)


@pytest.fixture
def acme(api: Api) -> dict[str, Any]:
    body = {"name": "Acme", "kind": "company", "email_domains": ["ACME.example"]}
    response = api.request("POST", "/admin/organizations", body, ADMIN)
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def internal(api: Api, acme: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return api.create(visibility="organization", organization_id=acme["id"], **fields)


def listed_ids(api: Api, hdrs: dict[str, str] | None, query: str = "") -> list[str]:
    response = api.request("GET", f"/challenges?limit=100{query}", None, hdrs)
    assert response.status_code == 200, response.body
    return [item["id"] for item in json.loads(response.body)["items"]]


def test_an_employee_by_verified_email_domain_sees_lists_and_pledges(
    api: Api, acme: dict[str, Any]
) -> None:
    challenge = internal(api, acme)

    response = api.request("GET", f"/challenges/{challenge['id']}", None, EMPLOYEE)
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["visibility"] == "organization"
    assert challenge["id"] in listed_ids(api, EMPLOYEE)
    pledged = api.request("POST", f"/challenges/{challenge['id']}/pledges", {}, EMPLOYEE)
    assert pledged.status_code == 201, pledged.body
    withdrawn = api.request("DELETE", f"/challenges/{challenge['id']}/pledges/me", None, EMPLOYEE)
    assert withdrawn.status_code == 204, withdrawn.body


def test_cognitos_string_true_counts_as_verified(api: Api, acme: dict[str, Any]) -> None:
    challenge = internal(api, acme)
    as_string = cognito_headers("cy", "cy@acme.example", "true")
    as_false_string = cognito_headers("dan", "dan@acme.example", "false")

    assert api.request("GET", f"/challenges/{challenge['id']}", None, as_string).status_code == 200
    assert_problem(api.request("GET", f"/challenges/{challenge['id']}", None, as_false_string), 404)


@pytest.mark.parametrize(
    "who", ["unverified", "other domain", "subdomain", "other org_id", "anonymous"]
)
def test_everyone_else_gets_404_and_does_not_see_it_listed(
    api: Api, acme: dict[str, Any], who: str
) -> None:
    hdrs = {
        "unverified": UNVERIFIED,
        "other domain": OUTSIDER,
        "subdomain": SUBDOMAIN,
        "other org_id": headers("olga", org_id="org_other"),
        "anonymous": None,
    }[who]
    challenge = internal(api, acme)
    public = api.create()

    assert_problem(api.request("GET", f"/challenges/{challenge['id']}", None, hdrs), 404)
    ids = listed_ids(api, hdrs)
    assert challenge["id"] not in ids
    assert public["id"] in ids
    assert challenge["id"] not in listed_ids(api, hdrs, "&status=live")
    if hdrs is not None:
        pledge = api.request("POST", f"/challenges/{challenge['id']}/pledges", {}, hdrs)
        assert_problem(pledge, 404)


def test_the_org_id_claim_works_without_any_email(api: Api, acme: dict[str, Any]) -> None:
    challenge = internal(api, acme)
    employee = headers("sam", org_id=acme["id"])

    assert api.request("GET", f"/challenges/{challenge['id']}", None, employee).status_code == 200
    assert challenge["id"] in listed_ids(api, employee)
    pledge = api.request("POST", f"/challenges/{challenge['id']}/pledges", {}, employee)
    assert pledge.status_code == 201, pledge.body


def test_admins_see_it_and_another_organisations_employees_do_not(
    api: Api, acme: dict[str, Any]
) -> None:
    body = {"name": "Other", "kind": "company", "email_domains": ["other.example"]}
    other = json.loads(api.request("POST", "/admin/organizations", body, ADMIN).body)
    challenge = internal(api, acme)
    theirs = internal(api, other)

    assert api.request("GET", f"/challenges/{challenge['id']}", None, ADMIN).status_code == 200
    assert {challenge["id"], theirs["id"]} <= set(listed_ids(api, ADMIN))
    assert challenge["id"] in listed_ids(api, EMPLOYEE)
    assert theirs["id"] not in listed_ids(api, EMPLOYEE)
    assert theirs["id"] in listed_ids(api, OUTSIDER)  # bob@other.example works there
    assert challenge["id"] not in listed_ids(api, OUTSIDER)


def test_the_campaign_page_shows_it_to_employees_only(api: Api, acme: dict[str, Any]) -> None:
    response = api.request("POST", "/admin/campaigns", {"title": "Acme week"}, ADMIN)
    assert response.status_code == 201, response.body
    campaign_id = json.loads(response.body)["id"]
    challenge = internal(api, acme, campaign_id=campaign_id)
    public = api.create(campaign_id=campaign_id)

    def shown(hdrs: dict[str, str] | None) -> set[str]:
        page = api.request("GET", f"/campaigns/{campaign_id}", None, hdrs)
        assert page.status_code == 200, page.body
        return {item["id"] for item in json.loads(page.body)["challenges"]}

    assert shown(EMPLOYEE) == {challenge["id"], public["id"]}
    assert shown(UNVERIFIED) == {public["id"]}
    assert shown(None) == {public["id"]}
    assert challenge["id"] in listed_ids(api, EMPLOYEE, f"&campaign_id={campaign_id}")
    assert challenge["id"] not in listed_ids(api, OUTSIDER, f"&campaign_id={campaign_id}")
