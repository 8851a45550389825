"""Idempotency-Key on POST /challenges/{id}/pledges: replay the first answer, refuse reuse."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_public_api import assert_problem


def pledge_with_key(api: Api, challenge_id: str, sub: str, key: str, body: Any) -> Any:
    headers = {**bearer(sub), "Idempotency-Key": key}
    return api.request("POST", f"/challenges/{challenge_id}/pledges", body, headers)


def test_the_same_key_and_body_replays_the_first_answer(api: Api) -> None:
    challenge = api.create()
    first = pledge_with_key(api, challenge["id"], "lea", "k-1", {"display_name": "Léa"})
    again = pledge_with_key(api, challenge["id"], "lea", "k-1", {"display_name": "Léa"})
    assert first.status_code == again.status_code == 201
    assert json.loads(again.body) == json.loads(first.body)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["participants"] == 1


def test_the_same_key_with_another_body_is_409(api: Api) -> None:
    challenge = api.create()
    assert pledge_with_key(api, challenge["id"], "lea", "k-2", {"notify": True}).status_code == 201
    reused = pledge_with_key(api, challenge["id"], "lea", "k-2", {"notify": False})
    body = assert_problem(reused, 409)
    assert "idempotency-key-reused" in str(body["type"])


def test_keys_belong_to_their_participant_and_challenge(api: Api) -> None:
    one, two = api.create(title="One"), api.create(title="Two")
    assert pledge_with_key(api, one["id"], "lea", "same", {}).status_code == 201
    assert pledge_with_key(api, one["id"], "hugo", "same", {}).status_code == 201
    assert pledge_with_key(api, two["id"], "lea", "same", {}).status_code == 201
    api.drain()
    assert api.challenge(one["id"])["progress"]["participants"] == 2
    assert api.challenge(two["id"])["progress"]["participants"] == 1


def test_an_error_is_not_stored_so_a_retry_can_succeed(api: Api) -> None:
    draft = api.create(publish=False)
    assert_problem(pledge_with_key(api, draft["id"], "lea", "k-3", {}), 404)
    api.request("POST", f"/admin/challenges/{draft['id']}/publish", None, ADMIN)
    assert pledge_with_key(api, draft["id"], "lea", "k-3", {}).status_code == 201


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "ünïcode"])
def test_malformed_keys_are_400(api: Api, key: str) -> None:
    challenge = api.create()
    assert_problem(pledge_with_key(api, challenge["id"], "lea", key, {}), 400)


def test_the_header_is_documented_in_openapi(api: Api) -> None:
    document = json.loads(api.request("GET", "/openapi.json").body)
    parameters = document["paths"]["/challenges/{challenge_id}/pledges"]["post"]["parameters"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= next(
        p for p in parameters if p["in"] == "header"
    ).items()
