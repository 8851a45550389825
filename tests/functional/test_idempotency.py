"""Idempotency-Key on POST /challenges/{id}/pledges: replay the first answer, refuse reuse."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib.domain.idempotency import idempotency_record_id, idempotency_scope
from chalicelib.storage.tables import IdempotencyItem
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


def test_a_new_keyed_pledge_stores_its_answer_in_its_own_write(api: Api) -> None:
    challenge = api.create()
    first = pledge_with_key(api, challenge["id"], "lea", "k-own", {"display_name": "Léa"})
    assert first.status_code == 201
    record = IdempotencyItem.get(
        idempotency_record_id(idempotency_scope("pledge", "lea", challenge["id"]), "k-own")
    )
    # Completed at once, without the in-progress expiry Powertools' first write leaves.
    assert record.status == "COMPLETED"
    assert "in_progress_expiration" not in record.attribute_values
    assert json.loads(record.data or "{}") == {"body": first.body.decode(), "status": 201}


def test_a_keyed_pledge_already_made_answers_200_and_replays_it(api: Api) -> None:
    challenge = api.create()
    assert api.pledge(challenge["id"], "lea", {}).status_code == 201
    first = pledge_with_key(api, challenge["id"], "lea", "k-again", {})
    again = pledge_with_key(api, challenge["id"], "lea", "k-again", {})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.body) == json.loads(first.body)


def test_an_expired_answer_does_not_stop_a_new_pledge_with_its_key(api: Api) -> None:
    challenge = api.create()
    record = idempotency_record_id(idempotency_scope("pledge", "lea", challenge["id"]), "k-old")
    # Past its TTL, not yet deleted by DynamoDB: Powertools takes it as absent, and so does
    # the pledge's write.
    IdempotencyItem(
        id=record, expiration=int(time.time()) - 60, status="COMPLETED", data="{}"
    ).save()
    pledged = pledge_with_key(api, challenge["id"], "lea", "k-old", {})
    assert pledged.status_code == 201
    assert "Idempotent-Replayed" not in pledged.headers
    assert json.loads(IdempotencyItem.get(record).data or "{}")["status"] == 201


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
