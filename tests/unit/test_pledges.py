"""PledgeService: one pledge per participant and challenge, counted exactly, whatever the races."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import (
    ChallengeNotFoundError,
    ChallengeNotOpenError,
    ContentionError,
    PledgeNotFoundError,
)
from chalicelib.domain.idempotency import KeyedAnswer
from chalicelib.domain.model import (
    ADMIN_GROUP,
    ChallengeStatus,
    Metric,
    Pledge,
    Principal,
    Target,
    Visibility,
)
from chalicelib.services.pledges import PledgeRequest, PledgeService, request_token
from tests.unit.fakes import FakeDatabase, FakePledgeRepository
from tests.unit.support import Backend, build_backend, challenge_draft, participant

LEA = participant("lea")


def test_a_first_pledge_is_created_and_counted(backend: Backend) -> None:
    challenge = backend.live_challenge()

    outcome = backend.pledges.pledge(
        LEA, challenge.id, PledgeRequest(display_name="Léa", area="u09tv", notify=False)
    )

    assert outcome.created
    assert outcome.challenge.id == challenge.id
    assert outcome.pledge.participant_id == LEA.sub
    assert outcome.pledge.display_name == "Léa"
    assert outcome.pledge.area == "u09tv"
    assert not outcome.pledge.notify
    assert outcome.pledge.created_at == backend.clock.now()
    assert backend.pledge_repository.get(challenge.id, LEA.sub) == outcome.pledge
    assert backend.counted(challenge.id) == 1


def test_a_second_pledge_returns_the_first_and_counts_nothing_twice(backend: Backend) -> None:
    challenge = backend.live_challenge()
    first = backend.pledges.pledge(LEA, challenge.id, PledgeRequest(display_name="Léa"))
    backend.later(minutes=3)

    second = backend.pledges.pledge(LEA, challenge.id, PledgeRequest(display_name="Other"))

    assert not second.created
    assert second.pledge == first.pledge
    assert backend.counted(challenge.id) == 1
    assert backend.db.live_pledges(challenge.id) == 1


def test_a_draft_does_not_exist_for_pledgers(backend: Backend) -> None:
    draft = backend.challenges.create(challenge_draft())

    with pytest.raises(ChallengeNotFoundError):
        backend.pledges.pledge(LEA, draft.id, PledgeRequest())
    with pytest.raises(ChallengeNotFoundError):
        backend.pledges.pledge(LEA, "ch_unknown", PledgeRequest())
    assert backend.counted(draft.id) == 0


def test_an_employee_only_challenge_does_not_exist_for_outsiders(backend: Backend) -> None:
    challenge = backend.live_challenge(
        visibility=Visibility.ORGANIZATION, organization_id="org_acme"
    )
    outsiders = [
        participant("anonymous"),
        participant("other-company", org_id="org_other"),
    ]

    for outsider in outsiders:
        with pytest.raises(ChallengeNotFoundError):
            backend.pledges.pledge(outsider, challenge.id, PledgeRequest())
        with pytest.raises(ChallengeNotFoundError):
            backend.pledges.withdraw(outsider, challenge.id)
    assert backend.counted(challenge.id) == 0


def test_an_employee_can_pledge_on_their_organisations_challenge(backend: Backend) -> None:
    challenge = backend.live_challenge(
        visibility=Visibility.ORGANIZATION, organization_id="org_acme"
    )
    employee = participant("employee", org_id="org_acme")

    assert backend.pledges.pledge(employee, challenge.id, PledgeRequest()).created
    assert backend.counted(challenge.id) == 1


def test_a_platform_admin_sees_employee_only_challenges(backend: Backend) -> None:
    challenge = backend.live_challenge(
        visibility=Visibility.ORGANIZATION, organization_id="org_acme"
    )
    admin = Principal(sub="admin-1", groups=frozenset({ADMIN_GROUP}))

    assert backend.challenges.get_visible(challenge.id, admin).id == challenge.id


def test_a_closed_challenge_takes_no_pledges(backend: Backend) -> None:
    challenge = backend.live_challenge()
    backend.challenges.close(challenge.id)

    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    assert backend.counted(challenge.id) == 0


def test_an_ended_challenge_takes_no_pledges(backend: Backend) -> None:
    challenge = backend.live_challenge()
    backend.challenge_repository.transition(
        challenge.id, ChallengeStatus.LIVE, ChallengeStatus.ENDED, backend.clock.now()
    )

    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    assert backend.counted(challenge.id) == 0


def test_pledges_open_at_starts_at(backend: Backend) -> None:
    starts_at = backend.clock.now() + timedelta(days=1)
    challenge = backend.live_challenge(starts_at=starts_at)

    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    backend.clock.set(starts_at - timedelta(microseconds=1))
    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.pledge(LEA, challenge.id, PledgeRequest())

    backend.clock.set(starts_at)
    assert backend.pledges.pledge(LEA, challenge.id, PledgeRequest()).created


def test_pledges_close_at_ends_at_even_before_the_status_turns_ended(backend: Backend) -> None:
    ends_at = backend.clock.now() + timedelta(days=1)
    challenge = backend.live_challenge(ends_at=ends_at)
    backend.clock.set(ends_at - timedelta(seconds=1))
    assert backend.pledges.pledge(LEA, challenge.id, PledgeRequest()).created

    backend.clock.set(ends_at)

    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.pledge(participant("late"), challenge.id, PledgeRequest())
    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.withdraw(LEA, challenge.id)
    assert backend.counted(challenge.id) == 1


def test_withdrawing_uncounts_the_pledge(backend: Backend) -> None:
    challenge = backend.live_challenge()
    backend.pledge_many(challenge.id, 3)

    backend.pledges.withdraw(participant(1), challenge.id)

    assert backend.counted(challenge.id) == 2
    assert backend.pledge_repository.get(challenge.id, participant(1).sub) is None


def test_withdrawing_without_a_pledge_is_not_found(backend: Backend) -> None:
    challenge = backend.live_challenge()
    backend.pledge_many(challenge.id, 1)

    with pytest.raises(PledgeNotFoundError):
        backend.pledges.withdraw(LEA, challenge.id)
    backend.pledges.withdraw(participant(0), challenge.id)
    with pytest.raises(PledgeNotFoundError):
        backend.pledges.withdraw(participant(0), challenge.id)
    assert backend.counted(challenge.id) == 0


def test_withdrawing_from_a_closed_challenge_is_refused(backend: Backend) -> None:
    challenge = backend.live_challenge()
    backend.pledge_many(challenge.id, 2)
    backend.challenges.close(challenge.id)

    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.withdraw(participant(0), challenge.id)
    assert backend.counted(challenge.id) == 2


def test_a_participant_lists_their_own_pledges_page_by_page(backend: Backend) -> None:
    challenges = [backend.live_challenge(title=f"Challenge {n}") for n in range(5)]
    for challenge in challenges:
        backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    backend.pledge_many(challenges[0].id, 3)

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = backend.pledges.list_mine(LEA, limit=2, cursor=cursor)
        assert all(pledge.participant_id == LEA.sub for pledge in page.items)
        seen.extend(pledge.challenge_id for pledge in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert sorted(seen) == sorted(challenge.id for challenge in challenges)


# --- concurrency -------------------------------------------------------------------------------


def test_64_concurrent_pledges_by_48_people_count_48(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 1000))
    # 48 distinct participants; 16 of them send their pledge twice.
    numbers = list(range(48)) + list(range(0, 48, 3))
    assert len(numbers) == 64
    start = threading.Barrier(len(numbers))

    def pledge(number: int) -> bool:
        start.wait()
        return backend.pledges.pledge(participant(number), challenge.id, PledgeRequest()).created

    with ThreadPoolExecutor(len(numbers)) as pool:
        created = list(pool.map(pledge, numbers))

    assert created.count(True) == 48
    assert created.count(False) == 16
    assert backend.counted(challenge.id) == 48
    assert backend.db.live_pledges(challenge.id) == 48
    refreshed = backend.progress.refresh(challenge.id)
    assert refreshed is not None
    assert refreshed.totals.participants == 48


def test_racing_pledge_and_withdraw_keep_the_count_equal_to_live_pledges(
    backend: Backend,
) -> None:
    challenge = backend.live_challenge()
    rounds = 200
    start = threading.Barrier(2)

    def keep_pledging() -> None:
        start.wait()
        for _ in range(rounds):
            # A pledge that keeps racing with the withdrawal may give up: the client retries.
            with contextlib.suppress(ContentionError):
                backend.pledges.pledge(LEA, challenge.id, PledgeRequest())

    def keep_withdrawing() -> None:
        start.wait()
        for _ in range(rounds):
            with contextlib.suppress(PledgeNotFoundError):
                backend.pledges.withdraw(LEA, challenge.id)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(keep_pledging), pool.submit(keep_withdrawing)]:
            future.result()

    live = backend.db.live_pledges(challenge.id)
    assert live in (0, 1)
    assert backend.counted(challenge.id) == live


# --- property: the count always equals the live pledges ---------------------------------------

PARTICIPANTS = [f"p{n}" for n in range(6)]
TARGET = 3
operations = st.lists(
    st.tuples(st.sampled_from(PARTICIPANTS), st.sampled_from(["pledge", "withdraw", "refresh"])),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_counted_participants_always_equal_live_pledges(ops: list[tuple[str, str]]) -> None:
    backend = build_backend(counter_shards=3)
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, TARGET))
    live: set[str] = set()
    was_reached = False
    count_ever_met = False

    for sub, operation in ops:
        principal = Principal(sub=sub)
        if operation == "pledge":
            outcome = backend.pledges.pledge(principal, challenge.id, PledgeRequest())
            assert outcome.created == (sub not in live)
            live.add(sub)
        elif operation == "withdraw":
            if sub in live:
                backend.pledges.withdraw(principal, challenge.id)
                live.discard(sub)
            else:
                with pytest.raises(PledgeNotFoundError):
                    backend.pledges.withdraw(principal, challenge.id)
        else:
            backend.progress.refresh(challenge.id)
            count_ever_met = count_ever_met or len(live) >= TARGET

        assert backend.counted(challenge.id) == len(live)
        assert backend.db.live_pledges(challenge.id) == len(live)
        reached = backend.stored(challenge.id).reached
        assert reached or not was_reached, "reached flipped back to false"
        was_reached = reached
        assert reached == count_ever_met
        assert len(backend.db.milestones_for(challenge.id)) == int(reached)


# --- request tokens (DynamoDB's ClientRequestToken) --------------------------------------------


class LosesOnceToOwnWithdrawal(FakePledgeRepository):
    """The first `add` finds a pledge that is withdrawn before it can be read back."""

    def __init__(self, db: FakeDatabase) -> None:
        super().__init__(db)
        self._raced = False

    def add(
        self,
        pledge: Pledge,
        shard: int,
        *,
        request_token: str | None = None,
        answer: KeyedAnswer | None = None,
    ) -> bool:
        if not self._raced:
            self._raced = True
            assert request_token is not None
            self.request_tokens.append(request_token)
            return False
        return super().add(pledge, shard, request_token=request_token, answer=answer)


def test_one_request_token_serves_every_retry_of_a_pledge(backend: Backend) -> None:
    challenge = backend.live_challenge()
    pledges = LosesOnceToOwnWithdrawal(backend.db)
    service = PledgeService(backend.challenges, pledges, backend.clock)

    assert service.pledge(LEA, challenge.id, PledgeRequest()).created

    assert len(pledges.request_tokens) == 2
    assert len(set(pledges.request_tokens)) == 1
    assert backend.counted(challenge.id) == 1


def test_an_idempotency_key_gives_a_token_derived_from_it(backend: Backend) -> None:
    challenge = backend.live_challenge()

    backend.pledges.pledge(LEA, challenge.id, PledgeRequest(idempotency_key="k-1"))

    token = request_token(LEA.sub, challenge.id, "pledge", "k-1")
    assert backend.pledge_repository.request_tokens == [token]
    assert len(token) <= 36
    assert token == request_token(LEA.sub, challenge.id, "pledge", "k-1")
    others = {
        request_token("someone-else", challenge.id, "pledge", "k-1"),
        request_token(LEA.sub, "ch_other", "pledge", "k-1"),
        request_token(LEA.sub, challenge.id, "withdraw", "k-1"),
        request_token(LEA.sub, challenge.id, "pledge", "k-2"),
    }
    assert token not in others
    assert len(others) == 4


def test_a_retry_with_the_same_key_and_parameters_is_applied_once(backend: Backend) -> None:
    # The clock does not move, so the retry's write is identical to the first one: DynamoDB
    # answers success without applying it again (the fake keeps that promise).
    challenge = backend.live_challenge()
    request = PledgeRequest(display_name="Léa", idempotency_key="k-1")

    first = backend.pledges.pledge(LEA, challenge.id, request)
    retry = backend.pledges.pledge(LEA, challenge.id, request)

    assert first.created
    assert retry.created  # the first answer, again
    assert retry.pledge == first.pledge
    assert backend.counted(challenge.id) == 1


def test_without_a_key_pledge_withdraw_pledge_within_minutes_do_not_collapse(
    backend: Backend,
) -> None:
    # Frozen clock: each pledge writes exactly what the previous one wrote, and withdrawals
    # are always identical. Only distinct tokens keep every one of them applied.
    challenge = backend.live_challenge()

    for _ in range(3):
        assert backend.pledges.pledge(LEA, challenge.id, PledgeRequest()).created
        assert backend.counted(challenge.id) == 1
        backend.pledges.withdraw(LEA, challenge.id)
        assert backend.counted(challenge.id) == 0
    assert backend.pledges.pledge(LEA, challenge.id, PledgeRequest()).created

    assert backend.counted(challenge.id) == 1
    assert backend.pledge_repository.get(challenge.id, LEA.sub) is not None
    tokens = backend.pledge_repository.request_tokens
    assert len(tokens) == 7
    assert len(set(tokens)) == 7


def test_the_same_key_after_a_withdrawal_pledges_again(backend: Backend) -> None:
    # A real clock always moves: the new pledge's created_at differs, so DynamoDB refuses
    # the reused token (IdempotentParameterMismatch) and the repository goes on under a
    # fresh one. Had the answer been stored, the API would have replayed it instead.
    challenge = backend.live_challenge()
    request = PledgeRequest(idempotency_key="k-1")
    backend.pledges.pledge(LEA, challenge.id, request)
    backend.pledges.withdraw(LEA, challenge.id)
    backend.later(seconds=30)

    assert backend.pledges.pledge(LEA, challenge.id, request).created

    assert backend.counted(challenge.id) == 1
