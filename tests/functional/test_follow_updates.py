"""Follows and updates on moto: the routes, and each update e-mailed once to each follower and
pledger who did not opt out, under redelivery of the outbox records (concurrency:
test_follow_concurrency.py)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

import app as app_module
from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, Settings
from chalicelib.storage.follow_tables import FollowItem
from tests.functional.conftest import ADMIN, bearer
from tests.functional.test_participant_emails import (
    FanoutApi,
    OffsetClock,
    ScriptedMailer,
    invocation,
    make_fanout_api,
)

CHUNK = 3
UNSUBSCRIBE = re.compile(r"#/unsubscribe\?token=([A-Za-z0-9_.%-]+)")


@pytest.fixture
def fanout(env: Settings) -> Iterator[FanoutApi]:
    settings = dataclasses.replace(env, participant_email_chunk=CHUNK)
    yield from make_fanout_api(settings, ScriptedMailer(settings), OffsetClock())


def person(sub: str, *, verified: bool = True, **claims: Any) -> dict[str, str]:
    token = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT,
        sub,
        email=f"{sub}@people.example",
        email_verified=verified,
        **claims,
    )
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def call(
    fanout: FanoutApi, method: str, path: str, headers: dict[str, str], body: Any = None
) -> Any:
    return fanout.api.request(method, path, body, headers)


def post_update(fanout: FanoutApi, challenge_id: str, title: str = "News") -> dict[str, Any]:
    body = {"title": title, "body": "We planted 40 trees.\nThank you!", "locale": "en"}
    response = call(fanout, "POST", f"/admin/challenges/{challenge_id}/updates", ADMIN, body)
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def update_emails(fanout: FanoutApi, title: str = "News") -> Counter[str]:
    return Counter(
        address
        for email in fanout.api.emails()
        if title in (email.subject or "")
        for address in email.to
    )


def test_follow_is_idempotent_and_needs_a_challenge_one_can_see(fanout: FanoutApi) -> None:
    challenge = fanout.api.create()
    path = f"/challenges/{challenge['id']}/follow"
    first = call(fanout, "PUT", path, person("f1"))
    again = call(fanout, "PUT", path, person("f1"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert json.loads(again.body)["email_updates"] is True
    assert len(list(FollowItem.query(f"challenges#{challenge['id']}"))) == 1
    assert call(fanout, "PUT", "/challenges/ch_nope/follow", person("f1")).status_code == 404
    draft = fanout.api.create(publish=False)
    assert call(fanout, "PUT", f"/challenges/{draft['id']}/follow", person("f1")).status_code == 404
    assert call(fanout, "PUT", path, {}).status_code == 401
    unverified = json.loads(call(fanout, "PUT", path, person("f2", verified=False)).body)
    assert unverified["email_updates"] is False
    mine = json.loads(call(fanout, "GET", "/me/follows", person("f1")).body)["items"]
    assert [(f["kind"], f["id"]) for f in mine] == [("challenges", challenge["id"])]
    # Unfollowing twice, or something never followed: 204 each time.
    assert call(fanout, "DELETE", path, person("f1")).status_code == 204
    assert call(fanout, "DELETE", path, person("f1")).status_code == 204
    assert call(fanout, "DELETE", path, person("f9")).status_code == 204
    assert json.loads(call(fanout, "GET", "/me/follows", person("f1")).body)["items"] == []
    bad_kind = call(fanout, "DELETE", f"/me/follows/pledges/{challenge['id']}", person("f1"))
    assert bad_kind.status_code == 404
    assert bad_kind.headers["Content-Type"] == "application/problem+json"


def test_updates_are_listed_newest_first_page_by_page(fanout: FanoutApi) -> None:
    challenge = fanout.api.create()
    for n in range(5):
        post_update(fanout, challenge["id"], title=f"News {n}")
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(
            call(fanout, "GET", f"/challenges/{challenge['id']}/updates{query}", {}).body
        )
        seen.extend(item["title"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"News {n}" for n in reversed(range(5))]
    bad = call(fanout, "GET", f"/challenges/{challenge['id']}/updates?cursor=zzz", {})
    assert bad.status_code == 400
    assert bad.headers["Content-Type"] == "application/problem+json"


def test_posting_is_for_admins_of_the_challenge_and_audited(fanout: FanoutApi) -> None:
    fanout.api.seed_organization("org_humanis")
    fanout.api.seed_organization("org_grdf", "GRDF")
    challenge = fanout.api.create(organization_id="org_humanis")
    path = f"/admin/challenges/{challenge['id']}/updates"
    body = {"title": "Hello", "body": "Text", "locale": "fr"}
    other = bearer("grdf-csr", groups=("org-admin",), org_id="org_grdf")
    own = bearer("humanis-csr", groups=("org-admin",), org_id="org_humanis")
    assert call(fanout, "POST", path, other, body).status_code == 404
    assert call(fanout, "POST", path, person("p1"), body).status_code == 403
    assert call(fanout, "POST", path, own, body).status_code == 201
    assert call(fanout, "POST", path, own, {**body, "locale": "de"}).status_code == 400
    assert call(fanout, "POST", path, own, {**body, "title": ""}).status_code == 400
    assert call(fanout, "POST", path, own, {**body, "extra": 1}).status_code == 400
    assert call(fanout, "POST", path, ADMIN, body).status_code == 201
    audit = json.loads(call(fanout, "GET", "/admin/audit", ADMIN).body)["items"]
    posted = [e for e in audit if e["action"] == "challenge.post_update"]
    assert [(e["actor"]["role"], e["organization_id"]) for e in posted] == [
        ("org-admin", "org_humanis"),
        ("admin", "org_humanis"),
    ]
    assert {e["target"]["id"] for e in posted} == {challenge["id"]}


def test_each_follower_and_pledger_gets_each_update_once(fanout: FanoutApi) -> None:
    challenge = fanout.api.create(target={"metric": "participants", "value": 100})
    challenge_id = challenge["id"]
    for sub in ("both", "pledger", "quiet"):
        body = {"notify": sub != "quiet"}
        response = call(fanout, "POST", f"/challenges/{challenge_id}/pledges", person(sub), body)
        assert response.status_code == 201
    for sub in ("both", "fan1", "fan2", "fan3", "fan4"):
        assert (
            call(fanout, "PUT", f"/challenges/{challenge_id}/follow", person(sub)).status_code
            == 200
        )
    call(fanout, "PUT", f"/challenges/{challenge_id}/follow", person("nomail", verified=False))
    fanout.api.drain()

    post_update(fanout, challenge_id, "First news")
    post_update(fanout, challenge_id, "Second news")
    fanout.api.drain()
    expected = {
        f"{sub}@people.example" for sub in ("both", "pledger", "fan1", "fan2", "fan3", "fan4")
    }
    for title in ("First news", "Second news"):
        assert update_emails(fanout, title) == Counter({address: 1 for address in expected})

    # Every outbox record delivered again: nothing more is sent.
    before = len(fanout.api.emails())
    for event in list(fanout.notifier.events):
        response = app_module.notify_milestones(copy.deepcopy(event), invocation())
        assert response == {"batchItemFailures": []}
    fanout.api.drain()
    assert len(fanout.api.emails()) == before
    assert max(fanout.notifier.sends) <= CHUNK

    email = next(e for e in fanout.api.emails() if "First news" in (e.subject or ""))
    assert "We planted 40 trees." in (email.html or "")
    assert UNSUBSCRIBE.search(email.html or "")


def test_an_unsubscribed_person_gets_nothing_more_even_as_a_pledger(fanout: FanoutApi) -> None:
    challenge = fanout.api.create(target={"metric": "participants", "value": 100})
    challenge_id = challenge["id"]
    call(fanout, "POST", f"/challenges/{challenge_id}/pledges", person("both"), {})
    call(fanout, "PUT", f"/challenges/{challenge_id}/follow", person("both"))
    call(fanout, "PUT", f"/challenges/{challenge_id}/follow", person("fan"))
    call(fanout, "POST", f"/challenges/{challenge_id}/pledges", person("quitter"), {})
    fanout.api.drain()
    post_update(fanout, challenge_id, "First news")
    fanout.api.drain()
    first = {e.to[0]: e for e in fanout.api.emails() if "First news" in (e.subject or "")}
    assert set(first) == {"both@people.example", "fan@people.example", "quitter@people.example"}

    # `both` follows the link in the e-mail; `fan` unfollows signed in; `quitter` through /me.
    token = unquote(UNSUBSCRIBE.search(first["both@people.example"].html or "")[1])  # type: ignore[index]
    read = call(fanout, "GET", f"/unsubscribe?token={token}", {})
    assert json.loads(read.body) == {
        "kind": "challenges",
        "id": challenge_id,
        "unsubscribed": False,
    }
    done = call(fanout, "POST", f"/unsubscribe?token={token}", {})
    assert json.loads(done.body)["unsubscribed"] is True
    assert call(fanout, "POST", f"/unsubscribe?token={token}", {}).status_code == 200
    assert (
        call(fanout, "DELETE", f"/challenges/{challenge_id}/follow", person("fan")).status_code
        == 204
    )
    stop = call(fanout, "DELETE", f"/me/follows/challenges/{challenge_id}", person("quitter"))
    assert stop.status_code == 204

    post_update(fanout, challenge_id, "Second news")
    fanout.api.drain()
    assert update_emails(fanout, "Second news") == Counter()


@pytest.mark.parametrize(
    "token", ["", "abc", "abc.def", "x" * 600, "eyJ2IjoxfQ.c2lnbmF0dXJl", "a.b.c"]
)
def test_a_forged_or_malformed_unsubscribe_token_is_a_400(fanout: FanoutApi, token: str) -> None:
    for method in ("GET", "POST"):
        response = call(fanout, method, f"/unsubscribe?token={token}", {})
        assert response.status_code == 400, (method, token, response.body)
        assert response.headers["Content-Type"] == "application/problem+json"


def test_the_feed_merges_followed_and_pledged_challenges_newest_first(fanout: FanoutApi) -> None:
    followed = fanout.api.create(title="Followed")["id"]
    pledged = fanout.api.create(title="Pledged")["id"]
    other = fanout.api.create(title="Other")["id"]
    call(fanout, "PUT", f"/challenges/{followed}/follow", person("reader"))
    call(fanout, "POST", f"/challenges/{pledged}/pledges", person("reader"), {})
    for n in range(3):
        for challenge_id in (followed, pledged, other):
            post_update(fanout, challenge_id, title=f"{challenge_id} #{n}")
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(call(fanout, "GET", f"/me/feed{query}", person("reader")).body)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["title"] for i in items] == [
        f"{c} #{n}" for n in reversed(range(3)) for c in (pledged, followed)
    ]
    assert {i["challenge_title"] for i in items} == {"Followed", "Pledged"}
    call(fanout, "DELETE", f"/challenges/{pledged}/follow", person("reader"))
    page = json.loads(call(fanout, "GET", "/me/feed", person("reader")).body)
    assert {i["challenge_id"] for i in page["items"]} == {followed}


def test_follows_are_exported_and_erased(fanout: FanoutApi) -> None:
    challenge_id = fanout.api.create()["id"]
    call(fanout, "PUT", f"/challenges/{challenge_id}/follow", person("lea", locale="en-GB"))
    other = fanout.api.create()["id"]
    call(fanout, "DELETE", f"/challenges/{other}/follow", person("lea"))
    update = post_update(fanout, challenge_id)
    fanout.api.drain()
    document = json.loads(call(fanout, "GET", "/me/export", person("lea")).body)
    assert sorted(
        (f["id"], f["following"], f["email"], f["locale"]) for f in document["follows"]
    ) == sorted([(challenge_id, True, "lea@people.example", "en"), (other, False, None, None)])
    assert [(e["update_id"], e["status"]) for e in document["update_emails"]] == [
        (update["id"], "sent")
    ]

    assert call(fanout, "DELETE", "/me", person("lea")).status_code == 204
    document = json.loads(call(fanout, "GET", "/me/export", person("lea")).body)
    assert (document["follows"], document["update_emails"]) == ([], [])
    assert list(FollowItem.by_participant.query("lea")) == []
