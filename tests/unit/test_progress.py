"""ProgressService: totals published from the counter shards, `reached` recorded exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    EventType,
    Metric,
    Target,
)
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.progress import ProgressService
from tests.unit.fakes import FakeChallengeRepository
from tests.unit.support import Backend, challenge_draft, participant


def test_refresh_publishes_the_counted_totals(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 10))
    backend.pledge_many(challenge.id, 4)

    refreshed = backend.progress.refresh(challenge.id)

    assert refreshed is not None
    assert refreshed.totals.participants == 4
    stored = backend.stored(challenge.id)
    assert stored.totals.participants == 4
    assert stored.totals.version == 1  # the 4 pledges counted in one batch of the stream
    assert stored.percent() == 40.0
    assert not stored.reached
    assert backend.db.milestones_for(challenge.id) == []


def test_refresh_of_an_unknown_challenge_does_nothing(backend: Backend) -> None:
    assert backend.progress.refresh("ch_missing") is None
    assert backend.db.milestones == {}


def test_meeting_the_target_reaches_the_challenge_with_one_milestone(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 3))
    backend.pledge_many(challenge.id, 3)
    backend.later(minutes=5)

    refreshed = backend.progress.refresh(challenge.id)

    assert refreshed is not None
    assert refreshed.reached
    assert backend.stored(challenge.id).reached_at == backend.clock.now()
    [milestone] = backend.db.milestones_for(challenge.id)
    assert milestone.event is EventType.REACHED
    assert milestone.reached
    assert milestone.totals.participants == 3
    assert milestone.occurred_at == backend.clock.now()


def test_reached_is_recorded_once_however_often_refresh_runs(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 3))
    backend.pledge_many(challenge.id, 3)
    backend.progress.refresh(challenge.id)
    reached_at = backend.stored(challenge.id).reached_at

    for extra in range(5):
        backend.later(seconds=1)
        backend.pledge_many(challenge.id, 1, first=100 + extra)
        backend.progress.refresh(challenge.id)

    assert len(backend.db.milestones_for(challenge.id)) == 1
    stored = backend.stored(challenge.id)
    assert stored.reached_at == reached_at
    assert stored.totals.participants == 8


def test_concurrent_refreshes_record_exactly_one_milestone(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 5))
    backend.pledge_many(challenge.id, 5)
    threads = 16
    start = threading.Barrier(threads)

    def refresh() -> Challenge | None:
        start.wait()
        return backend.progress.refresh(challenge.id)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: refresh(), range(threads)))

    assert all(result is not None for result in results)
    assert len(backend.db.milestones_for(challenge.id)) == 1
    assert backend.stored(challenge.id).reached


def test_concurrent_pledges_and_refreshes_reach_exactly_once(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 20))
    threads = 40
    start = threading.Barrier(threads)

    def pledge_then_refresh(number: int) -> None:
        start.wait()
        backend.pledges.pledge(participant(number), challenge.id, PledgeRequest())
        backend.progress.refresh(challenge.id)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(pledge_then_refresh, range(threads)))
    backend.progress.refresh(challenge.id)

    [milestone] = backend.db.milestones_for(challenge.id)
    assert milestone.totals.participants >= 20
    stored = backend.stored(challenge.id)
    assert stored.reached
    assert stored.totals.participants == 40


def test_withdrawals_after_reaching_do_not_unreach(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 3))
    backend.pledge_many(challenge.id, 3)
    backend.progress.refresh(challenge.id)
    reached_at = backend.stored(challenge.id).reached_at
    assert reached_at is not None

    backend.later(hours=1)
    for number in range(2):
        backend.pledges.withdraw(participant(number), challenge.id)
    refreshed = backend.progress.refresh(challenge.id)

    assert refreshed is not None
    assert refreshed.reached
    stored = backend.stored(challenge.id)
    assert stored.totals.participants == 1
    assert stored.reached_at == reached_at
    assert len(backend.db.milestones_for(challenge.id)) == 1


def test_reaching_again_after_withdrawals_records_no_second_milestone(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 2))
    backend.pledge_many(challenge.id, 2)
    backend.progress.refresh(challenge.id)
    backend.pledges.withdraw(participant(0), challenge.id)
    backend.progress.refresh(challenge.id)

    backend.pledge_many(challenge.id, 1, first=50)
    backend.progress.refresh(challenge.id)

    assert len(backend.db.milestones_for(challenge.id)) == 1


def test_a_draft_never_reaches(backend: Backend) -> None:
    draft = backend.challenges.create(challenge_draft(target=Target(Metric.PARTICIPANTS, 2)))
    # Pledges cannot reach a draft through the service; count some straight into its shards.
    backend.db.count(draft.id, 0, participants=5)

    refreshed = backend.progress.refresh(draft.id)

    assert refreshed is not None
    assert refreshed.status is ChallengeStatus.DRAFT
    assert not refreshed.reached
    assert not backend.stored(draft.id).reached
    assert backend.db.milestones_for(draft.id) == []


def test_a_quantity_challenge_reaches_on_quantity_not_headcount(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.QUANTITY, 100, "km"))
    backend.pledge_many(challenge.id, 150)
    backend.db.count(challenge.id, 1, quantity=60)
    backend.db.count(challenge.id, 2, quantity=39.5)

    refreshed = backend.progress.refresh(challenge.id)

    assert refreshed is not None
    assert refreshed.totals.quantity == 99.5
    assert refreshed.totals.participants == 150
    assert not refreshed.reached
    assert backend.stored(challenge.id).percent() == 99.5

    backend.db.count(challenge.id, 3, quantity=0.5)
    refreshed = backend.progress.refresh(challenge.id)

    assert refreshed is not None
    assert refreshed.reached
    [milestone] = backend.db.milestones_for(challenge.id)
    assert milestone.totals.quantity == 100


class StaleFirstRead:
    """A challenge repository whose first read returns an older snapshot, like a racing reader."""

    def __init__(self, repository: FakeChallengeRepository, snapshot: Challenge) -> None:
        self._repository = repository
        self._snapshot: Challenge | None = snapshot

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        snapshot, self._snapshot = self._snapshot, None
        return snapshot or self._repository.get(challenge_id, consistent=consistent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)


def test_a_refresh_that_loses_the_milestone_race_reports_the_challenge_reached(
    backend: Backend,
) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 1))
    backend.pledge_many(challenge.id, 1)
    before = backend.challenge_repository.get(challenge.id)
    assert before is not None
    winner = backend.progress.refresh(challenge.id)
    assert winner is not None
    assert winner.reached
    racing = ProgressService(
        StaleFirstRead(backend.challenge_repository, before),
        backend.counter_repository,
        backend.clock,
    )
    loser = racing.refresh(challenge.id)
    assert loser is not None
    assert loser.reached
    assert loser.reached_at == winner.reached_at
    assert len(backend.db.milestones) == 1
