"""Follow and updates on the real local stack: a follower gets one e-mail per update (one too
when they also pledged), and one who unsubscribed through the e-mail's link gets none."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from urllib.parse import unquote

from tests.e2e.conftest import Stack, assert_problem

UNSUBSCRIBE = re.compile(r"#/unsubscribe\?token=([A-Za-z0-9_.%-]+)")


def test_a_follower_gets_one_email_per_update_and_an_unsubscribed_one_none(
    stack: Stack,
) -> None:
    tag = uuid.uuid4().hex[:8]
    challenge = stack.create_challenge(target={"metric": "participants", "value": 50})
    challenge_id = challenge["id"]
    # Followers are e-mailed in participant-id order: the one who unsubscribes comes first,
    # so once the last one has an update, the first would have had it too.
    subs = {name: f"e2e-follow-{tag}-{name}" for name in ("a-quits", "b-pledged", "c-stays")}
    address = {name: f"{name}-{tag}@people.example" for name in subs}
    tokens = {
        name: stack.participant_token(sub, email=address[name], email_verified=True)
        for name, sub in subs.items()
    }
    for token in tokens.values():
        followed = stack.request("PUT", f"/challenges/{challenge_id}/follow", token=token)
        assert followed.status_code == 200, followed.text
        assert followed.json()["email_updates"] is True
    again = stack.request("PUT", f"/challenges/{challenge_id}/follow", token=tokens["c-stays"])
    assert again.status_code == 200
    pledged = stack.request(
        "POST", f"/challenges/{challenge_id}/pledges", token=tokens["b-pledged"], json={}
    )
    assert pledged.status_code == 201, pledged.text

    def post(title: str) -> None:
        response = stack.request(
            "POST",
            f"/admin/challenges/{challenge_id}/updates",
            token=stack.admin_token(),
            json={"title": title, "body": "Forty trees planted.", "locale": "en"},
        )
        assert response.status_code == 201, response.text

    def received(title: str) -> Counter[str]:
        return Counter(
            to
            for email in stack.sent_emails()
            if title in email.subject
            for to in email.to
            if to.endswith(f"-{tag}@people.example")
        )

    first = f"First news {tag}"
    post(first)
    stack.wait_until(
        lambda: received(first)[address["c-stays"]] == 1, 30, message="the first update e-mailed"
    )
    assert received(first) == Counter(address.values())  # one each, pledger or not

    [email] = [e for e in stack.sent_emails() if first in e.subject and address["a-quits"] in e.to]
    match = UNSUBSCRIBE.search(email.html or "")
    assert match is not None, email.html
    token = unquote(match[1])
    seen = stack.request("GET", "/unsubscribe", params={"token": token})
    assert seen.json() == {"kind": "challenges", "id": challenge_id, "unsubscribed": False}
    done = stack.request("POST", "/unsubscribe", params={"token": token})
    assert done.status_code == 200, done.text
    assert done.json()["unsubscribed"] is True
    assert_problem(stack.request("POST", "/unsubscribe", params={"token": token + "x"}), 400)

    second = f"Second news {tag}"
    post(second)
    stack.wait_until(
        lambda: received(second)[address["c-stays"]] == 1, 30, message="the second update"
    )
    assert received(second) == Counter([address["b-pledged"], address["c-stays"]])
    assert received(first) == Counter(address.values())  # nothing sent again

    updates = stack.request("GET", f"/challenges/{challenge_id}/updates").json()["items"]
    assert [u["title"] for u in updates] == [second, first]
    feed = stack.request("GET", "/me/feed", token=tokens["b-pledged"]).json()["items"]
    assert [(i["title"], i["challenge_title"]) for i in feed][:2] == [
        (second, challenge["title"]),
        (first, challenge["title"]),
    ]
