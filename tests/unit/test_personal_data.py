"""PersonalDataService: the export lists what is held; the erasure moves it all to one
pseudonym, changes no count, resumes a half-done erasure under its pseudonym, and is
idempotent."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

import pytest

from chalicelib.domain.errors import ContentionError
from chalicelib.domain.model import (
    Channel,
    Delivery,
    EventType,
    Metric,
    Principal,
    RecipientRole,
    Target,
    counter_shard_for,
)
from chalicelib.services.personal_data import (
    PSEUDONYM_PREFIX,
    MoveOutcome,
    PersonalDataService,
    PersonalRecords,
    new_pseudonym,
)
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.reports import ReportRequest, ReportService
from tests.unit.fake_personal_data import FakePersonalData
from tests.unit.fakes import FakeReportRepository
from tests.unit.support import Backend, build_backend

LEA = Principal(sub="lea", email="lea@example.org", email_verified=True, locale="fr")


@dataclass
class World:
    backend: Backend
    reports: FakeReportRepository
    store: FakePersonalData
    service: PersonalDataService
    report_service: ReportService


def world(pseudonyms: list[str] | None = None) -> World:
    backend = build_backend()
    reports = FakeReportRepository(backend.db)
    store = FakePersonalData(backend.db, reports)
    names = iter(pseudonyms) if pseudonyms else (f"erased_{n}" for n in itertools.count())
    service = PersonalDataService(
        store, backend.challenge_repository, backend.clock, pseudonyms=lambda: next(names)
    )
    report_service = ReportService(backend.challenges, reports, backend.clock)
    return World(backend, reports, store, service, report_service)


def lea_mail(challenge_id: str) -> Delivery:
    """The success e-mail to Léa, as the fan-out delivers it."""
    return Delivery(
        challenge_id=challenge_id,
        event=EventType.REACHED,
        recipient_role=RecipientRole.PARTICIPANT,
        channel=Channel.EMAIL,
        recipient_key=LEA.sub,
        to="lea@example.org",
    )


def test_a_pseudonym_is_random_and_says_nothing_of_the_participant() -> None:
    first, second = new_pseudonym(), new_pseudonym()
    assert first != second
    assert first.startswith(PSEUDONYM_PREFIX)
    assert len(first) == len(PSEUDONYM_PREFIX) + 24


def test_the_erasure_moves_pledges_and_reports_to_one_pseudonym_and_keeps_the_counts() -> None:
    w = world()
    backend = w.backend
    headcount = backend.live_challenge()
    km = backend.live_challenge(target=Target(Metric.QUANTITY, 100, "km"))
    for challenge in (headcount, km):
        backend.pledges.pledge(LEA, challenge.id, PledgeRequest(display_name="Léa", area="u09tv"))
    w.report_service.report(LEA, km.id, ReportRequest(quantity=12.5))
    backend.pledge_many(headcount.id, 2)
    counts_before = {c: backend.counter_repository.totals(c, 4) for c in (headcount.id, km.id)}
    exported = w.service.export(LEA).records
    assert [p.email for p in exported.pledges] == ["lea@example.org"] * 2
    assert len(exported.reports) == 1

    erased = w.service.erase(LEA)

    assert (erased.pledges, erased.reports) == (2, 1)
    assert w.service.export(LEA).records == PersonalRecords()
    assert {c: backend.counter_repository.totals(c, 4) for c in (headcount.id, km.id)} == (
        counts_before
    )
    moved = [p for (pid, _), p in backend.db.pledges.items() if pid == "erased_0"]
    assert len(moved) == 2
    for pledge in moved:
        assert pledge.pseudonymised
        assert (pledge.display_name, pledge.email, pledge.locale) == (None, None, None)
        assert pledge.area == "u09tv"
        assert pledge.counter_shard == counter_shard_for(LEA.sub, 4)
    assert [p.quantity_reported for p in moved if p.challenge_id == km.id] == [12.5]
    assert [r.participant_id for r in w.reports.reports.values()] == ["erased_0"]
    # Idempotent: nothing left, nothing moved, 0s.
    again = w.service.erase(LEA)
    assert (again.pledges, again.reports, again.notifications) == (0, 0, 0)


def test_a_participant_email_log_entry_loses_its_address() -> None:
    w = world()
    challenge = w.backend.live_challenge()
    w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    delivery = lea_mail(challenge.id)
    claimed = w.backend.delivery_repository.claim(
        delivery, now=w.backend.clock.now(), lease=w.backend.clock.now() - w.backend.clock.now()
    )
    assert isinstance(claimed, Delivery)
    w.backend.delivery_repository.mark_sent(claimed, now=w.backend.clock.now())
    assert [d.to for d in w.service.export(LEA).records.deliveries] == ["lea@example.org"]

    assert w.service.erase(LEA).notifications == 1

    [entry] = w.backend.delivery_repository.list_for_challenge(challenge.id)
    assert (entry.recipient_key, entry.to, entry.status.value) == ("erased_0", "", "sent")


def test_an_erasure_left_half_way_is_finished_under_its_own_pseudonym() -> None:
    w = world()
    first, second = w.backend.live_challenge(), w.backend.live_challenge()
    for challenge in (first, second):
        w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    # An erasure that stopped after moving nothing (a crash), whose pseudonym is kept.
    w.store.begin_erasure(LEA.sub, "erased_earlier", now=w.backend.clock.now())

    w.service.erase(LEA)

    assert {pid for (pid, _) in w.backend.db.pledges} == {"erased_earlier"}
    assert w.store.under_way == {}  # ended: no link between the sub and its pseudonym left


def test_a_pledge_made_again_during_the_erasure_gets_a_pseudonym_of_its_own() -> None:
    w = world(["erased_a", "erased_b"])
    challenge = w.backend.live_challenge()
    w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    original = w.store.pseudonymise_pledge

    def pledge_again_after_the_first_move(pledge, pseudonym, shard):  # type: ignore[no-untyped-def]
        outcome = original(pledge, pseudonym, shard)
        if pseudonym == "erased_a" and outcome is MoveOutcome.MOVED:
            w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())  # Léa again
        return outcome

    w.store.pseudonymise_pledge = pledge_again_after_the_first_move  # type: ignore[method-assign]
    w.service.erase(LEA)

    assert sorted(pid for (pid, _) in w.backend.db.pledges) == ["erased_a", "erased_b"]
    assert w.backend.counted(challenge.id) == 2  # two pledges were made: both counted


def test_an_erasure_that_never_catches_up_asks_to_retry() -> None:
    w = world()
    challenge = w.backend.live_challenge()
    w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    w.store.pseudonymise_pledge = lambda *args: MoveOutcome.RETRY  # type: ignore[method-assign]
    with pytest.raises(ContentionError):
        w.service.erase(LEA)


def test_a_pledge_being_erased_cannot_be_withdrawn() -> None:
    w = world()
    challenge = w.backend.live_challenge()
    w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    w.backend.db.erasing[(LEA.sub, challenge.id)] = "erased_x"
    assert w.backend.pledge_repository.remove(challenge.id, LEA.sub) is False
    assert w.backend.counted(challenge.id) == 1


def test_concurrent_erasures_of_one_person_share_one_pseudonym() -> None:
    w = world(["erased_a", "erased_b", "erased_c"])
    challenges = [w.backend.live_challenge() for _ in range(3)]
    for challenge in challenges:
        w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    original = w.store.pseudonymise_pledge
    nested: list[int] = []
    started: list[bool] = []

    def a_second_call_runs_meanwhile(pledge, pseudonym, shard):  # type: ignore[no-untyped-def]
        if not started:
            started.append(True)
            nested.append(w.service.erase(LEA).pledges)  # a retry, or a double click
        return original(pledge, pseudonym, shard)

    w.store.pseudonymise_pledge = a_second_call_runs_meanwhile  # type: ignore[method-assign]
    w.service.erase(LEA)

    assert nested == [3]
    assert {pid for (pid, _) in w.backend.db.pledges} == {"erased_a"}  # one person, once
    assert w.store.under_way == {}


def test_a_log_entry_whose_sender_died_is_moved_once_its_lease_ended() -> None:
    w = world()
    challenge = w.backend.live_challenge()
    w.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
    delivery = lea_mail(challenge.id)
    now = w.backend.clock.now()
    assert isinstance(
        w.backend.delivery_repository.claim(delivery, now=now, lease=timedelta(seconds=90)),
        Delivery,
    )  # and its sender died: the lease stays
    with pytest.raises(ContentionError):
        w.service.erase(LEA)  # while the lease runs, the entry is not moved
    w.backend.later(seconds=91)
    assert w.service.erase(LEA).notifications == 1
    [entry] = w.backend.delivery_repository.list_for_challenge(challenge.id)
    assert (entry.recipient_key, entry.to) == ("erased_0", "")
