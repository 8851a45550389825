"""One contract for the proposal ports, run on the in-memory fakes and on DynamoDB (moto)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from chalicelib.domain.model import Metric, Target
from chalicelib.domain.proposals import (
    Proposal,
    ProposalEvent,
    ProposalStatus,
    Support,
    proposal_event_from_key,
)
from chalicelib.local import moto_fixes
from chalicelib.services.proposal_ports import (
    ProposalClaim,
    ProposalClaimRefused,
    ProposalDeliveryRepository,
    ProposalRecipient,
    ProposalRepository,
    SupportWrite,
)
from chalicelib.settings import Settings
from chalicelib.storage.proposals import (
    DynamoProposalDeliveryRepository,
    DynamoProposalRepository,
)
from chalicelib.storage.tables import ChallengeEventItem, create_tables
from chalicelib.wiring import build_container
from tests.unit.fake_proposals import FakeProposalDeliveryRepository, FakeProposalRepository

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
LEASE = timedelta(seconds=45)


@dataclass
class ProposalStore:
    proposals: ProposalRepository
    deliveries: ProposalDeliveryRepository
    outbox: Callable[[str], list[ProposalEvent]]


@pytest.fixture(params=["fakes", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[ProposalStore]:
    if request.param == "fakes":
        fake = FakeProposalRepository()
        yield ProposalStore(
            fake,
            FakeProposalDeliveryRepository(),
            lambda pid: [event for p, event in fake.outbox if p == pid],
        )
        return
    settings: Settings = request.getfixturevalue("env")
    moto_fixes.apply()
    with mock_aws():
        build_container(settings)
        create_tables()

        def outbox(pid: str) -> list[ProposalEvent]:
            return sorted(
                (proposal_event_from_key(item.event) for item in ChallengeEventItem.query(pid)),
                key=list(ProposalEvent).index,
            )

        yield ProposalStore(DynamoProposalRepository(), DynamoProposalDeliveryRepository(), outbox)


def proposal(n: int, **changes: object) -> Proposal:
    made = Proposal(
        id=f"prop_{n:04d}",
        proposer_id="ada",
        title=f"Proposal {n}",
        action="I repair",
        description="",
        suggested_target=Target(Metric.QUANTITY, 12.5, "kg"),
        area="u09tv",
        status=ProposalStatus.PENDING,
        created_at=NOW + timedelta(minutes=n),
        support_threshold=2,
        organization_id="org_1",
        proposer_email="ada@x.example",
        proposer_locale="fr",
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def support(pid: str, sub: str) -> Support:
    return Support(pid, sub, NOW, f"{sub}@x.example", "en")


def test_a_proposal_is_stored_as_made(store: ProposalStore) -> None:
    made = proposal(1)
    store.proposals.add(made)
    assert store.proposals.get(made.id) == made
    assert store.proposals.get("prop_missing") is None


def test_a_decision_is_taken_once_with_its_outbox_record(store: ProposalStore) -> None:
    store.proposals.add(proposal(1))
    decided = store.proposals.decide(
        "prop_0001", ProposalStatus.OPEN, now=NOW, reason="ok", event=ProposalEvent.APPROVED
    )
    assert decided is not None
    assert (decided.status, decided.decided_at, decided.decision_reason) == (
        ProposalStatus.OPEN,
        NOW,
        "ok",
    )
    again = store.proposals.decide(
        "prop_0001", ProposalStatus.REJECTED, now=NOW, reason=None, event=ProposalEvent.REJECTED
    )
    assert again is None
    assert store.outbox("prop_0001") == [ProposalEvent.APPROVED]


def test_lists_by_status_and_open_ones_by_area(store: ProposalStore) -> None:
    for n in range(1, 6):
        store.proposals.add(proposal(n, area="u09tv" if n % 2 else "u09tw"))
    for n in (2, 3, 4):
        store.proposals.decide(
            f"prop_{n:04d}", ProposalStatus.OPEN, now=NOW, reason=None, event=ProposalEvent.APPROVED
        )
    first = store.proposals.list_by_status(ProposalStatus.OPEN, limit=2, cursor=None)
    assert [p.id for p in first.items] == ["prop_0004", "prop_0003"]
    assert first.next_cursor is not None
    rest = store.proposals.list_by_status(ProposalStatus.OPEN, limit=2, cursor=first.next_cursor)
    assert [p.id for p in rest.items] == ["prop_0002"]
    pending = store.proposals.list_by_status(ProposalStatus.PENDING, limit=10, cursor=None)
    assert [p.id for p in pending.items] == ["prop_0005", "prop_0001"]
    assert [p.id for p in store.proposals.list_open_in(["u09tv"], limit=10)] == ["prop_0003"]
    both = store.proposals.list_open_in(["u09tw", "u09tv", "zzzzz"], limit=10)
    assert [p.id for p in both] == ["prop_0004", "prop_0003", "prop_0002"]


def test_supports_count_each_person_once_and_only_while_open(store: ProposalStore) -> None:
    store.proposals.add(proposal(1))
    assert store.proposals.add_support(support("prop_0001", "s1")) is SupportWrite.NOT_OPEN
    store.proposals.decide(
        "prop_0001", ProposalStatus.OPEN, now=NOW, reason=None, event=ProposalEvent.APPROVED
    )
    assert store.proposals.add_support(support("prop_0001", "s1")) is SupportWrite.ADDED
    assert store.proposals.add_support(support("prop_0001", "s1")) is SupportWrite.ALREADY
    assert store.proposals.add_support(support("prop_0001", "s2")) is SupportWrite.ADDED
    assert store.proposals.get("prop_0001").supports == 2  # type: ignore[union-attr]
    assert store.proposals.get_support("prop_0001", "s2") == support("prop_0001", "s2")
    assert store.proposals.remove_support("prop_0001", "s2") is True
    assert store.proposals.remove_support("prop_0001", "s2") is False
    assert store.proposals.get("prop_0001").supports == 1  # type: ignore[union-attr]
    page = store.proposals.supporters("prop_0001", after=None, limit=10)
    assert [s.participant_id for s in page.items] == ["s1"]
    assert page.next_cursor is None


def test_the_threshold_is_recorded_once_and_only_when_reached(store: ProposalStore) -> None:
    store.proposals.add(proposal(1, status=ProposalStatus.OPEN))
    store.proposals.add_support(support("prop_0001", "s1"))
    assert store.proposals.record_threshold("prop_0001", now=NOW) is False
    store.proposals.add_support(support("prop_0001", "s2"))
    assert store.proposals.record_threshold("prop_0001", now=NOW) is True
    assert store.proposals.record_threshold("prop_0001", now=NOW) is False
    assert store.proposals.get("prop_0001").threshold_reached_at == NOW  # type: ignore[union-attr]
    assert store.outbox("prop_0001") == [ProposalEvent.THRESHOLD_REACHED]


def test_adoption_links_an_open_proposal_once(store: ProposalStore) -> None:
    store.proposals.add(proposal(1, status=ProposalStatus.OPEN))
    adopted = store.proposals.adopt("prop_0001", "ch_0001", now=NOW)
    assert adopted is not None
    assert (adopted.status, adopted.challenge_id) == (ProposalStatus.ADOPTED, "ch_0001")
    assert store.proposals.adopt("prop_0001", "ch_0002", now=NOW) is None
    assert store.proposals.list_open_in(["u09tv"], limit=10) == []


def test_a_persons_records_and_their_erasure(store: ProposalStore) -> None:
    store.proposals.add(proposal(1, status=ProposalStatus.OPEN))
    store.proposals.add(proposal(2, status=ProposalStatus.OPEN, proposer_id="bob"))
    store.proposals.add_support(support("prop_0002", "ada"))
    proposals, supports = store.proposals.of_participant("ada")
    assert [p.id for p in proposals] == ["prop_0001"]
    assert [s.proposal_id for s in supports] == ["prop_0002"]
    assert store.proposals.erase_participant("ada") == 2
    assert store.proposals.of_participant("ada") == ([], [])
    kept = store.proposals.get("prop_0001")
    assert kept is not None
    assert (kept.proposer_id, kept.proposer_email, kept.proposer_locale) == (
        "erased#prop_0001",
        None,
        None,
    )
    assert store.proposals.get("prop_0002").supports == 0  # type: ignore[union-attr]


def recipient(key: str = "s1", participant: str | None = "s1") -> ProposalRecipient:
    return ProposalRecipient(
        ProposalEvent.CHALLENGE_LIVE, "email", key, f"{key}@x.example", participant_id=participant
    )


def test_a_claim_is_held_by_one_sender_until_settled(store: ProposalStore) -> None:
    claim = store.deliveries.claim("prop_1", recipient(), now=NOW, lease=LEASE)
    assert isinstance(claim, ProposalClaim)
    assert claim.attempts == 1
    held = store.deliveries.claim(
        "prop_1", recipient(), now=NOW + timedelta(seconds=1), lease=LEASE
    )
    assert held is ProposalClaimRefused.HELD
    store.deliveries.mark_failed(claim, error="busy", final=False)
    retried = store.deliveries.claim("prop_1", recipient(), now=NOW, lease=LEASE)
    assert isinstance(retried, ProposalClaim)
    assert retried.attempts == 2
    store.deliveries.mark_sent(retried, now=NOW)
    later = NOW + timedelta(hours=1)
    assert store.deliveries.claim("prop_1", recipient(), now=later, lease=LEASE) is (
        ProposalClaimRefused.SETTLED
    )
    [record] = store.deliveries.of_participant("s1")
    assert (record.proposal_id, record.status, record.attempts, record.sent_at) == (
        "prop_1",
        "sent",
        2,
        NOW,
    )


def test_an_expired_lease_is_taken_over_and_fences_the_old_sender(store: ProposalStore) -> None:
    first = store.deliveries.claim("prop_1", recipient(), now=NOW, lease=LEASE)
    assert isinstance(first, ProposalClaim)
    second = store.deliveries.claim("prop_1", recipient(), now=NOW + 2 * LEASE, lease=LEASE)
    assert isinstance(second, ProposalClaim)
    store.deliveries.mark_sent(first, now=NOW)  # too late: recorded nothing
    [record] = store.deliveries.of_participant("s1")
    assert record.status == "pending"
    store.deliveries.mark_failed(second, error="refused", final=True)
    [record] = store.deliveries.of_participant("s1")
    assert record.status == "failed"


def test_claims_naming_a_person_are_erased_and_others_kept(store: ProposalStore) -> None:
    store.deliveries.claim("prop_1", recipient(), now=NOW, lease=LEASE)
    store.deliveries.claim("prop_1", recipient("contact", None), now=NOW, lease=LEASE)
    assert store.deliveries.delete_for_participant("s1") == 1
    assert store.deliveries.of_participant("s1") == []
    assert (
        store.deliveries.claim("prop_1", recipient("contact", None), now=NOW, lease=LEASE)
        is ProposalClaimRefused.HELD
    )
