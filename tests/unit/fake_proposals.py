"""In-memory proposals, supports, outbox records and proposal e-mail claims (the proposal
ports), behaving as the DynamoDB ones do (tests/functional/test_proposal_contract.py)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.proposals import (
    Proposal,
    ProposalEvent,
    ProposalStatus,
    Support,
    SupporterChunk,
)
from chalicelib.services.ports import Page
from chalicelib.services.proposal_ports import (
    ProposalClaim,
    ProposalClaimRefused,
    ProposalDeliveryRecord,
    ProposalRecipient,
    SupportWrite,
)
from tests.unit.fakes import FakeDatabase


class FakeProposalRepository:
    def __init__(self, db: FakeDatabase | None = None) -> None:
        """`db`: the challenge fakes' database, whose outbox a publish also writes to."""
        self.proposals: dict[str, Proposal] = {}
        self.supports: dict[tuple[str, str], Support] = {}
        shared = db or FakeDatabase()
        # In the order written; the list and lock a challenge's publish shares.
        self.outbox: list[tuple[str, ProposalEvent]] = shared.proposal_outbox
        self._lock = shared.lock
        # Supporters' chunks, (proposal id, key) → chunk, in the order written.
        self.chunks: dict[tuple[str, str], SupporterChunk] = {}

    def _record(self, proposal_id: str, event: ProposalEvent) -> bool:
        if (proposal_id, event) in self.outbox:
            return False
        self.outbox.append((proposal_id, event))
        return True

    def add(self, proposal: Proposal) -> None:
        with self._lock:
            if proposal.id in self.proposals:
                raise ValueError(f"proposal {proposal.id} exists")
            self.proposals[proposal.id] = proposal

    def get(self, proposal_id: str) -> Proposal | None:
        with self._lock:
            return self.proposals.get(proposal_id)

    def decide(
        self,
        proposal_id: str,
        status: ProposalStatus,
        *,
        now: datetime,
        reason: str | None,
        event: ProposalEvent,
    ) -> Proposal | None:
        with self._lock:
            current = self.proposals.get(proposal_id)
            if current is None or current.status is not ProposalStatus.PENDING:
                return None
            if (proposal_id, event) in self.outbox:
                return None
            decided = replace(
                current,
                status=status,
                decided_at=now,
                decision_reason=reason if reason is not None else current.decision_reason,
            )
            self.proposals[proposal_id] = decided
            self._record(proposal_id, event)
            return decided

    def list_by_status(
        self, status: ProposalStatus, *, limit: int, cursor: str | None
    ) -> Page[Proposal]:
        with self._lock:
            found = sorted(
                (p for p in self.proposals.values() if p.status is status),
                key=lambda p: p.created_key,
                reverse=True,
            )
        if cursor is not None:
            found = [p for p in found if p.created_key < cursor]
        page = found[:limit]
        more = len(found) > limit
        return Page(page, page[-1].created_key if more and page else None)

    def list_open_in(self, areas: Sequence[str], *, limit: int) -> list[Proposal]:
        with self._lock:
            found = sorted(
                (
                    p
                    for p in self.proposals.values()
                    if p.status is ProposalStatus.OPEN and p.area in areas
                ),
                key=lambda p: p.created_key,
                reverse=True,
            )
        return found[:limit]

    def add_support(self, support: Support) -> SupportWrite:
        with self._lock:
            key = (support.proposal_id, support.participant_id)
            if key in self.supports:
                return SupportWrite.ALREADY
            proposal = self.proposals.get(support.proposal_id)
            if proposal is None or proposal.status is not ProposalStatus.OPEN:
                return SupportWrite.NOT_OPEN
            self.supports[key] = support
            self.proposals[proposal.id] = replace(proposal, supports=proposal.supports + 1)
            return SupportWrite.ADDED

    def remove_support(self, proposal_id: str, participant_id: str) -> bool:
        with self._lock:
            proposal = self.proposals.get(proposal_id)
            if proposal is None or self.supports.pop((proposal_id, participant_id), None) is None:
                return False
            self.proposals[proposal_id] = replace(proposal, supports=proposal.supports - 1)
            return True

    def get_support(self, proposal_id: str, participant_id: str) -> Support | None:
        with self._lock:
            return self.supports.get((proposal_id, participant_id))

    def record_threshold(self, proposal_id: str, *, now: datetime) -> bool:
        with self._lock:
            proposal = self.proposals.get(proposal_id)
            if (
                proposal is None
                or proposal.threshold_reached_at is not None
                or proposal.supports < proposal.support_threshold
                or (proposal_id, ProposalEvent.THRESHOLD_REACHED) in self.outbox
            ):
                return False
            self.proposals[proposal_id] = replace(proposal, threshold_reached_at=now)
            return self._record(proposal_id, ProposalEvent.THRESHOLD_REACHED)

    def adopt(self, proposal_id: str, challenge_id: str, *, now: datetime) -> Proposal | None:
        with self._lock:
            proposal = self.proposals.get(proposal_id)
            if proposal is None or proposal.status is not ProposalStatus.OPEN:
                return None
            adopted = replace(proposal, status=ProposalStatus.ADOPTED, challenge_id=challenge_id)
            self.proposals[proposal_id] = adopted
            return adopted

    def supporters(
        self,
        proposal_id: str,
        *,
        after: str | None,
        limit: int | None,
        until: str | None = None,
    ) -> Page[Support]:
        with self._lock:
            found = sorted(
                (s for (pid, _), s in self.supports.items() if pid == proposal_id),
                key=lambda s: s.participant_id,
            )
        found = [
            s
            for s in found
            if (after is None or s.participant_id > after)
            and (until is None or s.participant_id <= until)
        ][:limit]
        full = limit is not None and len(found) >= limit
        return Page(found, found[-1].participant_id if full and found else None)

    def add_chunk(self, chunk: SupporterChunk) -> bool:
        with self._lock:
            key = (chunk.proposal_id, chunk.key)
            if key in self.chunks:
                return False
            self.chunks[key] = chunk
            return True

    def get_chunk(self, proposal_id: str, key: str) -> SupporterChunk | None:
        with self._lock:
            return self.chunks.get((proposal_id, key))

    def of_participant(self, participant_id: str) -> tuple[list[Proposal], list[Support]]:
        with self._lock:
            proposals = [p for p in self.proposals.values() if p.proposer_id == participant_id]
            supports = [s for (_, sub), s in self.supports.items() if sub == participant_id]
        return proposals, supports

    def erase_participant(self, participant_id: str) -> int:
        proposals, supports = self.of_participant(participant_id)
        changed = sum(self.remove_support(s.proposal_id, participant_id) for s in supports)
        with self._lock:
            for proposal in proposals:
                self.proposals[proposal.id] = replace(
                    proposal,
                    proposer_id=f"erased#{proposal.id}",
                    proposer_email=None,
                    proposer_locale=None,
                )
                changed += 1
        return changed


@dataclass
class _Claim:
    participant_id: str | None
    status: str = "pending"
    attempts: int = 0
    lease_until: datetime | None = None
    sent_at: datetime | None = None


class FakeProposalDeliveryRepository:
    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], _Claim] = {}
        self._lock = threading.Lock()

    def claim(
        self,
        proposal_id: str,
        recipient: ProposalRecipient,
        *,
        now: datetime,
        lease: timedelta,
    ) -> ProposalClaim | ProposalClaimRefused:
        with self._lock:
            key = (proposal_id, recipient.recipient)
            stored = self.claims.get(key)
            if stored is not None:
                if stored.status != "pending":
                    return ProposalClaimRefused.SETTLED
                if stored.lease_until is not None and stored.lease_until >= now:
                    return ProposalClaimRefused.HELD
            else:
                stored = self.claims[key] = _Claim(recipient.participant_id)
            stored.attempts += 1
            stored.lease_until = now + lease
            return ProposalClaim(proposal_id, recipient.recipient, stored.attempts, now + lease)

    def _finish(self, claim: ProposalClaim, status: str, sent_at: datetime | None) -> None:
        with self._lock:
            stored = self.claims.get((claim.proposal_id, claim.recipient))
            if stored is None or stored.lease_until != claim.lease_until:
                return  # the lease was lost: the outcome is another sender's
            stored.status, stored.sent_at, stored.lease_until = status, sent_at, None

    def mark_sent(self, claim: ProposalClaim, *, now: datetime) -> None:
        self._finish(claim, "sent", now)

    def mark_failed(self, claim: ProposalClaim, *, error: str, final: bool) -> None:
        self._finish(claim, "failed" if final else "pending", None)

    def of_participant(self, participant_id: str) -> list[ProposalDeliveryRecord]:
        with self._lock:
            return [
                ProposalDeliveryRecord(pid, recipient, c.status, c.attempts, c.sent_at)
                for (pid, recipient), c in self.claims.items()
                if c.participant_id == participant_id
            ]

    def delete_for_participant(self, participant_id: str) -> int:
        with self._lock:
            keys = [k for k, c in self.claims.items() if c.participant_id == participant_id]
            for key in keys:
                del self.claims[key]
            return len(keys)
