"""The roles allow what the code does: every DynamoDB call the app makes while it runs
(the functional stack on moto, the stream triggers driven as Lambda drives them) is checked
against the IAM access each Lambda function is given (infra.access.FUNCTION_ACCESS)."""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.aws_clients import botocore_session
from chalicelib.settings import Settings
from infra.access import FUNCTION_ACCESS, READ_ACTIONS, WRITE_ACTIONS, TableAccess
from infra.functions import API_HANDLER, app_functions, load_app
from tests.functional.conftest import ADMIN, TEST_ENV, Api, bearer, make_api
from tests.infra.conftest import Synthesis

# Operations whose items are authorised one by one, as the action named here.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_running = contextvars.ContextVar("running", default=API_HANDLER)


@dataclass(frozen=True)
class Call:
    function: str
    action: str  # dynamodb:<Action>, as IAM authorises it
    table: str  # physical table name
    index: str | None = None


def calls_of(function: str, operation: str, params: dict[str, Any]) -> list[Call]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            Call(function, "dynamodb:" + _TRANSACT_ITEM_ACTIONS[kind], body["TableName"])
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Call(function, f"dynamodb:{operation}", table) for table in params["RequestItems"]]
    return [Call(function, f"dynamodb:{operation}", params["TableName"], params.get("IndexName"))]


def _attributed(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        token = _running.set(name)
        try:
            return handler(*args, **kwargs)
        finally:
            _running.reset(token)

    return run


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, repo_root: Path) -> Settings:
    """The functional tests' environment (tests/functional/conftest.py)."""
    monkeypatch.chdir(repo_root)
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CROWDACT_AWS_ENDPOINT_URL", raising=False)
    return Settings.from_env()


@pytest.fixture
def recorded(
    env: Settings, monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> Iterator[tuple[Api, list[Call]]]:
    import app as app_module

    for function in app_functions(load_app(repo_root)):
        if function.stream_table is not None or function.schedule is not None:
            handler = getattr(app_module, function.name)
            monkeypatch.setattr(app_module, function.name, _attributed(function.name, handler))
    calls: list[Call] = []
    recording = [False]

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if recording[0]:
            calls.extend(calls_of(_running.get(), model.name, params))

    # Registered before any client exists: clients copy the session's handlers.
    session = botocore_session()
    session.register("before-parameter-build.dynamodb", record)
    try:
        for api in make_api(env):
            recording[0] = True
            yield api, calls
    finally:
        session.unregister("before-parameter-build.dynamodb", record)


def _scenario(api: Api) -> None:
    """Every path of the stream triggers, and the API's main ones."""
    response = api.request("POST", "/admin/campaigns", {"title": "Week", "description": "-"}, ADMIN)
    assert response.status_code == 201, response.body
    campaign_id = json.loads(response.body)["id"]
    challenge = api.create(campaign_id=campaign_id, target={"metric": "participants", "value": 2})
    for sub in ("ana", "ben"):
        located = {"location": {"lat": 48.9045, "lon": 2.3057}}  # counted by count_areas
        assert api.pledge(challenge["id"], sub, located).status_code == 201
    replayable = {**bearer("cy"), "Idempotency-Key": "key-1"}
    response = api.request("POST", f"/challenges/{api.create()['id']}/pledges", None, replayable)
    assert response.status_code == 201, response.body
    api.drain()  # aggregate -> milestone -> notify; campaign members join
    assert api.challenge(challenge["id"])["progress"]["reached"] is True
    withdrawal = api.request(
        "DELETE", f"/challenges/{challenge['id']}/pledges/me", None, bearer("ben")
    )
    assert withdrawal.status_code in (200, 204), withdrawal.body
    api.drain()  # the campaign member leaves
    assert api.notifications(challenge["id"])
    for path in ("/challenges", f"/campaigns/{campaign_id}", "/me/pledges"):
        assert api.request("GET", path, None, bearer("ana")).status_code == 200, path
    _end_by_deadline(api)
    _count_teams(api)


def _count_teams(api: Api) -> None:
    """A team's pledge, report, move and withdrawal, counted by count_teams."""
    api.seed_organization("org_access", "Access Co")
    made = api.request("POST", "/admin/organizations/org_access/teams", {"name": "Lyon"}, ADMIN)
    assert made.status_code == 201, made.body
    team_id = json.loads(made.body)["id"]
    km = api.create(
        organization_id="org_access", target={"metric": "quantity", "value": 9, "unit": "km"}
    )
    member = bearer("eve", org_id="org_access")
    joined = api.request("PUT", "/me/teams/org_access", {"team_id": team_id}, member)
    assert joined.status_code == 200, joined.body
    assert api.pledge(km["id"], "eve").status_code == 201
    report = api.request("POST", f"/challenges/{km['id']}/reports", {"quantity": 2}, member)
    assert report.status_code == 201, report.body
    api.request("DELETE", f"/challenges/{km['id']}/pledges/me", None, member)
    api.drain()
    board = api.request("GET", f"/challenges/{km['id']}/leaderboard")
    assert json.loads(board.body)["teams"][0]["quantity"] == 2


def _end_by_deadline(api: Api) -> None:
    """The deadline schedule ends a due challenge (refresh, then the ending transaction)."""
    import app as app_module

    due = api.create(ends_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert api.pledge(due["id"], "dee").status_code == 201
    past = {"ends_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    assert api.request("PATCH", f"/admin/challenges/{due['id']}", past, ADMIN).status_code == 200
    event = {"version": "0", "id": "e2", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2026-06-01T09:00:00Z", "region": "eu-west-3",
             "resources": [], "detail": {}}  # fmt: skip
    assert app_module.end_due_challenges(event, None)["ended"] == [due["id"]]
    api.drain()  # the challenge.ended milestone is notified


def allowed(call: Call, prefix: str) -> bool:
    access = FUNCTION_ACCESS[call.function]
    base = call.table.removeprefix(prefix)
    level = TableAccess.READ_WRITE if access.tables is None else access.tables.get(base)
    if level is None:
        return False
    if call.action in READ_ACTIONS:
        return True
    return call.action in WRITE_ACTIONS and level is TableAccess.READ_WRITE


def test_every_call_is_allowed_by_its_functions_role(
    recorded: tuple[Api, list[Call]], synthesis: Synthesis
) -> None:
    api, calls = recorded
    _scenario(api)
    prefix = api.container.settings.table_prefix
    triggers = {c.function for c in calls} - {API_HANDLER}
    assert triggers == {
        f.name
        for f in synthesis.stages["dev"].stack.functions.values()
        if f.stream_table or f.schedule
    }, "the scenario must run every stream trigger and schedule"
    refused = sorted({c for c in calls if not allowed(c, prefix)}, key=str)
    assert refused == []
