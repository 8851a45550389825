"""Citizen proposal routes: propose, list (open, nearby), read, support and withdraw a
support; admins list, approve, reject and adopt (as a draft challenge)."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas.challenges import AdminChallengeOut
from chalicelib.api.schemas.proposals import (
    AdminProposalListQuery,
    AdoptedOut,
    AdoptIn,
    DecisionIn,
    ProposalIn,
    ProposalList,
    ProposalListQuery,
    ProposalOut,
    SupportOut,
)
from chalicelib.api.webhook_urls import check_webhook_url
from chalicelib.domain.model import Principal
from chalicelib.domain.proposals import Proposal
from chalicelib.services.proposals import Adoption, ProposalDraft

PROPOSAL_APPROVE = "proposal.approve"
PROPOSAL_REJECT = "proposal.reject"
PROPOSAL_ADOPT = "proposal.adopt"


def _out(proposal: Proposal, principal: Principal | None, supported: bool | None) -> ProposalOut:
    return ProposalOut.from_proposal(
        proposal, supported=supported, caller=principal.sub if principal else None
    )


@endpoint(
    "/proposals",
    "POST",
    summary="Propose a challenge: it waits, pending, for an admin's approval; the proposer "
    "is e-mailed the decision (at the token's verified address)",
    auth="participant",
    response=ProposalOut,
    status=201,
    body=ProposalIn,
    tag="participant",
)
def propose(request: ApiRequest[ProposalIn, Any]) -> ProposalOut:
    body = request.body
    proposal = request.container.proposals.propose(
        request.caller,
        ProposalDraft(
            title=body.title,
            action=body.action,
            description=body.description,
            suggested_target=body.suggested_target.to_domain(),
            area=body.area(),
            organization_id=body.organization_id,
        ),
    )
    return _out(proposal, request.caller, False)


@endpoint(
    "/proposals",
    "GET",
    summary="Open (approved) proposals, newest first; with near=lat,lon the open ones in "
    "that point's ~5 km cell and the cells around it",
    auth="optional",
    response=ProposalList,
    query=ProposalListQuery,
)
def list_proposals(request: ApiRequest[Any, ProposalListQuery]) -> ProposalList:
    query = request.query
    service = request.container.proposals
    point = query.point()
    if point is not None:
        found = service.list_near(point[0], point[1], limit=query.limit)
        return ProposalList(
            items=[_out(p, request.principal, None) for p in found], next_cursor=None
        )
    page = service.list_open(limit=query.limit, cursor=query.cursor)
    return ProposalList(
        items=[_out(p, request.principal, None) for p in page.items], next_cursor=page.next_cursor
    )


@endpoint(
    "/proposals/{proposal_id}",
    "GET",
    summary="A proposal: open and adopted ones to anyone, pending and rejected ones to their "
    "proposer and admins",
    auth="optional",
    response=ProposalOut,
    errors=(404,),
)
def get_proposal(request: ApiRequest[Any, Any], proposal_id: str) -> ProposalOut:
    service = request.container.proposals
    proposal = service.get_visible(proposal_id, request.principal)
    supported = service.supports(request.principal, proposal_id) if request.principal else None
    return _out(proposal, request.principal, supported)


@endpoint(
    "/proposals/{proposal_id}/support",
    "PUT",
    summary="Support an open proposal; each person counts once (again: 200, counted once). "
    "409 for a pending, rejected or adopted one",
    auth="participant",
    response=SupportOut,
    errors=(404, 409),
    tag="participant",
)
def support(request: ApiRequest[Any, Any], proposal_id: str) -> SupportOut:
    proposal = request.container.proposals.support(request.caller, proposal_id)
    return SupportOut(proposal=_out(proposal, request.caller, True), supported=True)


@endpoint(
    "/proposals/{proposal_id}/support",
    "DELETE",
    summary="Withdraw my support of an open proposal (200 also when I did not support it)",
    auth="participant",
    response=SupportOut,
    errors=(404, 409),
    tag="participant",
)
def withdraw_support(request: ApiRequest[Any, Any], proposal_id: str) -> SupportOut:
    proposal = request.container.proposals.withdraw_support(request.caller, proposal_id)
    return SupportOut(proposal=_out(proposal, request.caller, False), supported=False)


@endpoint(
    "/admin/proposals",
    "GET",
    summary="Proposals by status (pending by default), newest first; an org-admin sees "
    "those addressed to their organisation",
    auth="admin",
    tag="admin",
    response=ProposalList,
    query=AdminProposalListQuery,
)
def admin_list(request: ApiRequest[Any, AdminProposalListQuery]) -> ProposalList:
    query = request.query
    page = request.container.proposals.list_for_admin(
        query.to_status(), limit=query.limit, cursor=query.cursor, scope=request.scope
    )
    return ProposalList(
        items=[_out(p, None, None) for p in page.items], next_cursor=page.next_cursor
    )


@endpoint(
    "/admin/proposals/{proposal_id}/approve",
    "POST",
    summary="Approve a pending proposal: it opens to supports; its proposer is e-mailed once",
    auth="admin",
    tag="admin",
    response=ProposalOut,
    body=DecisionIn,
    errors=(404, 409),
    audit=PROPOSAL_APPROVE,
)
def approve(request: ApiRequest[DecisionIn, Any], proposal_id: str) -> ProposalOut:
    proposal = request.container.proposals.approve(proposal_id, request.body.reason, request.scope)
    return _out(proposal, None, None)


@endpoint(
    "/admin/proposals/{proposal_id}/reject",
    "POST",
    summary="Reject a pending proposal (with a reason, told to its proposer, e-mailed once)",
    auth="admin",
    tag="admin",
    response=ProposalOut,
    body=DecisionIn,
    errors=(404, 409),
    audit=PROPOSAL_REJECT,
)
def reject(request: ApiRequest[DecisionIn, Any], proposal_id: str) -> ProposalOut:
    proposal = request.container.proposals.reject(proposal_id, request.body.reason, request.scope)
    return _out(proposal, None, None)


@endpoint(
    "/admin/proposals/{proposal_id}/adopt",
    "POST",
    summary="Turn an open proposal into a draft challenge prefilled from it (linked both "
    "ways); its proposer and supporters are e-mailed once when that challenge is published",
    auth="admin",
    tag="admin",
    response=AdoptedOut,
    status=201,
    body=AdoptIn,
    errors=(404, 409),
    audit=PROPOSAL_ADOPT,
)
def adopt(request: ApiRequest[AdoptIn, Any], proposal_id: str) -> AdoptedOut:
    body = request.body
    check_webhook_url(request, body.sponsor)
    proposal, challenge = request.container.proposals.adopt(
        proposal_id,
        Adoption(
            sponsor=body.sponsor.to_domain(),
            beneficiary=body.beneficiary.to_domain(),
            reward=body.reward,
        ),
        request.scope,
    )
    request.audit_note.organization_id = proposal.organization_id
    request.audit_note.details["challenge_id"] = challenge.id
    return AdoptedOut(
        proposal=_out(proposal, None, None),
        challenge=AdminChallengeOut.from_challenge(
            challenge, reveal_webhook_secret=body.sponsor.secret_to_generate
        ),
    )
