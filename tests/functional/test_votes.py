"""The beneficiary vote on moto, through the API: who may vote, exact tallies under
concurrent votes and changes, withdrawal, closing on reaching the target (the winner alone is
told as beneficiary), the vote's own deadline, and `vote.closed`."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.schedules import end_due_challenges
from tests.functional.conftest import ADMIN, Api, bearer

CANDIDATES = [
    {"id": "solicycle", "name": "Solicycle", "email": "hello@solicycle.example",
     "description": "Bike repair workshops", "url": "https://solicycle.example"},
    {"id": "emmaus", "name": "Emmaüs Connect", "email": "contact@emmaus.example"},
    {"id": "rejoue", "name": "Rejoué", "email": "contact@rejoue.example"},
]  # fmt: skip


def voting_challenge(api: Api, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"beneficiary_choice": {"candidates": CANDIDATES}}
    fields.update(overrides)
    body = {k: v for k, v in fields.items()}
    response = api.request(
        "POST",
        "/admin/challenges",
        {**_without_beneficiary(), **body},
        ADMIN,
    )
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def _without_beneficiary() -> dict[str, Any]:
    from tests.functional.conftest import challenge_body

    body = challenge_body()
    del body["beneficiary"]
    return body


def vote(api: Api, challenge_id: str, sub: str, candidate: str) -> Any:
    return api.request(
        "PUT", f"/challenges/{challenge_id}/vote", {"candidate_id": candidate}, bearer(sub)
    )


def tallies(api: Api, challenge_id: str) -> dict[str, Any]:
    response = api.request("GET", f"/challenges/{challenge_id}/votes")
    assert response.status_code == 200, response.body
    result: dict[str, Any] = json.loads(response.body)
    return result


def votes_of(result: dict[str, Any]) -> dict[str, int]:
    return {c["id"]: c["votes"] for c in result["candidates"]}


def problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json", response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def test_a_vote_challenge_shows_its_candidates_without_their_addresses(api: Api) -> None:
    created = voting_challenge(api, target={"metric": "participants", "value": 100})
    choice = created["beneficiary_choice"]
    assert [c["email"] for c in choice["candidates"]] == [c["email"] for c in CANDIDATES]
    assert choice["status"] == "open"
    assert choice["winner_id"] is None
    public = api.challenge(created["id"])
    assert public["beneficiary"]["name"] == "Solicycle / Emmaüs Connect / Rejoué"
    assert "example" not in json.dumps(public["beneficiary_choice"]).replace(
        "https://solicycle.example/", ""
    )
    assert public["beneficiary_choice"]["candidates"][0]["url"] == "https://solicycle.example/"


def test_creating_needs_one_beneficiary_or_a_valid_choice(api: Api) -> None:
    both = {**_without_beneficiary(), "beneficiary": {"name": "X", "email": "x@x.example"},
            "beneficiary_choice": {"candidates": CANDIDATES}}  # fmt: skip
    neither = _without_beneficiary()
    one_candidate = {**neither, "beneficiary_choice": {"candidates": CANDIDATES[:1]}}
    twice = {**neither, "beneficiary_choice": {"candidates": [CANDIDATES[0], CANDIDATES[0]]}}
    past = {**neither, "beneficiary_choice": {"candidates": CANDIDATES,
                                               "closes_at": "2001-01-01T00:00:00Z"}}  # fmt: skip
    for body in (both, neither, one_candidate, twice, past):
        response = api.request("POST", "/admin/challenges", body, ADMIN)
        assert response.status_code == 400, (body, response.body)
        assert problem(response)["status"] == 400


def test_who_may_vote_and_for_whom(api: Api) -> None:
    challenge_id = voting_challenge(api, target={"metric": "participants", "value": 100})["id"]
    plain_id = api.create()["id"]
    assert problem(vote(api, challenge_id, "lea", "solicycle"))["type"].endswith("/not-pledged")
    assert api.pledge(challenge_id, "lea").status_code == 201
    unknown = vote(api, challenge_id, "lea", "nobody")
    assert unknown.status_code == 400
    assert problem(unknown)["errors"][0]["loc"] == ["body", "candidate_id"]
    assert vote(api, challenge_id, "lea", "Not An Id!").status_code == 400
    assert api.pledge(plain_id, "lea").status_code == 201
    assert problem(vote(api, plain_id, "lea", "solicycle"))["type"].endswith("/no-vote")
    assert vote(api, "ch_0000000000000000", "lea", "solicycle").status_code == 404
    cast = vote(api, challenge_id, "lea", "emmaus")
    assert cast.status_code == 200, cast.body
    assert json.loads(cast.body)["candidate_id"] == "emmaus"
    mine = api.request("GET", f"/challenges/{challenge_id}/vote", None, bearer("lea"))
    assert json.loads(mine.body)["candidate_id"] == "emmaus"
    nobody = api.request("GET", f"/challenges/{challenge_id}/vote", None, bearer("max"))
    assert nobody.status_code == 404


def test_concurrent_votes_and_changes_give_exact_tallies(api: Api) -> None:
    challenge_id = voting_challenge(api, target={"metric": "participants", "value": 10_000})["id"]
    voters = [f"voter-{n}" for n in range(60)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(
            r.status_code == 201 for r in pool.map(lambda s: api.pledge(challenge_id, s), voters)
        )
    first = {sub: CANDIDATES[n % 3]["id"] for n, sub in enumerate(voters)}
    final = {sub: CANDIDATES[(n * 7) % 3]["id"] for n, sub in enumerate(voters)}
    # Every voter votes, changes their mind, and sends their final vote twice, concurrently.
    steps = [(sub, first[sub]) for sub in voters] + [(sub, final[sub]) for sub in voters] * 2
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda step: vote(api, challenge_id, *step).status_code, steps))
    assert set(statuses) == {200}
    # The last answer of each voter is not known (their requests raced), their stored vote is.
    stored = {
        sub: json.loads(
            api.request("GET", f"/challenges/{challenge_id}/vote", None, bearer(sub)).body
        )["candidate_id"]
        for sub in voters
    }
    expected = Counter(stored.values())
    result = tallies(api, challenge_id)
    assert votes_of(result) == {c["id"]: expected.get(c["id"], 0) for c in CANDIDATES}
    assert result["total"] == len(voters)


def test_withdrawing_the_pledge_withdraws_the_vote(api: Api) -> None:
    challenge_id = voting_challenge(api, target={"metric": "participants", "value": 100})["id"]
    for sub in ("a", "b"):
        api.pledge(challenge_id, sub)
        vote(api, challenge_id, sub, "rejoue")
    withdrawn = api.request("DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer("a"))
    assert withdrawn.status_code == 204
    assert votes_of(tallies(api, challenge_id))["rejoue"] == 1
    # Pledging again does not bring the old vote back.
    api.pledge(challenge_id, "a")
    assert votes_of(tallies(api, challenge_id))["rejoue"] == 1


def test_reaching_the_target_closes_the_vote_and_only_the_winner_is_the_beneficiary(
    api: Api,
) -> None:
    challenge_id = voting_challenge(api, target={"metric": "participants", "value": 3})["id"]
    for sub, candidate in (("a", "emmaus"), ("b", "rejoue"), ("c", "emmaus")):
        assert api.pledge(challenge_id, sub).status_code == 201
        assert vote(api, challenge_id, sub, candidate).status_code == 200
    api.drain()  # progress reaches the target; the notifier closes the vote, then tells
    result = tallies(api, challenge_id)
    assert result["status"] == "closed"
    assert result["winner_id"] == "emmaus"
    assert votes_of(result) == {"solicycle": 0, "emmaus": 2, "rejoue": 1}
    closed = vote(api, challenge_id, "b", "emmaus")
    assert closed.status_code == 409
    assert problem(closed)["type"].endswith("/vote-closed")
    assert api.challenge(challenge_id)["beneficiary"]["name"] == "Emmaüs Connect"

    log = api.notifications(challenge_id)
    reached = sorted(
        (d["recipient_role"], d["to"])
        for d in log
        if d["event"] == "challenge.reached"
        and d["channel"] == "email"
        and d["recipient_role"] != "participant"
    )
    assert reached == [
        ("beneficiary", "contact@emmaus.example"),
        ("sponsor", "sponsor@clichy.example"),
    ]
    closed_log = sorted((d["recipient_role"], d["to"]) for d in log if d["event"] == "vote.closed")
    assert closed_log == [
        ("candidate", "contact@emmaus.example"),
        ("candidate", "contact@rejoue.example"),
        ("candidate", "hello@solicycle.example"),
        ("sponsor", "sponsor@clichy.example"),
    ]
    reached_mail = [m for m in api.emails() if "reached" in m.subject or "atteint" in m.subject]
    assert {tuple(m.to) for m in reached_mail} >= {("contact@emmaus.example",)}
    assert not any("contact@rejoue.example" in m.to for m in reached_mail)
    assert not any("hello@solicycle.example" in m.to for m in reached_mail)
    # Withdrawing after the close changes nothing in the result.
    api.request("DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer("a"))
    assert votes_of(tallies(api, challenge_id))["emmaus"] == 2


def test_a_tie_goes_to_the_candidate_listed_first(api: Api) -> None:
    challenge_id = voting_challenge(api, target={"metric": "participants", "value": 2})["id"]
    api.pledge(challenge_id, "a")
    vote(api, challenge_id, "a", "rejoue")
    api.pledge(challenge_id, "b")
    vote(api, challenge_id, "b", "emmaus")
    api.drain()
    assert tallies(api, challenge_id)["winner_id"] == "emmaus"


def test_the_vote_closes_at_its_own_deadline(api: Api) -> None:
    closes_at = datetime.now(UTC) + timedelta(seconds=2)
    challenge_id = voting_challenge(
        api,
        target={"metric": "participants", "value": 100},
        beneficiary_choice={
            "candidates": CANDIDATES,
            "closes_at": closes_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )["id"]
    api.pledge(challenge_id, "a")
    assert vote(api, challenge_id, "a", "rejoue").status_code == 200
    api.container.votes._clock = _At(closes_at + timedelta(seconds=1))
    result = end_due_challenges({}, None, api.container)
    assert result["votes_closed"] == [challenge_id]
    api.drain()
    assert tallies(api, challenge_id)["winner_id"] == "rejoue"
    assert api.challenge(challenge_id)["status"] == "live"  # the challenge goes on


class _At:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def test_an_erased_voters_vote_stays_counted_and_a_moderated_ones_does_not(api: Api) -> None:
    challenge_id = voting_challenge(api, target={"metric": "participants", "value": 100})["id"]
    for sub in ("erased", "spammer", "kept"):
        assert api.pledge(challenge_id, sub).status_code == 201
        assert vote(api, challenge_id, sub, "solicycle").status_code == 200
    assert api.request("DELETE", "/me", None, bearer("erased")).status_code == 204
    removed = api.request(
        "POST",
        f"/admin/challenges/{challenge_id}/pledges/spammer/remove",
        {"reason": "spam"},
        ADMIN,
    )
    assert removed.status_code == 200, removed.body
    api.drain()
    # The erased person's pledge and vote moved to a pseudonym: both still count.
    assert votes_of(tallies(api, challenge_id))["solicycle"] == 2
    assert api.challenge(challenge_id)["progress"]["participants"] == 2
