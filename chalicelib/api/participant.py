"""Participant routes: pledge, withdraw, report what one did, list one's own pledges and reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from chalicelib.api.idempotency import check_key
from chalicelib.api.routing import ApiRequest, endpoint, json_response
from chalicelib.api.schemas import (
    ChallengeOut,
    LatLon,
    ListQuery,
    PersonalDataExport,
    PledgeIn,
    PledgeList,
    PledgeOut,
    PledgeResult,
    ReportIn,
    ReportList,
    ReportListQuery,
    ReportOut,
    ReportResult,
)
from chalicelib.api.schemas.events import RsvpExport
from chalicelib.api.schemas.follows import FollowExport, UpdateEmailExport
from chalicelib.api.schemas.personal_data import TeamMembershipExport
from chalicelib.api.schemas.proposals import ProposalEmailExport, ProposalExport, SupportExport
from chalicelib.domain.areas import area_from_coordinates, area_from_postal_code
from chalicelib.domain.audit import AuditAction, AuditTarget
from chalicelib.domain.idempotency import (
    AnswerAlreadyStoredError,
    KeyedAnswer,
    idempotency_scope,
    keyed_answer,
)
from chalicelib.domain.model import Principal
from chalicelib.services.pledges import Offer, PledgeOutcome, PledgeRequest
from chalicelib.services.reports import ReportRequest


def _area(body: PledgeIn) -> str | None:
    location = body.location
    if location is None:
        return None
    if isinstance(location, LatLon):
        return area_from_coordinates(location.lat, location.lon)
    return area_from_postal_code(location.postal_code, location.country)


def _once_per_key(
    request: ApiRequest[Any, Any], scope: str, key: str | None, answer: Callable[[], Response]
) -> Response:
    """The answer, produced once per Idempotency-Key and replayed for the same key and body
    (409 for the same key with another body); without a key, produced every time."""
    if key is None:
        return answer()
    return request.container.idempotency.run(
        scope=scope,
        key=key,
        body=request.raw_body,
        produce=answer,
        lambda_context=request.lambda_context,
    )


@endpoint(
    "/challenges/{challenge_id}/pledges",
    "POST",
    summary="Pledge to a challenge (201 the first time, 200 when already pledged)",
    auth="participant",
    response=PledgeResult,
    status=201,
    body=PledgeIn,
    also=(200,),
    headers=(IDEMPOTENCY_HEADER,),
    errors=(404, 409),
    tag="participant",
    rate_limit="pledge",
)
def pledge(request: ApiRequest[PledgeIn, Any], challenge_id: str) -> Response:
    body = request.body
    key = request.headers.get(IDEMPOTENCY_HEADER.lower())
    scope = idempotency_scope("pledge", request.caller.sub, challenge_id)

    def pledged(answer: Callable[[PledgeOutcome], KeyedAnswer] | None = None) -> PledgeOutcome:
        return request.container.pledges.pledge(
            request.caller,
            challenge_id,
            # Only the coarse area is kept: the coordinates or postal code go no further.
            PledgeRequest(
                display_name=body.display_name,
                area=_area(body),
                notify=body.notify,
                offer=Offer(body.offer.quantity, body.offer.unit) if body.offer else None,
                idempotency_key=key,
                answer=answer,
            ),
        )

    def respond(outcome: PledgeOutcome) -> Response:
        result = PledgeResult(
            pledge=PledgeOut.from_pledge(outcome.pledge),
            challenge=ChallengeOut.from_challenge(outcome.challenge),
        )
        return json_response(result, 201 if outcome.created else 200)

    if key is not None:
        # A keyed new pledge stores its answer in its own write (decision 189); a retry, a
        # repeated pledge or a key already used go on to Powertools, which replays or refuses.
        first = _first_keyed_answer(request, scope, check_key(key), pledged, respond)
        if first is not None:
            return first
    return _once_per_key(request, scope, key, lambda: respond(pledged()))


def _first_keyed_answer(
    request: ApiRequest[Any, Any],
    scope: str,
    key: str,
    pledged: Callable[[Callable[[PledgeOutcome], KeyedAnswer]], PledgeOutcome],
    respond: Callable[[PledgeOutcome], Response],
) -> Response | None:
    """The 201 of a new keyed pledge, written with its stored answer; None when the pledge
    already existed or an answer was already stored for the key (nothing written)."""
    answers: list[Response] = []

    def stored(outcome: PledgeOutcome) -> KeyedAnswer:
        response = respond(outcome)
        answers.append(response)
        return keyed_answer(
            scope, key, request.raw_body, response.status_code, str(response.body), time.time()
        )

    try:
        outcome = pledged(stored)
    except AnswerAlreadyStoredError:
        return None
    return answers[0] if outcome.created else None


@endpoint(
    "/challenges/{challenge_id}/pledges/me",
    "DELETE",
    summary="Withdraw my pledge",
    auth="participant",
    response=None,
    status=204,
    errors=(404, 409),
    tag="participant",
)
def withdraw(request: ApiRequest[Any, Any], challenge_id: str) -> None:
    request.container.pledges.withdraw(request.caller, challenge_id)


@endpoint(
    "/me/pledges",
    "GET",
    summary="List my pledges",
    auth="participant",
    response=PledgeList,
    query=ListQuery,
    tag="participant",
)
def my_pledges(request: ApiRequest[Any, ListQuery]) -> PledgeList:
    page = request.container.pledges.list_mine(
        request.caller, limit=request.query.limit, cursor=request.query.cursor
    )
    return PledgeList(
        items=[PledgeOut.from_pledge(p) for p in page.items], next_cursor=page.next_cursor
    )


@endpoint(
    "/challenges/{challenge_id}/reports",
    "POST",
    summary="Report what I did for a challenge I pledged on (km, kg…): counted once",
    auth="participant",
    response=ReportResult,
    status=201,
    body=ReportIn,
    headers=(IDEMPOTENCY_HEADER,),
    errors=(404, 409),
    tag="participant",
    rate_limit="report",
)
def report(request: ApiRequest[ReportIn, Any], challenge_id: str) -> Response:
    body = request.body
    key = request.headers.get(IDEMPOTENCY_HEADER.lower())

    def answer() -> Response:
        outcome = request.container.reports.report(
            request.caller,
            challenge_id,
            ReportRequest(
                quantity=body.quantity,
                unit=body.unit,
                occurred_on=body.occurred_on,
                idempotency_key=key,
            ),
        )
        result = ReportResult(
            report=ReportOut.from_report(outcome.report),
            challenge=ChallengeOut.from_challenge(outcome.challenge),
        )
        return json_response(result, 201)

    scope = idempotency_scope("report", request.caller.sub, challenge_id)
    return _once_per_key(request, scope, key, answer)


@endpoint(
    "/me/reports",
    "GET",
    summary="List my reports, newest first (?challenge_id= for one challenge's)",
    auth="participant",
    response=ReportList,
    query=ReportListQuery,
    tag="participant",
)
def my_reports(request: ApiRequest[Any, ReportListQuery]) -> ReportList:
    query = request.query
    page = request.container.reports.list_mine(
        request.caller, challenge_id=query.challenge_id, limit=query.limit, cursor=query.cursor
    )
    return ReportList(
        items=[ReportOut.from_report(r) for r in page.items], next_cursor=page.next_cursor
    )


@endpoint(
    "/me/export",
    "GET",
    summary="Everything crowdact holds about me, as one JSON document (GDPR access)",
    auth="participant",
    response=PersonalDataExport,
    tag="participant",
)
def export_me(request: ApiRequest[Any, Any]) -> PersonalDataExport:
    document = PersonalDataExport.from_export(
        request.container.personal_data.export(request.caller)
    )
    followed = request.container.follows.records(request.caller.sub)
    document.follows = [FollowExport.from_follow(f) for f in followed.follows]
    document.update_emails = [UpdateEmailExport.from_record(r) for r in followed.update_emails]
    proposed = request.container.proposals.records(request.caller.sub)
    document.proposals = [ProposalExport.from_proposal(p) for p in proposed.proposals]
    document.proposal_supports = [SupportExport.from_support(s) for s in proposed.supports]
    document.proposal_emails = [ProposalEmailExport.from_record(r) for r in proposed.emails]
    document.rsvps = [
        RsvpExport.from_rsvp(r) for r in request.container.events.records(request.caller.sub)
    ]
    current, changes = request.container.teams.records(request.caller.sub)
    document.team_memberships = [
        *(TeamMembershipExport.from_membership(m, current=True) for m in current),
        *(TeamMembershipExport.from_membership(m, current=False) for m in changes),
    ]
    return document


@endpoint(
    "/me",
    "DELETE",
    summary="Erase my personal data: my pledges and reports stay counted under a random id, "
    "without my name, e-mail or language (GDPR erasure; 204 again when nothing is left)",
    auth="participant",
    response=None,
    status=204,
    errors=(503,),
    tag="participant",
)
def erase_me(request: ApiRequest[Any, Any]) -> None:
    # Follows count nothing: they are deleted, not moved to the pseudonym.
    follows = request.container.follows.erase(request.caller.sub)
    # Supports are deleted and counted out; proposals stay, without their proposer.
    proposals = request.container.proposals.erase(request.caller.sub)
    # Sign-ups are cancelled (a seat goes to the first person waiting), not moved.
    rsvps = request.container.events.erase(request.caller.sub)
    # Memberships are deleted; what they counted stays, moved to the pseudonym with the
    # pledges (the leaderboards' trigger carries each share over).
    teams = request.container.teams.erase(request.caller.sub)
    erasure = request.container.personal_data.erase(request.caller)
    if erasure.pseudonym is None or not (
        erasure.pledges or erasure.reports or erasure.notifications or erasure.moderation
    ):
        return  # nothing was held (a second call): nothing to record
    # The erasure is in the audit trail under the pseudonym, never the erased `sub`.
    request.container.audit.record(
        actor=Principal(sub=erasure.pseudonym),
        action=AuditAction.PARTICIPANT_ERASE,
        target=AuditTarget("participant", erasure.pseudonym),
        request_id=request.request_id,
        organization_id=None,
        details={
            "pledges": erasure.pledges,
            "reports": erasure.reports,
            "notifications": erasure.notifications,
            "moderation": erasure.moderation,
            **({"follows": follows} if follows else {}),
            **({"proposals": proposals} if proposals else {}),
            **({"rsvps": rsvps} if rsvps else {}),
            **({"teams": teams} if teams else {}),
        },
    )
