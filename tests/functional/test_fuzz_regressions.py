"""What schemathesis found on the local stack (tests/e2e/test_schemathesis.py), pinned on moto."""

from __future__ import annotations

import json

import pytest

from tests.functional.conftest import ADMIN, Api, challenge_body

TINY = 5e-324  # > 0, but under the smallest magnitude DynamoDB stores (1e-130): was a 500


@pytest.mark.parametrize(
    "overrides",
    [
        {"target": {"metric": "quantity", "value": TINY, "unit": "kg"}},
        {"report_cap": TINY},
        {"target": {"metric": "quantity", "value": 12.3456, "unit": "kg"}},
    ],
    ids=["tiny-target", "tiny-report-cap", "four-decimals"],
)
def test_a_number_with_more_than_3_decimals_is_a_400_not_a_500(
    api: Api, overrides: dict[str, object]
) -> None:
    response = api.request("POST", "/admin/challenges", challenge_body(**overrides), ADMIN)
    assert response.status_code == 400, response.body
    problem = json.loads(response.body)
    assert "3 decimals" in json.dumps(problem["errors"])


def test_a_patch_with_a_tiny_target_is_a_400_and_changes_nothing(api: Api) -> None:
    created = api.create(publish=False)
    path = f"/admin/challenges/{created['id']}"
    patch = {"target": {"metric": "quantity", "value": TINY, "unit": "kg"}}
    assert api.request("PATCH", path, patch, ADMIN).status_code == 400
    assert json.loads(api.request("GET", path, None, ADMIN).body)["target"] == created["target"]


def test_three_decimals_are_stored_as_sent(api: Api) -> None:
    target = {"metric": "quantity", "value": 0.001, "unit": "kg"}
    response = api.request("POST", "/admin/challenges", challenge_body(target=target), ADMIN)
    assert response.status_code == 201, response.body
    assert json.loads(response.body)["target"]["value"] == 0.001
