"""One contract for the repository ports, run on the in-memory fakes and on DynamoDB (moto).

Each case is written once against `Store` and runs twice, so a fake cannot drift from the
DynamoDB repository it stands in for. What moto cannot show (DynamoDB's replay of a
ClientRequestToken) stays with the fakes in tests/unit/test_fakes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from moto import mock_aws
from pynamodb.exceptions import PutError

from chalicelib.domain.areas import AreaCount
from chalicelib.domain.audit import ActorRole, AuditEntry, AuditTarget
from chalicelib.domain.errors import ChallengeExistsError, InvalidRequestError, SlugTakenError
from chalicelib.domain.idempotency import AnswerAlreadyStoredError, keyed_answer
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    ChallengeStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Metric,
    Milestone,
    ModerationAction,
    ModerationKind,
    Organization,
    OrganizationKind,
    OrganizationProfile,
    Pledge,
    RecipientRole,
    Report,
    Target,
    Totals,
    Visibility,
)
from chalicelib.domain.proposals import ProposalEvent, proposal_event_from_key
from chalicelib.domain.series import HourCount
from chalicelib.domain.sponsor_report import NotificationTally
from chalicelib.domain.votes import BeneficiaryChoice, Candidate, CastOutcome, HeldVote
from chalicelib.local import moto_fixes
from chalicelib.local.stack import streams_client
from chalicelib.local.stream_poller import StreamBinding, StreamPoller
from chalicelib.services.campaigns import CampaignRepository
from chalicelib.services.moderation import ModerationRepository
from chalicelib.services.organizations import OrganizationRepository
from chalicelib.services.ports import (
    AuditRepository,
    ChallengeChanges,
    ChallengeRepository,
    ClaimRefused,
    CounterRepository,
    DeliveryRepository,
    Page,
    PledgeRepository,
    ReportRepository,
    ReportWrite,
    SystemClock,
)
from chalicelib.services.tallies import PledgeChange, TallyService, group_changes
from chalicelib.services.votes import VoteRepository
from chalicelib.settings import Settings
from chalicelib.storage.audit import DynamoAuditRepository
from chalicelib.storage.campaigns import DynamoCampaignRepository
from chalicelib.storage.challenges import DynamoChallengeRepository
from chalicelib.storage.counters import DynamoCounterRepository
from chalicelib.storage.deliveries import DynamoDeliveryRepository
from chalicelib.storage.moderation import DynamoModeration
from chalicelib.storage.organizations import DynamoOrganizationRepository
from chalicelib.storage.pledges import DynamoPledgeRepository
from chalicelib.storage.reports import DynamoReportRepository
from chalicelib.storage.tables import ChallengeEventItem, PledgeItem, create_tables, stream_arn
from chalicelib.storage.tallies import DynamoPledgeTallies, pledge_change_from_stream_record
from chalicelib.storage.votes import DynamoVoteRepository
from chalicelib.wiring import build_container
from tests.unit.fake_votes import FakeVoteRepository
from tests.unit.fakes import (
    DuplicateItemError,
    FakeAuditRepository,
    FakeCampaignRepository,
    FakeClock,
    FakeOrganizationRepository,
    FakePledgeTallies,
    FakeReportRepository,
)
from tests.unit.support import BENEFICIARY, REWARD, SPONSOR, build_backend

LEASE = timedelta(seconds=90)
SHARDS = 4


@dataclass
class Store:
    """One back end's repositories, behind the ports, and what a case needs to look inside."""

    name: str
    challenges: ChallengeRepository
    pledges: PledgeRepository
    reports: ReportRepository
    counters: CounterRepository
    deliveries: DeliveryRepository
    # The delivery log's tally (the sponsor's report), beside the DeliveryRepository port.
    delivery_tally: Callable[[str], list[NotificationTally]]
    tallies: FakePledgeTallies | DynamoPledgeTallies
    organizations: OrganizationRepository
    campaigns: CampaignRepository
    audit: AuditRepository
    clock: FakeClock
    # What `ChallengeRepository.add` raises for an id that exists (the port leaves it open).
    duplicate_error: type[Exception]
    # The milestones stored for a challenge: (event, occurred_at, participants, reached).
    milestones: Callable[[str], list[tuple[EventType, datetime, int, bool]]]
    moderation: ModerationRepository
    # Marks a pledge (challenge, participant) as an erasure does before moving it.
    mark_erasing: Callable[[str, str], None]
    votes: VoteRepository
    # The proposal outbox records stored under a proposal id (a publish may write one).
    proposal_events: Callable[[str], list[ProposalEvent]]
    # Runs `count_areas` on the pledges stream's records not counted yet (as one batch).
    count_pledges: Callable[[], None]
    _ids: int = 0

    def now(self) -> datetime:
        return self.clock.now()

    def live_challenge(self, **overrides: Any) -> Challenge:
        self._ids += 1
        fields: dict[str, Any] = {
            "id": f"ch_{self._ids:04d}",
            "title": "Cycle to work",
            "action": "I cycle to work at least once a week",
            "description": "",
            "target": Target(Metric.PARTICIPANTS, 3),
            "sponsor": SPONSOR,
            "beneficiary": BENEFICIARY,
            "reward": REWARD,
            "status": ChallengeStatus.LIVE,
            "visibility": Visibility.PUBLIC,
            "created_at": self.now(),
            "counter_shards": SHARDS,
        }
        fields.update(overrides)
        challenge = Challenge(**fields)
        self.challenges.add(challenge)
        return challenge

    def stored(self, challenge_id: str) -> Challenge:
        challenge = self.challenges.get(challenge_id, consistent=True)
        assert challenge is not None
        return challenge

    def totals(self, challenge_id: str) -> Totals:
        """The counter shards' sum once the pledges stream is counted."""
        self.count_pledges()
        return self.counters.totals(challenge_id, SHARDS)


def _fake_store() -> Store:
    backend = build_backend(counter_shards=SHARDS)

    def milestones(challenge_id: str) -> list[tuple[EventType, datetime, int, bool]]:
        return sorted(
            (m.event, m.occurred_at, m.totals.participants, m.reached)
            for m in backend.db.milestones_for(challenge_id)
        )

    return Store(
        name="fakes",
        challenges=backend.challenge_repository,
        pledges=backend.pledge_repository,
        reports=FakeReportRepository(backend.db),
        counters=backend.counter_repository,
        deliveries=backend.delivery_repository,
        delivery_tally=backend.delivery_repository.tally,
        tallies=FakePledgeTallies(),
        organizations=FakeOrganizationRepository(),
        campaigns=FakeCampaignRepository(),
        audit=FakeAuditRepository(),
        clock=backend.clock,
        duplicate_error=DuplicateItemError,
        milestones=milestones,
        moderation=backend.moderation_repository,
        mark_erasing=lambda challenge_id, participant_id: backend.db.erasing.__setitem__(
            (participant_id, challenge_id), "erased_0"
        ),
        votes=FakeVoteRepository(backend.db),
        proposal_events=lambda pid: [e for p, e in backend.db.proposal_outbox if p == pid],
        count_pledges=backend.db.deliver_pledges,
    )


def _dynamo_milestones(challenge_id: str) -> list[tuple[EventType, datetime, int, bool]]:
    return sorted(
        (EventType(item.event), item.occurred_at, int(item.participants), bool(item.reached))
        for item in ChallengeEventItem.query(challenge_id, consistent_read=True)
        if not item.event.startswith("fanout#")
    )


def _dynamo_mark_erasing(challenge_id: str, participant_id: str) -> None:
    PledgeItem(participant_id=participant_id, challenge_id=challenge_id).update(
        actions=[PledgeItem.erasing.set("erased_0")]
    )


def _dynamo_pledge_counter(settings: Settings, tallies: DynamoPledgeTallies) -> Callable[[], None]:
    """What `count_areas` does with the pledges stream, on the records not read yet."""
    service = TallyService(tallies, SystemClock())

    def count(event: dict[str, Any], context: Any) -> dict[str, Any]:
        changes = [pledge_change_from_stream_record(record) for record in event["Records"]]
        for group in group_changes(change for change in changes if change is not None):
            service.count(group)
        return {"batchItemFailures": []}

    binding = StreamBinding("count_areas", stream_arn(PledgeItem), count, batch_size=1000)
    poller = StreamPoller(streams_client(settings), [binding])

    def drain() -> None:
        poller.drain()

    return drain


def _dynamo_store(settings: Settings) -> Iterator[Store]:
    moto_fixes.apply()
    with mock_aws():
        build_container(settings)  # points the models at this stage's tables, as in AWS
        create_tables()  # what prepare_aws does, less its SES client (a costly build)
        deliveries = DynamoDeliveryRepository()
        tallies = DynamoPledgeTallies(settings)
        yield Store(
            name="dynamodb",
            challenges=DynamoChallengeRepository(settings),
            pledges=DynamoPledgeRepository(settings),
            reports=DynamoReportRepository(settings),
            counters=DynamoCounterRepository(),
            deliveries=deliveries,
            delivery_tally=deliveries.tally,
            tallies=tallies,
            organizations=DynamoOrganizationRepository(settings),
            campaigns=DynamoCampaignRepository(),
            audit=DynamoAuditRepository(),
            clock=FakeClock(),
            duplicate_error=PutError,
            milestones=_dynamo_milestones,
            moderation=DynamoModeration(settings),
            mark_erasing=_dynamo_mark_erasing,
            votes=DynamoVoteRepository(settings),
            proposal_events=lambda pid: [
                proposal_event_from_key(item.event)
                for item in ChallengeEventItem.query(pid, consistent_read=True)
            ],
            count_pledges=_dynamo_pledge_counter(settings, tallies),
        )


@pytest.fixture(params=["fakes", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "fakes":
        yield _fake_store()
    else:
        yield from _dynamo_store(request.getfixturevalue("env"))


# --- challenges ----------------------------------------------------------------------------------


def test_save_totals_only_stores_a_higher_version(store: Store) -> None:
    challenge = store.live_challenge()

    assert store.challenges.save_totals(challenge.id, Totals(5, 0, 7))
    assert not store.challenges.save_totals(challenge.id, Totals(3, 0, 6))
    assert not store.challenges.save_totals(challenge.id, Totals(9, 0, 7))
    assert not store.challenges.save_totals("ch_missing", Totals(1, 0, 1))
    assert store.stored(challenge.id).totals == Totals(5, 0, 7)
    assert store.challenges.get("ch_missing") is None


def test_adding_an_existing_challenge_fails(store: Store) -> None:
    challenge = store.live_challenge()

    with pytest.raises(ChallengeExistsError):
        store.challenges.add(challenge.with_changes(title="Other"))
    assert store.stored(challenge.id) == challenge


def test_record_milestone_needs_the_stored_target_met_and_writes_once(store: Store) -> None:
    challenge = store.live_challenge(target=Target(Metric.PARTICIPANTS, 10))
    now = store.now()
    short = Milestone(challenge.id, EventType.REACHED, now, Totals(9, 0, 9), reached=True)
    met = Milestone(challenge.id, EventType.REACHED, now, Totals(10, 0, 10), reached=True)

    assert not store.challenges.record_milestone(challenge, short)
    assert not store.stored(challenge.id).reached
    # A caller holding an older, lower target is still judged on the stored one.
    assert not store.challenges.record_milestone(
        challenge.with_changes(target=Target(Metric.PARTICIPANTS, 9)), short
    )
    assert store.challenges.record_milestone(challenge, met)
    assert not store.challenges.record_milestone(challenge, met)
    assert store.stored(challenge.id).reached_at == now
    assert store.milestones(challenge.id) == [(EventType.REACHED, now, 10, True)]


def test_an_ended_milestone_ends_a_live_challenge_at_its_deadline_only(store: Store) -> None:
    deadline = store.now() + timedelta(days=1)
    challenge = store.live_challenge(ends_at=deadline)
    moved = store.live_challenge(ends_at=deadline)
    later = deadline + timedelta(minutes=1)

    def ended(of: Challenge) -> Milestone:
        return Milestone(of.id, EventType.ENDED, later, Totals(2, 0, 2), reached=False)

    # An admin moved the deadline after it was found due: the stale one ends nothing.
    new_deadline = deadline + timedelta(days=7)
    changes = ChallengeChanges(ends_at=new_deadline)
    assert store.challenges.update(
        moved, changes, allowed_statuses=[ChallengeStatus.LIVE], now=later
    )
    assert not store.challenges.record_milestone(moved, ended(moved))
    assert store.stored(moved.id).status is ChallengeStatus.LIVE
    assert store.milestones(moved.id) == []

    assert store.challenges.record_milestone(challenge, ended(challenge))
    assert not store.challenges.record_milestone(challenge, ended(challenge))
    stored = store.stored(challenge.id)
    assert (stored.status, stored.updated_at) == (ChallengeStatus.ENDED, later)
    assert store.milestones(challenge.id) == [(EventType.ENDED, later, 2, False)]


def test_transition_moves_only_from_the_expected_status(store: Store) -> None:
    challenge = store.live_challenge(status=ChallengeStatus.DRAFT)
    now = store.now()

    assert (
        store.challenges.transition(challenge.id, ChallengeStatus.LIVE, ChallengeStatus.CLOSED, now)
        is None
    )
    live = store.challenges.transition(
        challenge.id, ChallengeStatus.DRAFT, ChallengeStatus.LIVE, now
    )
    assert live is not None
    assert (live.status, live.updated_at) == (ChallengeStatus.LIVE, now)
    assert store.stored(challenge.id) == live
    assert (
        store.challenges.transition("ch_missing", ChallengeStatus.DRAFT, ChallengeStatus.LIVE, now)
        is None
    )


def test_a_transition_announcing_a_proposal_writes_both_or_neither(store: Store) -> None:
    challenge = store.live_challenge(status=ChallengeStatus.DRAFT, proposal_id="prop_0001")
    now = store.now()

    refused = store.challenges.transition(
        challenge.id, ChallengeStatus.LIVE, ChallengeStatus.CLOSED, now, proposal_live="prop_0001"
    )
    assert refused is None
    assert store.proposal_events("prop_0001") == []  # the status did not change: no news
    live = store.challenges.transition(
        challenge.id, ChallengeStatus.DRAFT, ChallengeStatus.LIVE, now, proposal_live="prop_0001"
    )
    assert live is not None
    assert (live.status, live.updated_at, live.proposal_id) == (
        ChallengeStatus.LIVE,
        now,
        "prop_0001",
    )
    assert store.stored(challenge.id) == live
    assert store.proposal_events("prop_0001") == [ProposalEvent.CHALLENGE_LIVE]
    assert store.milestones(challenge.id) == []  # the record is the proposal's, not a milestone


def test_update_writes_only_in_allowed_statuses_and_no_target_once_reached(
    store: Store,
) -> None:
    challenge = store.live_challenge(target=Target(Metric.PARTICIPANTS, 1))
    now = store.now()
    live_only = [ChallengeStatus.LIVE]

    updated = store.challenges.update(
        challenge, ChallengeChanges(title="Renamed"), allowed_statuses=live_only, now=now
    )
    assert updated is not None
    assert (updated.title, updated.updated_at) == ("Renamed", now)
    assert store.stored(challenge.id) == updated
    assert (
        store.challenges.update(
            challenge,
            ChallengeChanges(title="Draft only"),
            allowed_statuses=[ChallengeStatus.DRAFT],
            now=now,
        )
        is None
    )

    met = Milestone(challenge.id, EventType.REACHED, now, Totals(1, 0, 1), reached=True)
    assert store.challenges.record_milestone(challenge, met)
    retarget = ChallengeChanges(target=Target(Metric.PARTICIPANTS, 5))
    assert store.challenges.update(challenge, retarget, allowed_statuses=live_only, now=now) is None
    assert store.stored(challenge.id).target == Target(Metric.PARTICIPANTS, 1)
    assert store.challenges.update(
        challenge, ChallengeChanges(reward="More"), allowed_statuses=live_only, now=now
    )


def test_list_due_returns_live_challenges_at_or_past_their_deadline(store: Store) -> None:
    now = store.now()
    due = store.live_challenge(ends_at=now)
    overdue = store.live_challenge(ends_at=now - timedelta(hours=1))
    store.live_challenge(ends_at=now + timedelta(seconds=1))
    store.live_challenge()  # no deadline
    store.live_challenge(status=ChallengeStatus.CLOSED, ends_at=now - timedelta(hours=1))

    assert sorted(c.id for c in store.challenges.list_due(now)) == sorted([due.id, overdue.id])


def _pages(list_page: Callable[[str | None], Page[Challenge]]) -> list[list[str]]:
    """Every page's challenge ids, following the cursors to the end."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(20):
        page = list_page(cursor)
        pages.append([c.id for c in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("the listing did not end")


def test_listing_walks_the_statuses_in_order_newest_first_a_page_at_a_time(
    store: Store,
) -> None:
    statuses = [ChallengeStatus.LIVE] * 3 + [ChallengeStatus.ENDED] * 2 + [ChallengeStatus.DRAFT]
    ids = [
        store.live_challenge(status=status, created_at=store.now() + timedelta(minutes=number)).id
        for number, status in enumerate(statuses)
    ]
    wanted = [ChallengeStatus.LIVE, ChallengeStatus.ENDED]

    pages = _pages(lambda cursor: store.challenges.list(wanted, limit=2, cursor=cursor))

    # A page is filled across the status partitions; a partition's key ends a full page.
    assert pages == [[ids[2], ids[1]], [ids[0], ids[4]], [ids[3]]]


def test_a_campaigns_listing_pages_through_the_wanted_statuses_newest_first(
    store: Store,
) -> None:
    statuses = [ChallengeStatus.LIVE, ChallengeStatus.DRAFT, ChallengeStatus.LIVE]
    ids = [
        store.live_challenge(
            status=status, campaign_id="cmp_1", created_at=store.now() + timedelta(minutes=n)
        ).id
        for n, status in enumerate(statuses)
    ]
    store.live_challenge(campaign_id="cmp_2")

    pages = _pages(
        lambda cursor: store.challenges.list(
            [ChallengeStatus.LIVE], limit=2, cursor=cursor, campaign_id="cmp_1"
        )
    )

    # DynamoDB reads `limit` items, then filters them, so a page may come back short (the
    # fake does so: [[ids[2]], [ids[0]]]); moto filters first, so only what both promise
    # is checked here: the wanted challenges, newest first, each once, `limit` at most a page.
    assert all(len(page) <= 2 for page in pages)
    assert [cid for page in pages for cid in page] == [ids[2], ids[0]]


# --- pledges and counters -------------------------------------------------------------------


def test_pledges_are_counted_in_their_shard_with_the_insert(store: Store) -> None:
    challenge = store.live_challenge()
    pledge = Pledge(challenge.id, "lea", store.now(), display_name="Léa", area="u09tv")

    assert store.pledges.add(pledge, 0)
    assert not store.pledges.add(replace(pledge, display_name="Other"), 0)
    assert store.pledges.get(challenge.id, "lea") == pledge
    assert store.totals(challenge.id) == Totals(1, 0, 1)
    assert store.pledges.remove(challenge.id, "lea")
    assert not store.pledges.remove(challenge.id, "lea")
    assert store.pledges.get(challenge.id, "lea") is None
    assert store.totals(challenge.id) == Totals(0, 0, 2)


def test_a_pledge_stores_its_answer_with_it_unless_one_is_stored_and_unexpired(
    store: Store,
) -> None:
    challenge = store.live_challenge()
    written = int(store.now().timestamp())
    answer = keyed_answer("pledge#lea#x", "k-1", b"{}", 201, '{"pledge": 1}', written)

    assert store.pledges.add(Pledge(challenge.id, "lea", store.now()), 0, answer=answer)
    # Another write under the same record id writes nothing: not its pledge, not its count.
    with pytest.raises(AnswerAlreadyStoredError):
        store.pledges.add(Pledge(challenge.id, "hugo", store.now()), 1, answer=answer)
    assert store.pledges.get(challenge.id, "hugo") is None
    assert store.totals(challenge.id).participants == 1
    # Once expired (the TTL has not deleted it yet), the record is overwritten.
    later = replace(answer, written_at=answer.expires_at + 1)
    assert store.pledges.add(Pledge(challenge.id, "hugo", store.now()), 1, answer=later)
    assert store.totals(challenge.id).participants == 2
    # A pledge that exists is not written again, whatever the answer.
    fresh = keyed_answer("pledge#lea#x", "k-2", b"{}", 201, "{}", written)
    assert not store.pledges.add(Pledge(challenge.id, "lea", store.now()), 0, answer=fresh)


def test_a_request_token_whose_write_failed_applies_it_when_retried(store: Store) -> None:
    challenge = store.live_challenge()
    pledge = Pledge(challenge.id, "lea", store.now())

    assert not store.pledges.remove(challenge.id, "lea", request_token="t-1")  # nothing yet
    assert store.pledges.add(pledge, 1)
    assert store.pledges.remove(challenge.id, "lea", request_token="t-1")

    assert store.totals(challenge.id).participants == 0


# --- moderation ------------------------------------------------------------------------------


def moderation(pledge: Pledge, kind: ModerationKind, at: datetime, reason: str) -> ModerationAction:
    return ModerationAction(
        challenge_id=pledge.challenge_id,
        participant_id=pledge.participant_id,
        action=kind,
        at=at,
        actor_sub="admin-1",
        actor_role="admin",
        pledge=pledge,
        reason=reason,
    )


def test_hiding_a_name_marks_the_pledge_and_records_the_action_once(store: Store) -> None:
    challenge = store.live_challenge()
    pledge = Pledge(challenge.id, "lea", store.now(), display_name="Léa", area="u09tv")
    assert store.pledges.add(pledge, 0)
    other = Pledge(challenge.id, "lea2", store.now(), display_name="Léa 2")  # "lea" + "2"
    assert store.pledges.add(other, 1)
    hide = moderation(pledge, ModerationKind.HIDE_NAME, store.now(), "rude")

    assert store.moderation.hide_name(pledge, hide)
    assert not store.moderation.hide_name(pledge, replace(hide, at=store.now() + LEASE))

    assert store.moderation.pledge(challenge.id, "lea") == replace(pledge, name_hidden=True)
    assert store.pledges.get(challenge.id, "lea") == replace(pledge, name_hidden=True)
    assert store.moderation.actions(challenge.id, "lea") == [hide]
    assert store.moderation.actions(challenge.id, "lea2") == []
    assert store.moderation.pledge(challenge.id, "nobody") is None
    assert store.totals(challenge.id) == Totals(2, 0, 1)  # both counted in one batch


def test_a_removal_deletes_counts_off_and_records_together_once(store: Store) -> None:
    challenge = store.live_challenge()
    pledge = Pledge(challenge.id, "lea", store.now(), display_name="Léa", area="u09tv")
    assert store.pledges.add(pledge, 2)
    assert store.totals(challenge.id) == Totals(1, 0, 1)
    first = moderation(pledge, ModerationKind.REMOVE, store.now(), "spam")
    second = replace(first, at=store.now() + LEASE, reason="again")

    assert store.moderation.remove(pledge, first, count_vote_out=False)
    assert not store.moderation.remove(pledge, second, count_vote_out=False)

    assert store.pledges.get(challenge.id, "lea") is None
    assert store.totals(challenge.id) == Totals(0, 0, 2)
    assert store.moderation.actions(challenge.id, "lea") == [first]


def test_moderation_refuses_a_pledge_other_than_the_one_read_or_being_erased(
    store: Store,
) -> None:
    challenge = store.live_challenge()
    pledge = Pledge(challenge.id, "lea", store.now(), display_name="Léa")
    assert store.pledges.add(pledge, 0)
    earlier = replace(pledge, created_at=store.now() - LEASE)  # withdrawn and pledged again
    hide = moderation(earlier, ModerationKind.HIDE_NAME, store.now(), "rude")
    remove = moderation(earlier, ModerationKind.REMOVE, store.now() + LEASE, "spam")
    assert not store.moderation.hide_name(earlier, hide)
    assert not store.moderation.remove(earlier, remove, count_vote_out=False)
    store.mark_erasing(challenge.id, "lea")
    assert not store.moderation.hide_name(pledge, replace(hide, pledge=pledge))
    assert not store.moderation.remove(pledge, replace(remove, pledge=pledge), count_vote_out=False)

    assert store.moderation.actions(challenge.id, "lea") == []
    assert store.totals(challenge.id) == Totals(1, 0, 1)
    stored = store.moderation.pledge(challenge.id, "lea")
    assert stored is not None
    assert not stored.name_hidden


def test_a_participants_actions_are_listed_oldest_first(store: Store) -> None:
    challenge = store.live_challenge()
    pledge = Pledge(challenge.id, "lea", store.now(), display_name="Léa")
    assert store.pledges.add(pledge, 0)
    hide = moderation(pledge, ModerationKind.HIDE_NAME, store.now(), "rude")
    assert store.moderation.hide_name(pledge, hide)
    hidden = replace(pledge, name_hidden=True)
    remove = moderation(hidden, ModerationKind.REMOVE, store.now() + LEASE, "spam")
    assert store.moderation.remove(hidden, replace(remove, after_freeze=True), count_vote_out=False)

    assert store.moderation.actions(challenge.id, "lea") == [
        hide,
        replace(remove, after_freeze=True),
    ]


def test_a_participants_pledges_are_listed_by_challenge_a_page_at_a_time(store: Store) -> None:
    ids = [store.live_challenge().id for _ in range(3)]
    for challenge_id in reversed(ids):
        assert store.pledges.add(Pledge(challenge_id, "lea", store.now()), 0)
    assert store.pledges.add(Pledge(ids[0], "max", store.now()), 0)

    first = store.pledges.list_for_participant("lea", limit=2, cursor=None)
    assert [p.challenge_id for p in first.items] == ids[:2]
    assert first.next_cursor is not None
    rest = _remaining(
        lambda cursor: store.pledges.list_for_participant("lea", limit=2, cursor=cursor),
        first.next_cursor,
    )
    assert [p.challenge_id for p in rest] == ids[2:]
    assert store.pledges.list_for_participant("nobody", limit=2, cursor=None) == Page([])


def _remaining(list_page: Callable[[str | None], Page[Any]], cursor: str | None) -> list[Any]:
    items: list[Any] = []
    for _ in range(20):
        if cursor is None:
            return items
        page = list_page(cursor)
        items.extend(page.items)
        cursor = page.next_cursor
    raise AssertionError("the listing did not end")


# --- reports --------------------------------------------------------------------------------


def report(challenge_id: str, number: int, quantity: float, created_at: datetime) -> Report:
    return Report(
        id=f"rep_{number:04d}",
        challenge_id=challenge_id,
        participant_id="lea",
        quantity=quantity,
        unit="km",
        occurred_on=date(2026, 6, 1),
        created_at=created_at,
    )


def test_a_report_is_stored_and_counted_once_and_only_with_a_pledge(store: Store) -> None:
    challenge = store.live_challenge(target=Target(Metric.QUANTITY, 100, "km"))
    first = report(challenge.id, 1, 0.1, store.now())

    assert store.reports.add(first, 2) is ReportWrite.NOT_PLEDGED
    assert store.reports.get("lea", first.id) is None
    assert store.totals(challenge.id) == Totals()

    assert store.pledges.add(Pledge(challenge.id, "lea", store.now()), 2)
    assert store.reports.add(first, 2) is ReportWrite.ADDED
    assert store.reports.add(replace(first, quantity=5), 2) is ReportWrite.EXISTS
    assert store.reports.add(report(challenge.id, 2, 0.2, store.now()), 2) is ReportWrite.ADDED

    assert store.reports.get("lea", first.id) == first
    pledge = store.pledges.get(challenge.id, "lea")
    assert pledge is not None
    assert pledge.quantity_reported == 0.3  # summed exactly, as decimals
    assert store.totals(challenge.id) == Totals(1, 0.3, 3)

    # A report already stored wins over the pledge now missing: its answer is replayed.
    assert store.pledges.remove(challenge.id, "lea")
    assert store.reports.add(first, 2) is ReportWrite.EXISTS
    assert store.reports.add(report(challenge.id, 3, 1, store.now()), 2) is (
        ReportWrite.NOT_PLEDGED
    )
    assert store.totals(challenge.id) == Totals(0, 0.3, 4)


def test_reports_are_listed_newest_first_per_challenge_a_page_at_a_time(store: Store) -> None:
    cycling, walking = store.live_challenge(), store.live_challenge()
    for challenge in (cycling, walking):
        assert store.pledges.add(Pledge(challenge.id, "lea", store.now()), 0)
    made = []
    for number in range(5):
        challenge = cycling if number % 2 == 0 else walking
        at = store.now() + timedelta(minutes=number, microseconds=number % 2)
        made.append(report(challenge.id, number, number + 1, at))
        assert store.reports.add(made[-1], 0) is ReportWrite.ADDED
    newest_first = list(reversed(made))

    def listed(challenge_id: str | None) -> list[Report]:
        first = store.reports.list_for_participant(
            "lea", challenge_id=challenge_id, limit=2, cursor=None
        )
        assert len(first.items) <= 2
        return first.items + _remaining(
            lambda cursor: store.reports.list_for_participant(
                "lea", challenge_id=challenge_id, limit=2, cursor=cursor
            ),
            first.next_cursor,
        )

    assert listed(None) == newest_first
    assert listed(cycling.id) == [r for r in newest_first if r.challenge_id == cycling.id]
    assert listed(walking.id) == [r for r in newest_first if r.challenge_id == walking.id]
    assert store.reports.list_for_participant(
        "max", challenge_id=None, limit=2, cursor=None
    ) == Page([])


# --- the delivery log -----------------------------------------------------------------------


def delivery(
    challenge_id: str = "ch_1",
    *,
    role: RecipientRole = RecipientRole.SPONSOR,
    event: EventType = EventType.REACHED,
    recipient_key: str = "sponsor",
) -> Delivery:
    return Delivery(
        challenge_id=challenge_id,
        event=event,
        recipient_role=role,
        channel=Channel.EMAIL,
        recipient_key=recipient_key,
        to=f"{recipient_key}@example.org",
    )


def test_a_delivery_is_claimable_when_new_pending_and_unleased(store: Store) -> None:
    deliveries = store.deliveries
    now = store.now()

    first = deliveries.claim(delivery(), now=now, lease=LEASE)
    assert isinstance(first, Delivery)
    assert (first.attempts, first.status, first.created_at) == (1, DeliveryStatus.PENDING, now)
    assert first.lease_until == now + LEASE
    held = deliveries.claim(delivery(), now=now + LEASE, lease=LEASE)
    assert held is ClaimRefused.HELD

    retaken = deliveries.claim(delivery(), now=now + LEASE + timedelta(seconds=1), lease=LEASE)
    assert isinstance(retaken, Delivery)
    assert (retaken.attempts, retaken.created_at) == (2, now)
    # The first sender lost its lease: what it records now is ignored (fencing).
    deliveries.mark_sent(first, now=now)
    deliveries.mark_failed(first, error="late", final=True)
    [pending] = deliveries.list_for_challenge("ch_1")
    assert (pending.status, pending.last_error) == (DeliveryStatus.PENDING, None)

    deliveries.mark_failed(retaken, error="boom", final=False)
    [released] = deliveries.list_for_challenge("ch_1")
    assert (released.lease_until, released.last_error) == (None, "boom")
    again = deliveries.claim(delivery(), now=now + LEASE, lease=LEASE)
    assert isinstance(again, Delivery)
    assert (again.attempts, again.last_error) == (3, "boom")

    deliveries.mark_sent(again, now=now)
    settled = deliveries.claim(delivery(), now=now + 10 * LEASE, lease=LEASE)
    assert settled is ClaimRefused.SETTLED
    [stored] = deliveries.list_for_challenge("ch_1")
    assert (stored.status, stored.attempts, stored.sent_at) == (DeliveryStatus.SENT, 3, now)
    assert (stored.last_error, stored.lease_until) == (None, None)


def test_a_participant_email_is_claimed_only_while_the_pledge_is_held(store: Store) -> None:
    challenge = store.live_challenge()
    mail = delivery(challenge.id, role=RecipientRole.PARTICIPANT, recipient_key="p1")
    now = store.now()
    refused = store.deliveries.claim(mail, now=now, lease=LEASE, pledged=True)
    assert refused is ClaimRefused.SETTLED  # no pledge: nothing owed, nothing logged
    assert store.deliveries.list_for_challenge(challenge.id) == []
    assert store.pledges.add(Pledge(challenge.id, "p1", now), 0)
    claimed = store.deliveries.claim(mail, now=now, lease=LEASE, pledged=True)
    assert isinstance(claimed, Delivery)
    assert (claimed.attempts, claimed.to, claimed.lease_until) == (1, "p1@example.org", now + LEASE)
    assert store.deliveries.claim(mail, now=now, lease=LEASE, pledged=True) is ClaimRefused.HELD
    assert store.pledges.remove(challenge.id, "p1")
    later = now + 2 * LEASE
    assert store.deliveries.claim(mail, now=later, lease=LEASE, pledged=True) is (
        ClaimRefused.SETTLED
    )  # withdrawn since: no longer owed


def test_a_failed_delivery_is_never_claimed_again(store: Store) -> None:
    deliveries = store.deliveries
    now = store.now()
    claimed = deliveries.claim(delivery(), now=now, lease=LEASE)
    assert isinstance(claimed, Delivery)

    deliveries.mark_failed(claimed, error="x" * 600, final=True)

    settled = deliveries.claim(delivery(), now=now + 10 * LEASE, lease=LEASE)
    assert settled is ClaimRefused.SETTLED
    [stored] = deliveries.list_for_challenge("ch_1")
    assert stored.status is DeliveryStatus.FAILED
    assert stored.last_error == "x" * 500
    assert deliveries.list_for_challenge("ch_2") == []


def test_the_delivery_log_pages_sponsors_then_beneficiaries_then_participants(
    store: Store,
) -> None:
    now = store.now()
    made = [
        delivery(role=RecipientRole.PARTICIPANT, recipient_key="p2"),
        delivery(role=RecipientRole.PARTICIPANT, recipient_key="p1"),
        delivery(role=RecipientRole.PARTICIPANT, event=EventType.ENDED, recipient_key="p1"),
        delivery(role=RecipientRole.BENEFICIARY, recipient_key="asso"),
        delivery(event=EventType.ENDED),
        delivery(),
        delivery("ch_2"),
    ]
    for each in made:
        assert isinstance(store.deliveries.claim(each, now=now, lease=LEASE), Delivery)

    def keys(role: RecipientRole | None, limit: int) -> list[str]:
        first = store.deliveries.list_page("ch_1", role=role, limit=limit, cursor=None)
        assert len(first.items) <= limit
        rest = _remaining(
            lambda cursor: store.deliveries.list_page(
                "ch_1", role=role, limit=limit, cursor=cursor
            ),
            first.next_cursor,
        )
        return [f"{d.recipient_key}/{d.event}" for d in first.items + rest]

    everything = [
        "sponsor/challenge.reached", "sponsor/challenge.ended",
        "asso/challenge.reached",
        "p1/challenge.reached", "p2/challenge.reached", "p1/challenge.ended",
    ]  # fmt: skip
    for limit in (1, 2, 4, 10):
        assert keys(None, limit) == everything
    assert keys(RecipientRole.PARTICIPANT, 2) == everything[3:]
    assert keys(RecipientRole.BENEFICIARY, 2) == ["asso/challenge.reached"]
    assert store.deliveries.list_page("ch_3", role=None, limit=5, cursor=None).items == []


# --- an organisation's challenges -------------------------------------------------------------


def test_an_organisations_listing_pages_through_the_wanted_statuses_newest_first(
    store: Store,
) -> None:
    statuses = [
        ChallengeStatus.LIVE,
        ChallengeStatus.DRAFT,
        ChallengeStatus.ENDED,
        ChallengeStatus.LIVE,
        ChallengeStatus.CLOSED,
    ]
    ids = [
        store.live_challenge(
            status=status, organization_id="org_a", created_at=store.now() + timedelta(minutes=n)
        ).id
        for n, status in enumerate(statuses)
    ]
    store.live_challenge(organization_id="org_b")
    store.live_challenge()  # of no organisation
    store.live_challenge(campaign_id="cmp_1")

    def listed(wanted: list[ChallengeStatus], organization_id: str) -> list[str]:
        pages = _pages(
            lambda cursor: store.challenges.list(
                wanted, limit=2, cursor=cursor, organization_id=organization_id
            )
        )
        # As for a campaign's listing: a page may come back short (DynamoDB filters the
        # statuses after `limit`), never longer than `limit`.
        assert all(len(page) <= 2 for page in pages)
        return [cid for page in pages for cid in page]

    assert listed([ChallengeStatus.LIVE, ChallengeStatus.ENDED], "org_a") == [
        ids[3],
        ids[2],
        ids[0],
    ]
    assert listed(list(ChallengeStatus), "org_a") == list(reversed(ids))
    assert listed([ChallengeStatus.DRAFT], "org_a") == [ids[1]]
    assert listed(list(ChallengeStatus), "org_c") == []


# --- tallies: areas and hours -----------------------------------------------------------------

T0 = datetime(2026, 6, 1, 9, 15, tzinfo=UTC)


def pledge_change(
    receipt: int,
    delta: int = 1,
    challenge_id: str = "ch_1",
    *,
    area: str | None = "u09tv",
    at: datetime = T0,
) -> PledgeChange:
    return PledgeChange(f"{receipt:021d}", challenge_id, delta, at, area)


def test_a_pledge_change_counts_once_by_its_receipt(store: Store) -> None:
    tallies, now = store.tallies, store.now()

    assert tallies.apply("ch_1", [pledge_change(1), pledge_change(2)], now=now) == 2
    assert tallies.apply("ch_1", [pledge_change(2), pledge_change(3)], now=now) == 1
    assert tallies.apply("ch_1", [pledge_change(1), pledge_change(3)], now=now) == 0
    assert tallies.apply("ch_1", [pledge_change(4, -1)], now=now) == 1
    assert tallies.apply("ch_2", [pledge_change(5, challenge_id="ch_2")], now=now) == 1

    assert tallies.count("ch_1", "u09tv") == 2
    assert tallies.count("ch_1", "u09wh") == 0
    assert tallies.counts("ch_1") == [AreaCount("u09tv", 2)]
    assert tallies.counts("ch_2") == [AreaCount("u09tv", 1)]
    hour = T0.replace(minute=0)
    assert tallies.hours("ch_1") == [HourCount(hour, 3, 1)]  # 1, 2, 3 made; 4 withdrawn


def test_changes_netting_to_zero_leave_an_uncounted_area_unlisted(store: Store) -> None:
    tallies, now = store.tallies, store.now()

    assert tallies.apply("ch_1", [pledge_change(1), pledge_change(2, -1)], now=now) == 2

    assert tallies.counts("ch_1") == []
    assert tallies.count("ch_1", "u09tv") == 0
    # The hour still counts both: one pledge made, one withdrawn.
    assert tallies.hours("ch_1") == [HourCount(T0.replace(minute=0), 1, 1)]


def test_hours_count_pledges_made_and_withdrawn_in_their_utc_hour_once_each(
    store: Store,
) -> None:
    tallies, now = store.tallies, store.now()
    nine, ten, noon = (T0.replace(hour=h, minute=0) for h in (9, 10, 12))
    paris = ZoneInfo("Europe/Paris")
    changes = [
        pledge_change(1, at=nine + timedelta(minutes=15)),
        pledge_change(2, area=None, at=nine + timedelta(minutes=59, seconds=59)),
        pledge_change(3, -1, at=ten + timedelta(minutes=5)),
        # 14:00 in Paris (summer time) is 12:00 UTC: stored by its UTC hour.
        pledge_change(4, area="FR-92", at=datetime(2026, 6, 1, 14, 0, tzinfo=paris)),
    ]

    assert tallies.apply("ch_1", changes, now=now) == 4
    assert tallies.apply("ch_2", [pledge_change(5, challenge_id="ch_2", at=nine)], now=now) == 1
    assert tallies.hours("ch_1") == [
        HourCount(nine, 2, 0),
        HourCount(ten, 0, 1),
        HourCount(noon, 1, 0),
    ]
    # Delivered again, with one new record: only the new one counts.
    late = pledge_change(6, at=ten + timedelta(minutes=30))
    assert tallies.apply("ch_1", [*changes, late], now=now) == 1
    assert tallies.hours("ch_1") == [
        HourCount(nine, 2, 0),
        HourCount(ten, 1, 1),
        HourCount(noon, 1, 0),
    ]
    assert tallies.hours("ch_2") == [HourCount(nine, 1, 0)]
    assert tallies.hours("ch_missing") == []
    assert sorted(tallies.counts("ch_1"), key=lambda c: c.area) == [
        AreaCount("FR-92", 1),
        AreaCount("u09tv", 1),
    ]


# --- organisations ----------------------------------------------------------------------------


def organization(number: int, slug: str | None = None, **profile: Any) -> Organization:
    return Organization(
        id=f"org_{number:04d}",
        name=f"Organisation {number}",
        kind=OrganizationKind.COMPANY,
        created_at=T0 + timedelta(minutes=number),
        email_domains=(f"org{number}.example",),
        profile=OrganizationProfile(slug=slug, **profile),
    )


def with_profile(organization: Organization, **changes: Any) -> Organization:
    return replace(organization, profile=replace(organization.profile, **changes))


def test_an_organisation_is_stored_with_its_profile_and_found_by_its_slug(store: Store) -> None:
    humanis = organization(
        1,
        slug="humanis",
        display_name="Groupe Humanis",
        logo_url="https://humanis.example/logo.png",
        primary_color="#123abc",
        default_locale="en",
    )
    plain = organization(2)

    store.organizations.add(humanis)
    store.organizations.add(plain)

    assert store.organizations.get(humanis.id) == humanis
    assert store.organizations.get(plain.id) == plain
    assert store.organizations.get_by_slug("humanis") == humanis
    assert store.organizations.get_by_slug("other") is None
    assert store.organizations.get("org_missing") is None


def test_organisations_are_listed_newest_first_a_page_at_a_time(store: Store) -> None:
    made = [organization(n, slug=f"org-{n}") for n in range(3)]
    for each in made:
        store.organizations.add(each)

    first = store.organizations.list(limit=2, cursor=None)
    assert first.items == [made[2], made[1]]
    rest = _remaining(
        lambda cursor: store.organizations.list(limit=2, cursor=cursor), first.next_cursor
    )
    assert rest == [made[0]]


def test_a_taken_slug_is_refused_and_nothing_is_written(store: Store) -> None:
    first = organization(1, slug="humanis")
    store.organizations.add(first)

    with pytest.raises(SlugTakenError):
        store.organizations.add(organization(2, slug="humanis"))

    assert store.organizations.get("org_0002") is None
    assert store.organizations.get_by_slug("humanis") == first
    assert store.organizations.list(limit=10, cursor=None).items == [first]


def test_replace_moves_the_slug_and_frees_the_old_one(store: Store) -> None:
    before = organization(1, slug="humanis")
    store.organizations.add(before)
    after = with_profile(before, slug="groupe-humanis", display_name="Groupe Humanis")

    assert store.organizations.replace(before, after)

    assert store.organizations.get(before.id) == after
    assert store.organizations.get_by_slug("groupe-humanis") == after
    assert store.organizations.get_by_slug("humanis") is None
    # The old slug is free: another organisation may take it.
    other = organization(2, slug="humanis")
    store.organizations.add(other)
    assert store.organizations.get_by_slug("humanis") == other
    # Without a slug, then with one again.
    cleared = with_profile(after, slug=None)
    assert store.organizations.replace(after, cleared)
    assert store.organizations.get_by_slug("groupe-humanis") is None
    assert store.organizations.get(before.id) == cleared
    named = with_profile(cleared, slug="humanis-group")
    assert store.organizations.replace(cleared, named)
    assert store.organizations.get_by_slug("humanis-group") == named


def test_replace_to_another_organisations_slug_is_refused_and_changes_nothing(
    store: Store,
) -> None:
    first, second = organization(1, slug="first"), organization(2, slug="second")
    store.organizations.add(first)
    store.organizations.add(second)

    with pytest.raises(SlugTakenError):
        store.organizations.replace(second, with_profile(second, slug="first", display_name="X"))

    assert store.organizations.get(second.id) == second
    assert store.organizations.get_by_slug("second") == second
    assert store.organizations.get_by_slug("first") == first


def test_replace_is_refused_when_the_stored_slug_changed_meanwhile(store: Store) -> None:
    read = organization(1, slug="humanis")
    store.organizations.add(read)
    moved = with_profile(read, slug="humanis-2")
    assert store.organizations.replace(read, moved)

    # Two writers read `read`; the other moved the slug first.
    assert store.organizations.replace(read, with_profile(read, display_name="Stale")) is False
    assert store.organizations.replace(read, with_profile(read, slug="third")) is False

    assert store.organizations.get(read.id) == moved
    assert store.organizations.get_by_slug("humanis-2") == moved
    assert store.organizations.get_by_slug("third") is None
    assert store.organizations.get_by_slug("humanis") is None
    # Read again, the change goes through; an organisation that does not exist is refused.
    renamed = with_profile(moved, display_name="Humanis")
    assert store.organizations.replace(moved, renamed)
    assert store.organizations.get(read.id) == renamed
    ghost = organization(9)
    assert store.organizations.replace(ghost, with_profile(ghost, display_name="Ghost")) is False
    assert store.organizations.get(ghost.id) is None


# --- campaigns ----------------------------------------------------------------------------------


def campaign(number: int, organization_id: str | None = None) -> Campaign:
    return Campaign(
        id=f"cmp_{number:04d}",
        title=f"Campaign {number}",
        created_at=T0 + timedelta(minutes=number),
        description="A week without cars",
        organization_id=organization_id,
        starts_at=T0,
        ends_at=T0 + timedelta(days=7),
        visibility=Visibility.ORGANIZATION if organization_id else Visibility.PUBLIC,
    )


def test_campaigns_are_listed_newest_first_all_or_one_organisations(store: Store) -> None:
    owners = ["org_a", None, "org_a", "org_b", "org_a"]
    made = [campaign(n, owner) for n, owner in enumerate(owners)]
    for each in made:
        store.campaigns.add(each, counter_shards=SHARDS)

    def listed(organization_id: str | None) -> list[Campaign]:
        first = store.campaigns.list(limit=2, cursor=None, organization_id=organization_id)
        assert len(first.items) <= 2
        return first.items + _remaining(
            lambda cursor: store.campaigns.list(
                limit=2, cursor=cursor, organization_id=organization_id
            ),
            first.next_cursor,
        )

    assert store.campaigns.get(made[0].id) == (made[0], SHARDS)
    assert store.campaigns.get("cmp_missing") is None
    assert store.campaigns.list(limit=2, cursor=None).items == [made[4], made[3]]
    assert listed(None) == list(reversed(made))
    assert listed("org_a") == [made[4], made[2], made[0]]
    assert listed("org_b") == [made[3]]
    assert listed("org_c") == []


# --- the delivery log's tally -------------------------------------------------------------------


def test_the_delivery_log_is_tallied_by_role_channel_and_status(store: Store) -> None:
    now = store.now()

    def settle(made: Delivery, status: DeliveryStatus) -> None:
        claimed = store.deliveries.claim(made, now=now, lease=LEASE)
        assert isinstance(claimed, Delivery)
        if status is DeliveryStatus.SENT:
            store.deliveries.mark_sent(claimed, now=now)
        elif status is DeliveryStatus.FAILED:
            store.deliveries.mark_failed(claimed, error="bounced", final=True)

    settle(delivery(), DeliveryStatus.SENT)
    settle(delivery(event=EventType.ENDED), DeliveryStatus.PENDING)
    settle(
        replace(
            delivery(role=RecipientRole.BENEFICIARY, recipient_key="asso"),
            channel=Channel.WEBHOOK,
            to="https://asso.example/hooks",
        ),
        DeliveryStatus.FAILED,
    )
    settle(delivery(role=RecipientRole.BENEFICIARY, recipient_key="asso"), DeliveryStatus.SENT)
    for key, status in (
        ("p1", DeliveryStatus.SENT),
        ("p2", DeliveryStatus.SENT),
        ("p3", DeliveryStatus.FAILED),
    ):
        settle(delivery(role=RecipientRole.PARTICIPANT, recipient_key=key), status)
    settle(delivery("ch_2"), DeliveryStatus.SENT)

    def tallied(challenge_id: str) -> list[tuple[str, str, dict[DeliveryStatus, int]]]:
        return sorted(
            (t.recipient_role.value, t.channel.value, t.counts)
            for t in store.delivery_tally(challenge_id)
        )

    assert tallied("ch_1") == [
        ("beneficiary", "email", {DeliveryStatus.SENT: 1}),
        ("beneficiary", "webhook", {DeliveryStatus.FAILED: 1}),
        ("participant", "email", {DeliveryStatus.SENT: 2, DeliveryStatus.FAILED: 1}),
        ("sponsor", "email", {DeliveryStatus.SENT: 1, DeliveryStatus.PENDING: 1}),
    ]
    assert tallied("ch_2") == [("sponsor", "email", {DeliveryStatus.SENT: 1})]
    assert tallied("ch_3") == []
    assert all(
        isinstance(t, NotificationTally) and isinstance(t.recipient_role, RecipientRole)
        for t in store.delivery_tally("ch_1")
    )


# --- the audit trail ----------------------------------------------------------------------------


def audit_entry(number: int, organization_id: str | None = "org_a", **fields: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "id": f"aud_{number:04d}",
        "at": T0 + timedelta(minutes=number, microseconds=number),
        "actor_sub": "admin-1",
        "actor_role": ActorRole.ADMIN,
        "organization_id": organization_id,
        "action": "challenge.publish",
        "target": AuditTarget("challenge", f"ch_{number:04d}"),
        "request_id": f"req-{number}",
    }
    values.update(fields)
    return AuditEntry(**values)


def test_an_audit_entry_is_stored_once_as_it_was_first_written(store: Store) -> None:
    entry = audit_entry(1, details={"reason": "spam, twice", "fields": "title"})

    assert store.audit.append(entry)
    # The same id again (a retried request): nothing is written, the first entry stays.
    assert not store.audit.append(replace(entry, at=T0 + timedelta(days=1), action="x.y"))

    assert store.audit.get(entry.id) == entry
    assert store.audit.get("aud_missing") is None
    plain = audit_entry(2, organization_id=None, actor_role=ActorRole.ORG_ADMIN)
    assert store.audit.append(plain)
    assert store.audit.get(plain.id) == plain


def test_the_audit_trail_is_listed_oldest_first_all_or_one_organisations(store: Store) -> None:
    owners = ["org_a", None, "org_b", "org_a", "org_a"]
    made = [audit_entry(n, owner) for n, owner in enumerate(owners)]
    for each in reversed(made):  # the order of writing is not the order of listing
        assert store.audit.append(each)

    def listed(organization_id: str | None, since: datetime | None = None) -> list[AuditEntry]:
        first = store.audit.list(organization_id=organization_id, since=since, limit=2, cursor=None)
        assert len(first.items) <= 2
        return first.items + _remaining(
            lambda cursor: store.audit.list(
                organization_id=organization_id, since=since, limit=2, cursor=cursor
            ),
            first.next_cursor,
        )

    assert listed(None) == made
    assert listed("org_a") == [made[0], made[3], made[4]]
    assert listed("org_b") == [made[2]]
    assert listed("org_c") == []
    # `since` is inclusive, to the microsecond.
    assert listed(None, since=made[2].at) == made[2:]
    assert listed("org_a", since=made[2].at) == [made[3], made[4]]
    assert listed(None, since=made[4].at + timedelta(microseconds=1)) == []


def test_an_audit_cursor_from_before_since_is_refused(store: Store) -> None:
    made = [audit_entry(n) for n in range(4)]
    for each in made:
        store.audit.append(each)
    first = store.audit.list(organization_id=None, since=None, limit=1, cursor=None)
    assert first.items == made[:1]

    # It points before what a later `since` lists: not a cursor of that list.
    with pytest.raises(InvalidRequestError):
        store.audit.list(organization_id=None, since=made[2].at, limit=1, cursor=first.next_cursor)
    # With the same `since`, or none, it goes on.
    after = store.audit.list(organization_id=None, since=None, limit=5, cursor=first.next_cursor)
    assert after.items == made[1:]


# --- beneficiary votes ---------------------------------------------------------------------------

CHOICE = BeneficiaryChoice(
    candidates=(
        Candidate("solicycle", "Solicycle", "hello@solicycle.example"),
        Candidate("emmaus", "Emmaüs Connect", "contact@emmaus.example"),
    )
)
IDS = ["solicycle", "emmaus"]


def voted(store: Store, challenge_id: str, participant_id: str) -> Pledge:
    pledge = store.pledges.get(challenge_id, participant_id)
    assert pledge is not None
    return pledge


def test_a_vote_moves_between_candidates_only_from_the_vote_read(store: Store) -> None:
    challenge = store.live_challenge(beneficiary_choice=CHOICE)
    pledge = Pledge(challenge.id, "lea", store.now())
    assert store.pledges.add(pledge, 1)
    assert store.votes.cast(pledge, "solicycle", 1, store.now()) is CastOutcome.CAST
    # The same pledge as first read (no vote) is not the one stored any more.
    assert store.votes.cast(pledge, "emmaus", 1, store.now()) is CastOutcome.CHANGED
    current = voted(store, challenge.id, "lea")
    assert (current.candidate_id, current.vote_shard) == ("solicycle", 1)
    assert store.votes.cast(current, "emmaus", 3, store.now()) is CastOutcome.CAST
    assert store.votes.tallies(challenge.id, IDS, SHARDS, consistent=True) == {
        "solicycle": 0,
        "emmaus": 1,
    }
    assert store.votes.cast(Pledge(challenge.id, "max", store.now()), "emmaus", 0, store.now()) is (
        CastOutcome.CHANGED
    )  # no pledge
    store.mark_erasing(challenge.id, "lea")
    moved = voted(store, challenge.id, "lea")
    assert store.votes.cast(moved, "solicycle", 3, store.now()) is CastOutcome.CHANGED


def test_withdrawing_counts_the_vote_out_unless_its_shard_is_closed(store: Store) -> None:
    challenge = store.live_challenge(beneficiary_choice=CHOICE)
    for sub in ("a", "b"):
        assert store.pledges.add(Pledge(challenge.id, sub, store.now()), 0)
        assert store.votes.cast(voted(store, challenge.id, sub), "emmaus", 2, store.now()) is (
            CastOutcome.CAST
        )
    stale = HeldVote(None, None)  # read before the vote
    assert not store.pledges.remove(challenge.id, "a", vote=stale)
    assert store.pledges.remove(challenge.id, "a", vote=HeldVote("emmaus", 2))
    assert store.votes.tallies(challenge.id, IDS, SHARDS, consistent=True)["emmaus"] == 1
    store.votes.freeze(challenge.id, IDS, SHARDS)
    assert not store.pledges.remove(challenge.id, "b", vote=HeldVote("emmaus", 2))
    assert store.votes.cast(voted(store, challenge.id, "b"), "solicycle", 2, store.now()) is (
        CastOutcome.CLOSED
    )
    assert store.pledges.remove(challenge.id, "b", vote=HeldVote("emmaus", 2, count_out=False))
    assert store.votes.tallies(challenge.id, IDS, SHARDS, consistent=True) == {
        "solicycle": 0,
        "emmaus": 1,
    }
    assert store.totals(challenge.id).participants == 0


def test_a_moderators_removal_counts_the_vote_out(store: Store) -> None:
    challenge = store.live_challenge(beneficiary_choice=CHOICE)
    assert store.pledges.add(Pledge(challenge.id, "lea", store.now()), 0)
    assert store.votes.cast(voted(store, challenge.id, "lea"), "solicycle", 1, store.now()) is (
        CastOutcome.CAST
    )
    pledge = voted(store, challenge.id, "lea")
    action = moderation(pledge, ModerationKind.REMOVE, store.now(), "spam")
    assert not store.moderation.remove(
        replace(pledge, candidate_id="emmaus"), action, count_vote_out=True
    )
    assert store.moderation.remove(pledge, action, count_vote_out=True)
    assert store.votes.tallies(challenge.id, IDS, SHARDS, consistent=True)["solicycle"] == 0


def test_a_votes_result_is_fixed_once_with_the_winner_as_beneficiary(store: Store) -> None:
    challenge = store.live_challenge(beneficiary_choice=CHOICE)
    at = store.now()
    result = CHOICE.with_result(at, {"solicycle": 1, "emmaus": 2})
    milestone = Milestone(challenge.id, EventType.VOTE_CLOSED, at, Totals(), reached=False)
    assert store.votes.record_result(challenge, result, milestone)
    other = CHOICE.with_result(at, {"solicycle": 5, "emmaus": 0})
    assert not store.votes.record_result(challenge, other, milestone)
    stored = store.stored(challenge.id)
    assert stored.beneficiary_choice == result
    assert (stored.beneficiary.name, stored.beneficiary.email) == (
        "Emmaüs Connect",
        "contact@emmaus.example",
    )
    assert [m[0] for m in store.milestones(challenge.id)] == [EventType.VOTE_CLOSED]


def test_votes_past_their_deadline_without_a_result_are_due(store: Store) -> None:
    now = store.now()
    due = store.live_challenge(beneficiary_choice=replace(CHOICE, closes_at=now))
    store.live_challenge(beneficiary_choice=replace(CHOICE, closes_at=now + LEASE))
    store.live_challenge()
    decided = store.live_challenge(beneficiary_choice=replace(CHOICE, closes_at=now))
    milestone = Milestone(decided.id, EventType.VOTE_CLOSED, now, Totals(), reached=False)
    assert store.votes.record_result(decided, CHOICE.with_result(now, {}), milestone)
    assert [c.id for c in store.votes.list_due(now)] == [due.id]
