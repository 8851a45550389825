"""The pledge path's challenge cache: one read per TTL per container, bounded, never stale
beyond its TTL, and never older than this container's own writes."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import pytest

from chalicelib.domain.errors import (
    ChallengeExistsError,
    ChallengeNotFoundError,
    ChallengeNotOpenError,
)
from chalicelib.domain.model import Challenge, ChallengeStatus, EventType, Milestone, Totals
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.pledges import PledgeRequest, PledgeService
from chalicelib.services.ports import ChallengeChanges
from chalicelib.services.progress import ProgressService
from chalicelib.storage.challenge_cache import CachedChallengeRepository
from tests.unit.fakes import (
    FakeChallengeRepository,
    FakeClock,
    FakeCounterRepository,
    FakeDatabase,
    FakePledgeRepository,
)
from tests.unit.support import SequentialIds, challenge_draft, participant

TTL = 1.0
MISSING_TTL = 0.25


class Monotonic:
    """An injected monotonic clock (seconds) that moves only when told to. Each cache lookup
    reads it once, so a test can wait until every caller has looked a challenge up."""

    def __init__(self) -> None:
        self._now = 1000.0
        self.reads = 0
        self._condition = threading.Condition()

    def __call__(self) -> float:
        with self._condition:
            self.reads += 1
            self._condition.notify_all()
            return self._now

    def advance(self, seconds: float) -> None:
        with self._condition:
            self._now += seconds

    def wait_for_reads(self, count: int) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self.reads >= count, timeout=10)


class CountingRepository(FakeChallengeRepository):
    """The fake repository, recording each read; `hold` keeps reads waiting until it is set,
    `fail_next` makes the next reads fail as an unreachable DynamoDB would."""

    def __init__(self, db: FakeDatabase) -> None:
        super().__init__(db)
        self.reads: list[str] = []
        self.consistent_reads: list[str] = []
        self.hold: threading.Event | None = None
        self.fail_next = 0
        self._counting = threading.Lock()

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        with self._counting:
            (self.consistent_reads if consistent else self.reads).append(challenge_id)
            failing = self.fail_next > 0
            self.fail_next -= int(failing)
        if self.hold is not None:
            assert self.hold.wait(timeout=10)
        if failing:
            raise ConnectionError("DynamoDB did not answer")
        return super().get(challenge_id, consistent=consistent)


class Container:
    """The services one Lambda container builds, the pledge path reading through the cache."""

    def __init__(
        self, db: FakeDatabase, clock: FakeClock, *, max_entries: int = 64, max_missing: int = 64
    ) -> None:
        self.monotonic = Monotonic()
        self.repository = CountingRepository(db)
        self.cache = CachedChallengeRepository(
            self.repository,
            ttl=TTL,
            missing_ttl=MISSING_TTL,
            max_entries=max_entries,
            max_missing=max_missing,
            monotonic=self.monotonic,
        )
        progress = ProgressService(self.repository, FakeCounterRepository(db), clock)
        self.challenges = ChallengeService(
            self.repository,
            progress,
            clock,
            counter_shards=4,
            id_factory=SequentialIds(),
            cache=self.cache,
        )
        self.pledges = PledgeService(self.challenges, FakePledgeRepository(db), clock)


class Platform:
    """Containers sharing one database; challenges are created by an admin's own container."""

    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FakeClock()
        self._ids = SequentialIds()
        self.admin = self.container()

    def container(self, **bounds: int) -> Container:
        return Container(self.db, self.clock, **bounds)

    def live_challenge(self, **overrides: object) -> Challenge:
        return self.admin.challenges.create(challenge_draft(publish=True, **overrides))


@pytest.fixture
def platform() -> Platform:
    return Platform()


@pytest.fixture
def container(platform: Platform) -> Container:
    return platform.container()


def _concurrently(
    container: Container, challenge_id: str, callers: int
) -> list[Challenge | BaseException | None]:
    """`callers` threads read one challenge through the cache; the repository answers only
    once every one of them has looked it up."""
    container.repository.hold = threading.Event()
    looked_up = container.monotonic.reads + callers
    with ThreadPoolExecutor(callers) as pool:
        futures = [pool.submit(container.cache.get, challenge_id) for _ in range(callers)]
        assert container.monotonic.wait_for_reads(looked_up)
        container.repository.hold.set()
        return [_outcome(future) for future in futures]


def _outcome(future: Future[Challenge | None]) -> Challenge | BaseException | None:
    error = future.exception(timeout=10)
    return error if error is not None else future.result()


# --- reads ---------------------------------------------------------------------------------------


def test_reads_within_the_ttl_do_not_reach_the_repository(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()

    first = container.cache.get(challenge.id)
    container.monotonic.advance(TTL - 0.001)
    again = [container.cache.get(challenge.id) for _ in range(100)]

    assert container.repository.reads == [challenge.id]
    assert first == challenge
    assert again == [challenge] * 100


def test_a_read_after_the_ttl_goes_to_the_repository_again(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.cache.get(challenge.id)

    container.monotonic.advance(TTL)
    container.cache.get(challenge.id)
    container.cache.get(challenge.id)

    assert container.repository.reads == [challenge.id, challenge.id]


def test_consistent_reads_and_lists_bypass_the_cache(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.cache.get(challenge.id)

    assert container.cache.get(challenge.id, consistent=True) == challenge
    assert container.cache.get(challenge.id, consistent=True) == challenge
    page = container.cache.list([ChallengeStatus.LIVE], limit=10, cursor=None)

    assert container.repository.consistent_reads == [challenge.id, challenge.id]
    assert [c.id for c in page.items] == [challenge.id]


def test_concurrent_misses_on_one_challenge_share_one_read(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()

    outcomes = _concurrently(container, challenge.id, callers=16)

    assert outcomes == [challenge] * 16
    assert container.repository.reads == [challenge.id]


def test_a_failed_read_reaches_one_caller_and_the_others_read_again(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.repository.fail_next = 1

    outcomes = _concurrently(container, challenge.id, callers=3)

    assert sum(isinstance(outcome, ConnectionError) for outcome in outcomes) == 1
    assert [o for o in outcomes if not isinstance(o, ConnectionError)] == [challenge] * 2
    assert container.repository.reads == [challenge.id, challenge.id]
    assert container.cache.get(challenge.id) == challenge  # the second read was kept
    assert len(container.repository.reads) == 2


def test_unknown_ids_are_remembered_for_a_shorter_time(container: Container) -> None:
    for _ in range(5):
        assert container.cache.get("ch_unknown") is None
    container.monotonic.advance(MISSING_TTL)
    assert container.cache.get("ch_unknown") is None

    assert container.repository.reads == ["ch_unknown", "ch_unknown"]


def test_at_most_max_entries_are_kept_least_recently_used_out_first(platform: Platform) -> None:
    container = platform.container(max_entries=2)
    first, second, third = (platform.live_challenge() for _ in range(3))

    container.cache.get(first.id)
    container.cache.get(second.id)
    container.cache.get(first.id)  # first is now the most recently used
    container.cache.get(third.id)  # so second goes
    container.repository.reads.clear()
    for challenge in (first, third, second):
        container.cache.get(challenge.id)

    assert container.repository.reads == [second.id]


def test_a_flood_of_unknown_ids_does_not_evict_the_hot_challenge(platform: Platform) -> None:
    container = platform.container(max_entries=4, max_missing=8)
    hot = platform.live_challenge()
    container.cache.get(hot.id)

    for n in range(1000):
        assert container.cache.get(f"ch_random{n}") is None
    container.repository.reads.clear()
    container.cache.get(hot.id)
    container.cache.get("ch_random999")  # among the last 8 unknown ids: still remembered
    container.cache.get("ch_random0")  # long forgotten

    assert container.repository.reads == ["ch_random0"]


def test_bad_bounds_are_refused() -> None:
    repository = FakeChallengeRepository(FakeDatabase())
    with pytest.raises(ValueError, match="cache"):
        CachedChallengeRepository(repository, ttl=-1)
    with pytest.raises(ValueError, match="cache"):
        CachedChallengeRepository(repository, missing_ttl=-1)
    with pytest.raises(ValueError, match="cache"):
        CachedChallengeRepository(repository, max_entries=0)
    with pytest.raises(ValueError, match="cache"):
        CachedChallengeRepository(repository, max_missing=0)


# --- writes --------------------------------------------------------------------------------------


def test_writes_through_the_cache_are_seen_at_once_by_this_container(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.cache.get(challenge.id)
    now = platform.clock.now()

    updated = container.cache.update(
        challenge,
        ChallengeChanges(title="Renamed"),
        allowed_statuses=[ChallengeStatus.LIVE],
        now=now,
    )
    closed = container.cache.transition(
        challenge.id, ChallengeStatus.LIVE, ChallengeStatus.CLOSED, now
    )
    assert updated is not None
    assert closed is not None
    assert closed.title == "Renamed"
    assert container.cache.get(challenge.id) == closed
    assert container.repository.reads == [challenge.id]  # the rest came from the writes


def test_writes_that_return_no_challenge_make_the_next_read_fetch_it(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.cache.get(challenge.id)
    milestone = Milestone(
        challenge.id, EventType.REACHED, platform.clock.now(), Totals(3, 0, 3), reached=True
    )

    assert container.cache.save_totals(challenge.id, Totals(3, 0, 3))
    assert container.cache.record_milestone(challenge, milestone)
    # A failed write changes nothing stored, but the cache forgets the id all the same.
    assert (
        container.cache.transition(
            challenge.id, ChallengeStatus.DRAFT, ChallengeStatus.LIVE, platform.clock.now()
        )
        is None
    )
    with pytest.raises(ChallengeExistsError):
        container.cache.add(challenge)
    stored = container.cache.get(challenge.id)

    assert stored is not None
    assert stored.totals == Totals(3, 0, 3)
    assert stored.reached
    assert container.repository.reads == [challenge.id, challenge.id]


def test_a_read_overtaken_by_this_containers_write_is_not_kept(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.repository.hold = threading.Event()
    looked_up = container.monotonic.reads + 1

    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(container.cache.get, challenge.id)
        assert container.monotonic.wait_for_reads(looked_up)
        # The read has started (and is held); meanwhile this container closes the challenge.
        closed = container.cache.transition(
            challenge.id, ChallengeStatus.LIVE, ChallengeStatus.CLOSED, platform.clock.now()
        )
        container.repository.hold.set()
        reading.result(timeout=10)

    assert closed is not None
    assert container.cache.get(challenge.id) == closed


# --- the pledge path -----------------------------------------------------------------------------


def test_a_warm_container_pledges_without_reading_the_challenge(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.pledges.pledge(participant(0), challenge.id, PledgeRequest())

    for number in range(1, 50):
        assert container.pledges.pledge(participant(number), challenge.id, PledgeRequest()).created

    assert container.repository.reads == [challenge.id]
    assert platform.db.live_pledges(challenge.id) == 50


def test_a_close_made_elsewhere_stops_pledges_here_within_the_ttl(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.pledges.pledge(participant(0), challenge.id, PledgeRequest())

    platform.admin.challenges.close(challenge.id)
    # Within the TTL this container still sees it live; the pledge is real and counted.
    container.monotonic.advance(TTL / 2)
    assert container.pledges.pledge(participant(1), challenge.id, PledgeRequest()).created
    # Withdrawals do not read through the cache: a closed challenge's figures are final.
    with pytest.raises(ChallengeNotOpenError):
        container.pledges.withdraw(participant(0), challenge.id)

    container.monotonic.advance(TTL / 2)
    with pytest.raises(ChallengeNotOpenError):
        container.pledges.pledge(participant(2), challenge.id, PledgeRequest())
    assert platform.db.live_pledges(challenge.id) == 2


def test_a_close_made_by_this_container_stops_its_pledges_at_once(
    platform: Platform, container: Container
) -> None:
    challenge = platform.live_challenge()
    container.pledges.pledge(participant(0), challenge.id, PledgeRequest())

    container.challenges.close(challenge.id)

    with pytest.raises(ChallengeNotOpenError):
        container.pledges.pledge(participant(1), challenge.id, PledgeRequest())
    assert platform.db.live_pledges(challenge.id) == 1


def test_dates_are_checked_against_the_clock_even_on_a_cached_challenge(
    platform: Platform, container: Container
) -> None:
    ends_at = platform.clock.now() + timedelta(minutes=5)
    challenge = platform.live_challenge(ends_at=ends_at)
    assert container.pledges.pledge(participant(0), challenge.id, PledgeRequest()).created

    platform.clock.set(ends_at)

    with pytest.raises(ChallengeNotOpenError):
        container.pledges.pledge(participant(1), challenge.id, PledgeRequest())
    assert container.repository.reads == [challenge.id]


def test_the_public_and_admin_reads_stay_direct(platform: Platform, container: Container) -> None:
    challenge = platform.live_challenge()
    container.cache.get(challenge.id)

    container.challenges.get_visible(challenge.id, None)
    container.challenges.get_for_admin(challenge.id)

    assert container.repository.reads == [challenge.id] * 3


def test_an_unknown_challenge_is_still_a_404_on_the_pledge_path(container: Container) -> None:
    for _ in range(3):
        with pytest.raises(ChallengeNotFoundError):
            container.pledges.pledge(participant(0), "ch_unknown", PledgeRequest())

    assert container.repository.reads == ["ch_unknown"]
