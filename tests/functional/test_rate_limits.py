"""Per-participant limits on pledges and reports: 429 problem+json with Retry-After."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from chalicelib.settings import Settings
from tests.functional.conftest import ADMIN, Api, bearer, make_api

LIMIT = 3


@pytest.fixture
def api(env: Settings) -> Iterator[Api]:
    yield from make_api(
        dataclasses.replace(env, pledges_per_minute=LIMIT, reports_per_minute=LIMIT)
    )


def _challenges(api: Api, count: int, **overrides: object) -> list[str]:
    return [str(api.create(publish=True, **overrides)["id"]) for _ in range(count)]


def test_pledges_over_the_limit_get_429_with_retry_after(api: Api) -> None:
    ids = _challenges(api, LIMIT + 1)
    for challenge_id in ids[:LIMIT]:
        assert api.pledge(challenge_id, "busy-bee").status_code == 201
    refused = api.pledge(ids[LIMIT], "busy-bee")
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    problem = json.loads(refused.body)
    assert problem["status"] == 429
    assert "pledge" in problem["detail"]
    # Nothing was written for the refused pledge; another participant is not affected.
    api.drain()
    assert api.challenge(ids[LIMIT])["progress"]["participants"] == 0
    assert api.pledge(ids[LIMIT], "calm-cat").status_code == 201


def test_repeated_pledges_count_too(api: Api) -> None:
    (challenge_id,) = _challenges(api, 1)
    statuses = [api.pledge(challenge_id, "retrier").status_code for _ in range(LIMIT + 1)]
    assert statuses == [201, 200, 200, 429]


def test_reports_have_their_own_limit(api: Api) -> None:
    (challenge_id,) = _challenges(
        api, 1, target={"metric": "participants", "value": 50, "unit": "km"}
    )
    assert api.pledge(challenge_id, "cyclist").status_code == 201
    path = f"/challenges/{challenge_id}/reports"
    statuses = [
        api.request("POST", path, {"quantity": 2}, bearer("cyclist")).status_code
        for _ in range(LIMIT + 1)
    ]
    assert statuses == [201, 201, 201, 429]
    # The pledge limit is separate: this participant may still pledge elsewhere.
    (other,) = _challenges(api, 1)
    assert api.pledge(other, "cyclist").status_code == 201


def test_the_openapi_document_declares_429_where_limits_apply(api: Api) -> None:
    document = json.loads(api.request("GET", "/openapi.json", None, ADMIN).body)
    paths = document["paths"]
    assert "429" in paths["/challenges/{challenge_id}/pledges"]["post"]["responses"]
    assert "429" in paths["/challenges/{challenge_id}/reports"]["post"]["responses"]
    assert "429" not in paths["/challenges/{challenge_id}"]["get"]["responses"]
