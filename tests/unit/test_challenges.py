"""ChallengeService: the life cycle admins drive, the rules of updates, what the public sees."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import (
    ChallengeFrozenError,
    ChallengeNotFoundError,
    ConflictError,
    InvalidFieldsError,
    InvalidRequestError,
    InvalidTransitionError,
    TargetFrozenError,
)
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Metric,
    Principal,
    Target,
    Visibility,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import ChallengeChanges
from chalicelib.storage.challenge_cache import CachedChallengeRepository
from tests.unit.fakes import FakeChallengeRepository, FakeDatabase
from tests.unit.support import Backend, challenge_draft, participant

# --- creation and life cycle -------------------------------------------------------------------


def test_create_stores_a_draft(backend: Backend) -> None:
    created = backend.challenges.create(challenge_draft(description="Spring 2026"))

    assert created.status is ChallengeStatus.DRAFT
    assert created.created_at == backend.clock.now()
    assert created.totals.participants == 0
    assert created.counter_shards == 4
    assert not created.reached
    assert backend.challenges.get_for_admin(created.id) == created


def test_create_with_publish_goes_live_at_once(backend: Backend) -> None:
    assert backend.challenges.create(challenge_draft(publish=True)).status is ChallengeStatus.LIVE


def test_create_refuses_ends_at_not_after_starts_at(backend: Backend) -> None:
    moment = backend.clock.now() + timedelta(days=2)

    for ends_at in (moment, moment - timedelta(seconds=1)):
        with pytest.raises(InvalidRequestError) as raised:
            backend.challenges.create(challenge_draft(starts_at=moment, ends_at=ends_at))
        assert isinstance(raised.value, InvalidFieldsError)
        assert list(raised.value.fields) == ["ends_at"]
    assert backend.db.challenges == {}


def test_publish_moves_a_draft_live_once(backend: Backend) -> None:
    draft = backend.challenges.create(challenge_draft())
    backend.later(minutes=1)

    published = backend.challenges.publish(draft.id)

    assert published.status is ChallengeStatus.LIVE
    assert published.updated_at == backend.clock.now()
    with pytest.raises(InvalidTransitionError):
        backend.challenges.publish(draft.id)
    assert backend.stored(draft.id).status is ChallengeStatus.LIVE


def test_close_moves_a_live_challenge_to_closed_once(backend: Backend) -> None:
    challenge = backend.live_challenge()

    assert backend.challenges.close(challenge.id).status is ChallengeStatus.CLOSED
    with pytest.raises(InvalidTransitionError):
        backend.challenges.close(challenge.id)
    with pytest.raises(InvalidTransitionError):
        backend.challenges.publish(challenge.id)
    assert backend.stored(challenge.id).status is ChallengeStatus.CLOSED


def test_a_draft_cannot_be_closed(backend: Backend) -> None:
    draft = backend.challenges.create(challenge_draft())

    with pytest.raises(InvalidTransitionError):
        backend.challenges.close(draft.id)
    assert backend.stored(draft.id).status is ChallengeStatus.DRAFT


def test_transitions_of_an_unknown_challenge_are_not_found(backend: Backend) -> None:
    with pytest.raises(ChallengeNotFoundError):
        backend.challenges.publish("ch_missing")
    with pytest.raises(ChallengeNotFoundError):
        backend.challenges.close("ch_missing")
    with pytest.raises(ChallengeNotFoundError):
        backend.challenges.update("ch_missing", ChallengeChanges(title="New"))


# --- updates -----------------------------------------------------------------------------------


def test_update_changes_only_the_fields_sent(backend: Backend) -> None:
    challenge = backend.live_challenge()
    backend.later(minutes=1)

    updated = backend.challenges.update(
        challenge.id, ChallengeChanges(title="Cycle to school", report_cap=50)
    )

    assert updated.title == "Cycle to school"
    assert updated.report_cap == 50
    assert updated.action == challenge.action
    assert updated.target == challenge.target
    assert updated.updated_at == backend.clock.now()
    assert backend.stored(challenge.id) == updated


@pytest.mark.parametrize("final_status", [ChallengeStatus.CLOSED, ChallengeStatus.ENDED])
def test_closed_and_ended_challenges_are_frozen(
    backend: Backend, final_status: ChallengeStatus
) -> None:
    challenge = backend.live_challenge()
    backend.challenge_repository.transition(
        challenge.id, ChallengeStatus.LIVE, final_status, backend.clock.now()
    )

    with pytest.raises(ChallengeFrozenError):
        backend.challenges.update(challenge.id, ChallengeChanges(title="Too late"))
    with pytest.raises(ChallengeFrozenError):
        backend.challenges.update(
            challenge.id, ChallengeChanges(target=Target(Metric.PARTICIPANTS, 1))
        )
    assert backend.stored(challenge.id).title == challenge.title


def test_the_target_of_a_reached_challenge_is_frozen(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 2))
    backend.pledge_many(challenge.id, 2)
    backend.progress.refresh(challenge.id)

    with pytest.raises(TargetFrozenError):
        backend.challenges.update(
            challenge.id, ChallengeChanges(target=Target(Metric.PARTICIPANTS, 500))
        )
    assert backend.stored(challenge.id).target == Target(Metric.PARTICIPANTS, 2)
    # Other fields of a reached, live challenge may still change.
    assert backend.challenges.update(challenge.id, ChallengeChanges(title="Done")).reached


def test_update_refuses_ends_at_not_after_the_stored_starts_at(backend: Backend) -> None:
    starts_at = backend.clock.now() + timedelta(days=1)
    challenge = backend.live_challenge(starts_at=starts_at)

    with pytest.raises(InvalidRequestError):
        backend.challenges.update(challenge.id, ChallengeChanges(ends_at=starts_at))
    with pytest.raises(InvalidRequestError):
        backend.challenges.update(
            challenge.id,
            ChallengeChanges(starts_at=starts_at + timedelta(days=9), ends_at=starts_at),
        )
    assert backend.stored(challenge.id).ends_at is None


def test_raising_the_target_of_a_live_challenge_does_not_reach_it(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 3))
    backend.pledge_many(challenge.id, 2)

    updated = backend.challenges.update(
        challenge.id, ChallengeChanges(target=Target(Metric.PARTICIPANTS, 10))
    )

    assert updated.target.value == 10
    assert not updated.reached
    assert backend.db.milestones_for(challenge.id) == []


@pytest.mark.parametrize("new_target", [4, 3])
def test_lowering_the_target_to_the_count_reaches_at_once(
    backend: Backend, new_target: int
) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 10))
    backend.pledge_many(challenge.id, 4)
    backend.progress.refresh(challenge.id)
    assert not backend.stored(challenge.id).reached

    updated = backend.challenges.update(
        challenge.id, ChallengeChanges(target=Target(Metric.PARTICIPANTS, new_target))
    )

    assert updated.reached
    assert backend.stored(challenge.id).reached_at == backend.clock.now()
    [milestone] = backend.db.milestones_for(challenge.id)
    assert milestone.totals.participants == 4
    backend.progress.refresh(challenge.id)
    assert len(backend.db.milestones_for(challenge.id)) == 1


def test_lowering_the_target_of_a_draft_does_not_reach_it(backend: Backend) -> None:
    draft = backend.challenges.create(challenge_draft(target=Target(Metric.PARTICIPANTS, 10)))

    updated = backend.challenges.update(
        draft.id, ChallengeChanges(target=Target(Metric.PARTICIPANTS, 1))
    )

    assert updated.target.value == 1
    assert not updated.reached
    assert backend.db.milestones_for(draft.id) == []


class _StaleReads(FakeChallengeRepository):
    """Returns the challenge as it was before a concurrent writer reached it."""

    def __init__(self, db: FakeDatabase, stale: Challenge) -> None:
        super().__init__(db)
        self._stale = stale

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        if challenge_id == self._stale.id:
            return self._stale
        return super().get(challenge_id, consistent=consistent)


def test_a_target_change_racing_with_reaching_is_a_conflict(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 2))
    backend.pledge_many(challenge.id, 2)
    stale = backend.stored(challenge.id)
    backend.progress.refresh(challenge.id)  # Reached after the admin's read.
    service = ChallengeService(
        _StaleReads(backend.db, stale), backend.progress, backend.clock, counter_shards=4
    )

    with pytest.raises(ConflictError):
        service.update(challenge.id, ChallengeChanges(target=Target(Metric.PARTICIPANTS, 9)))
    assert backend.stored(challenge.id).target.value == 2


# --- what the public sees ----------------------------------------------------------------------


def test_get_visible_hides_drafts_and_other_organisations(backend: Backend) -> None:
    draft = backend.challenges.create(challenge_draft())
    internal = backend.live_challenge(
        visibility=Visibility.ORGANIZATION, organization_id="org_acme"
    )

    with pytest.raises(ChallengeNotFoundError):
        backend.challenges.get_visible(draft.id, None)
    with pytest.raises(ChallengeNotFoundError):
        backend.challenges.get_visible(internal.id, None)
    with pytest.raises(ChallengeNotFoundError):
        backend.challenges.get_visible(internal.id, participant(1, org_id="org_other"))
    employee = participant(2, org_id="org_acme")
    assert backend.challenges.get_visible(internal.id, employee).id == internal.id


def _read_all(
    backend: Backend, principal: Principal | None, *, limit: int, **filters: object
) -> list[list[Challenge]]:
    pages: list[list[Challenge]] = []
    cursor: str | None = None
    for _ in range(50):
        page = backend.challenges.list_visible(
            principal,
            status=filters.get("status"),  # type: ignore[arg-type]
            campaign_id=None,
            limit=limit,
            cursor=cursor,
        )
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("the listing never ended")


@pytest.fixture
def catalogue(backend: Backend) -> dict[str, list[str]]:
    """Public live and ended challenges interleaved with ones the public must not see."""
    kinds = [
        "public", "acme", "public", "draft", "acme", "public", "public", "other",
        "public", "acme", "acme", "public", "ended", "draft", "ended", "acme", "ended",
    ]  # fmt: skip
    ids: dict[str, list[str]] = {}
    for number, kind in enumerate(kinds):
        backend.later(seconds=1)
        if kind == "draft":
            created = backend.challenges.create(challenge_draft(title=f"Draft {number}"))
        elif kind in ("acme", "other"):
            created = backend.live_challenge(
                title=f"Internal {number}",
                visibility=Visibility.ORGANIZATION,
                organization_id=f"org_{kind}",
            )
        else:
            created = backend.live_challenge(title=f"Public {number}")
        if kind == "ended":
            backend.challenge_repository.transition(
                created.id, ChallengeStatus.LIVE, ChallengeStatus.ENDED, backend.clock.now()
            )
        ids.setdefault(kind, []).append(created.id)
    return ids


def test_list_visible_hides_drafts_and_other_organisations_and_fills_pages(
    backend: Backend, catalogue: dict[str, list[str]]
) -> None:
    pages = _read_all(backend, None, limit=2)

    seen = [challenge.id for page in pages for challenge in page]
    assert len(seen) == len(set(seen))
    assert set(seen) == set(catalogue["public"] + catalogue["ended"])
    # Every page but the last is full, although hidden challenges sit between public ones.
    assert all(len(page) == 2 for page in pages[:-1])
    assert len(pages) <= 5


def test_list_visible_shows_employees_their_organisation(
    backend: Backend, catalogue: dict[str, list[str]]
) -> None:
    pages = _read_all(backend, participant(1, org_id="org_acme"), limit=3)

    seen = [challenge.id for page in pages for challenge in page]
    assert sorted(seen) == sorted(catalogue["public"] + catalogue["ended"] + catalogue["acme"])
    assert all(len(page) == 3 for page in pages[:-1])


def test_list_visible_lists_live_before_ended_newest_first(
    backend: Backend, catalogue: dict[str, list[str]]
) -> None:
    pages = _read_all(backend, None, limit=2)

    seen = [challenge.id for page in pages for challenge in page]
    assert seen == catalogue["public"][::-1] + catalogue["ended"][::-1]


def test_list_visible_filters_by_status(backend: Backend, catalogue: dict[str, list[str]]) -> None:
    pages = _read_all(backend, None, limit=2, status=ChallengeStatus.ENDED)

    seen = [challenge.id for page in pages for challenge in page]
    assert sorted(seen) == sorted(catalogue["ended"])


def test_list_visible_rejects_a_garbage_cursor(backend: Backend) -> None:
    with pytest.raises(InvalidRequestError):
        backend.challenges.list_visible(
            None, status=None, campaign_id=None, limit=2, cursor="not-a-cursor"
        )


def test_the_admin_list_includes_drafts_and_closed(
    backend: Backend, catalogue: dict[str, list[str]]
) -> None:
    closed = backend.live_challenge(title="Closed")
    backend.challenges.close(closed.id)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = backend.challenges.list_for_admin(limit=4, cursor=cursor)
        seen.extend(challenge.id for challenge in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert sorted(seen) == sorted([*(i for ids in catalogue.values() for i in ids), closed.id])


def test_an_employee_only_challenge_needs_an_organisation(backend: Backend) -> None:
    with pytest.raises(InvalidRequestError):
        backend.challenges.create(challenge_draft(visibility=Visibility.ORGANIZATION))
    public = backend.live_challenge()
    with pytest.raises(InvalidRequestError):
        backend.challenges.update(public.id, ChallengeChanges(visibility=Visibility.ORGANIZATION))
    moved = backend.challenges.update(
        public.id,
        ChallengeChanges(visibility=Visibility.ORGANIZATION, organization_id="org_acme"),
    )
    assert moved.visibility is Visibility.ORGANIZATION
    assert moved.organization_id == "org_acme"


def test_lowering_the_target_reaches_even_when_reads_lag_behind(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 10))
    backend.pledge_many(challenge.id, 3)
    backend.progress.refresh(challenge.id)
    backend.db.stale_reads = True  # an eventual read may still return the old target
    updated = backend.challenges.update(
        challenge.id, ChallengeChanges(target=Target(Metric.PARTICIPANTS, 3))
    )
    assert updated.reached
    assert len(backend.db.milestones_for(challenge.id)) == 1


def test_cached_reads_apply_each_callers_visibility(backend: Backend) -> None:
    # The cache is keyed by challenge id alone: who may see it is decided per caller, after.
    repository = FakeChallengeRepository(backend.db)
    service = ChallengeService(
        repository,
        backend.progress,
        backend.clock,
        counter_shards=4,
        cache=CachedChallengeRepository(repository),
    )
    challenge = backend.live_challenge(
        visibility=Visibility.ORGANIZATION, organization_id="org_acme"
    )
    employee = participant("employee", org_id="org_acme")

    assert service.get_visible(challenge.id, employee, cached=True) == challenge
    with pytest.raises(ChallengeNotFoundError):
        service.get_visible(challenge.id, participant("outsider", org_id="org_x"), cached=True)
    with pytest.raises(ChallengeNotFoundError):
        service.get_visible(challenge.id, None, cached=True)


def test_without_a_cache_cached_reads_are_direct(backend: Backend) -> None:
    challenge = backend.live_challenge()
    backend.challenge_repository.transition(
        challenge.id, ChallengeStatus.LIVE, ChallengeStatus.CLOSED, backend.clock.now()
    )

    seen = backend.challenges.get_visible(challenge.id, None, cached=True)

    assert seen.status is ChallengeStatus.CLOSED
