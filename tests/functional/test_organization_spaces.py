"""Branded spaces: an organisation's public profile, set by its admins, and its public page."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.model import Visibility
from chalicelib.local.tokens import mint_local_token
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT
from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_public_api import assert_problem

PROFILE = {
    "name": "Humanis",
    "kind": "company",
    "email_domains": ["humanis.example"],
    "display_name": "Groupe Humanis",
    "logo_url": "https://www.humanis.example/logo.png",
    "primary_color": "#0b5394",
    "default_locale": "fr",
    "slug": "humanis",
}


def _create(api: Api, **overrides: object) -> dict[str, object]:
    response = api.request("POST", "/admin/organizations", {**PROFILE, **overrides}, ADMIN)
    assert response.status_code == 201, response.body
    created: dict[str, object] = json.loads(response.body)
    return created


def test_the_profile_is_stored_and_shown_to_its_admins(api: Api) -> None:
    created = _create(api)
    assert {k: created[k] for k in ("display_name", "primary_color", "slug")} == {
        "display_name": "Groupe Humanis",
        "primary_color": "#0b5394",
        "slug": "humanis",
    }
    own = bearer("csr", groups=("org-admin",), org_id=str(created["id"]))
    got = json.loads(api.request("GET", f"/admin/organizations/{created['id']}", None, own).body)
    assert got == created


@pytest.mark.parametrize(
    "change",
    [
        {"logo_url": "http://www.humanis.example/logo.png"},  # https only
        {"primary_color": "blue"},
        {"primary_color": "#0b539"},
        {"default_locale": "de"},
        {"default_locale": None},
        {"slug": "Humanis"},
        {"slug": "-humanis"},
        {"slug": "hu manis"},
        {},
    ],
)
def test_a_bad_profile_is_a_400(api: Api, change: dict[str, object]) -> None:
    created = _create(api)
    response = api.request("PATCH", f"/admin/organizations/{created['id']}", change, ADMIN)
    assert_problem(response, 400)


def test_its_org_admin_changes_the_profile_but_not_the_rest(api: Api) -> None:
    created = _create(api)
    own = bearer("csr", groups=("org-admin",), org_id=str(created["id"]))
    path = f"/admin/organizations/{created['id']}"
    changed = api.request("PATCH", path, {"primary_color": "#123abc", "slug": "humanis-2"}, own)
    assert changed.status_code == 200, changed.body
    assert json.loads(changed.body)["slug"] == "humanis-2"
    for forbidden in ({"email_domains": ["gmail.com"]}, {"name": "Other"}, {"kind": "city"}):
        assert_problem(api.request("PATCH", path, forbidden, own), 403)
    assert api.request("PATCH", path, {"email_domains": ["h.example"]}, ADMIN).status_code == 200
    # The old slug is free again, the new one answers.
    assert_problem(api.request("GET", "/organizations/humanis"), 404)
    assert api.request("GET", "/organizations/humanis-2").status_code == 200


def test_slugs_are_unique(api: Api) -> None:
    first = _create(api)
    taken = api.request("POST", "/admin/organizations", {**PROFILE, "name": "Copy"}, ADMIN)
    assert_problem(taken, 409)
    second = _create(api, name="GRDF", slug="grdf")
    moved = api.request("PATCH", f"/admin/organizations/{second['id']}", {"slug": "humanis"}, ADMIN)
    assert_problem(moved, 409)
    space = json.loads(api.request("GET", "/organizations/humanis").body)
    assert space["id"] == first["id"]


def test_the_public_space_shows_what_the_caller_may_see(api: Api) -> None:
    created = _create(api)
    organization_id = str(created["id"])
    public = api.create(title="Open to all", organization_id=organization_id)
    employees = api.create(
        title="Employees only", organization_id=organization_id, visibility="organization"
    )
    api.create(title="Not yet", organization_id=organization_id, publish=False)
    week = api.container.campaigns.create(
        CampaignDraft(
            "Staff week", organization_id=organization_id, visibility=Visibility.ORGANIZATION
        )
    )
    anonymous = json.loads(api.request("GET", "/organizations/humanis").body)
    assert anonymous["name"] == "Groupe Humanis"
    assert anonymous["primary_color"] == "#0b5394"
    assert "email_domains" not in anonymous
    assert [c["id"] for c in anonymous["challenges"]] == [public["id"]]
    assert anonymous["campaigns"] == []
    employee = bearer("sam", org_id=organization_id)
    inside = json.loads(api.request("GET", "/organizations/humanis", None, employee).body)
    assert {c["id"] for c in inside["challenges"]} == {public["id"], employees["id"]}
    assert [c["id"] for c in inside["campaigns"]] == [week.id]
    assert_problem(api.request("GET", "/organizations/nobody"), 404)


def test_an_employee_only_campaign_is_not_found_by_outsiders(api: Api) -> None:
    created = _create(api)
    organization_id = str(created["id"])
    week = api.container.campaigns.create(
        CampaignDraft("Staff week", description="Secret plans", organization_id=organization_id,
                      visibility=Visibility.ORGANIZATION)
    )  # fmt: skip
    for headers in (None, bearer("outsider"), bearer("grdf", org_id="org_grdf")):
        response = api.request("GET", f"/campaigns/{week.id}", None, headers)
        assert_problem(response, 404)
        assert b"Secret plans" not in response.body
    by_claim = api.request(
        "GET", f"/campaigns/{week.id}", None, bearer("sam", org_id=organization_id)
    )
    assert by_claim.status_code == 200
    token = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT, "lea", email="lea@humanis.example", email_verified=True
    )
    verified = {"Authorization": f"Bearer {token}"}
    assert api.request("GET", f"/campaigns/{week.id}", None, verified).status_code == 200
    assert api.request("GET", f"/campaigns/{week.id}", None, ADMIN).status_code == 200


def test_a_profile_change_never_undoes_another_containers_change(api: Api) -> None:
    """Two API containers, each with its own organisation cache: an org-admin's PATCH in one
    does not write back the e-mail domains the platform admin just removed in the other."""
    from chalicelib.domain.access import AdminScope
    from chalicelib.services.organizations import OrganizationChanges, OrganizationService
    from chalicelib.storage.organization_cache import CachedOrganizationRepository
    from chalicelib.storage.organizations import DynamoOrganizationRepository
    from tests.unit.fakes import FakeClock

    settings = api.container.settings

    def container() -> OrganizationService:
        cache = CachedOrganizationRepository(DynamoOrganizationRepository(settings))
        return OrganizationService(cache, FakeClock())

    first, second = container(), container()
    created = _create(api, email_domains=["humanis.example", "old.example"])
    organization_id = str(created["id"])
    assert second.get(organization_id).email_domains == ("humanis.example", "old.example")
    first.update(organization_id, OrganizationChanges(email_domains=("humanis.example",)))
    own = AdminScope(organization_id)
    second.update(organization_id, OrganizationChanges(display_name="Humanis"), own)
    stored = DynamoOrganizationRepository(settings).get(organization_id, consistent=True)
    assert stored is not None
    assert stored.email_domains == ("humanis.example",)
    assert stored.profile.display_name == "Humanis"
