"""The one place where errors become RFC 9457 problem+json responses, chosen by type."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalice.app import Request, Response

from chalicelib.domain import errors
from chalicelib.domain.proposals import (
    ProposalDecidedError,
    ProposalNotOpenError,
    ProposalNotPublicError,
)

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://crowdact.org/problems/"


@dataclass(frozen=True)
class ProblemKind:
    status: int
    slug: str
    title: str


ProposalNotOpenKind = ProblemKind(409, "proposal-not-open", "Proposal not open")
# Checked in order, so subclasses come before their bases.
_KINDS: tuple[tuple[type[Exception], ProblemKind], ...] = (
    (errors.InvalidRequestError, ProblemKind(400, "invalid-request", "Invalid request")),
    (errors.AuthenticationError, ProblemKind(401, "unauthenticated", "Authentication required")),
    (errors.PermissionDeniedError, ProblemKind(403, "forbidden", "Forbidden")),
    (errors.NotFoundError, ProblemKind(404, "not-found", "Not found")),
    (errors.NotAcceptableError, ProblemKind(406, "not-acceptable", "Not acceptable")),
    (errors.InvalidTransitionError, ProblemKind(409, "invalid-transition", "Invalid transition")),
    (errors.IdempotencyKeyReusedError, ProblemKind(409, "idempotency-key-reused", "Key reused")),
    (errors.RequestInProgressError, ProblemKind(409, "request-in-progress", "In progress")),
    (errors.ChallengeNotOpenError, ProblemKind(409, "challenge-not-open", "Challenge not open")),
    (errors.NotPledgedError, ProblemKind(409, "not-pledged", "Pledge first")),
    (errors.NoVoteError, ProblemKind(409, "no-vote", "No beneficiary vote")),
    (errors.VoteClosedError, ProblemKind(409, "vote-closed", "Vote closed")),
    (errors.SlugTakenError, ProblemKind(409, "slug-taken", "Slug taken")),
    (errors.NotReportableError, ProblemKind(409, "not-reportable", "Nothing to report yet")),
    (errors.FiguresFrozenError, ProblemKind(409, "figures-frozen", "Figures are final")),
    (errors.PledgeChangedError, ProblemKind(409, "pledge-changed", "Not the pledge you saw")),
    (errors.ReportsNotAcceptedError, ProblemKind(409, "reports-not-accepted", "No reports")),
    (errors.ChallengeNotReachedError, ProblemKind(409, "not-reached", "Target not reached")),
    (ProposalNotOpenError, ProposalNotOpenKind),
    (ProposalDecidedError, ProblemKind(409, "proposal-decided", "Proposal already decided")),
    (ProposalNotPublicError, ProblemKind(409, "proposal-not-public", "Proposal not public")),
    (errors.EventPastError, ProblemKind(409, "event-past", "Event already started")),
    (
        errors.CapacityBelowConfirmedError,
        ProblemKind(409, "capacity-below-confirmed", "Capacity below confirmed"),
    ),
    (errors.TeamNameTakenError, ProblemKind(409, "team-name-taken", "Team name taken")),
    (errors.ConflictError, ProblemKind(409, "conflict", "Conflict")),
    (errors.PayloadTooLargeError, ProblemKind(413, "payload-too-large", "Payload too large")),
    (errors.ContentionError, ProblemKind(503, "contention", "Busy, try again")),
    (errors.RateLimitedError, ProblemKind(429, "too-many-requests", "Too many requests")),
)
_INTERNAL = ProblemKind(500, "internal", "Internal server error")

# Chalice's own error responses ({"Code": …, "Message": …}) mapped onto problem kinds.
_CHALICE_CODES = {
    "BadRequestError": ProblemKind(400, "invalid-request", "Invalid request"),
    "BadRequest": ProblemKind(400, "invalid-request", "Invalid request"),
    "UnauthorizedError": ProblemKind(401, "unauthenticated", "Authentication required"),
    "ForbiddenError": ProblemKind(403, "forbidden", "Forbidden"),
    "NotFoundError": ProblemKind(404, "not-found", "Not found"),
    "MethodNotAllowedError": ProblemKind(405, "method-not-allowed", "Method not allowed"),
    "ConflictError": ProblemKind(409, "conflict", "Conflict"),
    "UnprocessableEntityError": ProblemKind(400, "invalid-request", "Invalid request"),
    "RequestTimeoutError": ProblemKind(408, "request-timeout", "Request timeout"),
    "EntityTooLargeError": ProblemKind(413, "payload-too-large", "Payload too large"),
    "UnsupportedMediaType": ProblemKind(415, "unsupported-media-type", "Unsupported media type"),
    "TooManyRequestsError": ProblemKind(429, "too-many-requests", "Too many requests"),
    "InternalServerError": _INTERNAL,
}


def problem_body(
    kind: ProblemKind, detail: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
    }
    body.update(extra or {})
    return body


def problem_response(
    kind: ProblemKind,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str | list[str]] | None = None,
) -> Response:
    return Response(
        body=json.dumps(problem_body(kind, detail, extra), ensure_ascii=False),
        status_code=kind.status,
        headers={**(headers or {}), "Content-Type": PROBLEM_CONTENT_TYPE},
    )


def kind_of(error: Exception) -> ProblemKind | None:
    for error_type, kind in _KINDS:
        if isinstance(error, error_type):
            return kind
    return None


def response_for_error(error: Exception) -> Response:
    kind = kind_of(error)
    if kind is None:
        # Logged with its stack trace for us; the client only learns that it was our fault.
        logger.exception("unhandled error", exc_info=error)
        return problem_response(_INTERNAL, "An unexpected error occurred; it has been logged.")
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(error, errors.InvalidFieldsError):
        # The domain names fields of the request body; the location is the API's business.
        extra["errors"] = [
            {"loc": ["body", name], "msg": msg} for name, msg in error.fields.items()
        ]
    elif isinstance(error, errors.InvalidRequestError) and error.errors:
        extra["errors"] = error.errors
    if kind.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="crowdact"'
    if kind.status == 503 or isinstance(error, errors.RequestInProgressError):
        headers["Retry-After"] = "1"
    if isinstance(error, errors.RateLimitedError):
        from chalicelib.services.ratelimit import retry_after_header

        headers["Retry-After"] = retry_after_header(error.retry_after_seconds)
    return problem_response(kind, str(error), extra=extra, headers=headers)


def shape_chalice_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: rewrite Chalice's own error bodies (405, 415, …) as problem+json."""
    response = get_response(event)
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    kind = _CHALICE_CODES.get(str(body["Code"]), _INTERNAL)
    detail = str(body["Message"]) if kind is not _INTERNAL else "An unexpected error occurred."
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    shaped = problem_response(
        ProblemKind(response.status_code, kind.slug, kind.title), detail, headers=headers
    )
    return shaped
