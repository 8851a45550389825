"""Organisations: creation rules and who counts as an employee."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import OrganizationNotFoundError
from chalicelib.domain.model import Organization, OrganizationKind, Principal
from chalicelib.services.organizations import OrganizationDraft, OrganizationService
from chalicelib.services.ports import Page
from tests.unit.fakes import FakeClock


class InMemoryOrganizations:
    def __init__(self) -> None:
        self.items: dict[str, Organization] = {}

    def add(self, organization: Organization) -> None:
        assert organization.id not in self.items
        self.items[organization.id] = organization

    def get(self, organization_id: str) -> Organization | None:
        return self.items.get(organization_id)

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]:
        return Page(list(self.items.values())[:limit])


HUMANIS = Organization(
    id="org_humanis",
    name="Humanis",
    kind=OrganizationKind.COMPANY,
    created_at=datetime(2026, 6, 1, tzinfo=UTC),
    email_domains=("humanis.example",),
)


@pytest.mark.parametrize(
    ("principal", "employed"),
    [
        (Principal(sub="a", org_id="org_humanis"), True),
        (Principal(sub="b", org_id="org_other"), False),
        (Principal(sub="c", email="sam@humanis.example", email_verified=True), True),
        (Principal(sub="d", email="Sam@HUMANIS.example", email_verified=True), True),
        # An unverified address proves nothing: anyone can type one at sign-up.
        (Principal(sub="e", email="sam@humanis.example", email_verified=False), False),
        (Principal(sub="f", email="sam@evil-humanis.example", email_verified=True), False),
        (Principal(sub="g", email="sam@sub.humanis.example", email_verified=True), False),
        (Principal(sub="h", email="not-an-address", email_verified=True), False),
        (Principal(sub="i"), False),
    ],
)
def test_employees_are_known_by_org_claim_or_verified_email_domain(
    principal: Principal, employed: bool
) -> None:
    assert HUMANIS.employs(principal) is employed


def test_an_organization_without_domains_knows_employees_by_claim_only() -> None:
    city = Organization("org_city", "Clichy", OrganizationKind.CITY, HUMANIS.created_at)
    assert not city.employs(Principal(sub="x", email="a@clichy.example", email_verified=True))
    assert city.employs(Principal(sub="x", org_id="org_city"))


def test_create_stores_lower_case_domains_once_each() -> None:
    repository = InMemoryOrganizations()
    service = OrganizationService(repository, FakeClock())
    created = service.create(
        OrganizationDraft(
            name="GRDF",
            kind=OrganizationKind.COMPANY,
            email_domains=("GRDF.example", "grdf.example", "b.example"),
        )
    )
    assert created.id.startswith("org_")
    assert created.email_domains == ("grdf.example", "b.example")
    assert service.get(created.id) == created == repository.items[created.id]


def test_get_unknown_is_not_found() -> None:
    service = OrganizationService(InMemoryOrganizations(), FakeClock())
    with pytest.raises(OrganizationNotFoundError):
        service.get("org_nope")
