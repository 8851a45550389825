"""The payout repository's interface (DynamoDB and an in-memory fake implement it)."""

from __future__ import annotations

import builtins
from enum import Enum
from typing import Protocol

from chalicelib.domain.payouts import Payout
from chalicelib.services.ports import Page


class PayoutWrite(Enum):
    ADDED = "added"
    EXISTS = "exists"  # a payout with this id is stored already (an Idempotency-Key's retry)


class PayoutRepository(Protocol):
    def add(self, payout: Payout) -> PayoutWrite:
        """Store a new payout, once per id."""
        ...

    def get(self, challenge_id: str, payout_id: str) -> Payout | None: ...

    def list(self, challenge_id: str, *, limit: int, cursor: str | None) -> Page[Payout]:
        """A challenge's payouts, newest recorded first, a page at a time."""
        ...

    def all(self, challenge_id: str) -> builtins.list[Payout]:
        """Every payout of a challenge (a few: a reward paid in a few transfers)."""
        ...
