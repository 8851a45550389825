"""Participant endpoints: pledge, withdraw, my pledges, and every error row of the contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.conftest import Api, bearer
from tests.functional.test_public_api import assert_problem


def test_pledge_is_created_once_then_replayed(api: Api) -> None:
    challenge = api.create()
    first = api.pledge(challenge["id"], "lea", {"display_name": "Léa", "notify": False})
    assert first.status_code == 201
    body = json.loads(first.body)
    assert body["pledge"]["participant_id"] == "lea"
    assert body["pledge"]["display_name"] == "Léa"
    assert body["pledge"]["notify"] is False
    assert body["challenge"]["id"] == challenge["id"]
    again = api.pledge(challenge["id"], "lea", {"display_name": "Someone else"})
    assert again.status_code == 200
    assert json.loads(again.body)["pledge"] == body["pledge"]
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["participants"] == 1


def test_pledge_keeps_only_a_coarse_area(api: Api) -> None:
    challenge = api.create()
    by_coordinates = api.pledge(
        challenge["id"], "a", {"location": {"lat": 48.90452, "lon": 2.30571}}
    )
    by_postcode = api.pledge(
        challenge["id"], "b", {"location": {"postal_code": "92110", "country": "fr"}}
    )
    assert json.loads(by_coordinates.body)["pledge"]["area"] == "u09wh"
    assert json.loads(by_postcode.body)["pledge"]["area"] == "FR-92"
    mine = json.loads(api.request("GET", "/me/pledges", None, bearer("a")).body)
    assert "48.9" not in json.dumps(mine)
    assert "92110" not in json.dumps(
        api.request("GET", "/me/pledges", None, bearer("b")).body.decode()
    )


def test_pledge_without_token_is_401(api: Api) -> None:
    challenge = api.create()
    assert_problem(api.request("POST", f"/challenges/{challenge['id']}/pledges"), 401)
    assert_problem(api.request("GET", "/me/pledges"), 401)
    assert_problem(api.request("DELETE", f"/challenges/{challenge['id']}/pledges/me"), 401)


def test_pledge_on_unknown_or_draft_is_404(api: Api) -> None:
    draft = api.create(publish=False)
    assert_problem(api.pledge("ch_nope", "p"), 404)
    assert_problem(api.pledge(draft["id"], "p"), 404)


def test_pledge_on_closed_challenge_is_409(api: Api) -> None:
    challenge = api.create()
    api.request("POST", f"/admin/challenges/{challenge['id']}/close", None, api.headers)
    body = assert_problem(api.pledge(challenge["id"], "p"), 409)
    assert "closed" in str(body["detail"])


def test_pledge_before_start_or_after_end_is_409(api: Api) -> None:
    now = datetime.now(UTC)
    future = api.create(starts_at=(now + timedelta(days=1)).isoformat())
    past = api.create(
        starts_at=(now - timedelta(days=2)).isoformat(),
        ends_at=(now - timedelta(days=1)).isoformat(),
    )
    assert "not started" in str(assert_problem(api.pledge(future["id"], "p"), 409)["detail"])
    assert "ended" in str(assert_problem(api.pledge(past["id"], "p"), 409)["detail"])


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("{not json", ["body"]),
        ("[1, 2]", ["body"]),
        ({"display_name": "x" * 81}, ["body", "display_name"]),
        ({"display_name": ""}, ["body", "display_name"]),
        ({"notify": "sometimes"}, ["body", "notify"]),
        ({"location": {"lat": 91, "lon": 2}}, ["body", "location"]),
        ({"location": {"postal_code": "92110"}}, ["body", "location"]),
        ({"surprise": True}, ["body", "surprise"]),
    ],
)
def test_bad_pledge_bodies_are_400_with_locations(api: Api, body: object, where: list[str]) -> None:
    challenge = api.create()
    problem = assert_problem(api.pledge(challenge["id"], "p", body), 400)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert errors
    assert any(error["loc"][: len(where)] == where for error in errors), errors


def test_body_over_64_kib_is_413(api: Api) -> None:
    challenge = api.create()
    huge = json.dumps({"display_name": "x" * (65 * 1024)})
    assert_problem(api.pledge(challenge["id"], "p", huge), 413)
    assert_problem(api.request("POST", "/admin/challenges", huge, api.headers), 413)


def test_withdraw_uncounts_and_keeps_reached(api: Api) -> None:
    challenge = api.create(target={"metric": "participants", "value": 2})
    for sub in ("a", "b"):
        assert api.pledge(challenge["id"], sub).status_code == 201
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["reached"] is True
    path = f"/challenges/{challenge['id']}/pledges/me"
    response = api.request("DELETE", path, None, bearer("a"))
    assert response.status_code == 204
    assert response.body in (b"", "", None)
    assert_problem(api.request("DELETE", path, None, bearer("a")), 404)
    api.drain()
    progress = api.challenge(challenge["id"])["progress"]
    assert progress["participants"] == 1
    assert progress["reached"] is True
    # A withdrawn participant may pledge again and is counted again.
    assert api.pledge(challenge["id"], "a").status_code == 201
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["participants"] == 2


def test_withdraw_after_close_is_409(api: Api) -> None:
    challenge = api.create()
    api.pledge(challenge["id"], "a")
    api.request("POST", f"/admin/challenges/{challenge['id']}/close", None, api.headers)
    response = api.request("DELETE", f"/challenges/{challenge['id']}/pledges/me", None, bearer("a"))
    assert_problem(response, 409)


def test_my_pledges_pages_through_my_own_only(api: Api) -> None:
    challenges = [api.create(title=f"C{n}")["id"] for n in range(3)]
    for challenge_id in challenges:
        api.pledge(challenge_id, "me")
    api.pledge(challenges[0], "someone-else")
    seen: list[str] = []
    cursor = None
    while True:
        path = "/me/pledges?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = json.loads(api.request("GET", path, None, bearer("me")).body)
        assert all(item["participant_id"] == "me" for item in body["items"])
        seen += [item["challenge_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(challenges)
    assert_problem(api.request("GET", "/me/pledges?limit=500", None, bearer("me")), 400)


@pytest.mark.parametrize("challenge_id", ["x" * 65, "ch_%F0%9F%92%A5", "ch.1", "x" * 3000])
def test_ids_we_never_issue_are_404_before_any_lookup(api: Api, challenge_id: str) -> None:
    assert_problem(api.pledge(challenge_id, "p"), 404)
    assert_problem(api.request("GET", f"/challenges/{challenge_id}"), 404)


@pytest.mark.parametrize("name", ["L\u0000a", "L\u202ea", "\u200b"])
def test_display_names_with_control_characters_are_400(api: Api, name: str) -> None:
    challenge = api.create()
    assert_problem(api.pledge(challenge["id"], "p", {"display_name": name}), 400)
