"""Admin endpoints: create, list, get, patch, publish, close, and the delivery log."""

from __future__ import annotations

import json

import pytest

from tests.functional.conftest import ADMIN, Api, bearer, challenge_body
from tests.functional.test_public_api import assert_problem

PARTICIPANT = bearer("participant-1")


def test_create_returns_the_challenge_with_contacts(api: Api) -> None:
    created = api.create(
        publish=False,
        description="Pilot",
        sponsor={
            "name": "Ville",
            "email": "s@clichy.example",
            "webhook_url": "https://x.example/h",
        },
    )
    assert created["id"].startswith("ch_")
    assert created["status"] == "draft"
    secret = created["sponsor"].pop("webhook_secret")
    assert secret.startswith("whsec_")  # generated, as none was given: shown this once
    assert created["sponsor"] == {
        "name": "Ville", "email": "s@clichy.example", "webhook_url": "https://x.example/h"
    }  # fmt: skip
    assert created["beneficiary"]["email"] == "hello@solicycle.example"
    assert created["progress"] == {
        "participants": 0, "quantity": 0, "promised": 0, "percent": 0.0, "reached": False,
        "reached_at": None
    }  # fmt: skip
    assert created["created_at"].endswith("Z")
    assert api.create()["status"] == "live"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"target": {"metric": "participants", "value": 0}}, "target"),
        ({"target": {"metric": "participants", "value": 2.5}}, "target"),
        ({"target": {"metric": "quantity", "value": 500}}, "target"),
        ({"target": {"metric": "trees", "value": 5}}, "target"),
        ({"sponsor": {"name": "S", "email": "not-an-email"}}, "sponsor"),
        ({"beneficiary": {"name": "B"}}, "beneficiary"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"starts_at": "2026-06-01T09:00:00"}, "starts_at"),
        ({"visibility": "organization"}, "body"),
        ({"publish": "yes please"}, "publish"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_create_rejects_bad_bodies(api: Api, overrides: dict[str, object], field: str) -> None:
    response = api.request("POST", "/admin/challenges", challenge_body(**overrides), ADMIN)
    errors = assert_problem(response, 400)["errors"]
    assert isinstance(errors, list)
    assert any(field in error["loc"] or field == "body" for error in errors)


def test_create_rejects_end_before_start(api: Api) -> None:
    body = challenge_body(starts_at="2026-06-02T00:00:00Z", ends_at="2026-06-01T00:00:00Z")
    assert_problem(api.request("POST", "/admin/challenges", body, ADMIN), 400)


def test_create_rejects_malformed_json(api: Api) -> None:
    assert_problem(api.request("POST", "/admin/challenges", '{"title": ', ADMIN), 400)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/challenges"),
        ("GET", "/admin/challenges"),
        ("GET", "/admin/challenges/ch_x"),
        ("PATCH", "/admin/challenges/ch_x"),
        ("POST", "/admin/challenges/ch_x/publish"),
        ("POST", "/admin/challenges/ch_x/close"),
        ("GET", "/admin/challenges/ch_x/notifications"),
    ],
)
def test_admin_routes_need_an_admin_token(api: Api, method: str, path: str) -> None:
    assert_problem(api.request(method, path, challenge_body()), 401)
    assert_problem(api.request(method, path, challenge_body(), PARTICIPANT), 403)
    # An org-admin administers the organisation its token names: with none, nothing (the
    # whole matrix of roles is in tests/functional/test_authorization_matrix.py).
    org_admin_of_nothing = bearer("org-admin", groups=("org-admin",))
    assert_problem(api.request(method, path, challenge_body(), org_admin_of_nothing), 403)


def test_admin_list_includes_drafts_and_get_has_contacts(api: Api) -> None:
    draft = api.create(publish=False)
    listed = json.loads(api.request("GET", "/admin/challenges", None, ADMIN).body)
    assert draft["id"] in {item["id"] for item in listed["items"]}
    got = json.loads(api.request("GET", f"/admin/challenges/{draft['id']}", None, ADMIN).body)
    assert got["sponsor"]["email"] == "sponsor@clichy.example"
    assert_problem(api.request("GET", "/admin/challenges/ch_missing", None, ADMIN), 404)


def test_publish_and_close_follow_the_life_cycle(api: Api) -> None:
    draft = api.create(publish=False)
    base = f"/admin/challenges/{draft['id']}"
    assert_problem(api.request("POST", f"{base}/close", None, ADMIN), 409)
    published = api.request("POST", f"{base}/publish", None, ADMIN)
    assert published.status_code == 200
    assert json.loads(published.body)["status"] == "live"
    assert_problem(api.request("POST", f"{base}/publish", None, ADMIN), 409)
    closed = api.request("POST", f"{base}/close", None, ADMIN)
    assert json.loads(closed.body)["status"] == "closed"
    assert_problem(api.request("POST", f"{base}/close", None, ADMIN), 409)
    assert_problem(api.request("POST", "/admin/challenges/ch_missing/publish", None, ADMIN), 404)


def test_patch_changes_only_what_is_sent(api: Api) -> None:
    created = api.create(description="old", ends_at="2027-01-01T00:00:00Z")
    path = f"/admin/challenges/{created['id']}"
    response = api.request("PATCH", path, {"title": "New title", "ends_at": None}, ADMIN)
    assert response.status_code == 200, response.body
    patched = json.loads(response.body)
    assert patched["title"] == "New title"
    assert patched["ends_at"] is None
    assert patched["description"] == "old"
    assert patched["reward"] == created["reward"]
    assert json.loads(api.request("GET", path, None, ADMIN).body)["title"] == "New title"


@pytest.mark.parametrize(
    "body", [{}, {"title": None}, {"target": {"metric": "participants", "value": -1}}, {"x": 1}]
)
def test_patch_rejects_bad_bodies(api: Api, body: dict[str, object]) -> None:
    created = api.create()
    assert_problem(api.request("PATCH", f"/admin/challenges/{created['id']}", body, ADMIN), 400)


def test_patch_is_409_on_closed_and_404_on_unknown(api: Api) -> None:
    created = api.create()
    api.request("POST", f"/admin/challenges/{created['id']}/close", None, ADMIN)
    patch = {"title": "Too late"}
    assert_problem(api.request("PATCH", f"/admin/challenges/{created['id']}", patch, ADMIN), 409)
    assert_problem(api.request("PATCH", "/admin/challenges/ch_nope", patch, ADMIN), 404)


def test_target_frozen_once_reached(api: Api) -> None:
    created = api.create(target={"metric": "participants", "value": 1})
    api.pledge(created["id"], "p1")
    api.drain()
    path = f"/admin/challenges/{created['id']}"
    new_target = {"target": {"metric": "participants", "value": 500}}
    assert_problem(api.request("PATCH", path, new_target, ADMIN), 409)
    assert api.request("PATCH", path, {"title": "Still editable"}, ADMIN).status_code == 200


def test_lowering_the_target_to_the_count_reaches_at_once_with_one_event(api: Api) -> None:
    created = api.create(target={"metric": "participants", "value": 10})
    for sub in ("p1", "p2", "p3"):
        api.pledge(created["id"], sub)
    api.drain()
    assert api.challenge(created["id"])["progress"]["reached"] is False
    path = f"/admin/challenges/{created['id']}"
    response = api.request("PATCH", path, {"target": {"metric": "participants", "value": 3}}, ADMIN)
    assert response.status_code == 200
    assert json.loads(response.body)["progress"]["reached"] is True
    api.drain()
    sent = [n for n in api.notifications(created["id"]) if n["status"] == "sent"]
    assert sorted(n["recipient_role"] for n in sent) == ["beneficiary", "sponsor"]


def test_notifications_log_of_unknown_challenge_is_404(api: Api) -> None:
    path = "/admin/challenges/ch_nope/notifications"
    assert_problem(api.request("GET", path, None, ADMIN), 404)


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00", "1999-12-31T23:59:59Z"]
)
def test_dates_out_of_range_are_400(api: Api, when: str) -> None:
    created = api.create()
    assert_problem(
        api.request("POST", "/admin/challenges", challenge_body(ends_at=when), ADMIN), 400
    )
    patch = api.request("PATCH", f"/admin/challenges/{created['id']}", {"ends_at": when}, ADMIN)
    assert_problem(patch, 400)


def test_dates_are_stored_in_utc(api: Api) -> None:
    created = api.create(starts_at="2026-06-01T11:00:00+02:00", ends_at="2026-06-08T11:00:00+02:00")
    assert (created["starts_at"], created["ends_at"]) == (
        "2026-06-01T09:00:00Z",
        "2026-06-08T09:00:00Z",
    )


def test_a_webhook_secret_is_stored_but_never_shown(api: Api) -> None:
    secret = "s3cr3t-for-signing-webhooks"
    sponsor = {"name": "Ville", "email": "s@x.example", "webhook_url": "https://hooks.x.example/c",
               "webhook_secret": secret}  # fmt: skip
    created = api.create(sponsor=sponsor)
    got = api.request("GET", f"/admin/challenges/{created['id']}", None, ADMIN)
    listed = api.request("GET", "/admin/challenges", None, ADMIN)
    public = api.request("GET", f"/challenges/{created['id']}")
    for body in (
        json.dumps(created),
        got.body.decode(),
        listed.body.decode(),
        public.body.decode(),
    ):
        assert secret not in body
    from chalicelib.storage.tables import ChallengeItem

    assert ChallengeItem.get(created["id"]).sponsor.webhook_secret == secret
    short = {**sponsor, "webhook_secret": "short"}
    assert_problem(
        api.request("POST", "/admin/challenges", challenge_body(sponsor=short), ADMIN), 400
    )
