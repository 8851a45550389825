"""An in-memory PayoutRepository with the DynamoDB one's semantics (put once per id, newest
recorded first)."""

from __future__ import annotations

import builtins
import threading

from chalicelib.domain.payouts import Payout
from chalicelib.services.payout_ports import PayoutWrite
from chalicelib.services.ports import Page
from tests.unit.fakes import _newest_first_page


def _recorded_key(payout: Payout) -> str:
    return f"{payout.recorded_at.isoformat()}#{payout.id}"


class FakePayoutRepository:
    def __init__(self) -> None:
        self._payouts: dict[tuple[str, str], Payout] = {}
        self._lock = threading.Lock()

    def add(self, payout: Payout) -> PayoutWrite:
        with self._lock:
            key = (payout.challenge_id, payout.id)
            if key in self._payouts:
                return PayoutWrite.EXISTS
            self._payouts[key] = payout
            return PayoutWrite.ADDED

    def get(self, challenge_id: str, payout_id: str) -> Payout | None:
        return self._payouts.get((challenge_id, payout_id))

    def list(self, challenge_id: str, *, limit: int, cursor: str | None) -> Page[Payout]:
        items, next_cursor = _newest_first_page(
            [(_recorded_key(p), p) for p in self.all(challenge_id)], cursor, limit
        )
        return Page(items, next_cursor)

    def all(self, challenge_id: str) -> builtins.list[Payout]:
        with self._lock:
            return [p for (c, _), p in sorted(self._payouts.items()) if c == challenge_id]
