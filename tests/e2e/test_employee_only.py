"""An employee-only challenge on the real local stack: an employee known by a verified e-mail
domain sees it, lists it and pledges; an outsider gets 404 and does not see it listed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Stack, assert_problem

pytestmark = pytest.mark.e2e


def listed(stack: Stack, token: str | None) -> set[str]:
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


def test_an_employee_by_verified_domain_sees_it_and_an_outsider_does_not(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    domain = f"acme-{tag}.example"
    organization = stack.request(
        "POST",
        "/admin/organizations",
        token=stack.admin_token(),
        json={"name": f"Acme {tag}", "kind": "company", "email_domains": [domain]},
    )
    assert organization.status_code == 201, organization.text
    challenge = stack.create_challenge(
        title=f"Acme cycles {tag}",
        visibility="organization",
        organization_id=organization.json()["id"],
    )
    path = f"/challenges/{challenge['id']}"
    employee = stack.participant_token(f"ana-{tag}", email=f"ana@{domain}", email_verified=True)
    unverified = stack.participant_token(f"eve-{tag}", email=f"eve@{domain}")
    outsider = stack.participant_token(
        f"bob-{tag}", email=f"bob@other-{tag}.example", email_verified=True
    )

    seen = stack.request("GET", path, token=employee)
    assert seen.status_code == 200, seen.text
    assert seen.json()["visibility"] == "organization"
    assert challenge["id"] in listed(stack, employee)
    pledged = stack.request("POST", f"{path}/pledges", token=employee, json={})
    assert pledged.status_code == 201, pledged.text

    for token in (outsider, unverified, None):
        assert_problem(stack.request("GET", path, token=token), 404)
        assert challenge["id"] not in listed(stack, token)
    for token in (outsider, unverified):
        assert_problem(stack.request("POST", f"{path}/pledges", token=token, json={}), 404)
