"""Participant e-mail fan-out: a milestone's participants, chunk by chunk of each pledge bucket."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chalicelib.domain.model import Milestone

# Chunk items share the outbox table with milestones; this prefix on their sort key tells
# them apart (milestones are keyed by their event name, which never starts with it).
FANOUT_KEY_PREFIX = "fanout#"


def is_fanout_key(event_key: str) -> bool:
    return event_key.startswith(FANOUT_KEY_PREFIX)


@dataclass(frozen=True)
class FanoutChunk:
    """The participants of one pledge-index bucket after `after` (exclusive; None: from the
    first), for one milestone. Chunk `page` n+1 of a bucket is written by chunk n."""

    milestone: Milestone
    bucket: int
    page: int = 0
    after: str | None = None

    @property
    def challenge_id(self) -> str:
        return self.milestone.challenge_id

    @property
    def key(self) -> str:
        """Deterministic, so a redelivered chunk writes the same successor, once."""
        return f"{FANOUT_KEY_PREFIX}{self.milestone.event}#{self.bucket}#{self.page}"

    def successor(self, after: str) -> FanoutChunk:
        return replace(self, page=self.page + 1, after=after)
