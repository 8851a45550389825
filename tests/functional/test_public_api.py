"""Public endpoints against the contract: health, OpenAPI, challenge reads, optional tokens."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from tests.functional.conftest import Api, bearer

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.body  # type: ignore[attr-defined]
    headers = {k.lower(): v for k, v in response.headers.items()}  # type: ignore[attr-defined]
    assert headers["content-type"] == "application/problem+json"
    body: dict[str, object] = json.loads(response.body)  # type: ignore[attr-defined]
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert "Traceback" not in response.body.decode()  # type: ignore[attr-defined]
    return body


def test_health(api: Api) -> None:
    response = api.request("GET", "/health")
    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok"}


def test_openapi_is_a_valid_document_listing_every_route(api: Api) -> None:
    response = api.request("GET", "/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.body)
    validate(document)
    import app as app_module

    for path, methods in app_module.app.routes.items():
        for method in methods:
            assert method.lower() in document["paths"][path], (method, path)
    pledge = document["paths"]["/challenges/{challenge_id}/pledges"]["post"]
    assert {"200", "201", "401", "404", "409", "413"} <= set(pledge["responses"])


def test_lists_live_and_ended_challenges_but_not_drafts_or_closed(api: Api) -> None:
    live = api.create(title="Live")
    draft = api.create(title="Draft", publish=False)
    closed = api.create(title="Closed")
    api.request("POST", f"/admin/challenges/{closed['id']}/close", None, api.headers)
    response = api.request("GET", "/challenges")
    assert response.status_code == 200
    body = json.loads(response.body)
    ids = {item["id"] for item in body["items"]}
    assert live["id"] in ids
    assert draft["id"] not in ids
    assert closed["id"] not in ids
    assert body["next_cursor"] is None


def test_public_challenge_has_no_contacts(api: Api) -> None:
    created = api.create()
    assert "@" in json.dumps(created)  # the admin's 201 has the contacts
    public = api.request("GET", f"/challenges/{created['id']}")
    listed = api.request("GET", "/challenges")
    for response in (public, listed):
        assert response.status_code == 200
        assert "@" not in response.body.decode()
        assert "email" not in response.body.decode()


def test_pagination_walks_every_challenge_once(api: Api) -> None:
    created = {api.create(title=f"Challenge {n}")["id"] for n in range(5)}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        path = "/challenges?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = json.loads(api.request("GET", path).body)
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)


@pytest.mark.parametrize(
    "query",
    ["status=draft", "status=closed", "status=", "limit=0", "limit=101", "limit=ten",
     "cursor=not-a-cursor", "cursor=eyJrIjp7ImlkIjoxfX0", "campaign_id=has%20space"],
)  # fmt: skip
def test_bad_query_values_are_400(api: Api, query: str) -> None:
    body = assert_problem(api.request("GET", f"/challenges?{query}"), 400)
    assert body["errors"] or body["detail"]


def test_status_filter(api: Api) -> None:
    api.create(title="Live one")
    body = json.loads(api.request("GET", "/challenges?status=ended").body)
    assert body["items"] == []
    body = json.loads(api.request("GET", "/challenges?status=live").body)
    assert [item["title"] for item in body["items"]] == ["Live one"]


def test_unknown_and_draft_challenges_are_404(api: Api) -> None:
    draft = api.create(publish=False)
    assert_problem(api.request("GET", "/challenges/ch_unknown"), 404)
    assert_problem(api.request("GET", f"/challenges/{draft['id']}"), 404)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer", "Bearer " + "x" * 20],
)
def test_a_bad_token_on_a_public_endpoint_is_401_not_anonymous(
    api: Api, authorization: str
) -> None:
    created = api.create()
    for path in ("/challenges", f"/challenges/{created['id']}"):
        response = api.request("GET", path, None, {"Authorization": authorization})
        assert_problem(response, 401)
        assert "bearer" in response.headers.get("WWW-Authenticate", "").lower()


def test_expired_token_is_401(api: Api) -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.local.tokens import mint_local_token
    from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT

    expired = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT, "p", now=datetime.now(UTC) - timedelta(days=1), ttl_seconds=60
    )
    response = api.request("GET", "/challenges", None, {"Authorization": f"Bearer {expired}"})
    assert_problem(response, 401)


def test_employee_only_challenge_exists_only_for_its_organisation(api: Api) -> None:
    api.seed_organization("org_humanis")
    internal = api.create(title="Humanis: cycling", visibility="organization",
                          organization_id="org_humanis")  # fmt: skip
    employee = bearer("emp-1", org_id="org_humanis")
    outsider = bearer("out-1", org_id="org_other")
    path = f"/challenges/{internal['id']}"
    assert api.request("GET", path, None, employee).status_code == 200
    assert_problem(api.request("GET", path), 404)
    assert_problem(api.request("GET", path, None, outsider), 404)
    listed_anonymous = json.loads(api.request("GET", "/challenges").body)["items"]
    listed_employee = json.loads(api.request("GET", "/challenges", None, employee).body)["items"]
    assert internal["id"] not in {c["id"] for c in listed_anonymous}
    assert internal["id"] in {c["id"] for c in listed_employee}
    assert_problem(api.pledge(internal["id"], "out-1"), 404)


def test_chalice_errors_are_problem_json(api: Api) -> None:
    response = api.request("PUT", "/challenges")
    body = assert_problem(response, 405)
    assert "PUT" in str(body["detail"])
    created = api.create()
    wrong_type = api.request(
        "POST",
        f"/challenges/{created['id']}/pledges",
        "display_name=x",
        {**bearer("p1"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(wrong_type, 415)


def _cursor(state: dict[str, object]) -> str:
    from chalicelib.storage.cursors import encode_cursor

    encoded = encode_cursor(state)
    assert encoded is not None
    return encoded


@pytest.mark.parametrize(
    "state",
    [
        {"s": 0, "k": {"x": {"S": "y"}}},
        {"k": {"id": {"S": "a"}}},
        {"s": 0, "k": {"id": {"S": "a"}, "created_key": {"S": "b"}, "status": {"S": "draft"}}},
        {"s": 9, "k": None},
        {"s": 0, "k": {"id": {"N": "1"}, "created_key": {"S": "b"}, "status": {"S": "live"}}},
    ],
)
def test_edited_cursors_are_400_not_500(api: Api, state: dict[str, object]) -> None:
    api.create()
    assert_problem(api.request("GET", f"/challenges?cursor={_cursor(state)}"), 400)


def test_a_cursor_from_another_list_is_400(api: Api) -> None:
    for n in range(3):
        api.create(title=f"C{n}", publish=False)
    admin_page = json.loads(api.request("GET", "/admin/challenges?limit=1", None, api.headers).body)
    assert admin_page["next_cursor"]  # positioned in the drafts
    response = api.request("GET", f"/challenges?cursor={admin_page['next_cursor']}")
    assert_problem(response, 400)
    for n in range(2):
        api.pledge(api.create(title=f"P{n}")["id"], "owner")
    mine = json.loads(api.request("GET", "/me/pledges?limit=1", None, bearer("owner")).body)
    assert mine["next_cursor"]
    theirs = api.request("GET", f"/me/pledges?cursor={mine['next_cursor']}", None, bearer("thief"))
    assert_problem(theirs, 400)
