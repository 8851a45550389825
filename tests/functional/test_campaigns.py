"""Campaigns: the API, and unique participants kept exact under redelivery and concurrency."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.storage.campaigns import DynamoAudienceCounts, DynamoCampaignMembers
from chalicelib.storage.counters import DynamoCounterRepository
from tests.functional.conftest import ADMIN, Api, bearer, served_container
from tests.functional.test_public_api import assert_problem


def create_campaign(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"title": "No Impact Week", "description": "Five challenges", **fields}
    response = api.request("POST", "/admin/campaigns", body, ADMIN)
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def campaign(api: Api, campaign_id: str, headers: dict[str, str] | None = None) -> Any:
    return api.request("GET", f"/campaigns/{campaign_id}", None, headers)


def test_a_campaign_counts_each_person_once_across_its_challenges(api: Api) -> None:
    week = create_campaign(api)
    assert week["id"].startswith("cmp_")
    cycle = api.create(campaign_id=week["id"], target={"metric": "participants", "value": 50})
    walk = api.create(
        campaign_id=week["id"], target={"metric": "quantity", "value": 1000, "unit": "km"}
    )
    elsewhere = api.create()  # not in the campaign
    for sub in ("ana", "ben", "chloe"):
        assert api.pledge(cycle["id"], sub).status_code == 201
    for sub in ("ana", "ben", "dan"):
        assert api.pledge(walk["id"], sub).status_code == 201
    assert api.pledge(walk["id"], "ana").status_code == 200  # a duplicate counts nothing
    assert api.pledge(elsewhere["id"], "eve").status_code == 201
    api.drain()

    response = campaign(api, week["id"])
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["title"] == "No Impact Week"
    assert {c["id"] for c in body["challenges"]} == {cycle["id"], walk["id"]}
    assert body["totals"] == {
        "participants": 4, "pledges": 6, "quantity": {"km": 0}, "promised": {}
    }  # fmt: skip
    assert b"@" not in response.body  # no e-mail address in a public answer

    # Ben leaves one challenge (still in the campaign), Chloe her only one (no longer).
    for sub, challenge in (("ben", cycle), ("chloe", cycle)):
        withdrawn = api.request(
            "DELETE", f"/challenges/{challenge['id']}/pledges/me", None, bearer(sub)
        )
        assert withdrawn.status_code == 204
    api.drain()
    totals = json.loads(campaign(api, week["id"]).body)["totals"]
    assert totals["participants"] == 3
    assert totals["pledges"] == 4


def test_totals_count_only_the_challenges_the_caller_may_see(api: Api) -> None:
    api.seed_organization("org_humanis")
    week = create_campaign(api, organization_id="org_humanis")
    # Humanis' own challenge, open to all (an organisation's campaign holds only its own).
    public = api.create(campaign_id=week["id"], organization_id="org_humanis")
    staff = api.create(
        campaign_id=week["id"], visibility="organization", organization_id="org_humanis"
    )
    employee = bearer("emp-1", org_id="org_humanis")
    for sub in ("ana", "ben"):
        assert api.pledge(public["id"], sub).status_code == 201
    for sub in ("ben", "chloe"):
        response = api.request(
            "POST", f"/challenges/{staff['id']}/pledges", None, bearer(sub, org_id="org_humanis")
        )
        assert response.status_code == 201, response.body
    api.drain()

    outsider_view = json.loads(campaign(api, week["id"]).body)
    assert [c["id"] for c in outsider_view["challenges"]] == [public["id"]]
    assert outsider_view["totals"]["participants"] == 2
    assert outsider_view["totals"]["pledges"] == 2
    employee_view = json.loads(campaign(api, week["id"], employee).body)
    assert {c["id"] for c in employee_view["challenges"]} == {public["id"], staff["id"]}
    assert employee_view["totals"]["participants"] == 3
    assert employee_view["totals"]["pledges"] == 4


def test_unknown_campaign_is_404_and_bad_bodies_400(api: Api) -> None:
    assert_problem(campaign(api, "cmp_nope"), 404)
    bad = api.request("POST", "/admin/campaigns", {"description": "no title"}, ADMIN)
    assert_problem(bad, 400)
    dates = {"title": "T", "starts_at": "2026-06-10T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}
    assert_problem(api.request("POST", "/admin/campaigns", dates, ADMIN), 400)
    assert_problem(api.request("POST", "/admin/campaigns", {"title": "T"}, bearer("p")), 403)


def test_a_campaign_names_an_existing_organisation(api: Api) -> None:
    unknown = api.request(
        "POST", "/admin/campaigns", {"title": "T", "organization_id": "org_nope"}, ADMIN
    )
    problem = assert_problem(unknown, 400)
    assert problem["errors"] == [
        {"loc": ["body", "organization_id"], "msg": "no organization has the id 'org_nope'"}
    ]
    api.seed_organization("org_known")
    known = api.request(
        "POST", "/admin/campaigns", {"title": "T", "organization_id": "org_known"}, ADMIN
    )
    assert known.status_code == 201, known.body


# --- the membership repository on the embedded DynamoDB ----------------------------------------


@pytest.fixture
def members(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoCampaignMembers]:
    for container in served_container(aws, monkeypatch):
        yield DynamoCampaignMembers(container.settings)


SHARDS = 4


def unique(campaign_id: str, audiences: set[str], seen: set[str]) -> int:
    return DynamoAudienceCounts(DynamoCounterRepository()).unique_participants(
        campaign_id, audiences, seen, SHARDS
    )


def change(
    members: DynamoCampaignMembers,
    person: str,
    challenge: str,
    live: bool,
    audience: str = "public",
) -> bool:
    return members.change(
        "cmp_a",
        person,
        challenge_id=challenge,
        audience=audience,
        live=live,
        shard=sum(map(ord, person)) % SHARDS,
    )


PUBLIC = {"public"}


def test_redelivered_changes_move_the_count_once(members: DynamoCampaignMembers) -> None:
    assert change(members, "ana", "ch_1", True) is True
    assert change(members, "ana", "ch_1", True) is False  # redelivered
    assert change(members, "ana", "ch_2", True) is False  # second challenge, same person
    assert unique("cmp_a", PUBLIC, PUBLIC) == 1
    assert change(members, "ana", "ch_1", False) is False  # still on ch_2
    assert change(members, "ana", "ch_1", False) is False  # redelivered
    assert unique("cmp_a", PUBLIC, PUBLIC) == 1
    assert change(members, "ana", "ch_2", False) is True
    assert change(members, "ana", "ch_2", False) is False  # redelivered
    assert unique("cmp_a", PUBLIC, PUBLIC) == 0


def test_each_caller_counts_the_people_of_the_audiences_it_sees(
    members: DynamoCampaignMembers,
) -> None:
    # ana: public only; ben: public and Humanis; chloe: Humanis only.
    change(members, "ana", "ch_pub", True)
    change(members, "ben", "ch_pub", True)
    change(members, "ben", "ch_hum", True, "org_humanis")
    change(members, "chloe", "ch_hum", True, "org_humanis")
    both = {"public", "org_humanis"}
    assert unique("cmp_a", both, PUBLIC) == 2  # ana, ben
    assert unique("cmp_a", both, {"org_humanis"}) == 2  # ben, chloe
    assert unique("cmp_a", both, both) == 3
    # Ben leaves the public challenge: he is now seen by Humanis employees only.
    change(members, "ben", "ch_pub", False)
    assert unique("cmp_a", both, PUBLIC) == 1
    assert unique("cmp_a", both, both) == 3


def test_concurrent_changes_for_the_same_people_keep_the_count_exact(
    members: DynamoCampaignMembers,
) -> None:
    people = [f"p{n}" for n in range(12)]
    challenges = [("ch_1", "public"), ("ch_2", "public"), ("ch_3", "org_x")]
    rng = random.Random(11)
    # Every (person, challenge) joins; a random half then leaves; each event is delivered
    # twice; events of one pair stay in order (as a stream shard keeps them), pairs interleave.
    pairs = [(p, c) for p in people for c in challenges]
    leaving = set(rng.sample(pairs, len(pairs) // 2))
    sequences = [
        [(p, c, True)] * 2 + ([(p, c, False)] * 2 if (p, c) in leaving else []) for p, c in pairs
    ]

    def run(sequence: list[tuple[str, tuple[str, str], bool]]) -> None:
        for person, (challenge, audience), live in sequence:
            change(members, person, challenge, live, audience)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(run, sequences))
    staying = [(p, c) for p, c in pairs if (p, c) not in leaving]
    everyone = {"public", "org_x"}
    assert unique("cmp_a", everyone, everyone) == len({p for p, _ in staying})
    assert unique("cmp_a", everyone, PUBLIC) == len({p for p, c in staying if c[1] == "public"})
    assert unique("cmp_a", everyone, {"org_x"}) == len({p for p, c in staying if c[1] == "org_x"})
