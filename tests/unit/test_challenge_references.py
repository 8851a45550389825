"""ChallengeService: the campaign and organisation a challenge names must exist, and a
published challenge keeps its campaign (and, in a campaign, its audience)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import (
    ConflictError,
    InvalidFieldsError,
    InvalidRequestError,
    MembershipFrozenError,
)
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    ChallengeStatus,
    Organization,
    OrganizationKind,
    Visibility,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import ChallengeChanges
from tests.unit.fakes import FakeChallengeRepository, FakeDatabase
from tests.unit.support import Backend, SequentialIds, challenge_draft

CREATED = datetime(2026, 5, 1, tzinfo=UTC)
SPRING = "cmp_spring"
AUTUMN = "cmp_autumn"
ACME = "org_acme"
GLOBEX = "org_globex"


class Campaigns:
    """The campaigns that exist, counting the lookups."""

    def __init__(self, *ids: str) -> None:
        self._campaigns = {i: Campaign(id=i, title=i, created_at=CREATED) for i in ids}
        self.lookups: list[str] = []

    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        self.lookups.append(campaign_id)
        campaign = self._campaigns.get(campaign_id)
        return None if campaign is None else (campaign, 8)


class Organizations:
    """The organisations that exist, counting the lookups."""

    def __init__(self, *ids: str) -> None:
        self._organizations = {
            i: Organization(id=i, name=i, kind=OrganizationKind.COMPANY, created_at=CREATED)
            for i in ids
        }
        self.lookups: list[str] = []

    def get(self, organization_id: str) -> Organization | None:
        self.lookups.append(organization_id)
        return self._organizations.get(organization_id)


@pytest.fixture
def campaigns() -> Campaigns:
    return Campaigns(SPRING, AUTUMN)


@pytest.fixture
def organizations() -> Organizations:
    return Organizations(ACME, GLOBEX)


def checked_service(
    backend: Backend,
    campaigns: Campaigns,
    organizations: Organizations,
    repository: FakeChallengeRepository | None = None,
) -> ChallengeService:
    return ChallengeService(
        repository or backend.challenge_repository,
        backend.progress,
        backend.clock,
        counter_shards=4,
        id_factory=SequentialIds(),
        campaigns=campaigns,
        organizations=organizations,
    )


@pytest.fixture
def service(
    backend: Backend, campaigns: Campaigns, organizations: Organizations
) -> ChallengeService:
    return checked_service(backend, campaigns, organizations)


def locs(error: InvalidRequestError) -> list[object]:
    """Where the API reports each refused field: in the body."""
    assert isinstance(error, InvalidFieldsError)
    return [["body", name] for name in error.fields]


# --- creation ----------------------------------------------------------------------------------


def test_a_challenge_may_name_a_campaign_and_an_organisation_that_exist(
    service: ChallengeService,
) -> None:
    created = service.create(
        challenge_draft(
            campaign_id=SPRING, organization_id=ACME, visibility=Visibility.ORGANIZATION
        )
    )

    assert (created.campaign_id, created.organization_id) == (SPRING, ACME)
    assert service.get_for_admin(created.id) == created


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"campaign_id": "cmp_nope"}, [["body", "campaign_id"]]),
        ({"organization_id": "org_nope"}, [["body", "organization_id"]]),
        (
            {"organization_id": "org_nope", "visibility": Visibility.ORGANIZATION},
            [["body", "organization_id"]],
        ),
        (
            {"campaign_id": "cmp_nope", "organization_id": "org_nope"},
            [["body", "campaign_id"], ["body", "organization_id"]],
        ),
    ],
)
def test_creating_with_an_unknown_reference_is_invalid_and_stores_nothing(
    backend: Backend, service: ChallengeService, fields: dict[str, object], expected: list[object]
) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        service.create(challenge_draft(publish=True, **fields))

    assert locs(raised.value) == expected
    assert "create it first" in str(raised.value)
    assert backend.db.challenges == {}


def test_an_employee_only_challenge_without_an_organisation_is_invalid(
    backend: Backend, service: ChallengeService
) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        service.create(challenge_draft(visibility=Visibility.ORGANIZATION, campaign_id=SPRING))

    assert locs(raised.value) == [["body", "organization_id"]]
    assert backend.db.challenges == {}


# --- changes to a draft ------------------------------------------------------------------------


def test_a_draft_may_join_leave_and_change_campaign_and_audience(
    service: ChallengeService,
) -> None:
    draft = service.create(challenge_draft(campaign_id=SPRING))

    moved = service.update(draft.id, ChallengeChanges(campaign_id=AUTUMN))
    assert moved.campaign_id == AUTUMN
    internal = service.update(
        draft.id,
        ChallengeChanges(visibility=Visibility.ORGANIZATION, organization_id=ACME),
    )
    assert (internal.visibility, internal.organization_id) == (Visibility.ORGANIZATION, ACME)
    left = service.update(draft.id, ChallengeChanges(campaign_id=None))
    assert left.campaign_id is None
    assert service.publish(draft.id).status is ChallengeStatus.LIVE


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"campaign_id": "cmp_nope"}, ["body", "campaign_id"]),
        ({"organization_id": "org_nope"}, ["body", "organization_id"]),
    ],
)
def test_a_change_to_an_unknown_reference_is_invalid_and_changes_nothing(
    backend: Backend, service: ChallengeService, changes: dict[str, object], loc: list[str]
) -> None:
    draft = service.create(challenge_draft(campaign_id=SPRING, organization_id=ACME))

    with pytest.raises(InvalidRequestError) as raised:
        service.update(draft.id, ChallengeChanges(**changes))  # type: ignore[arg-type]

    assert locs(raised.value) == [loc]
    assert backend.stored(draft.id) == draft


def test_only_references_that_change_are_looked_up(
    service: ChallengeService, campaigns: Campaigns, organizations: Organizations
) -> None:
    draft = service.create(challenge_draft(campaign_id=SPRING, organization_id=ACME))
    campaigns.lookups.clear()
    organizations.lookups.clear()

    service.update(draft.id, ChallengeChanges(title="Renamed"))
    service.update(draft.id, ChallengeChanges(campaign_id=SPRING, organization_id=ACME))
    assert campaigns.lookups == []
    assert organizations.lookups == []

    service.update(draft.id, ChallengeChanges(campaign_id=AUTUMN, organization_id=GLOBEX))
    assert campaigns.lookups == [AUTUMN]
    assert organizations.lookups == [GLOBEX]


# --- changes to a live challenge ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("created_in", "changes"),
    [
        (SPRING, {"campaign_id": AUTUMN}),  # moving to another campaign
        (SPRING, {"campaign_id": None}),  # leaving it
        (None, {"campaign_id": SPRING}),  # joining one
        (SPRING, {"visibility": Visibility.ORGANIZATION, "organization_id": ACME}),
    ],
)
def test_a_live_challenge_keeps_its_campaign_and_its_audience_in_it(
    backend: Backend,
    service: ChallengeService,
    created_in: str | None,
    changes: dict[str, object],
) -> None:
    live = service.create(challenge_draft(campaign_id=created_in, publish=True))
    backend.pledge_many(live.id, 2)

    with pytest.raises(MembershipFrozenError) as raised:
        service.update(live.id, ChallengeChanges(title="Renamed", **changes))  # type: ignore[arg-type]

    assert isinstance(raised.value, ConflictError)  # a 409
    assert backend.stored(live.id) == live  # nothing written, not even the title


def test_an_employee_only_live_challenge_keeps_its_organisation_in_a_campaign(
    backend: Backend, service: ChallengeService
) -> None:
    live = service.create(
        challenge_draft(
            campaign_id=SPRING,
            visibility=Visibility.ORGANIZATION,
            organization_id=ACME,
            publish=True,
        )
    )

    moves: list[dict[str, object]] = [
        {"organization_id": GLOBEX},
        {"visibility": Visibility.PUBLIC},
    ]
    for changes in moves:
        with pytest.raises(MembershipFrozenError):
            service.update(live.id, ChallengeChanges(**changes))  # type: ignore[arg-type]
    assert backend.stored(live.id) == live


def test_live_changes_that_keep_the_campaign_and_audience_are_allowed(
    service: ChallengeService,
) -> None:
    live = service.create(challenge_draft(campaign_id=SPRING, publish=True))

    same = service.update(live.id, ChallengeChanges(campaign_id=SPRING, title="Renamed"))
    assert (same.campaign_id, same.title) == (SPRING, "Renamed")
    # A public challenge counts for everyone whatever organisation runs it.
    owned = service.update(live.id, ChallengeChanges(organization_id=ACME))
    assert (owned.organization_id, owned.visibility) == (ACME, Visibility.PUBLIC)


def test_outside_a_campaign_a_live_challenge_may_still_change_its_audience(
    service: ChallengeService,
) -> None:
    live = service.create(challenge_draft(publish=True))

    internal = service.update(
        live.id,
        ChallengeChanges(visibility=Visibility.ORGANIZATION, organization_id=ACME),
    )

    assert (internal.visibility, internal.organization_id) == (Visibility.ORGANIZATION, ACME)


class _PublishedUnderfoot(FakeChallengeRepository):
    """Answers reads with the draft an admin read just before another admin published it."""

    def __init__(self, db: FakeDatabase, stale: Challenge) -> None:
        super().__init__(db)
        self._stale = stale

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        if challenge_id == self._stale.id:
            return self._stale
        return super().get(challenge_id, consistent=consistent)


def test_a_campaign_change_racing_with_publishing_is_a_conflict(
    backend: Backend, service: ChallengeService, campaigns: Campaigns, organizations: Organizations
) -> None:
    draft = service.create(challenge_draft(campaign_id=SPRING))
    service.publish(draft.id)  # after the other admin's read of the draft
    racing = checked_service(
        backend, campaigns, organizations, _PublishedUnderfoot(backend.db, draft)
    )

    with pytest.raises(ConflictError):
        racing.update(draft.id, ChallengeChanges(campaign_id=AUTUMN))
    assert backend.stored(draft.id).campaign_id == SPRING
    # A change that keeps the campaign is still written while the challenge is live.
    assert racing.update(draft.id, ChallengeChanges(title="Renamed")).title == "Renamed"
