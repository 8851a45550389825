"""`@endpoint(audit=...)`: a successful admin write appends its entry once; an error, a
replayed answer or a failing audit table never adds one, nor changes the answer."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.app import Request, Response

from chalicelib.api import admin  # noqa: F401 - registers the admin routes' handlers
from chalicelib.api.idempotency import REPLAYED_HEADER
from chalicelib.api.routing import HANDLERS, ApiRequest, AuditNote, audit_subject, record_audit
from chalicelib.api.schemas import AdminChallengeOut
from chalicelib.auth import Authenticator, build_verifier
from chalicelib.domain.audit import ActorRole, AuditTarget
from chalicelib.domain.model import Principal
from chalicelib.local.tokens import mint_local_token
from chalicelib.observability import LoggedMetrics
from chalicelib.services.audit import AuditService
from chalicelib.services.ports import MetricName
from chalicelib.services.proposals import ProposalService
from chalicelib.services.retry import RetryPolicy
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, Settings
from chalicelib.wiring import Container, set_container
from tests.unit.fake_proposals import FakeProposalRepository
from tests.unit.fakes import FakeAuditRepository, FakeOrganizationRepository
from tests.unit.support import Backend, build_backend, challenge_draft

PUBLISH = ("POST", "/admin/challenges/{challenge_id}/publish")


class Unused:
    """A container member the route under test must not touch."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the route used container.{self._name}.{attribute}")


def container_with(**members: Any) -> Container:
    """A container holding `members`, every other member `Unused`."""
    fields: dict[str, Any] = {f.name: Unused(f.name) for f in dataclasses.fields(Container)}
    fields.update(members)
    return Container(**fields)


class RecordingMetrics:
    def __init__(self) -> None:
        self.names: list[str] = []

    def count(self, name: str, value: int = 1) -> None:
        self.names.append(name)

    def flush(self) -> None:
        return None


@dataclasses.dataclass
class Stage:
    backend: Backend
    trail: FakeAuditRepository
    metrics: RecordingMetrics


@pytest.fixture
def stage() -> Iterator[Stage]:
    backend = build_backend()
    trail = FakeAuditRepository()
    metrics = RecordingMetrics()
    settings = Settings.from_env({"CROWDACT_STAGE": "local"})
    set_container(
        container_with(
            settings=settings,
            authenticator=Authenticator(build_verifier(settings.jwt)),
            challenges=backend.challenges,
            # Publishing tells an adopted proposal's people (none here).
            proposals=ProposalService(
                FakeProposalRepository(),
                FakeOrganizationRepository(),
                backend.challenges,
                backend.clock,
            ),
            metrics=metrics,
            audit=AuditService(
                trail, backend.clock, metrics=metrics, retry=RetryPolicy(sleep=lambda _: None)
            ),
        )
    )
    try:
        yield Stage(backend, trail, metrics)
    finally:
        set_container(None)


def admin_request(method: str, request_id: str, *, groups: tuple[str, ...] = ("admin",)) -> Request:
    token = mint_local_token(LOCAL_JWT_SECRET_DEFAULT, "admin-7", groups=list(groups))
    return Request(
        {
            "multiValueQueryStringParameters": None,
            "headers": {"authorization": f"Bearer {token}"},
            "pathParameters": None,
            "requestContext": {
                "httpMethod": method,
                "resourcePath": PUBLISH[1],
                "requestId": request_id,
            },
            "body": None,
            "isBase64Encoded": False,
            "stageVariables": None,
        }
    )


def publish(challenge_id: str, request_id: str, **kwargs: Any) -> Response:
    response: Response = HANDLERS[PUBLISH](
        admin_request("POST", request_id, **kwargs), None, challenge_id=challenge_id
    )
    return response


def test_a_successful_write_appends_its_entry(stage: Stage) -> None:
    draft = stage.backend.challenges.create(challenge_draft(organization_id="org_a"))

    answer = publish(draft.id, "req-publish")

    assert answer.status_code == 200, answer.body
    (entry,) = stage.trail.entries.values()
    assert (entry.action, entry.target, entry.request_id) == (
        "challenge.publish",
        AuditTarget("challenge", draft.id),
        "req-publish",
    )
    assert (entry.actor_sub, entry.actor_role) == ("admin-7", ActorRole.ADMIN)
    # A platform admin acted on organisation A's challenge: in A's trail.
    assert entry.organization_id == "org_a"
    assert entry.at == stage.backend.clock.now()


def test_an_error_appends_nothing(stage: Stage) -> None:
    draft = stage.backend.challenges.create(challenge_draft())
    assert publish(draft.id, "req-1").status_code == 200

    again = publish(draft.id, "req-2")  # already live: 409
    missing = publish("ch_missing", "req-3")
    refused = publish(draft.id, "req-4", groups=())  # a participant: 403

    assert (again.status_code, missing.status_code, refused.status_code) == (409, 404, 403)
    assert [e.request_id for e in stage.trail.entries.values()] == ["req-1"]
    assert stage.trail.attempts == 1


def test_a_failing_audit_table_leaves_the_answer_as_it_was(stage: Stage) -> None:
    draft = stage.backend.challenges.create(challenge_draft())
    stage.trail.fail_next(10)

    answer = publish(draft.id, "req-1")

    assert answer.status_code == 200
    assert json.loads(answer.body)["status"] == "live"
    assert stage.trail.entries == {}
    assert stage.metrics.names.count(MetricName.AUDIT_APPEND_FAILED) == 1


def _api_request(stage: Stage, body: Any = None) -> ApiRequest[Any, Any]:
    return ApiRequest(
        container=container_with(
            audit=AuditService(stage.trail, stage.backend.clock), metrics=LoggedMetrics()
        ),
        principal=Principal("admin-7", groups=frozenset({"admin"})),
        body=body,
        query=None,
        request_id="req-9",
    )


def test_the_same_request_recorded_again_appends_nothing_more(stage: Stage) -> None:
    request = _api_request(stage)
    ok = Response(body="{}", status_code=200)
    params = {"challenge_id": "ch_1"}

    record_audit(request, "challenge.close", "POST", params, None, ok)
    stage.backend.clock.advance()
    record_audit(request, "challenge.close", "POST", params, None, ok)  # a retried invocation

    (entry,) = stage.trail.entries.values()
    assert entry.request_id == "req-9"
    assert stage.trail.attempts == 2


def test_a_replayed_answer_appends_nothing(stage: Stage) -> None:
    request = _api_request(stage)
    replayed = Response(body="{}", status_code=201, headers={REPLAYED_HEADER: "true"})
    first = Response(body="{}", status_code=201)

    record_audit(request, "challenge.create", "POST", {}, None, replayed)
    assert stage.trail.entries == {}
    record_audit(request, "challenge.create", "POST", {}, None, first)
    assert len(stage.trail.entries) == 1


def test_a_patch_records_the_names_of_the_fields_it_changed(stage: Stage) -> None:
    from chalicelib.api.schemas import ChallengePatch

    body = ChallengePatch.model_validate({"title": "New", "reward": "More"})
    request = _api_request(stage, body)
    record_audit(
        request,
        "challenge.update",
        "PATCH",
        {"challenge_id": "ch_1"},
        None,
        Response(body="{}", status_code=200),
    )
    (entry,) = stage.trail.entries.values()
    assert entry.details == {"fields": "reward,title"}


def _challenge_out(**fields: Any) -> AdminChallengeOut:
    backend = build_backend()
    challenge = backend.challenges.create(challenge_draft(**fields))
    return AdminChallengeOut.from_challenge(challenge)


def test_the_subject_comes_from_the_path_else_the_answer() -> None:
    created = _challenge_out(organization_id="org_a")
    note = AuditNote()

    # A creation: the answer names the target and its organisation.
    assert audit_subject("challenge.create", {}, created, note, None) == (
        AuditTarget("challenge", created.id),
        "org_a",
    )
    # The path names the target; the answer, its organisation (None: of no organisation).
    plain = _challenge_out()
    assert audit_subject("challenge.close", {"challenge_id": "ch_9"}, plain, note, "org_b") == (
        AuditTarget("challenge", "ch_9"),
        None,
    )
    # An organisation is its own.
    organization = {"organization_id": "org_c"}
    assert audit_subject("organization.update", organization, None, note, None) == (
        AuditTarget("organization", "org_c"),
        "org_c",
    )
    # Nothing to go by: the parameters, and the caller's organisation.
    params = {"challenge_id": "ch_1", "participant_id": "p_2"}
    assert audit_subject("pledge.remove", params, None, note, "org_b") == (
        AuditTarget("pledge", "ch_1/p_2"),
        "org_b",
    )


def test_a_view_can_name_the_target_organisation_and_details() -> None:
    note = AuditNote(
        target=AuditTarget("pledge", "ch_1/p_2"), organization_id=None, details={"reason": "x"}
    )
    answer = _challenge_out(organization_id="org_a")
    assert audit_subject("pledge.remove", {"challenge_id": "ch_1"}, answer, note, "org_b") == (
        AuditTarget("pledge", "ch_1/p_2"),
        None,
    )
