"""Organisations: creation rules and who counts as an employee."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import OrganizationNotFoundError, SlugTakenError
from chalicelib.domain.model import (
    Organization,
    OrganizationKind,
    OrganizationProfile,
    Principal,
)
from chalicelib.services.organizations import (
    OrganizationChanges,
    OrganizationDraft,
    OrganizationService,
)
from tests.unit.fakes import FakeClock, FakeOrganizationRepository

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
    repository = FakeOrganizationRepository()
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
    service = OrganizationService(FakeOrganizationRepository(), FakeClock())
    with pytest.raises(OrganizationNotFoundError):
        service.get("org_nope")


def test_create_refuses_a_taken_slug_and_stores_nothing() -> None:
    repository = FakeOrganizationRepository()
    service = OrganizationService(repository, FakeClock())
    first = service.create(
        OrganizationDraft(
            "Humanis", OrganizationKind.COMPANY, profile=OrganizationProfile(slug="h")
        )
    )
    with pytest.raises(SlugTakenError):
        service.create(
            OrganizationDraft("Other", OrganizationKind.CITY, profile=OrganizationProfile(slug="h"))
        )
    assert list(repository.items) == [first.id]
    assert repository.get_by_slug("h") == first


def test_update_normalises_domains_and_moves_the_slug() -> None:
    repository = FakeOrganizationRepository()
    service = OrganizationService(repository, FakeClock())
    created = service.create(
        OrganizationDraft("GRDF", OrganizationKind.COMPANY, profile=OrganizationProfile(slug="g"))
    )
    updated = service.update(
        created.id,
        OrganizationChanges(email_domains=("GRDF.example", "grdf.example"), slug="grdf"),
    )
    assert updated.email_domains == ("grdf.example",)
    assert repository.get_by_slug("grdf") == updated == service.get(created.id)
    assert repository.get_by_slug("g") is None
    # Nothing to change: nothing written.
    assert service.update(created.id, OrganizationChanges(slug="grdf")) == updated
    with pytest.raises(OrganizationNotFoundError):
        service.update("org_nope", OrganizationChanges(display_name="x"))


class SlugMovedMeanwhile(FakeOrganizationRepository):
    """Another admin moves the slug between this update's read and its write, once."""

    def __init__(self) -> None:
        super().__init__()
        self.moved = False

    def replace(self, before: Organization, after: Organization) -> bool:
        if not self.moved:
            self.moved = True
            assert super().replace(before, replace(before, profile=OrganizationProfile(slug="b")))
        return super().replace(before, after)


def test_an_update_that_lost_a_race_on_the_slug_reads_again_and_keeps_the_other_change() -> None:
    repository = SlugMovedMeanwhile()
    service = OrganizationService(repository, FakeClock())
    created = service.create(
        OrganizationDraft("A", OrganizationKind.COMPANY, profile=OrganizationProfile(slug="a"))
    )

    updated = service.update(created.id, OrganizationChanges(display_name="Alpha"))

    assert repository.moved
    assert updated.profile == OrganizationProfile(display_name="Alpha", slug="b")
    assert repository.get_by_slug("b") == updated
    assert repository.get_by_slug("a") is None
