"""In-memory follows, updates, update chunks and update e-mail claims (the follow ports)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.follows import ChallengeUpdate, Follow, FollowTarget, UpdateChunk
from chalicelib.services.follow_ports import (
    UpdateClaim,
    UpdateClaimRefused,
    UpdateDeliveryRecord,
)
from chalicelib.services.ports import Page


class FakeFollowRepository:
    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Follow] = {}  # (target key, participant) → follow
        self._lock = threading.Lock()

    def put(self, follow: Follow) -> None:
        with self._lock:
            self._items[(follow.target.key, follow.participant_id)] = follow

    def get_many(
        self, participant_id: str, targets: Sequence[FollowTarget]
    ) -> dict[FollowTarget, Follow]:
        with self._lock:
            found = (self._items.get((t.key, participant_id)) for t in targets)
            return {follow.target: follow for follow in found if follow is not None}

    def followers(
        self,
        target: FollowTarget,
        *,
        after: str | None,
        limit: int | None,
        until: str | None = None,
    ) -> Page[Follow]:
        with self._lock:
            follows = sorted(
                (f for (key, _), f in self._items.items() if key == target.key),
                key=lambda f: f.participant_id,
            )
        follows = [
            f
            for f in follows
            if (after is None or f.participant_id > after)
            and (until is None or f.participant_id <= until)
        ]
        if limit is not None:
            follows = follows[:limit]
        full = limit is not None and len(follows) >= limit
        return Page(follows, follows[-1].participant_id if full else None)

    def of_participant(self, participant_id: str) -> list[Follow]:
        with self._lock:
            return [f for (_, p), f in sorted(self._items.items()) if p == participant_id]

    def delete(self, follow: Follow) -> None:
        with self._lock:
            self._items.pop((follow.target.key, follow.participant_id), None)


class FakeUpdateRepository:
    """Updates, and their chunks; `inserted` is the outbox stream of chunk INSERTs."""

    def __init__(self) -> None:
        self._updates: dict[tuple[str, str], ChallengeUpdate] = {}
        self._chunks: dict[tuple[str, str], UpdateChunk] = {}
        self._lock = threading.Lock()
        self.inserted: list[UpdateChunk] = []

    def add(self, update: ChallengeUpdate, chunks: Sequence[UpdateChunk]) -> None:
        with self._lock:
            key = (update.challenge_id, update.created_key)
            if key in self._updates or any((c.challenge_id, c.key) in self._chunks for c in chunks):
                raise ValueError("the update or one of its chunks exists")
            self._updates[key] = update
            for chunk in chunks:
                self._chunks[(chunk.challenge_id, chunk.key)] = chunk
                self.inserted.append(chunk)

    def get(self, challenge_id: str, created_key: str) -> ChallengeUpdate | None:
        with self._lock:
            return self._updates.get((challenge_id, created_key))

    def list_for_challenge(
        self, challenge_id: str, *, limit: int, before: str | None
    ) -> list[ChallengeUpdate]:
        with self._lock:
            found = sorted(
                (u for (c, k), u in self._updates.items() if c == challenge_id),
                key=lambda u: u.created_key,
                reverse=True,
            )
        return [u for u in found if before is None or u.created_key < before][:limit]

    def add_chunk(self, chunk: UpdateChunk) -> bool:
        with self._lock:
            if (chunk.challenge_id, chunk.key) in self._chunks:
                return False
            self._chunks[(chunk.challenge_id, chunk.key)] = chunk
            self.inserted.append(chunk)
            return True

    def get_chunk(self, challenge_id: str, key: str) -> UpdateChunk | None:
        with self._lock:
            return self._chunks.get((challenge_id, key))


@dataclass
class _Claim:
    challenge_id: str
    status: str
    attempts: int
    lease_until: datetime | None
    sent_at: datetime | None = None


class FakeUpdateDeliveryRepository:
    def __init__(self) -> None:
        self._claims: dict[tuple[str, str], _Claim] = {}
        self._lock = threading.Lock()

    def claim(
        self,
        update: ChallengeUpdate,
        participant_id: str,
        *,
        now: datetime,
        lease: timedelta,
    ) -> UpdateClaim | UpdateClaimRefused:
        with self._lock:
            stored = self._claims.get((update.id, participant_id))
            if stored is not None and stored.status != "pending":
                return UpdateClaimRefused.SETTLED
            if stored is not None and stored.lease_until is not None and stored.lease_until >= now:
                return UpdateClaimRefused.HELD
            attempts = (stored.attempts if stored else 0) + 1
            self._claims[(update.id, participant_id)] = _Claim(
                update.challenge_id, "pending", attempts, now + lease
            )
            return UpdateClaim(update.id, participant_id, attempts, now + lease)

    def _finish(self, claim: UpdateClaim, status: str, sent_at: datetime | None) -> None:
        with self._lock:
            stored = self._claims.get((claim.update_id, claim.participant_id))
            if stored is None or stored.lease_until != claim.lease_until:
                return  # the lease was taken over: this sender records nothing
            self._claims[(claim.update_id, claim.participant_id)] = replace(
                stored, status=status, lease_until=None, sent_at=sent_at
            )

    def mark_sent(self, claim: UpdateClaim, *, now: datetime) -> None:
        self._finish(claim, "sent", now)

    def mark_failed(self, claim: UpdateClaim, *, error: str, final: bool) -> None:
        self._finish(claim, "failed" if final else "pending", None)

    def of_participant(self, participant_id: str) -> list[UpdateDeliveryRecord]:
        with self._lock:
            return [
                UpdateDeliveryRecord(u, c.challenge_id, c.status, c.attempts, c.sent_at)
                for (u, p), c in sorted(self._claims.items())
                if p == participant_id
            ]

    def delete_for_participant(self, participant_id: str) -> int:
        with self._lock:
            keys = [key for key in self._claims if key[1] == participant_id]
            for key in keys:
                del self._claims[key]
            return len(keys)
