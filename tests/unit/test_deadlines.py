"""DeadlineService: live challenges past ends_at become ended, once, with final figures."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from chalicelib.domain.errors import ChallengeNotOpenError
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    EventType,
    Metric,
    Milestone,
    Target,
    Totals,
)
from chalicelib.notify.email import JinjaEmailRenderer
from chalicelib.services.deadlines import DEADLINE_SETTLE, DeadlineService
from chalicelib.services.notifications import milestone_recipients
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.ports import ChallengeChanges
from tests.unit.fakes import FakeChallengeRepository
from tests.unit.support import BENEFICIARY, SPONSOR, Backend, challenge_draft, participant

PAST_SETTLE = DEADLINE_SETTLE + timedelta(seconds=1)


@pytest.fixture
def deadlines(backend: Backend) -> DeadlineService:
    return DeadlineService(backend.challenge_repository, backend.progress, backend.clock)


def ending_in(backend: Backend, minutes: float, **overrides: object) -> Challenge:
    return backend.live_challenge(
        ends_at=backend.clock.now() + timedelta(minutes=minutes), **overrides
    )


def ended_milestones(backend: Backend, challenge_id: str) -> list[Milestone]:
    return [m for m in backend.db.milestones_for(challenge_id) if m.event is EventType.ENDED]


def test_a_due_challenge_ends_with_one_milestone_carrying_its_final_figures(
    backend: Backend, deadlines: DeadlineService
) -> None:
    challenge = ending_in(backend, 10)
    backend.pledge_many(challenge.id, 2)  # counted in the shards, not yet published
    backend.later(minutes=10, seconds=PAST_SETTLE.total_seconds())

    run = deadlines.end_due()

    assert run.ended == [challenge.id]
    stored = backend.stored(challenge.id)
    assert stored.status is ChallengeStatus.ENDED
    assert stored.totals.participants == 2  # refreshed from the shards first
    [milestone] = ended_milestones(backend, challenge.id)
    assert milestone.totals.participants == 2
    assert milestone.reached is False
    assert milestone.occurred_at == backend.clock.now()


def test_challenges_not_yet_due_or_without_a_deadline_stay_live(
    backend: Backend, deadlines: DeadlineService
) -> None:
    later = ending_in(backend, 30)
    open_ended = backend.live_challenge()
    just_due = ending_in(backend, 1)
    backend.later(minutes=1)  # just_due's deadline is now, but pledges may still be landing

    assert deadlines.end_due().ended == []
    backend.later(seconds=PAST_SETTLE.total_seconds())
    assert deadlines.end_due().ended == [just_due.id]
    assert backend.stored(later.id).status is ChallengeStatus.LIVE
    assert backend.stored(open_ended.id).status is ChallengeStatus.LIVE
    assert ended_milestones(backend, later.id) == []


def test_a_challenge_closed_before_its_deadline_stays_closed(
    backend: Backend, deadlines: DeadlineService
) -> None:
    challenge = ending_in(backend, 5)
    backend.challenges.close(challenge.id)
    backend.later(hours=1)

    assert deadlines.end_due().ended == []
    assert deadlines.end(challenge.id) is False
    assert backend.stored(challenge.id).status is ChallengeStatus.CLOSED
    assert ended_milestones(backend, challenge.id) == []


def test_drafts_do_not_end(backend: Backend, deadlines: DeadlineService) -> None:
    draft = backend.challenges.create(
        challenge_draft(ends_at=backend.clock.now() + timedelta(minutes=1))
    )
    backend.later(hours=1)

    assert deadlines.end(draft.id) is False
    assert backend.stored(draft.id).status is ChallengeStatus.DRAFT


def test_a_target_met_by_the_last_pledges_reaches_before_it_ends(
    backend: Backend, deadlines: DeadlineService
) -> None:
    challenge = ending_in(backend, 10)  # target: 3 participants
    backend.pledge_many(challenge.id, 3)  # the aggregator has not run yet
    backend.later(hours=1)

    deadlines.end_due()

    stored = backend.stored(challenge.id)
    assert stored.reached
    assert stored.status is ChallengeStatus.ENDED
    events = [m.event for m in backend.db.milestones_for(challenge.id)]
    assert sorted(events) == sorted([EventType.REACHED, EventType.ENDED])
    [ended] = ended_milestones(backend, challenge.id)
    assert ended.reached is True
    assert ended.totals.participants == 3


def test_a_second_run_changes_nothing(backend: Backend, deadlines: DeadlineService) -> None:
    challenge = ending_in(backend, 1)
    backend.pledge_many(challenge.id, 1)
    backend.later(hours=1)
    first = deadlines.end_due()
    before = backend.stored(challenge.id)

    backend.later(minutes=1)
    second = deadlines.end_due()

    assert first.ended == [challenge.id]
    assert second.ended == second.failed == []
    assert deadlines.end(challenge.id) is False
    assert backend.stored(challenge.id) == before
    assert len(ended_milestones(backend, challenge.id)) == 1


def test_a_run_that_lists_a_challenge_another_run_ended_skips_it(
    backend: Backend, deadlines: DeadlineService
) -> None:
    # Two overlapping runs: both list the challenge, the first ends it, the second finds it ended.
    challenge = ending_in(backend, 1)
    backend.later(hours=1)
    listed = backend.challenge_repository.list_due(backend.clock.now())

    assert deadlines.end(challenge.id) is True
    late = StaleListing(backend.challenge_repository, listed)
    run = DeadlineService(late, backend.progress, backend.clock).end_due()

    assert run.ended == []
    assert run.skipped == [challenge.id]
    assert len(ended_milestones(backend, challenge.id)) == 1


class StaleListing(FakeChallengeRepository):
    """Lists what an earlier read listed, as a run that started before another one wrote."""

    def __init__(self, inner: FakeChallengeRepository, listed: Sequence[Challenge]) -> None:
        super().__init__(inner._db)
        self._listed = list(listed)

    def list_due(self, now: datetime) -> list[Challenge]:
        return self._listed


def test_concurrent_runs_end_each_challenge_once(backend: Backend) -> None:
    challenges = [ending_in(backend, 1) for _ in range(5)]
    backend.later(hours=1)
    services = [
        DeadlineService(backend.challenge_repository, backend.progress, backend.clock)
        for _ in range(4)
    ]
    start = threading.Barrier(len(services))
    ended: list[str] = []
    lock = threading.Lock()

    def run(service: DeadlineService) -> None:
        start.wait()
        result = service.end_due()
        with lock:
            ended.extend(result.ended)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(ended) == sorted(c.id for c in challenges)
    for challenge in challenges:
        assert len(ended_milestones(backend, challenge.id)) == 1


def test_a_deadline_moved_between_listing_and_ending_wins(
    backend: Backend, deadlines: DeadlineService
) -> None:
    challenge = ending_in(backend, 1)
    backend.later(hours=1)
    seen = backend.stored(challenge.id)
    # An admin pushes the deadline back after the run read the challenge.
    backend.challenge_repository.update(
        seen,
        ChallengeChanges(ends_at=backend.clock.now() + timedelta(days=1)),
        allowed_statuses=(ChallengeStatus.LIVE,),
        now=backend.clock.now(),
    )
    milestone = Milestone(seen.id, EventType.ENDED, backend.clock.now(), seen.totals, False)

    assert backend.challenge_repository.record_milestone(seen, milestone) is False
    assert backend.stored(challenge.id).status is ChallengeStatus.LIVE
    assert deadlines.end_due().ended == []


def test_a_failing_challenge_does_not_hold_back_the_others(backend: Backend) -> None:
    broken, fine = ending_in(backend, 1), ending_in(backend, 2)
    backend.later(hours=1)

    class Flaky(FakeChallengeRepository):
        def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
            if challenge.id == broken.id:
                raise RuntimeError("DynamoDB had a bad day")
            return super().record_milestone(challenge, milestone)

    run = DeadlineService(Flaky(backend.db), backend.progress, backend.clock).end_due()

    assert run.failed == [broken.id]
    assert run.ended == [fine.id]
    assert backend.stored(broken.id).status is ChallengeStatus.LIVE
    # The next run, with the trouble gone, ends it.
    assert DeadlineService(
        backend.challenge_repository, backend.progress, backend.clock
    ).end_due().ended == [broken.id]


def test_a_run_stops_starting_challenges_when_told(
    backend: Backend, deadlines: DeadlineService
) -> None:
    for minutes in (1, 2, 3):
        ending_in(backend, minutes)
    backend.later(hours=1)
    calls = iter([False, True])

    run = deadlines.end_due(should_stop=lambda: next(calls, True))

    assert len(run.ended) == 1
    assert run.unvisited == 2
    assert len(deadlines.end_due().ended) == 2


def test_pledges_and_withdrawals_on_an_ended_challenge_are_refused(
    backend: Backend, deadlines: DeadlineService
) -> None:
    challenge = ending_in(backend, 1)
    backend.pledge_many(challenge.id, 1)
    backend.later(hours=1)
    deadlines.end_due()

    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.pledge(participant(9), challenge.id, PledgeRequest())
    with pytest.raises(ChallengeNotOpenError):
        backend.pledges.withdraw(participant(0), challenge.id)


def test_the_ended_challenge_is_listed_as_ended(
    backend: Backend, deadlines: DeadlineService
) -> None:
    challenge = ending_in(backend, 1)
    backend.later(hours=1)
    deadlines.end_due()

    page = backend.challenges.list_visible(
        None, status=ChallengeStatus.ENDED, campaign_id=None, limit=20, cursor=None
    )
    live = backend.challenges.list_visible(
        None, status=ChallengeStatus.LIVE, campaign_id=None, limit=20, cursor=None
    )

    assert [c.id for c in page.items] == [challenge.id]
    assert live.items == []


def test_the_ended_notification_reaches_sponsor_and_beneficiary_once(
    backend: Backend, deadlines: DeadlineService
) -> None:
    challenge = ending_in(backend, 1)
    backend.pledge_many(challenge.id, 2)
    backend.later(hours=1)
    deadlines.end_due()
    [milestone] = ended_milestones(backend, challenge.id)

    backend.notifications.notify(milestone)
    backend.notifications.notify(milestone)  # the stream delivers it again

    assert len(backend.mailer.sent_to(SPONSOR.email)) == 1
    assert len(backend.mailer.sent_to(BENEFICIARY.email)) == 1
    [message] = backend.mailer.sent_to(SPONSOR.email)
    assert "objectif non atteint" in message.subject
    assert "2 participants" in message.text


# --- the e-mail's final figures ----------------------------------------------------------------


def _render(challenge: Challenge, milestone: Milestone, locale: str) -> tuple[str, str, str]:
    sponsor = milestone_recipients(milestone, challenge)[0]
    message = JinjaEmailRenderer().render(milestone, challenge, sponsor, locale=locale)
    return message.subject, message.text, message.html


def test_the_ended_email_gives_figures_and_share_of_target_in_both_languages(
    backend: Backend,
) -> None:
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 200, unit="km"))
    milestone = Milestone(
        challenge.id,
        EventType.ENDED,
        backend.clock.now(),
        totals=Totals(participants=150, quantity=5234.5),
        reached=False,
    )

    subject, text, html = _render(challenge, milestone, "en")
    assert "target not reached" in subject
    assert "150 participants, 75% of the target" in text
    assert "Also counted: 5,234.5 km" in text
    assert "5,234.5 km" in html
    assert "not due" in html

    subject, text, html = _render(challenge, milestone, "fr")
    assert "objectif non atteint" in subject
    assert "150 participants, soit 75\u202f% de l'objectif" in text
    assert "Également comptés : 5\u202f234,5 km" in text
    assert "n'est pas due" in html


def test_the_ended_email_of_a_reached_quantity_challenge(backend: Backend) -> None:
    challenge = backend.live_challenge(target=Target(Metric.QUANTITY, 1000, unit="kg"))
    milestone = Milestone(
        challenge.id,
        EventType.ENDED,
        backend.clock.now(),
        totals=Totals(participants=12, quantity=1250),
        reached=True,
    )

    subject, text, _ = _render(challenge, milestone, "en")
    assert "target reached" in subject
    assert "not reached" not in subject
    assert "1,250 kg, 125% of the target" in text
    assert "Also counted: 12 participants" in text
    subject, text, _ = _render(challenge, milestone, "fr")
    assert "objectif atteint" in subject
    assert "L'objectif a été atteint" in text
