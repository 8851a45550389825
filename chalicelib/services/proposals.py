"""Citizen proposals: propose, approve or reject (admins), support once per person, tell the
addressed organisation once the threshold is reached, adopt as a draft challenge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.areas import nearby_cells
from chalicelib.domain.errors import ChallengeNotFoundError, InvalidFieldsError
from chalicelib.domain.model import Challenge, Organization, Party, Principal, Target
from chalicelib.domain.proposals import (
    DEFAULT_SUPPORT_THRESHOLD,
    PROPOSAL_ID_PREFIX,
    Proposal,
    ProposalDecidedError,
    ProposalEvent,
    ProposalNotFoundError,
    ProposalNotOpenError,
    ProposalStatus,
    Support,
)
from chalicelib.services.challenges import ChallengeDraft, ChallengeService, new_id
from chalicelib.services.ports import Clock, Page
from chalicelib.services.proposal_ports import (
    ProposalDeliveryRecord,
    ProposalDeliveryRepository,
    ProposalRepository,
    SupportWrite,
)

# Statuses anyone may see a proposal in (pending and rejected ones: its proposer and admins).
_PUBLIC = (ProposalStatus.OPEN, ProposalStatus.ADOPTED)
NEARBY_MAX = 50


class Organizations(Protocol):
    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None: ...


@dataclass(frozen=True)
class ProposalDraft:
    title: str
    action: str
    description: str
    suggested_target: Target
    area: str  # already reduced to a coarse area by the caller (domain/areas.py)
    organization_id: str | None = None


@dataclass(frozen=True)
class Adoption:
    """What the adopted challenge is given beyond the proposal's fields."""

    sponsor: Party
    beneficiary: Party
    reward: str


def adopted_challenge_id(proposal_id: str) -> str:
    """The challenge a proposal becomes: one id per proposal, so racing or repeated adoptions
    make one challenge."""
    return "ch_" + proposal_id.removeprefix(PROPOSAL_ID_PREFIX)


@dataclass(frozen=True)
class ProposalRecords:
    """What a person's proposals, supports and proposal e-mails hold (their export)."""

    proposals: list[Proposal]
    supports: list[Support]
    emails: list[ProposalDeliveryRecord]


class ProposalService:
    def __init__(
        self,
        proposals: ProposalRepository,
        organizations: Organizations,
        challenges: ChallengeService,
        clock: Clock,
        deliveries: ProposalDeliveryRepository | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._proposals = proposals
        self._organizations = organizations
        self._challenges = challenges
        self._clock = clock

    # --- participants ---------------------------------------------------------------------------

    def propose(self, principal: Principal, draft: ProposalDraft) -> Proposal:
        threshold = DEFAULT_SUPPORT_THRESHOLD
        if draft.organization_id is not None:
            organization = self._organizations.get(draft.organization_id)
            if organization is None:
                raise InvalidFieldsError(
                    "the proposal is addressed to an organisation that does not exist",
                    {"organization_id": f"no organisation {draft.organization_id!r}"},
                )
            threshold = organization.profile.support_threshold
        proposal = Proposal(
            id=new_id(PROPOSAL_ID_PREFIX.rstrip("_")),
            proposer_id=principal.sub,
            title=draft.title,
            action=draft.action,
            description=draft.description,
            suggested_target=draft.suggested_target,
            area=draft.area,
            status=ProposalStatus.PENDING,
            created_at=self._clock.now(),
            support_threshold=threshold,
            organization_id=draft.organization_id,
            # Only a verified address is written to (as for pledges and follows).
            proposer_email=principal.email if principal.email_verified else None,
            proposer_locale=principal.locale,
        )
        self._proposals.add(proposal)
        return proposal

    def get_visible(self, proposal_id: str, principal: Principal | None) -> Proposal:
        proposal = self._proposals.get(proposal_id)
        if proposal is None or not self._may_see(proposal, principal):
            raise ProposalNotFoundError(proposal_id)
        return proposal

    def _existing(self, proposal_id: str) -> Proposal:
        proposal = self._proposals.get(proposal_id)
        if proposal is None:
            raise ProposalNotFoundError(proposal_id)
        return proposal

    @staticmethod
    def _may_see(proposal: Proposal, principal: Principal | None) -> bool:
        if proposal.status in _PUBLIC:
            return True
        if principal is None:
            return False
        if principal.sub == proposal.proposer_id or principal.is_admin:
            return True
        return (
            principal.is_org_admin
            and principal.org_id is not None
            and principal.org_id == proposal.organization_id
        )

    def list_open(self, *, limit: int, cursor: str | None) -> Page[Proposal]:
        return self._proposals.list_by_status(ProposalStatus.OPEN, limit=limit, cursor=cursor)

    def list_near(self, lat: float, lon: float, *, limit: int) -> list[Proposal]:
        return self._proposals.list_open_in(nearby_cells(lat, lon), limit=min(limit, NEARBY_MAX))

    def support(self, principal: Principal, proposal_id: str) -> Proposal:
        """Count the caller once; record the threshold's crossing once (its e-mail and
        webhook follow from the outbox). A pending or rejected proposal is a 409, not a 404:
        its id is unguessable, and the supporter learns why (docs/decisions.md 122–133)."""
        proposal = self._existing(proposal_id)
        if proposal.status is not ProposalStatus.OPEN:
            raise ProposalNotOpenError(proposal_id, proposal.status)
        written = self._proposals.add_support(
            Support(
                proposal_id=proposal_id,
                participant_id=principal.sub,
                created_at=self._clock.now(),
                email=principal.email if principal.email_verified else None,
                locale=principal.locale,
            )
        )
        current = self._proposals.get(proposal_id) or proposal
        if written is SupportWrite.NOT_OPEN:
            raise ProposalNotOpenError(proposal_id, current.status)
        # Checked on every support, not only the one that crossed: a writer that died
        # between its support and this line leaves the crossing to the next supporter.
        if current.supports >= current.support_threshold and current.threshold_reached_at is None:
            self._proposals.record_threshold(proposal_id, now=self._clock.now())
            current = self._proposals.get(proposal_id) or current
        return current

    def withdraw_support(self, principal: Principal, proposal_id: str) -> Proposal:
        """Idempotent: withdrawing a support one does not hold changes nothing."""
        proposal = self._existing(proposal_id)
        if proposal.status is not ProposalStatus.OPEN:
            raise ProposalNotOpenError(proposal_id, proposal.status)
        self._proposals.remove_support(proposal_id, principal.sub)
        return self._proposals.get(proposal_id) or proposal

    def supports(self, principal: Principal, proposal_id: str) -> bool:
        return self._proposals.get_support(proposal_id, principal.sub) is not None

    # --- admins ---------------------------------------------------------------------------------

    def get_for_admin(self, proposal_id: str, scope: AdminScope = PLATFORM) -> Proposal:
        """Another organisation's proposal (or one addressed to none, for an org-admin) is
        not found: an org-admin does not learn that it exists."""
        proposal = self._proposals.get(proposal_id)
        if proposal is None or not scope.covers(proposal.organization_id):
            raise ProposalNotFoundError(proposal_id)
        return proposal

    def list_for_admin(
        self, status: ProposalStatus, *, limit: int, cursor: str | None, scope: AdminScope
    ) -> Page[Proposal]:
        page = self._proposals.list_by_status(status, limit=limit, cursor=cursor)
        if scope.is_platform:
            return page
        # An org-admin sees its own organisation's; the page may come out shorter.
        mine = [p for p in page.items if scope.covers(p.organization_id)]
        return Page(mine, page.next_cursor)

    def approve(
        self, proposal_id: str, reason: str | None, scope: AdminScope = PLATFORM
    ) -> Proposal:
        return self._decide(proposal_id, ProposalStatus.OPEN, reason, scope)

    def reject(
        self, proposal_id: str, reason: str | None, scope: AdminScope = PLATFORM
    ) -> Proposal:
        return self._decide(proposal_id, ProposalStatus.REJECTED, reason, scope)

    def _decide(
        self, proposal_id: str, status: ProposalStatus, reason: str | None, scope: AdminScope
    ) -> Proposal:
        proposal = self.get_for_admin(proposal_id, scope)
        event = ProposalEvent.APPROVED if status is ProposalStatus.OPEN else ProposalEvent.REJECTED
        decided = self._proposals.decide(
            proposal.id, status, now=self._clock.now(), reason=reason, event=event
        )
        if decided is None:
            current = self._proposals.get(proposal_id) or proposal
            raise ProposalDecidedError(
                f"only a pending proposal can be approved or rejected; this one is {current.status}"
            )
        return decided

    def adopt(
        self, proposal_id: str, adoption: Adoption, scope: AdminScope = PLATFORM
    ) -> tuple[Proposal, Challenge]:
        """Link the proposal to its challenge first (one winner), then create the draft; a
        repeated adoption whose challenge is missing (a failure in between) creates it."""
        proposal = self.get_for_admin(proposal_id, scope)
        challenge_id = adopted_challenge_id(proposal.id)
        if proposal.status is ProposalStatus.OPEN:
            linked = self._proposals.adopt(proposal.id, challenge_id, now=self._clock.now())
            proposal = linked or self._proposals.get(proposal_id) or proposal
        if proposal.status is not ProposalStatus.ADOPTED:
            raise ProposalDecidedError(
                f"only an open (approved) proposal can be adopted; this one is {proposal.status}"
            )
        if proposal.challenge_id != challenge_id:
            raise ProposalDecidedError(f"proposal {proposal_id!r} was adopted otherwise")
        try:
            existing = self._challenges.get_for_admin(challenge_id, scope)
        except ChallengeNotFoundError:
            existing = None
        if existing is not None:
            raise ProposalDecidedError(
                f"proposal {proposal_id!r} is already adopted as challenge {challenge_id!r}"
            )
        challenge = self._challenges.create(
            ChallengeDraft(
                id=challenge_id,
                title=proposal.title,
                action=proposal.action,
                description=proposal.description,
                target=proposal.suggested_target,
                sponsor=adoption.sponsor,
                beneficiary=adoption.beneficiary,
                reward=adoption.reward,
                organization_id=proposal.organization_id,
                proposal_id=proposal.id,
            ),
            scope,
        )
        return proposal, challenge

    # --- personal data --------------------------------------------------------------------------

    def records(self, participant_id: str) -> ProposalRecords:
        proposals, supports = self._proposals.of_participant(participant_id)
        emails = self._deliveries.of_participant(participant_id) if self._deliveries else []
        return ProposalRecords(proposals, supports, emails)

    def erase(self, participant_id: str) -> int:
        """Supports are deleted (and counted out), proposals lose their proposer's id,
        address and language, the e-mail claims naming the person are deleted."""
        erased = self._proposals.erase_participant(participant_id)
        if self._deliveries is not None:
            erased += self._deliveries.delete_for_participant(participant_id)
        return erased
