"""Campaigns and their members in DynamoDB (`campaigns`, `campaign_members`, `counters`).

A campaign counts each person once, however many of its challenges they pledged on. The
`campaign_members` item of a participant exists exactly while they have at least one live
pledge in the campaign, and it is created and deleted in the same transaction as the `ADD`
on one of the campaign's counter shards. Every change is conditional on the member item's
state, so a stream record delivered twice, or two records for one person processed at once,
move the count once.
"""

from __future__ import annotations

from collections.abc import Callable

from pynamodb.connection import Connection
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import Campaign
from chalicelib.settings import Settings
from chalicelib.storage.repositories import _transact_if, _update_if, counter_key
from chalicelib.storage.tables import (
    CampaignItem,
    CampaignMemberItem,
    CounterShardItem,
    with_container_session,
)

# A membership change that keeps losing races with the same person's other changes.
MEMBERSHIP_ATTEMPTS = 5


def _to_item(campaign: Campaign, shards: int) -> CampaignItem:
    return CampaignItem(
        id=campaign.id,
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


class DynamoCampaignMembers:
    def __init__(self, settings: Settings) -> None:
        self._connection = with_container_session(
            Connection(region=settings.region, host=settings.aws_endpoint_url)
        )

    def _counted(
        self,
        campaign_id: str,
        shard: int,
        member_write: Callable[[TransactWrite], object],
        delta: int,
    ) -> bool:
        """The member write and the count's move together, or neither (False) when the
        member write's condition fails."""

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                member_write(transaction)
                transaction.update(
                    CounterShardItem(counter_key(campaign_id, shard)),
                    actions=[
                        CounterShardItem.participants.add(delta),
                        CounterShardItem.version.add(1),
                    ],
                )

        return _transact_if(write)

    def join(self, campaign_id: str, participant_id: str, challenge_id: str, shard: int) -> bool:
        """Record a live pledge; True when this made the participant a new member."""
        member = CampaignMemberItem(campaign_id, participant_id)
        for _ in range(MEMBERSHIP_ATTEMPTS):
            if self._counted(
                campaign_id,
                shard,
                lambda tx: tx.update(
                    member,
                    actions=[CampaignMemberItem.challenges.add({challenge_id})],
                    condition=CampaignMemberItem.participant_id.does_not_exist(),
                ),
                +1,
            ):
                return True
            # Already a member: add the challenge (a set, so a redelivery changes nothing),
            # unless the membership ended meanwhile, in which case start over.
            if _update_if(
                member,
                [CampaignMemberItem.challenges.add({challenge_id})],
                CampaignMemberItem.participant_id.exists(),
            ):
                return False
        raise RuntimeError(f"membership of {participant_id} in {campaign_id} kept changing")

    def leave(self, campaign_id: str, participant_id: str, challenge_id: str, shard: int) -> bool:
        """Record a withdrawn pledge; True when this ended the participant's membership."""
        member = CampaignMemberItem(campaign_id, participant_id)
        for _ in range(MEMBERSHIP_ATTEMPTS):
            if self._counted(
                campaign_id,
                shard,
                lambda tx: tx.delete(
                    member,
                    condition=CampaignMemberItem.challenges.contains(challenge_id)
                    & (size(CampaignMemberItem.challenges) == 1),
                ),
                -1,
            ):
                return True
            if _update_if(
                member,
                [CampaignMemberItem.challenges.delete({challenge_id})],
                CampaignMemberItem.challenges.contains(challenge_id)
                & (size(CampaignMemberItem.challenges) > 1),
            ):
                return False
            # Neither the last nor one of several: not (or no longer) recorded, which is what
            # a redelivered withdrawal finds. Unless a concurrent change moved the set
            # between our two checks: look once more.
            try:
                current = CampaignMemberItem.get(campaign_id, participant_id, consistent_read=True)
            except CampaignMemberItem.DoesNotExist:
                return False
            if challenge_id not in (current.challenges or set()):
                return False
        raise RuntimeError(f"membership of {participant_id} in {campaign_id} kept changing")
