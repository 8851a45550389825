"""Employee-only challenges: who sees them (org_id claim, verified e-mail domain, admins)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.access import can_view, needs_organization
from chalicelib.domain.errors import ChallengeNotFoundError
from chalicelib.domain.model import (
    ADMIN_GROUP,
    Challenge,
    ChallengeStatus,
    Organization,
    OrganizationKind,
    Principal,
    Visibility,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.pledges import PledgeRequest, PledgeService
from chalicelib.storage.organization_cache import CachedOrganizationRepository
from tests.unit.fakes import FakeOrganizationRepository
from tests.unit.support import Backend, SequentialIds

ACME = Organization(
    id="org_acme",
    name="Acme",
    kind=OrganizationKind.COMPANY,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    email_domains=("acme.example",),
)


class CountingOrganizations(FakeOrganizationRepository):
    """An organisation store that counts its reads."""

    def __init__(self, *organizations: Organization) -> None:
        super().__init__()
        for organization in organizations:
            self.add(organization)
        self.reads = 0

    @property
    def by_id(self) -> dict[str, Organization]:
        return self.items

    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None:
        self.reads += 1
        return super().get(organization_id, consistent=consistent)


def principal(
    sub: str = "p",
    *,
    email: str | None = None,
    verified: bool = False,
    org_id: str | None = None,
    admin: bool = False,
) -> Principal:
    return Principal(
        sub=sub,
        email=email,
        email_verified=verified,
        org_id=org_id,
        groups=frozenset({ADMIN_GROUP}) if admin else frozenset(),
    )


def internal(backend: Backend, status: ChallengeStatus = ChallengeStatus.LIVE) -> Challenge:
    challenge = backend.live_challenge(visibility=Visibility.ORGANIZATION, organization_id=ACME.id)
    return challenge.with_changes(status=status)


VISITORS = {
    "anonymous": (None, False),
    "admin": (principal(admin=True), True),
    "org_id claim": (principal(org_id=ACME.id), True),
    "verified domain": (principal(email="ana@acme.example", verified=True), True),
    "verified domain, other case": (principal(email="Ana@ACME.Example", verified=True), True),
    "unverified domain": (principal(email="ana@acme.example", verified=False), False),
    "subdomain": (principal(email="ana@eu.acme.example", verified=True), False),
    "other domain": (principal(email="bob@other.example", verified=True), False),
    "other org_id": (principal(org_id="org_other"), False),
    "other org_id, verified domain": (
        principal(org_id="org_other", email="ana@acme.example", verified=True),
        True,
    ),
}


@pytest.mark.parametrize("who", sorted(VISITORS))
def test_employee_only_visibility_matrix(backend: Backend, who: str) -> None:
    visitor, expected = VISITORS[who]
    challenge = internal(backend)

    assert can_view(challenge, visitor, ACME) is expected


@pytest.mark.parametrize("who", sorted(VISITORS))
def test_public_challenges_are_seen_by_everyone_and_drafts_by_no_one(
    backend: Backend, who: str
) -> None:
    visitor, _ = VISITORS[who]
    public = backend.live_challenge()

    assert can_view(public, visitor, None) is True
    assert can_view(internal(backend, ChallengeStatus.DRAFT), visitor, ACME) is False


def test_without_the_organisation_only_the_claim_and_admins_get_in(backend: Backend) -> None:
    challenge = internal(backend)

    assert can_view(challenge, principal(email="ana@acme.example", verified=True)) is False
    assert can_view(challenge, principal(org_id=ACME.id)) is True
    assert can_view(challenge, principal(admin=True)) is True


def test_another_organisations_domains_do_not_count(backend: Backend) -> None:
    challenge = internal(backend)
    other = Organization("org_other", "Other", OrganizationKind.CITY, ACME.created_at,
                         email_domains=("acme.example",))  # fmt: skip

    assert can_view(challenge, principal(email="a@acme.example", verified=True), other) is False


def test_the_organisation_is_needed_only_for_verified_emails_on_employee_only_challenges(
    backend: Backend,
) -> None:
    challenge = internal(backend)
    verified = principal(email="ana@acme.example", verified=True)

    assert needs_organization(challenge, verified) is True
    assert needs_organization(backend.live_challenge(), verified) is False
    assert needs_organization(challenge, None) is False
    assert needs_organization(challenge, principal(org_id=ACME.id, email="a@acme.example",
                                                   verified=True)) is False  # fmt: skip
    assert needs_organization(challenge, principal(email="ana@acme.example")) is False
    assert needs_organization(challenge, principal(admin=True, email="a@x.example",
                                                   verified=True)) is False  # fmt: skip


# --- through the services, with the per-container organisation cache ----------------------------


def services(
    backend: Backend, store: CountingOrganizations
) -> tuple[ChallengeService, PledgeService]:
    challenges = ChallengeService(
        backend.challenge_repository,
        backend.progress,
        backend.clock,
        counter_shards=4,
        id_factory=SequentialIds(),
        organizations=CachedOrganizationRepository(store, ttl=60),
    )
    return challenges, PledgeService(challenges, backend.pledge_repository, backend.clock)


def test_an_employee_by_verified_domain_sees_lists_and_pledges(backend: Backend) -> None:
    challenges, pledges = services(backend, CountingOrganizations(ACME))
    challenge = internal(backend)
    employee = principal("ana", email="ana@acme.example", verified=True)

    assert challenges.get_visible(challenge.id, employee).id == challenge.id
    listed = challenges.list_visible(employee, status=None, campaign_id=None, limit=20, cursor=None)
    assert [c.id for c in listed.items] == [challenge.id]
    assert pledges.pledge(employee, challenge.id, PledgeRequest()).created is True


@pytest.mark.parametrize(
    "outsider",
    [
        principal("unverified", email="ana@acme.example", verified=False),
        principal("stranger", email="bob@other.example", verified=True),
        principal("other-org", org_id="org_other"),
        None,
    ],
)
def test_outsiders_get_404_and_do_not_see_it_listed(
    backend: Backend, outsider: Principal | None
) -> None:
    challenges, pledges = services(backend, CountingOrganizations(ACME))
    challenge = internal(backend)
    public = backend.live_challenge()

    with pytest.raises(ChallengeNotFoundError):
        challenges.get_visible(challenge.id, outsider)
    listed = challenges.list_visible(outsider, status=None, campaign_id=None, limit=20, cursor=None)
    assert [c.id for c in listed.items] == [public.id]
    if outsider is not None:
        with pytest.raises(ChallengeNotFoundError):
            pledges.pledge(outsider, challenge.id, PledgeRequest())


def test_the_organisation_is_read_once_per_ttl_not_once_per_pledge(backend: Backend) -> None:
    store = CountingOrganizations(ACME)
    _, pledges = services(backend, store)
    challenge = internal(backend)
    public = backend.live_challenge()

    for number in range(20):
        employee = principal(f"e{number}", email=f"e{number}@acme.example", verified=True)
        pledges.pledge(employee, challenge.id, PledgeRequest())
        pledges.pledge(employee, public.id, PledgeRequest())
    for number in range(5):
        pledges.pledge(principal(f"claim{number}", org_id=ACME.id), challenge.id, PledgeRequest())

    assert store.reads == 1


def test_the_organisation_cache_expires_and_remembers_misses_briefly() -> None:
    now = [0.0]
    store = CountingOrganizations()
    cache = CachedOrganizationRepository(store, ttl=30, missing_ttl=1, monotonic=lambda: now[0])

    assert cache.get(ACME.id) is None
    assert cache.get(ACME.id) is None
    assert store.reads == 1
    store.add(ACME)
    now[0] = 1.5  # the miss has expired
    assert cache.get(ACME.id) == ACME
    now[0] = 30.0
    assert cache.get(ACME.id) == ACME
    assert store.reads == 2
    now[0] = 32.0  # the hit has expired
    cache.get(ACME.id)
    assert store.reads == 3


def test_the_organisation_cache_keeps_what_it_adds_and_stays_bounded() -> None:
    store = CountingOrganizations()
    cache = CachedOrganizationRepository(store, max_entries=2)

    cache.add(ACME)
    assert cache.get(ACME.id) == ACME
    assert store.reads == 0
    for name in ("a", "b", "c"):
        cache.get(f"org_{name}")
    cache.get(ACME.id)  # evicted by the three newer ids
    assert store.reads == 4
    with pytest.raises(ValueError, match="must not be negative"):
        CachedOrganizationRepository(store, ttl=-1)
