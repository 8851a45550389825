"""Admin organisations: create and list; only platform admins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_public_api import assert_problem

HUMANIS = {
    "name": "Humanis",
    "kind": "company",
    "email_domains": ["Humanis.example", "humanis.example"],
}


def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.request("POST", "/admin/organizations", body, ADMIN)
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def test_create_returns_the_organization_with_normalised_domains(api: Api) -> None:
    created = create(api, HUMANIS)
    assert created["id"].startswith("org_")
    assert created["name"] == "Humanis"
    assert created["kind"] == "company"
    assert created["email_domains"] == ["humanis.example"]
    assert created["created_at"].endswith("Z")


def test_list_is_newest_first_and_pages_with_a_cursor(api: Api) -> None:
    ids = [create(api, {"name": f"Ville {n}", "kind": "city"})["id"] for n in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        path = "/admin/organizations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = api.request("GET", path, None, ADMIN)
        assert response.status_code == 200, response.body
        page = json.loads(response.body)
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "company"}, "name"),
        ({"name": "", "kind": "company"}, "name"),
        ({"name": "X", "kind": "club"}, "kind"),
        ({"name": "X", "kind": "city", "email_domains": ["not a domain"]}, "email_domains"),
        ({"name": "X", "kind": "city", "email_domains": ["@humanis.example"]}, "email_domains"),
        ({"name": "X", "kind": "city", "email_domains": "humanis.example"}, "email_domains"),
        ({"name": "X", "kind": "city", "email_domains": [f"d{n}.example" for n in range(21)]},
         "email_domains"),
        ({"name": "X", "kind": "city", "extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_create_rejects_bad_bodies(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.request("POST", "/admin/organizations", body, ADMIN)
    errors = assert_problem(response, 400)["errors"]
    assert isinstance(errors, list)
    assert any(field in error["loc"] for error in errors), errors


def test_a_bad_cursor_is_a_400(api: Api) -> None:
    response = api.request("GET", "/admin/organizations?cursor=bm9wZQ", None, ADMIN)
    assert_problem(response, 400)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_participants_may_not_use_them(api: Api, method: str) -> None:
    body = HUMANIS if method == "POST" else None
    assert_problem(api.request(method, "/admin/organizations", body, None), 401)
    assert_problem(api.request(method, "/admin/organizations", body, bearer("p-1")), 403)


def test_only_platform_admins_create_them_and_an_org_admin_lists_its_own(api: Api) -> None:
    created = json.loads(api.request("POST", "/admin/organizations", HUMANIS, ADMIN).body)
    other = json.loads(
        api.request("POST", "/admin/organizations", {**HUMANIS, "name": "GRDF"}, ADMIN).body
    )
    org_admin = bearer("org-admin-1", groups=("org-admin",), org_id=created["id"])
    assert_problem(api.request("POST", "/admin/organizations", HUMANIS, org_admin), 403)
    listed = json.loads(api.request("GET", "/admin/organizations", None, org_admin).body)
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert other["id"] not in {item["id"] for item in listed["items"]}
