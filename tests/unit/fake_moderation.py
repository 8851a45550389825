"""`FakeModeration`: moderation over the fake tables, as DynamoModeration makes it (each action
recorded with its effect, at once; a pledge marked `erasing`, or another than the one read,
refused)."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.model import ModerationAction, Pledge
from chalicelib.domain.votes import HeldVote
from chalicelib.storage.votes import vote_shard_key
from tests.unit.fakes import FakeDatabase


class FakeModeration:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def pledge(self, challenge_id: str, participant_id: str) -> Pledge | None:
        with self._db.lock:
            return self._db.pledges.get((participant_id, challenge_id))

    def actions(self, challenge_id: str, participant_id: str) -> list[ModerationAction]:
        with self._db.lock:
            return [
                action
                for (cid, pid, _, _), action in sorted(self._db.moderation.items())
                if (cid, pid) == (challenge_id, participant_id)
            ]

    def _still(self, pledge: Pledge) -> bool:
        """Under the lock: the pledge read is still stored, and not being erased."""
        key = (pledge.participant_id, pledge.challenge_id)
        current = self._db.pledges.get(key)
        return (
            current is not None
            and current.created_at == pledge.created_at
            and current.candidate_id == pledge.candidate_id
            and key not in self._db.erasing
        )

    def _record(self, action: ModerationAction) -> bool:
        key = (action.challenge_id, action.participant_id, action.at, action.action.value)
        if key in self._db.moderation:
            return False
        self._db.moderation[key] = action
        return True

    def hide_name(self, pledge: Pledge, action: ModerationAction) -> bool:
        key = (pledge.participant_id, pledge.challenge_id)
        with self._db.lock:
            if not self._still(pledge) or self._db.pledges[key].name_hidden:
                return False
            if not self._record(action):
                return False
            self._db.pledges[key] = replace(self._db.pledges[key], name_hidden=True)
            return True

    def remove(self, pledge: Pledge, action: ModerationAction, *, count_vote_out: bool) -> bool:
        vote = HeldVote(pledge.candidate_id, pledge.vote_shard, count_out=count_vote_out)
        counted = count_vote_out and pledge.candidate_id is not None
        with self._db.lock:
            if not self._still(pledge):
                return False
            if counted and self._db.vote_shard_closed(pledge.challenge_id, vote):
                return False
            if not self._record(action):
                return False
            del self._db.pledges[(pledge.participant_id, pledge.challenge_id)]
            shard = pledge.counter_shard if pledge.counter_shard is not None else 0
            self._db.stream_pledge(pledge.challenge_id, shard, -1, pledge.offered)
            if counted and pledge.candidate_id is not None:
                key = vote_shard_key(pledge.challenge_id, pledge.candidate_id, vote.shard or 0)
                self._db.vote_shards[key] = self._db.vote_shards.get(key, 0) - 1
            return True
