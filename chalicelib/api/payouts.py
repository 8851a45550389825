"""Payout routes: an admin records what a reached challenge paid; anyone who may see the
challenge reads the trail. A route module of its own, beside `admin` and `public`."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from chalicelib.api.routing import ApiRequest, endpoint, json_response
from chalicelib.api.schemas import ListQuery
from chalicelib.api.schemas.payouts import PayoutIn, PayoutList, PayoutOut, PayoutTotalOut
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.idempotency import idempotency_scope
from chalicelib.domain.payouts import format_amount, parse_amount
from chalicelib.services.payouts import PayoutRequest


@endpoint(
    "/admin/challenges/{challenge_id}/payouts",
    "POST",
    summary="Record a payout of a reached challenge (Idempotency-Key: recorded once)",
    auth="admin",
    tag="admin",
    response=PayoutOut,
    status=201,
    body=PayoutIn,
    headers=(IDEMPOTENCY_HEADER,),
    errors=(404, 409),
    audit=AuditAction.PAYOUT_RECORD,
)
def record_payout(request: ApiRequest[PayoutIn, Any], challenge_id: str) -> Response:
    body = request.body
    key = request.headers.get(IDEMPOTENCY_HEADER.lower())

    def answer() -> Response:
        outcome = request.container.payouts.record(
            request.caller,
            challenge_id,
            PayoutRequest(
                amount=parse_amount(body.amount),
                currency=body.currency,
                paid_on=body.paid_on,
                to=body.to,
                proof_url=str(body.proof_url) if body.proof_url else None,
                note=body.note,
                idempotency_key=key,
            ),
            request.scope,
        )
        payout = outcome.payout
        # The entry goes to the challenge's organisation's trail, a platform admin's included.
        request.audit_note.organization_id = outcome.challenge.organization_id
        request.audit_note.details.update(
            payout_id=payout.id,
            amount=format_amount(payout.amount, payout.currency),
            currency=payout.currency,
        )
        return json_response(PayoutOut.from_payout(payout, outcome.challenge), 201)

    if key is None:
        return answer()
    return request.container.idempotency.run(
        scope=idempotency_scope("payout", request.caller.sub, challenge_id),
        key=key,
        body=request.raw_body,
        produce=answer,
        lambda_context=request.lambda_context,
    )


@endpoint(
    "/challenges/{challenge_id}/payouts",
    "GET",
    summary="Where the money went: a challenge's payouts, newest first, with the totals per "
    "currency",
    auth="optional",
    response=PayoutList,
    query=ListQuery,
    errors=(404,),
)
def list_payouts(request: ApiRequest[Any, ListQuery], challenge_id: str) -> PayoutList:
    trail = request.container.payouts.trail(
        challenge_id, request.principal, limit=request.query.limit, cursor=request.query.cursor
    )
    return PayoutList(
        items=[PayoutOut.from_payout(p, trail.challenge) for p in trail.page.items],
        next_cursor=trail.page.next_cursor,
        totals=[PayoutTotalOut.from_total(t) for t in trail.totals],
    )
