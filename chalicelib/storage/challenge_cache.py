"""The pledge path's challenge cache: `CachedChallengeRepository`, a read-through cache of
another challenge repository in this container's memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from chalicelib.domain.model import Challenge, ChallengeStatus, Milestone, Totals
from chalicelib.services.ports import ChallengeChanges, ChallengeRepository, Page
from chalicelib.storage.expiring import ExpiringLru

CHALLENGE_CACHE_TTL_SECONDS = 1.0
CHALLENGE_CACHE_MAX_ENTRIES = 1024
MISSING_CHALLENGE_TTL_SECONDS = 0.5
MISSING_CHALLENGE_MAX_ENTRIES = 1024


class _Load:
    """One read of a challenge that callers asking for the same id meanwhile wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failed = False
        self.challenge: Challenge | None = None


class CachedChallengeRepository:
    """A read-through cache of another challenge repository, in this container's memory.

    An eventually consistent `get` is answered from memory for `ttl` seconds after the
    challenge was read (`missing_ttl` for an id that does not exist), so a hot challenge is
    read about once per `ttl` per container instead of once per pledge. Concurrent misses on
    one id share a single read. Found and missing ids are kept apart, each bounded (least
    recently used out first), so requests for random ids cannot evict the hot challenge.
    Consistent reads and lists go straight through; writes go through and leave their result
    (or nothing) in the cache, so this container never serves a copy older than its own
    last write. Other containers see a change within `ttl`.
    """

    def __init__(
        self,
        challenges: ChallengeRepository,
        *,
        ttl: float = CHALLENGE_CACHE_TTL_SECONDS,
        missing_ttl: float = MISSING_CHALLENGE_TTL_SECONDS,
        max_entries: int = CHALLENGE_CACHE_MAX_ENTRIES,
        max_missing: int = MISSING_CHALLENGE_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or missing_ttl < 0 or max_entries < 1 or max_missing < 1:
            raise ValueError("cache durations must not be negative, and sizes must be positive")
        self._challenges = challenges
        self._ttl = ttl
        self._missing_ttl = missing_ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._found: ExpiringLru[str, Challenge] = ExpiringLru(max_entries)
        self._missing: ExpiringLru[str, None] = ExpiringLru(max_missing)
        self._loads: dict[str, _Load] = {}

    # --- reads ---------------------------------------------------------------------------------

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        if consistent:
            return self._challenges.get(challenge_id, consistent=True)
        with self._lock:
            hit, challenge = self._cached(challenge_id)
            if hit:
                return challenge
            load = self._loads.get(challenge_id)
            if load is None:
                load = self._loads[challenge_id] = _Load()
                leader = True
            else:
                leader = False
        if leader:
            return self._read(challenge_id, load)
        load.done.wait()
        if load.failed:
            # The read we waited for failed (its caller got the error): try again ourselves.
            return self.get(challenge_id)
        return load.challenge

    def _cached(self, challenge_id: str) -> tuple[bool, Challenge | None]:
        now = self._monotonic()
        hit, challenge = self._found.get(challenge_id, now)
        if hit:
            return True, challenge
        hit, _ = self._missing.get(challenge_id, now)
        return hit, None

    def _read(self, challenge_id: str, load: _Load) -> Challenge | None:
        try:
            challenge = self._challenges.get(challenge_id)
        except BaseException:
            with self._lock:
                if self._loads.get(challenge_id) is load:
                    del self._loads[challenge_id]
            load.failed = True
            load.done.set()
            raise
        with self._lock:
            # A write made while we read has replaced our load: what we read may predate it.
            if self._loads.get(challenge_id) is load:
                del self._loads[challenge_id]
                self._remember(challenge_id, challenge)
        load.challenge = challenge
        load.done.set()
        return challenge

    def _remember(self, challenge_id: str, challenge: Challenge | None) -> None:
        """Store what was read or written (under the lock)."""
        now = self._monotonic()
        self._found.pop(challenge_id)
        self._missing.pop(challenge_id)
        if challenge is not None:
            self._found.put(challenge_id, challenge, now + self._ttl)
        else:
            self._missing.put(challenge_id, None, now + self._missing_ttl)

    def _written(self, challenge_id: str, challenge: Challenge | None) -> None:
        """After a write: keep its result (None: forget the id, the next read fetches it)."""
        with self._lock:
            self._loads.pop(challenge_id, None)
            if challenge is not None:
                self._remember(challenge_id, challenge)
            else:
                self._found.pop(challenge_id)
                self._missing.pop(challenge_id)

    def list(
        self,
        statuses: Sequence[ChallengeStatus],
        *,
        limit: int,
        cursor: str | None,
        campaign_id: str | None = None,
        organization_id: str | None = None,
    ) -> Page[Challenge]:
        return self._challenges.list(
            statuses,
            limit=limit,
            cursor=cursor,
            campaign_id=campaign_id,
            organization_id=organization_id,
        )

    def list_due(self, now: datetime) -> Sequence[Challenge]:
        return self._challenges.list_due(now)

    # --- writes --------------------------------------------------------------------------------

    def add(self, challenge: Challenge) -> None:
        added: Challenge | None = None
        try:
            self._challenges.add(challenge)
            added = challenge
        finally:
            self._written(challenge.id, added)

    def update(
        self,
        challenge: Challenge,
        changes: ChallengeChanges,
        *,
        allowed_statuses: Sequence[ChallengeStatus],
        now: datetime,
    ) -> Challenge | None:
        updated: Challenge | None = None
        try:
            updated = self._challenges.update(
                challenge, changes, allowed_statuses=allowed_statuses, now=now
            )
            return updated
        finally:
            self._written(challenge.id, updated)

    def transition(
        self,
        challenge_id: str,
        source: ChallengeStatus,
        target: ChallengeStatus,
        now: datetime,
        *,
        proposal_live: str | None = None,
    ) -> Challenge | None:
        updated: Challenge | None = None
        try:
            updated = self._challenges.transition(
                challenge_id, source, target, now, proposal_live=proposal_live
            )
            return updated
        finally:
            self._written(challenge_id, updated)

    def save_totals(self, challenge_id: str, totals: Totals) -> bool:
        try:
            return self._challenges.save_totals(challenge_id, totals)
        finally:
            self._written(challenge_id, None)

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        try:
            return self._challenges.record_milestone(challenge, milestone)
        finally:
            self._written(challenge.id, None)
