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
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import Campaign, Visibility
from chalicelib.services.ports import Page
from chalicelib.settings import Settings
from chalicelib.storage.counters import DynamoCounterRepository, counter_key
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor
from chalicelib.storage.tables import (
    CampaignItem,
    CampaignMemberItem,
    CounterShardItem,
    with_container_session,
)
from chalicelib.storage.transactions import transact_if

# A membership change that keeps losing races with the same person's other changes.
MEMBERSHIP_ATTEMPTS = 8


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
        entry = f"{audience}/{challenge_id}"
        for _ in range(MEMBERSHIP_ATTEMPTS):
            try:
                item: CampaignMemberItem | None = CampaignMemberItem.get(
                    campaign_id, participant_id, consistent_read=True
                )
            except CampaignMemberItem.DoesNotExist:
                item = None
            before = set(item.pledges or ()) if item else set()
            after = before | {entry} if live else before - {entry}
            if after == before:
                return False  # already recorded: a redelivery, or an older record
            if self._write(campaign_id, participant_id, item, after, before, shard):
                return signature(_audiences(before)) != signature(_audiences(after))
        raise RuntimeError(f"membership of {participant_id} in {campaign_id} kept changing")

    def _write(
        self,
        campaign_id: str,
        participant_id: str,
        item: CampaignMemberItem | None,
        after: set[str],
        before: set[str],
        shard: int,
    ) -> bool:
        old, new = signature(_audiences(before)), signature(_audiences(after))
        member = CampaignMemberItem(campaign_id, participant_id)
        version = int(item.version) if item else 0

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                if item is None:
                    member.pledges = after
                    member.version = 1
                    transaction.save(
                        member, condition=CampaignMemberItem.participant_id.does_not_exist()
                    )
                elif not after:
                    transaction.delete(member, condition=CampaignMemberItem.version == version)
                else:
                    transaction.update(
                        member,
                        actions=[
                            CampaignMemberItem.pledges.set(after),
                            CampaignMemberItem.version.set(version + 1),
                        ],
                        condition=CampaignMemberItem.version == version,
                    )
                if old != new:
                    for key, delta in ((old, -1), (new, +1)):
                        if key:
                            transaction.update(
                                CounterShardItem(counter_key(f"{campaign_id}#{key}", shard)),
                                actions=[
                                    CounterShardItem.participants.add(delta),
                                    CounterShardItem.version.add(1),
                                ],
                            )

        return transact_if(write)


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
