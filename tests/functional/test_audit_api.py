"""The audit trail over the API on moto: every admin write appended once, read by platform
admins whole and by org-admins for their organisation, a page at a time; never changed."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import logging
import urllib.parse
from typing import Any

import pytest

from chalicelib.services.audit import AuditService
from chalicelib.services.ports import SystemClock
from chalicelib.services.retry import RetryPolicy
from chalicelib.storage.audit import DynamoAuditRepository
from chalicelib.storage.cursors import encode_cursor
from chalicelib.wiring import set_container
from tests.functional.conftest import ADMIN, REPO_ROOT, Api, bearer, challenge_body
from tests.functional.test_public_api import assert_problem
from tests.unit.fakes import FakeAuditRepository

OWN, OTHER = "org_own", "org_other"
OWN_ADMIN = bearer("csr-own", groups=("org-admin",), org_id=OWN)
OTHER_ADMIN = bearer("csr-other", groups=("org-admin",), org_id=OTHER)


def ok(api: Api, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
    response = api.request(method, path, body, headers or ADMIN)
    assert response.status_code in (200, 201), response.body
    return json.loads(response.body)


def trail(api: Api, headers: dict[str, str] = ADMIN, **query: str) -> list[dict[str, Any]]:
    """Every entry the caller may read, page after page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        params = {**query, **({"cursor": cursor} if cursor else {})}
        page = ok(api, "GET", "/admin/audit?" + urllib.parse.urlencode(params), None, headers)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the trail did not end")


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None]]:
    return [
        (e["action"], e["target"]["type"], e["target"]["id"], e["organization_id"]) for e in entries
    ]


def organisations(api: Api) -> None:
    for organization_id in (OWN, OTHER):
        api.seed_organization(organization_id)


def test_every_admin_write_is_in_the_trail_oldest_first(api: Api) -> None:
    organization = ok(api, "POST", "/admin/organizations", {"name": "Acme", "kind": "company"})
    org = organization["id"]
    campaign = ok(api, "POST", "/admin/campaigns", {"title": "Week", "organization_id": org})
    challenge = ok(
        api, "POST", "/admin/challenges", challenge_body(organization_id=org, publish=False)
    )
    cid = challenge["id"]
    ok(api, "PATCH", f"/admin/challenges/{cid}", {"title": "Renamed", "reward": "More"})
    ok(api, "POST", f"/admin/challenges/{cid}/publish")
    ok(api, "POST", f"/admin/challenges/{cid}/close")
    ok(api, "PATCH", f"/admin/organizations/{org}", {"primary_color": "#123456"})
    # Reads and participants' writes are not admin writes.
    ok(api, "GET", "/admin/challenges")
    ok(api, "GET", f"/admin/organizations/{org}")

    entries = trail(api)

    assert summary(entries) == [
        ("organization.create", "organization", org, org),
        ("campaign.create", "campaign", campaign["id"], org),
        ("challenge.create", "challenge", cid, org),
        ("challenge.update", "challenge", cid, org),
        ("challenge.publish", "challenge", cid, org),
        ("challenge.close", "challenge", cid, org),
        ("organization.update", "organization", org, org),
    ]
    assert {e["actor"]["sub"] for e in entries} == {"admin-1"}
    assert {e["actor"]["role"] for e in entries} == {"admin"}
    assert len({e["request_id"] for e in entries}) == len(entries)
    assert len({e["id"] for e in entries}) == len(entries)
    assert entries[3]["details"] == {"fields": "reward,title"}
    assert entries[6]["details"] == {"fields": "primary_color"}
    assert entries[0]["details"] == {}
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats)
    assert all(at.endswith("Z") and len(at) == len("2026-12-01T10:00:00.123456Z") for at in ats)


def test_a_failed_write_appends_nothing(api: Api) -> None:
    organisations(api)
    cid = api.create(publish=False)["id"]
    before = len(trail(api))

    assert_problem(api.request("POST", f"/admin/challenges/{cid}/close", None, ADMIN), 409)
    assert_problem(api.request("PATCH", "/admin/challenges/ch_missing", {"title": "X"}, ADMIN), 404)
    assert_problem(api.request("POST", "/admin/challenges", {"title": "X"}, ADMIN), 400)
    assert_problem(api.request("POST", f"/admin/challenges/{cid}/publish", None, OTHER_ADMIN), 404)
    assert_problem(api.request("POST", f"/admin/challenges/{cid}/publish", None, bearer("p")), 403)
    assert_problem(
        api.request("POST", "/admin/organizations", {"name": "X", "kind": "city"}, OWN_ADMIN), 403
    )

    assert len(trail(api)) == before


def test_an_org_admin_reads_its_organisations_entries_whoever_acted(api: Api) -> None:
    organisations(api)
    # The platform admin acts on O's challenge, and on another organisation's and on none.
    mine = api.create(organization_id=OWN, publish=False)["id"]
    ok(api, "POST", f"/admin/challenges/{mine}/publish")
    theirs = api.create(organization_id=OTHER)["id"]
    nobody = api.create()["id"]
    # O's admin acts on O's things.
    own_campaign = ok(api, "POST", "/admin/campaigns", {"title": "Ours"}, OWN_ADMIN)["id"]
    ok(api, "PATCH", f"/admin/challenges/{mine}", {"title": "Ours now"}, OWN_ADMIN)

    own = trail(api, OWN_ADMIN)
    other = trail(api, OTHER_ADMIN)
    everything = trail(api)

    assert summary(own) == [
        ("challenge.create", "challenge", mine, OWN),
        ("challenge.publish", "challenge", mine, OWN),
        ("campaign.create", "campaign", own_campaign, OWN),
        ("challenge.update", "challenge", mine, OWN),
    ]
    assert [(e["actor"]["sub"], e["actor"]["role"]) for e in own] == [
        ("admin-1", "admin"),
        ("admin-1", "admin"),
        ("csr-own", "org-admin"),
        ("csr-own", "org-admin"),
    ]
    assert summary(other) == [("challenge.create", "challenge", theirs, OTHER)]
    assert ("challenge.create", "challenge", nobody, None) in summary(everything)
    assert len(everything) == 6


def test_since_limit_and_cursor_page_through_the_trail(api: Api) -> None:
    ids = [api.create(publish=False)["id"] for _ in range(5)]
    entries = trail(api)
    assert [e["target"]["id"] for e in entries] == ids

    first = ok(api, "GET", "/admin/audit?limit=2")
    assert [e["id"] for e in first["items"]] == [e["id"] for e in entries[:2]]
    assert first["next_cursor"]
    default = ok(api, "GET", "/admin/audit")
    assert len(default["items"]) == 5  # up to 50 a page by default
    # `since` is inclusive: an entry's own `at` lists it again, and what came after.
    since = entries[2]["at"]
    assert trail(api, since=since, limit="2") == entries[2:]
    assert trail(api, since="2100-01-01T00:00:00Z") == []
    assert trail(api, since="2001-01-01T00:00:00+02:00") == entries


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("since=2026-12-01T00:00:00", "since"),  # no offset
        ("since=2026-13-01T00:00:00Z", "since"),
        ("since=1999-12-31T00:00:00Z", "since"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=!!!", "cursor"),
        ("cursor=" + "a" * 3000, "cursor"),
    ],
)
def test_bad_input_is_a_400(api: Api, query: str, field: str) -> None:
    body = assert_problem(api.request("GET", f"/admin/audit?{query}", None, ADMIN), 400)
    assert field in json.dumps(body)


def test_a_cursor_of_another_list_or_from_before_since_is_a_400(api: Api) -> None:
    organisations(api)
    for _ in range(3):
        api.create(organization_id=OWN, publish=False)
    own_page = ok(api, "GET", "/admin/audit?limit=1", None, OWN_ADMIN)
    platform_page = ok(api, "GET", "/admin/audit?limit=1")
    entries = trail(api)

    for cursor, headers in (
        (own_page["next_cursor"], ADMIN),  # an org-admin's list, read by the platform
        (platform_page["next_cursor"], OWN_ADMIN),  # the platform's, read by an org-admin
        (own_page["next_cursor"], OTHER_ADMIN),  # another organisation's
        (encode_cursor({"k": {"id": {"S": "aud_x"}}}), ADMIN),  # edited
    ):
        path = f"/admin/audit?cursor={cursor}"
        assert_problem(api.request("GET", path, None, headers), 400)
    since = urllib.parse.quote(entries[2]["at"])
    before_since = f"/admin/audit?since={since}&cursor={platform_page['next_cursor']}"
    assert_problem(api.request("GET", before_since, None, ADMIN), 400)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_no_route_changes_or_deletes_the_trail(api: Api, method: str) -> None:
    api.create()
    before = trail(api)
    assert before

    # In AWS, API Gateway answers a method the path does not have with a 404 (infra/api.py);
    # and no route has an entry's id in its path (the route table, tests/unit/test_routes.py).
    assert_problem(api.request(method, "/admin/audit", {"action": "x.y"}, ADMIN), 405)

    assert trail(api) == before


def _append_script() -> Any:
    path = REPO_ROOT / "scripts" / "append_audit_entry.py"
    spec = importlib.util.spec_from_file_location("append_audit_entry", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failing_audit_table_does_not_fail_the_write_and_the_log_restores_it(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    broken = FakeAuditRepository()
    broken.fail_next(100)
    failing = AuditService(broken, SystemClock(), retry=RetryPolicy(sleep=lambda _: None))
    set_container(dataclasses.replace(api.container, audit=failing))
    try:
        with caplog.at_level(logging.ERROR, logger="chalicelib.services.audit"):
            created = api.request("POST", "/admin/challenges", challenge_body(), ADMIN)
    finally:
        set_container(api.container)

    assert created.status_code == 201, created.body
    challenge_id = json.loads(created.body)["id"]
    assert api.challenge(challenge_id)["id"] == challenge_id
    assert broken.attempts == 3
    assert trail(api) == []

    # What docs/deploy.md says to do: put the logged entry with scripts/append_audit_entry.py.
    script = _append_script()
    lines = [record.getMessage() for record in caplog.records]
    out = io.StringIO()
    assert script.append_all(script.entries_in(lines), DynamoAuditRepository(), out) == 1
    assert script.append_all(script.entries_in(lines), DynamoAuditRepository(), out) == 0
    assert "already there" in out.getvalue()
    (entry,) = trail(api)
    assert (entry["action"], entry["target"]["id"]) == ("challenge.create", challenge_id)
