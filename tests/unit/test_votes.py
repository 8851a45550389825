"""The beneficiary vote on the fakes: the winner and its tie-break, when votes are taken,
casting and changing, and closing once however many closers race, before anyone is told."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from chalicelib.domain.errors import NotPledgedError, NoVoteError, VoteClosedError
from chalicelib.domain.model import EventType, Milestone, RecipientRole
from chalicelib.domain.votes import BeneficiaryChoice, Candidate, pick_winner
from chalicelib.services.pledges import PledgeRequest
from tests.unit.support import Backend, build_backend, participant

CANDIDATES = (
    Candidate("solicycle", "Solicycle", "hello@solicycle.example"),
    Candidate("emmaus", "Emmaüs Connect", "contact@emmaus.example"),
    Candidate("rejoue", "Rejoué", "contact@rejoue.example"),
)
CHOICE = BeneficiaryChoice(candidates=CANDIDATES)


@pytest.fixture
def backend() -> Backend:
    return build_backend()


def test_the_most_votes_win_and_a_tie_goes_to_the_first_listed() -> None:
    assert pick_winner(CANDIDATES, {"emmaus": 3, "rejoue": 4}).id == "rejoue"
    assert pick_winner(CANDIDATES, {"emmaus": 4, "rejoue": 4}).id == "emmaus"
    assert pick_winner(CANDIDATES, {}).id == "solicycle"
    with pytest.raises(ValueError, match="candidates"):
        pick_winner((), {})


def test_votes_are_taken_until_the_deadline_the_target_or_the_end(backend: Backend) -> None:
    now = backend.clock.now()
    due = backend.live_challenge(
        beneficiary_choice=BeneficiaryChoice(CANDIDATES, closes_at=now + timedelta(hours=1))
    )
    assert due.vote_open_at(now)
    assert not due.vote_open_at(now + timedelta(hours=1))
    assert not due.with_changes(reached_at=now).vote_open_at(now)
    assert not due.with_changes(ends_at=now).vote_open_at(now)
    assert not backend.live_challenge().vote_open_at(now)  # no vote at all


def test_one_vote_per_pledge_changed_at_will(backend: Backend) -> None:
    challenge = backend.live_challenge(
        beneficiary_choice=CHOICE, target=backend.live_challenge().target
    )
    lea = participant("lea")
    with pytest.raises(NotPledgedError):
        backend.votes.cast(lea, challenge.id, "emmaus")
    backend.pledges.pledge(lea, challenge.id, PledgeRequest())
    first = backend.votes.cast(lea, challenge.id, "emmaus")
    assert backend.votes.cast(lea, challenge.id, "emmaus") == first  # the same vote again
    backend.votes.cast(lea, challenge.id, "rejoue")
    assert dict(backend.votes.tallies(None, challenge.id).votes) == {
        "solicycle": 0,
        "emmaus": 0,
        "rejoue": 1,
    }
    plain = backend.live_challenge()
    with pytest.raises(NoVoteError):
        backend.votes.cast(lea, plain.id, "emmaus")


def test_racing_closers_fix_one_result_and_votes_are_refused_after(backend: Backend) -> None:
    challenge = backend.live_challenge(beneficiary_choice=CHOICE)
    for n, candidate in enumerate(("emmaus", "emmaus", "rejoue")):
        backend.pledges.pledge(participant(n), challenge.id, PledgeRequest())
        backend.votes.cast(participant(n), challenge.id, candidate)
    start = threading.Barrier(6)

    def close() -> None:
        start.wait()
        backend.votes.close(challenge.id)

    threads = [threading.Thread(target=close) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    closed = [
        m for m in backend.db.milestones_for(challenge.id) if m.event is EventType.VOTE_CLOSED
    ]
    assert len(closed) == 1
    stored = backend.challenge_repository.get(challenge.id)
    assert stored is not None
    assert stored.beneficiary_choice is not None
    assert stored.beneficiary_choice.winner_id == "emmaus"
    assert stored.beneficiary.email == "contact@emmaus.example"
    with pytest.raises(VoteClosedError):
        backend.votes.cast(participant(2), challenge.id, "emmaus")


def test_the_notifier_closes_the_vote_first_and_tells_the_winner_only(backend: Backend) -> None:
    challenge = backend.live_challenge(beneficiary_choice=CHOICE)
    backend.pledges.pledge(participant(1), challenge.id, PledgeRequest())
    backend.votes.cast(participant(1), challenge.id, "rejoue")
    reached = Milestone(
        challenge.id, EventType.REACHED, backend.clock.now(), challenge.totals, reached=True
    )
    backend.notifications.notify(reached)
    told = sorted((d.recipient_role, d.to) for d in backend.notifications.log(challenge.id))
    assert told == [
        (RecipientRole.BENEFICIARY, "contact@rejoue.example"),
        (RecipientRole.SPONSOR, challenge.sponsor.email),
    ]
    closed = next(
        m for m in backend.db.milestones_for(challenge.id) if m.event is EventType.VOTE_CLOSED
    )
    backend.notifications.notify(closed)
    candidates = sorted(
        d.to
        for d in backend.notifications.log(challenge.id)
        if d.recipient_role is RecipientRole.CANDIDATE
    )
    assert candidates == sorted(c.email for c in CANDIDATES)
    mail = {m.to: m for m in backend.mailer.sent if m.subject.endswith("Rejoué")}
    # In the default language (French): the winner is told what comes next, the others thanked.
    assert "Merci de votre candidature" in mail["contact@emmaus.example"].text
    assert "vous versera la contrepartie" in mail["contact@rejoue.example"].text
    assert "Rejoué : 1 (choisi)" in mail["contact@emmaus.example"].text


def test_an_open_votes_tallies_are_kept_a_moment_per_container(backend: Backend) -> None:
    challenge = backend.live_challenge(beneficiary_choice=CHOICE)
    backend.pledges.pledge(participant(1), challenge.id, PledgeRequest())
    assert backend.votes.tallies(None, challenge.id).total == 0
    backend.votes.cast(participant(1), challenge.id, "emmaus")
    assert backend.votes.tallies(None, challenge.id).total == 0  # within the TTL: as read
    backend.clock.advance(seconds=2)
    assert backend.votes.tallies(None, challenge.id).votes["emmaus"] == 1
