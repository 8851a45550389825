"""The participant e-mail fan-out's storage: chunk items in the outbox, pledge-index pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.domain.fanout import FANOUT_KEY_PREFIX, FanoutChunk
from chalicelib.domain.model import EventType, Milestone, Totals
from chalicelib.services.ports import ParticipantPage
from chalicelib.storage.pledges import pledge_from_item
from chalicelib.storage.tables import ChallengeEventItem, PledgeItem, PledgesByChallenge
from chalicelib.storage.transactions import put_if_absent

# A chunk's position in the pledge index is a participant id: the chunk item is deleted (TTL)
# this long after its milestone, long after the fan-out ended (docs/privacy.md).
FANOUT_CHUNK_RETENTION = timedelta(days=30)


def _chunk_to_item(chunk: FanoutChunk) -> ChallengeEventItem:
    milestone = chunk.milestone
    return ChallengeEventItem(
        challenge_id=milestone.challenge_id,
        event=chunk.key,
        occurred_at=milestone.occurred_at,
        participants=milestone.totals.participants,
        quantity=milestone.totals.quantity,
        reached=milestone.reached,
        fanout_bucket=chunk.bucket,
        fanout_page=chunk.page,
        fanout_after=chunk.after,
        expires_at=milestone.occurred_at + FANOUT_CHUNK_RETENTION,
    )


def _chunk_from_item(item: ChallengeEventItem) -> FanoutChunk:
    key = str(item.event)
    if not key.startswith(FANOUT_KEY_PREFIX):
        raise ValueError(f"{key!r} is not a fan-out chunk")
    event = key.removeprefix(FANOUT_KEY_PREFIX).rsplit("#", 2)[0]
    fields = (item.occurred_at, item.participants, item.quantity, item.reached)
    if item.fanout_bucket is None or item.fanout_page is None or None in fields:
        raise ValueError(f"fan-out chunk {key!r} lacks some of its attributes")
    chunk = FanoutChunk(
        milestone=Milestone(
            challenge_id=item.challenge_id,
            event=EventType(event),
            occurred_at=item.occurred_at,
            totals=Totals(participants=int(item.participants), quantity=item.quantity),
            reached=bool(item.reached),
        ),
        bucket=int(item.fanout_bucket),
        page=int(item.fanout_page),
        after=item.fanout_after,
    )
    if chunk.key != key:
        raise ValueError(f"fan-out chunk {key!r} does not match its attributes")
    return chunk


def chunk_from_stream_image(image: dict[str, Any]) -> FanoutChunk:
    """Read a chunk item from its stream image (DynamoDB JSON, as the stream delivers it)."""
    return _chunk_from_item(ChallengeEventItem.from_raw_data(image))


class DynamoFanoutRepository:
    def add_chunk(self, chunk: FanoutChunk) -> bool:
        return put_if_absent(_chunk_to_item(chunk), ChallengeEventItem.event.does_not_exist())

    def get_chunk(self, challenge_id: str, key: str) -> FanoutChunk | None:
        try:
            item = ChallengeEventItem.get(challenge_id, key, consistent_read=True)
        except ChallengeEventItem.DoesNotExist:
            return None
        return _chunk_from_item(item)

    def participants(
        self,
        challenge_id: str,
        bucket: int,
        *,
        after: str | None,
        limit: int | None = None,
        until: str | None = None,
    ) -> ParticipantPage:
        participant_id = PledgesByChallenge.participant_id
        condition: Any = None
        if after is not None and until is not None:
            condition = participant_id.between(after, until)  # inclusive: `after` dropped below
        elif after is not None:
            condition = participant_id > after
        elif until is not None:
            condition = participant_id <= until
        # The index is eventually consistent (DynamoDB offers nothing else on a GSI).
        result = PledgeItem.by_challenge.query(
            f"{challenge_id}#{bucket}", range_key_condition=condition, limit=limit
        )
        pledges = [pledge_from_item(item) for item in result if item.participant_id != after]
        full = limit is not None and len(pledges) >= limit
        return ParticipantPage(pledges, pledges[-1].participant_id if full else None)
