"""What an organisation's administrator may run: its own organisation's challenges,
campaigns and profile, nothing of another organisation's (not even that it exists), and
nothing of the platform's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.access import PLATFORM, AdminScope, admin_scope
from chalicelib.domain.errors import (
    CampaignNotFoundError,
    ChallengeNotFoundError,
    InvalidFieldsError,
    OrganizationNotFoundError,
    PermissionDeniedError,
    SlugTakenError,
)
from chalicelib.domain.model import (
    ADMIN_GROUP,
    ORG_ADMIN_GROUP,
    Campaign,
    Challenge,
    ChallengeStatus,
    Organization,
    OrganizationKind,
    OrganizationProfile,
    Principal,
    Visibility,
)
from chalicelib.services.campaigns import CampaignDraft, CampaignService
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.organizations import OrganizationChanges, OrganizationService
from chalicelib.services.ports import ChallengeChanges
from tests.unit.fakes import (
    FakeCampaignRepository,
    FakeOrganizationRepository,
)
from tests.unit.support import Backend, challenge_draft, tenant_services

ORG_A = AdminScope("org_a")
ORG_B = AdminScope("org_b")


@dataclass
class Admin:
    """The admin services over the fakes, with organisations org_a and org_b."""

    backend: Backend
    organizations: FakeOrganizationRepository
    campaign_repository: FakeCampaignRepository
    challenges: ChallengeService
    campaigns: CampaignService
    organization_service: OrganizationService

    def challenge(self, scope: AdminScope = PLATFORM, **overrides: Any) -> Challenge:
        self.backend.later(seconds=1)  # newest first: each one a second apart
        return self.challenges.create(challenge_draft(**overrides), scope)

    def campaign(self, scope: AdminScope = PLATFORM, **overrides: Any) -> Campaign:
        self.backend.later(seconds=1)
        return self.campaigns.create(CampaignDraft(title="No Impact Week", **overrides), scope)


@pytest.fixture
def admin(backend: Backend) -> Admin:
    organizations = FakeOrganizationRepository()
    created = datetime(2026, 5, 1, tzinfo=UTC)
    for number, (organization_id, slug) in enumerate((("org_a", "alpha"), ("org_b", "beta"))):
        organizations.add(
            Organization(
                id=organization_id,
                name=organization_id.upper(),
                kind=OrganizationKind.COMPANY,
                created_at=created + timedelta(days=number),
                email_domains=(f"{slug}.example",),
                profile=OrganizationProfile(slug=slug),
            )
        )
    challenges, campaigns, campaign_repository = tenant_services(backend, organizations)
    return Admin(
        backend,
        organizations,
        campaign_repository,
        challenges,
        campaigns,
        OrganizationService(organizations, backend.clock),
    )


# --- who administers what -----------------------------------------------------------------------


def test_a_platform_admin_runs_everything_and_an_org_admin_its_organisation() -> None:
    assert admin_scope(Principal(sub="p", groups=frozenset({ADMIN_GROUP}))) == PLATFORM
    assert PLATFORM.is_platform
    assert PLATFORM.covers(None)
    assert PLATFORM.covers("org_b")
    org_admin = Principal(sub="o", groups=frozenset({ORG_ADMIN_GROUP}), org_id="org_a")
    assert admin_scope(org_admin) == ORG_A
    assert not ORG_A.is_platform
    assert ORG_A.covers("org_a")
    assert not ORG_A.covers("org_b")
    assert not ORG_A.covers(None)


@pytest.mark.parametrize(
    "principal",
    [
        Principal(sub="o", groups=frozenset({ORG_ADMIN_GROUP})),  # which organisation?
        Principal(sub="o", groups=frozenset({ORG_ADMIN_GROUP}), org_id=""),
        Principal(sub="p", org_id="org_a"),  # an employee, not an admin
        Principal(sub="q", groups=frozenset({"participants"})),
    ],
)
def test_no_admin_scope_without_the_role_and_its_organisation(principal: Principal) -> None:
    with pytest.raises(PermissionDeniedError):
        admin_scope(principal)


# --- challenges -------------------------------------------------------------------------------


def test_an_org_admins_challenge_is_its_organisations_by_default(admin: Admin) -> None:
    created = admin.challenge(ORG_A)
    assert created.organization_id == "org_a"
    explicit = admin.challenge(ORG_A, organization_id="org_a", visibility=Visibility.ORGANIZATION)
    assert (explicit.organization_id, explicit.visibility) == ("org_a", Visibility.ORGANIZATION)
    # An employee-only one needs no organization_id from an org-admin either.
    assert admin.challenge(ORG_A, visibility=Visibility.ORGANIZATION).organization_id == "org_a"
    # A platform admin's challenge may be of none.
    assert admin.challenge().organization_id is None


def test_an_org_admin_may_not_create_for_another_organisation(admin: Admin) -> None:
    with pytest.raises(PermissionDeniedError):
        admin.challenge(ORG_A, organization_id="org_b")
    assert admin.challenges.list_for_admin(limit=10, cursor=None).items == []


def test_another_organisations_campaign_is_unknown_to_an_org_admin(admin: Admin) -> None:
    theirs = admin.campaign(ORG_B)
    platforms = admin.campaign()  # of no organisation
    ours = admin.campaign(ORG_A)
    for campaign in (theirs, platforms):
        with pytest.raises(InvalidFieldsError) as raised:
            admin.challenge(ORG_A, campaign_id=campaign.id)
        assert set(raised.value.fields) == {"campaign_id"}
        assert "no campaign" in raised.value.fields["campaign_id"]
    assert admin.challenge(ORG_A, campaign_id=ours.id).campaign_id == ours.id
    # Nor may one move a challenge into it.
    challenge = admin.challenge(ORG_A)
    with pytest.raises(InvalidFieldsError):
        admin.challenges.update(challenge.id, ChallengeChanges(campaign_id=theirs.id), ORG_A)
    # The platform admin may.
    assert admin.challenge(campaign_id=theirs.id, organization_id="org_b").campaign_id == theirs.id


@pytest.mark.parametrize("owner", ["org_b", None])
def test_another_organisations_challenge_is_not_found_by_an_org_admin(
    admin: Admin, owner: str | None
) -> None:
    theirs = admin.challenge(organization_id=owner)
    live = admin.challenge(organization_id=owner, publish=True)
    calls: list[Callable[[], object]] = [
        lambda: admin.challenges.get_for_admin(theirs.id, ORG_A),
        lambda: admin.challenges.update(theirs.id, ChallengeChanges(title="Mine"), ORG_A),
        lambda: admin.challenges.publish(theirs.id, ORG_A),
        lambda: admin.challenges.close(live.id, ORG_A),
        # Another organisation's answers 404 whatever the body asks.
        lambda: admin.challenges.update(
            theirs.id, ChallengeChanges(organization_id="org_a"), ORG_A
        ),
    ]
    for call in calls:
        with pytest.raises(ChallengeNotFoundError):
            call()
    assert admin.backend.stored(theirs.id) == theirs
    assert admin.backend.stored(live.id).status is ChallengeStatus.LIVE


def test_an_org_admin_runs_its_own_challenges(admin: Admin) -> None:
    ours = admin.challenge(ORG_A)
    assert admin.challenges.get_for_admin(ours.id, ORG_A) == ours
    renamed = admin.challenges.update(ours.id, ChallengeChanges(title="Renamed"), ORG_A)
    assert renamed.title == "Renamed"
    # Naming its own organisation again changes nothing and is allowed.
    same = admin.challenges.update(ours.id, ChallengeChanges(organization_id="org_a"), ORG_A)
    assert same.organization_id == "org_a"
    assert admin.challenges.publish(ours.id, ORG_A).status is ChallengeStatus.LIVE
    assert admin.challenges.close(ours.id, ORG_A).status is ChallengeStatus.CLOSED


@pytest.mark.parametrize("elsewhere", ["org_b", None])
def test_an_org_admin_may_not_move_a_challenge_out_of_its_organisation(
    admin: Admin, elsewhere: str | None
) -> None:
    ours = admin.challenge(ORG_A)
    with pytest.raises(PermissionDeniedError):
        admin.challenges.update(ours.id, ChallengeChanges(organization_id=elsewhere), ORG_A)
    assert admin.backend.stored(ours.id).organization_id == "org_a"
    # The platform admin may.
    moved = admin.challenges.update(ours.id, ChallengeChanges(organization_id=elsewhere))
    assert moved.organization_id == elsewhere


def test_an_org_admins_list_holds_its_organisations_challenges_only(admin: Admin) -> None:
    ours = [
        admin.challenge(ORG_A),
        admin.challenge(ORG_A, publish=True),
        admin.challenge(organization_id="org_a"),
    ]
    theirs = admin.challenge(ORG_B)
    nobodys = admin.challenge()
    admin.challenges.close(ours[1].id, ORG_A)

    def listed(scope: AdminScope, limit: int) -> list[str]:
        ids: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            page = admin.challenges.list_for_admin(limit=limit, cursor=cursor, scope=scope)
            assert len(page.items) <= limit
            ids.extend(c.id for c in page.items)
            cursor = page.next_cursor
            if cursor is None:
                return ids
        raise AssertionError("the listing did not end")

    newest_first = [c.id for c in reversed(ours)]
    assert listed(ORG_A, 10) == listed(ORG_A, 2) == newest_first
    assert listed(ORG_B, 10) == [theirs.id]
    assert sorted(listed(PLATFORM, 10)) == sorted([*newest_first, theirs.id, nobodys.id])


# --- campaigns --------------------------------------------------------------------------------


def test_an_org_admins_campaign_is_its_organisations_and_no_other(admin: Admin) -> None:
    assert admin.campaign(ORG_A).organization_id == "org_a"
    employee_only = admin.campaign(ORG_A, visibility=Visibility.ORGANIZATION)
    assert employee_only.organization_id == "org_a"
    with pytest.raises(PermissionDeniedError):
        admin.campaign(ORG_A, organization_id="org_b")
    assert admin.campaign().organization_id is None


def test_another_organisations_campaign_is_not_found_by_an_org_admin(admin: Admin) -> None:
    ours, theirs, nobodys = admin.campaign(ORG_A), admin.campaign(ORG_B), admin.campaign()

    assert admin.campaigns.get_for_admin(ours.id, ORG_A) == ours
    for campaign in (theirs, nobodys):
        with pytest.raises(CampaignNotFoundError):
            admin.campaigns.get_for_admin(campaign.id, ORG_A)
    with pytest.raises(CampaignNotFoundError):
        admin.campaigns.get_for_admin("cmp_missing")
    assert admin.campaigns.get_for_admin(theirs.id) == theirs


def test_an_org_admins_campaign_list_holds_its_organisations_only(admin: Admin) -> None:
    first, _, _, second = (
        admin.campaign(ORG_A),
        admin.campaign(ORG_B),
        admin.campaign(),
        admin.campaign(ORG_A),
    )

    page = admin.campaigns.list_for_admin(limit=1, cursor=None, scope=ORG_A)
    assert page.items == [second]
    assert page.next_cursor is not None
    rest = admin.campaigns.list_for_admin(limit=1, cursor=page.next_cursor, scope=ORG_A)
    assert rest.items == [first]
    assert len(admin.campaigns.list_for_admin(limit=10, cursor=None).items) == 4


# --- organisations ----------------------------------------------------------------------------


def test_an_org_admin_edits_its_own_profile(admin: Admin) -> None:
    changes = OrganizationChanges(
        display_name="Alpha Group",
        logo_url="https://alpha.example/logo.png",
        primary_color="#aa0033",
        default_locale="en",
        slug="alpha-group",
    )

    updated = admin.organization_service.update("org_a", changes, ORG_A)

    assert updated.profile == OrganizationProfile(
        display_name="Alpha Group",
        logo_url="https://alpha.example/logo.png",
        primary_color="#aa0033",
        default_locale="en",
        slug="alpha-group",
    )
    assert (updated.name, updated.email_domains) == ("ORG_A", ("alpha.example",))
    assert admin.organizations.get("org_a") == updated
    assert admin.organizations.get_by_slug("alpha-group") == updated
    assert admin.organizations.get_by_slug("alpha") is None
    # None clears an optional field.
    cleared = admin.organization_service.update("org_a", OrganizationChanges(logo_url=None), ORG_A)
    assert cleared.profile.logo_url is None
    assert cleared.display_name == "Alpha Group"


def test_an_org_admin_may_not_take_another_organisations_slug(admin: Admin) -> None:
    with pytest.raises(SlugTakenError):
        admin.organization_service.update("org_a", OrganizationChanges(slug="beta"), ORG_A)
    assert admin.organizations.get_by_slug("alpha") == admin.organizations.get("org_a")


@pytest.mark.parametrize(
    "changes",
    [
        OrganizationChanges(email_domains=("evil.example",)),
        OrganizationChanges(name="Renamed"),
        OrganizationChanges(kind=OrganizationKind.CITY),
        OrganizationChanges(display_name="Fine", email_domains=("alpha.example", "x.example")),
    ],
)
def test_an_org_admin_may_not_change_what_the_platform_decides(
    admin: Admin, changes: OrganizationChanges
) -> None:
    before = admin.organizations.get("org_a")
    with pytest.raises(PermissionDeniedError):
        admin.organization_service.update("org_a", changes, ORG_A)
    assert admin.organizations.get("org_a") == before
    # The platform admin may.
    admin.organization_service.update("org_a", changes)


@pytest.mark.parametrize(
    "changes",
    [OrganizationChanges(display_name="Mine"), OrganizationChanges(email_domains=("a.example",))],
)
def test_another_organisation_is_not_found_by_an_org_admin(
    admin: Admin, changes: OrganizationChanges
) -> None:
    before = admin.organizations.get("org_b")
    with pytest.raises(OrganizationNotFoundError):
        admin.organization_service.update("org_b", changes, ORG_A)
    with pytest.raises(OrganizationNotFoundError):
        admin.organization_service.get_for_admin("org_b", ORG_A)
    assert admin.organizations.get("org_b") == before
    assert admin.organization_service.get_for_admin("org_a", ORG_A).id == "org_a"


def test_an_org_admins_organisation_list_holds_its_own_alone(admin: Admin) -> None:
    page = admin.organization_service.list(limit=10, cursor=None, scope=ORG_A)
    assert [o.id for o in page.items] == ["org_a"]
    assert page.next_cursor is None
    everything = admin.organization_service.list(limit=10, cursor=None)
    assert [o.id for o in everything.items] == ["org_b", "org_a"]
    # Its organisation gone (or never created): an empty list, not an error.
    assert admin.organization_service.list(limit=10, cursor=None, scope=AdminScope("x")).items == []
