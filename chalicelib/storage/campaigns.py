"""Campaigns and their members in DynamoDB (`campaigns`, `campaign_members`, `counters`).

A campaign counts each person once, however many of its challenges they pledged on, and
only over the challenges the caller may see. Each challenge has an *audience*: `public`, or
the organisation whose employees alone see it. A participant's `campaign_members` item lists
their live pledges in the campaign with each one's audience, and the set of those audiences
is their *signature* (e.g. `org_humanis+public`). The campaign keeps one sharded count per
signature (`<campaign_id>#<signature>#<shard>` in `counters`); people seen by a caller who
sees audiences V are the counts of every signature that meets V.

Every change reads the member item, computes the new set, and writes it conditioned on the
version it read, in one transaction with the moves between signature counts. A stream
record delivered twice finds the set already as it wants it and writes nothing; two changes
for one person at once conflict, and the loser reads again.

A stream batch is applied the same way, in bulk (`apply`): its members read with one
`BatchGetItem`, each member's changes folded onto the set read, and the changed members
written in as few transactions as the 100-item limit allows, each with the sum of its
members' moves per counter shard. A member changed by someone else since the read fails its
condition, cancelling its transaction: its changes are then applied on their own, as
`change` does, and the other members of that transaction are written again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import combinations
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import Campaign, Visibility
from chalicelib.services.campaigns import MemberChange, PledgeRecord
from chalicelib.services.ports import Page
from chalicelib.settings import Settings
from chalicelib.storage.counters import DynamoCounterRepository, counter_key
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor
from chalicelib.storage.tables import (
    CampaignItem,
    CampaignMemberItem,
    CounterShardItem,
    PledgeItem,
    with_container_session,
)
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    transact_if,
    with_transaction_retries,
)

# A membership change that keeps losing races with the same person's other changes.
MEMBERSHIP_ATTEMPTS = 8
# TransactWriteItems takes at most 100 items: the members, and the counter shards they move.
MAX_TRANSACTION_ITEMS = 100


LISTED = "campaign"


def _to_item(campaign: Campaign, shards: int) -> CampaignItem:
    return CampaignItem(
        id=campaign.id,
        listed=LISTED,
        created_key=f"{campaign.created_at.isoformat()}#{campaign.id}",
        visibility=campaign.visibility.value,
        title=campaign.title,
        description=campaign.description,
        organization_id=campaign.organization_id,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        created_at=campaign.created_at,
        counter_shards=shards,
    )


def _from_item(item: CampaignItem) -> Campaign:
    return Campaign(
        id=item.id,
        title=item.title,
        description=item.description,
        organization_id=item.organization_id,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        created_at=item.created_at,
        visibility=Visibility(item.visibility),
    )


class DynamoCampaignRepository:
    def add(self, campaign: Campaign, *, counter_shards: int) -> None:
        _to_item(campaign, counter_shards).save(condition=CampaignItem.id.does_not_exist())

    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        """The campaign and its number of counter shards."""
        try:
            item = CampaignItem.get(campaign_id)
        except CampaignItem.DoesNotExist:
            return None
        return _from_item(item), int(item.counter_shards)

    def list(
        self, *, limit: int, cursor: str | None, organization_id: str | None = None
    ) -> Page[Campaign]:
        """Newest first: every campaign, or one organisation's."""
        index, key_name, key = (
            (CampaignItem.by_creation, "listed", LISTED)
            if organization_id is None
            else (CampaignItem.by_organization, "organization_id", organization_id)
        )
        start_key = checked_start_key(
            decode_cursor(cursor), {"id": None, "created_key": None, key_name: key}
        )
        result = index.query(
            key, scan_index_forward=False, limit=limit, last_evaluated_key=start_key
        )
        items = [_from_item(item) for item in result]
        last = result.last_evaluated_key
        return Page(items, encode_cursor({"k": last}) if last else None)


def pledge_record_from_stream_record(record: Mapping[str, Any]) -> PledgeRecord | None:
    """What a pledges-stream record tells the campaigns: a pledge made (INSERT) or gone
    (REMOVE: withdrawn, or moved away by an erasure). None for anything else."""
    name = record.get("eventName")
    dynamodb = record.get("dynamodb") or {}
    keys = dynamodb.get("Keys")
    if name not in ("INSERT", "REMOVE") or not keys:
        return None
    return PledgeRecord(
        receipt=str(dynamodb["SequenceNumber"]),
        challenge_id=str(keys[PledgeItem.challenge_id.attr_name]["S"]),
        participant_id=str(keys[PledgeItem.participant_id.attr_name]["S"]),
        live=name == "INSERT",
    )


def signature(audiences: Iterable[str]) -> str:
    return "+".join(sorted(set(audiences)))


def signatures_meeting(audiences: Iterable[str], seen: Iterable[str]) -> list[str]:
    """Every signature over `audiences` that includes one of the `seen` audiences."""
    every = sorted(set(audiences))
    wanted = set(seen)
    return [
        signature(subset)
        for size in range(1, len(every) + 1)
        for subset in combinations(every, size)
        if wanted.intersection(subset)
    ]


def _audiences(entries: set[str]) -> set[str]:
    return {entry.split("/", 1)[0] for entry in entries}


def _entry(audience: str, challenge_id: str) -> str:
    return f"{audience}/{challenge_id}"


@dataclass
class _Member:
    """A participant's changes in a campaign, in stream order: (entry, live) each."""

    participant_id: str
    shard: int
    steps: list[tuple[str, bool]] = field(default_factory=list)

    def applied_to(self, pledges: set[str]) -> set[str]:
        after = set(pledges)
        for entry, live in self.steps:
            if live:
                after.add(entry)
            else:
                after.discard(entry)
        return after


def _members(changes: Sequence[MemberChange]) -> list[_Member]:
    """The changes by participant, in the order each first appears."""
    members: dict[str, _Member] = {}
    for change in changes:
        member = members.setdefault(
            change.participant_id, _Member(change.participant_id, change.shard)
        )
        if member.shard != change.shard:
            raise ValueError(f"changes of {change.participant_id} name two counter shards")
        member.steps.append((_entry(change.audience, change.challenge_id), change.live))
    return list(members.values())


@dataclass(frozen=True)
class _Write:
    """A member's new set of pledges, to write over the item read (None: there was none)."""

    member: _Member
    item: CampaignMemberItem | None
    before: frozenset[str]
    after: frozenset[str]

    @property
    def request_rank(self) -> int:
        """Where PynamoDB's TransactWrite sends it: all deletes first, then puts, then
        updates (the counter shards' among them, after the members')."""
        if self.item is None:
            return 1  # a put
        return 0 if not self.after else 2

    @property
    def moves(self) -> dict[str, int]:
        """How the member moves between signature counts (nothing if the signature stays)."""
        old, new = signature(_audiences(set(self.before))), signature(_audiences(set(self.after)))
        if old == new:
            return {}
        return {key: delta for key, delta in ((old, -1), (new, +1)) if key}


def _write_for(member: _Member, item: CampaignMemberItem | None) -> _Write | None:
    """What the member's changes make of the item read; None if it already says so."""
    before = set(item.pledges or ()) if item else set()
    after = member.applied_to(before)
    if after == before:
        return None  # already recorded: a redelivery, or changes that undo each other
    return _Write(member, item, frozenset(before), frozenset(after))


def _transactions(writes: Sequence[_Write]) -> list[list[_Write]]:
    """The writes in transactions of at most 100 items: one per member, plus one per
    counter shard their moves touch."""
    chunks: list[list[_Write]] = []
    chunk: list[_Write] = []
    shards: set[tuple[str, int]] = set()
    for write in writes:
        touched = shards | {(key, write.member.shard) for key in write.moves}
        if chunk and len(chunk) + 1 + len(touched) > MAX_TRANSACTION_ITEMS:
            chunks.append(chunk)
            chunk, touched = [], {(key, write.member.shard) for key in write.moves}
        chunk.append(write)
        shards = touched
    if chunk:
        chunks.append(chunk)
    return chunks


class DynamoCampaignMembers:
    def __init__(self, settings: Settings) -> None:
        self._connection = with_container_session(
            Connection(region=settings.region, host=settings.aws_endpoint_url)
        )

    def change(
        self,
        campaign_id: str,
        participant_id: str,
        *,
        challenge_id: str,
        audience: str,
        live: bool,
        shard: int,
    ) -> bool:
        """Record that this pledge is now live (or not); True if any count moved."""
        member = _Member(participant_id, shard, [(_entry(audience, challenge_id), live)])
        return self._settle(campaign_id, member)

    def apply(self, campaign_id: str, changes: Sequence[MemberChange]) -> int:
        """Record a batch of changes, in order: one read of the members, and a transaction
        per 100 items of the changed members and counter shards; how many members moved."""
        members = _members(changes)
        items = self._read(campaign_id, [member.participant_id for member in members])
        writes = [
            write
            for member in members
            if (write := _write_for(member, items.get(member.participant_id))) is not None
        ]
        return sum(self._write_together(campaign_id, chunk) for chunk in _transactions(writes))

    def _read(self, campaign_id: str, participant_ids: list[str]) -> dict[str, CampaignMemberItem]:
        """The members' items that exist, read strongly consistent (writes are conditioned
        on their version; a stale one would only fail its condition)."""
        keys = [(campaign_id, participant_id) for participant_id in participant_ids]
        return {
            item.participant_id: item
            for item in CampaignMemberItem.batch_get(keys, consistent_read=True)
        }

    def _settle(self, campaign_id: str, member: _Member) -> bool:
        """Apply one member's changes on their own, reading again while someone else's
        write gets in between; True if the member moved between counts."""
        for _ in range(MEMBERSHIP_ATTEMPTS):
            try:
                item: CampaignMemberItem | None = CampaignMemberItem.get(
                    campaign_id, member.participant_id, consistent_read=True
                )
            except CampaignMemberItem.DoesNotExist:
                item = None
            write = _write_for(member, item)
            if write is None:
                return False
            if transact_if(partial(self._transact, campaign_id, [write])):
                return bool(write.moves)
        raise RuntimeError(f"membership of {member.participant_id} in {campaign_id} kept changing")

    def _write_together(self, campaign_id: str, writes: list[_Write]) -> int:
        """Write the members in one transaction; those whose item changed since it was read
        are then applied on their own, and the others written together again."""
        moved = 0
        pending = writes
        while pending:
            refused = self._refused(campaign_id, pending)
            if not refused:
                return moved + sum(1 for write in pending if write.moves)
            moved += sum(self._settle(campaign_id, write.member) for write in refused)
            settled = {write.member.participant_id for write in refused}
            pending = [w for w in pending if w.member.participant_id not in settled]
        return moved

    def _refused(self, campaign_id: str, writes: list[_Write]) -> list[_Write]:
        """Run the transaction; the writes whose condition failed if that cancelled it
        (nothing written then). Contention is retried; other errors propagate."""
        # Cancellation reasons come in request order: the members in the order they are
        # sent, then the counter shards.
        sent = sorted(writes, key=lambda write: write.request_rank)
        try:
            with_transaction_retries(lambda: self._transact(campaign_id, sent))
        except TransactWriteError as error:
            codes = cancellation_codes(error)[: len(sent)]
            refused = [
                w for w, code in zip(sent, codes, strict=False) if code == CONDITIONAL_CHECK_FAILED
            ]
            if not refused:
                raise
            return refused
        return []

    def _transact(self, campaign_id: str, writes: Sequence[_Write]) -> None:
        """One transaction: each member's write, conditioned on the version read, then each
        counter shard's moves. The members must come in `request_rank` order, for the
        cancellation reasons to name them."""
        deltas: Counter[tuple[str, int]] = Counter()
        with TransactWrite(connection=self._connection) as transaction:
            for write in writes:
                self._write_member(transaction, campaign_id, write)
                for key, delta in write.moves.items():
                    deltas[(key, write.member.shard)] += delta
            for (key, shard), delta in deltas.items():
                if delta:  # moves that cancel out write nothing
                    transaction.update(
                        CounterShardItem(counter_key(f"{campaign_id}#{key}", shard)),
                        actions=[
                            CounterShardItem.participants.add(delta),
                            CounterShardItem.version.add(1),
                        ],
                    )

    @staticmethod
    def _write_member(transaction: TransactWrite, campaign_id: str, write: _Write) -> None:
        member = CampaignMemberItem(campaign_id, write.member.participant_id)
        if write.item is None:
            member.pledges = set(write.after)
            member.version = 1
            transaction.save(member, condition=CampaignMemberItem.participant_id.does_not_exist())
            return
        version = int(write.item.version)
        if not write.after:
            transaction.delete(member, condition=CampaignMemberItem.version == version)
            return
        transaction.update(
            member,
            actions=[
                CampaignMemberItem.pledges.set(set(write.after)),
                CampaignMemberItem.version.set(version + 1),
            ],
            condition=CampaignMemberItem.version == version,
        )


class DynamoAudienceCounts:
    def __init__(self, counters: DynamoCounterRepository) -> None:
        self._counters = counters

    def unique_participants(
        self, campaign_id: str, audiences: set[str], seen: set[str], shards: int
    ) -> int:
        return sum(
            self._counters.totals(f"{campaign_id}#{key}", shards).participants
            for key in signatures_meeting(audiences, seen)
        )
