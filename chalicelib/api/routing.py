"""The `endpoint` decorator: authenticate, parse and validate, call the view, map errors.

Every route is declared through it, so each one gets the same treatment and is recorded in
`OPERATIONS`, from which `/openapi.json` is generated, and in `HANDLERS`, where the route
table (`chalicelib.api.routes`) finds it when the first request for it arrives. A route that
writes names its `audit` action, and its successful requests are appended to the audit trail.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.idempotency import REPLAYED_HEADER
from chalicelib.api.problems import response_for_error
from chalicelib.domain.access import AdminScope, admin_scope
from chalicelib.domain.audit import AuditTarget, check_action
from chalicelib.domain.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from chalicelib.domain.model import Principal
from chalicelib.observability import set_correlation_id
from chalicelib.services.ports import UNSET, MetricName, Unset
from chalicelib.wiring import Container, get_container

logger = logging.getLogger(__name__)

# "admin": a platform admin, or an org-admin within its organisation (`ApiRequest.scope`);
# "platform": a platform admin only.
Auth = Literal["none", "optional", "participant", "admin", "platform"]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BodyT = TypeVar("BodyT", bound=BaseModel)
QueryT = TypeVar("QueryT", bound=BaseModel)

_ERROR_STATUSES: dict[Auth, tuple[int, ...]] = {
    "none": (),
    "optional": (401,),
    "participant": (401,),
    "admin": (401, 403),
    "platform": (401, 403),
}


@dataclass(frozen=True)
class Operation:
    """What /openapi.json says about one route."""

    path: str
    method: str
    summary: str
    auth: Auth
    status: int
    also: tuple[int, ...]
    response: type[BaseModel] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    errors: tuple[int, ...]
    tag: str
    headers: tuple[str, ...] = ()  # optional request headers the route reads
    # Other representations of the success response: (media type, model), e.g. GeoJSON.
    alternatives: tuple[tuple[str, type[BaseModel]], ...] = ()
    # Media types of files the success response may also be (a PDF, a zip).
    files: tuple[str, ...] = ()
    audit: str | None = None  # the action its successful requests append to the audit trail


OPERATIONS: list[Operation] = []
HANDLERS: dict[tuple[str, str], Callable[..., Response]] = {}  # (METHOD, path) → handler


@dataclass
class AuditNote:
    """What a view tells the audit entry its route records, when the defaults are not right
    (see `audit_subject`): the target if the path and answer do not name it, the organisation
    if it is not the answer's, and details such as a moderator's reason."""

    target: AuditTarget | None = None
    organization_id: str | Unset | None = UNSET
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class ApiRequest(Generic[BodyT, QueryT]):
    """What a view needs from the HTTP request, already checked."""

    container: Container
    principal: Principal | None
    body: BodyT
    query: QueryT
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive from Chalice
    raw_body: bytes = b""
    lambda_context: Any = None
    request_id: str | None = None  # API Gateway's (else Lambda's): the audit entry's too
    audit_note: AuditNote = field(default_factory=AuditNote)

    @property
    def caller(self) -> Principal:
        if self.principal is None:  # the endpoint's auth level guarantees one
            raise AuthenticationError("missing bearer token")
        return self.principal

    @property
    def scope(self) -> AdminScope:
        """What the calling administrator may run (an admin route's auth level checked it)."""
        return admin_scope(self.caller)


class _Empty(BaseModel):
    pass


def _validation_errors(error: ValidationError, where: str) -> list[dict[str, object]]:
    return [
        {"loc": [where, *error_item["loc"]], "msg": error_item["msg"]}
        for error_item in error.errors(include_url=False, include_input=False)
    ]


def _raw_body(request: Request) -> bytes:
    raw_body = request.raw_body or b""
    return raw_body.encode() if isinstance(raw_body, str) else raw_body


def _request_id(request: Request, lambda_context: Any) -> str | None:
    """API Gateway's request id (also in its access logs), else the Lambda request id."""
    context = getattr(request, "context", None) or {}
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return request_id or getattr(lambda_context, "aws_request_id", None)


def parse_body(request: Request, model: type[BodyT], max_bytes: int) -> BodyT:
    raw = _raw_body(request)
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(max_bytes)
    try:
        # pydantic's own JSON parser: strict types from JSON, and no recursion limit to hit.
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InvalidRequestError(
                "the body is not valid JSON", [{"loc": ["body"], "msg": "malformed JSON"}]
            ) from exc
        raise InvalidRequestError(
            "the body does not match the expected schema", _validation_errors(exc, "body")
        ) from exc


def parse_query(request: Request, model: type[QueryT]) -> QueryT:
    params = dict(request.query_params or {})
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise InvalidRequestError(
            "the query parameters are not valid", _validation_errors(exc, "query")
        ) from exc


_PATH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_path_ids(path_params: dict[str, str]) -> None:
    # No id we issue looks otherwise; refusing early also keeps over-long keys from DynamoDB.
    for name, value in path_params.items():
        if not _PATH_ID.match(value):
            raise NotFoundError(f"no {name.removesuffix('_id')} has the id {value[:64]!r}")


def _authenticate(container: Container, request: Request, auth: Auth) -> Principal | None:
    if auth == "none":
        return None
    header = request.headers.get("authorization")
    principal = container.authenticator.authenticate(header, required=auth != "optional")
    if principal is not None:
        if auth == "platform":
            container.authenticator.require_admin(principal)
        elif auth == "admin":
            admin_scope(principal)  # 403 unless an admin or an org-admin of an organisation
    return principal


def audit_subject(
    action: str,
    path_params: Mapping[str, str],
    result: object,
    note: AuditNote,
    caller_organization: str | None,
) -> tuple[AuditTarget, str | None]:
    """The target and organisation of a route's audit entry, unless the view noted them.

    The target's type is the action's first word (`challenge.publish` → `challenge`), its id
    the path's `{challenge_id}`, else the answer's `id` (a creation), else the path's
    parameters joined. The organisation is the target's own when known: an organisation's
    id, else the answer's `organization_id` (so a platform admin's change to an
    organisation's challenge is in that organisation's trail), else the caller's.
    """
    kind = action.split(".", 1)[0]
    target = note.target
    if target is None:
        named = path_params.get(f"{kind}_id") or getattr(result, "id", None)
        if not isinstance(named, str) or not named:
            named = "/".join(path_params.values()) or "-"
        target = AuditTarget(kind, named)
    if not isinstance(note.organization_id, Unset):
        return target, note.organization_id
    if target.type == "organization":
        return target, target.id
    answered = getattr(result, "organization_id", UNSET)
    if answered is None or isinstance(answered, str):
        return target, answered
    return target, caller_organization


def _caller_organization(principal: Principal) -> str | None:
    """The organisation an org-admin acts for (a platform admin's: none)."""
    return principal.org_id if principal.is_org_admin and not principal.is_admin else None


def record_audit(
    request: ApiRequest[Any, Any],
    action: str,
    method: str,
    path_params: Mapping[str, str],
    result: object,
    response: Response,
) -> None:
    """Append the route's entry once its write succeeded: nothing for an error, nor for an
    Idempotency-Key replay (which wrote nothing). Never turns the answer into an error."""
    if not 200 <= response.status_code < 300:
        return
    if str((response.headers or {}).get(REPLAYED_HEADER, "")).lower() == "true":
        return
    try:
        caller = request.caller
        target, organization_id = audit_subject(
            action, path_params, result, request.audit_note, _caller_organization(caller)
        )
        details: dict[str, object] = dict(request.audit_note.details)
        if method == "PATCH" and isinstance(request.body, BaseModel):
            # What a change touched (names only: values may be personal data).
            details.setdefault("fields", ",".join(sorted(request.body.model_fields_set)))
        request.container.audit.record(
            actor=caller,
            action=action,
            target=target,
            request_id=request.request_id,
            organization_id=organization_id,
            details=details,
        )
    except Exception:  # a bug here must not hide a write that was made
        request.container.metrics.count(MetricName.AUDIT_APPEND_FAILED)
        logger.exception("no audit entry for %s (request %s)", action, request.request_id)


def json_response(result: BaseModel | Response | None, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(body="", status_code=status)
    return Response(
        body=result.model_dump_json(),
        status_code=status,
        headers={"Content-Type": "application/json"},
    )


def endpoint(
    path: str,
    method: str,
    *,
    summary: str,
    auth: Auth,
    response: type[BaseModel] | None,
    status: int = 200,
    also: tuple[int, ...] = (),
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    tag: str = "public",
    headers: tuple[str, ...] = (),
    alternatives: tuple[tuple[str, type[BaseModel]], ...] = (),
    files: tuple[str, ...] = (),
    rate_limit: str | None = None,
    audit: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """`rate_limit` names the per-participant limit the route counts against (`pledge`,
    `report`): over it, a 429 with Retry-After before any other work.

    `audit` names the action (`challenge.publish`) each successful request appends to the
    audit trail, once, after the view returned (see `audit_subject`); every admin route
    with a write method must name one (tests/unit/test_routes.py)."""
    if audit is not None:
        check_action(audit)
        if auth in ("none", "optional"):
            raise ValueError(f"{method} {path}: an audited route needs an authenticated caller")

    def decorator(view: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(view)
        def handler(request: Request, lambda_context: Any, **path_params: str) -> Response:
            container: Container | None = None
            try:
                request_id = _request_id(request, lambda_context)
                set_correlation_id(request_id)
                _check_path_ids(path_params)
                container = get_container()
                principal = _authenticate(container, request, auth)
                if rate_limit is not None and principal is not None:
                    container.rate_limits.check(rate_limit, principal.sub)
                api_request: ApiRequest[Any, Any] = ApiRequest(
                    container=container,
                    principal=principal,
                    body=parse_body(request, body, container.settings.max_body_bytes)
                    if body
                    else _Empty(),
                    query=parse_query(request, query) if query else _Empty(),
                    headers=request.headers,
                    raw_body=_raw_body(request),
                    lambda_context=lambda_context,
                    request_id=request_id,
                )
                result = view(api_request, **path_params)
                response = json_response(result, status)
                if audit is not None:
                    record_audit(api_request, audit, method, path_params, result, response)
                return response
            except Exception as error:
                return response_for_error(error)
            finally:
                if container is not None:
                    container.metrics.flush()

        if (method, path) in HANDLERS:
            raise ValueError(f"{method} {path} is declared twice")
        HANDLERS[(method, path)] = handler
        implied = {
            *_ERROR_STATUSES[auth],
            *((400,) if body or query else ()),
            *((413,) if body else ()),
            *((429,) if rate_limit else ()),
        }
        OPERATIONS.append(
            Operation(
                path,
                method.lower(),
                summary,
                auth,
                status,
                also,
                response,
                body,
                query,
                tuple(sorted({*implied, *errors})),
                tag,
                headers,
                alternatives=alternatives,
                files=files,
                audit=audit,
            )
        )
        return handler

    return decorator
