"""Teams and leaderboards on moto, through the API: teams per organisation, one membership
per person and organisation, leaderboards counted from the pledges stream for the team of
each pledge's and report's time, exact under withdrawals, team changes and redelivery; the
k=5 rule on members' names; problem+json for bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.conftest import ADMIN, Api, bearer

ORG = "org_teams"


@pytest.fixture
def org(api: Api) -> str:
    api.seed_organization(ORG, "Humanis")
    return ORG


def make_team(api: Api, organization_id: str, name: str, headers: Any = None) -> Any:
    return api.request(
        "POST", f"/admin/organizations/{organization_id}/teams", {"name": name}, headers or ADMIN
    )


def team(api: Api, organization_id: str, name: str) -> str:
    answer = make_team(api, organization_id, name)
    assert answer.status_code == 201, answer.body
    team_id: str = json.loads(answer.body)["id"]
    return team_id


def join(api: Api, sub: str, team_id: str, name: str | None = None) -> Any:
    body: dict[str, Any] = {"team_id": team_id}
    if name:
        body["display_name"] = name
    return api.request("PUT", f"/me/teams/{ORG}", body, bearer(sub, org_id=ORG))


def board(api: Api, challenge_id: str, by: str = "participants") -> dict[str, Any]:
    api.drain()
    answer = api.request("GET", f"/challenges/{challenge_id}/leaderboard?by={by}")
    assert answer.status_code == 200, answer.body
    result: dict[str, Any] = json.loads(answer.body)
    return result


def figures(result: dict[str, Any]) -> dict[str, tuple[int, Any]]:
    return {t["name"]: (t["participants"], t["quantity"]) for t in result["teams"]}


def test_pledges_and_reports_count_for_the_team_of_their_time(api: Api, org: str) -> None:
    lyon, paris = team(api, org, "Lyon"), team(api, org, "Paris")
    challenge_id = api.create(
        organization_id=org, target={"metric": "quantity", "value": 500, "unit": "km"}
    )["id"]
    for n in range(3):
        assert join(api, f"lyon-{n}", lyon).status_code == 200
        assert api.pledge(challenge_id, f"lyon-{n}").status_code == 201
    assert join(api, "paris-0", paris).status_code == 200
    assert api.pledge(challenge_id, "paris-0").status_code == 201
    assert api.pledge(challenge_id, "no-team").status_code == 201  # counts for no team
    report = api.request("POST", f"/challenges/{challenge_id}/reports", {"quantity": 12},
                         bearer("lyon-0"))  # fmt: skip
    assert report.status_code == 201, report.body
    assert figures(board(api, challenge_id)) == {"Lyon": (3, 12), "Paris": (1, 0)}
    # lyon-0 moves to Paris: the pledge stays with Lyon, the next report goes to Paris.
    assert join(api, "lyon-0", paris).status_code == 200
    api.request("POST", f"/challenges/{challenge_id}/reports", {"quantity": 5}, bearer("lyon-0"))
    assert figures(board(api, challenge_id)) == {"Lyon": (3, 12), "Paris": (1, 5)}
    # Withdrawing takes the participant from the team the pledge counted for.
    gone = api.request("DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer("lyon-0"))
    assert gone.status_code == 204
    result = board(api, challenge_id, by="quantity")
    assert figures(result) == {"Lyon": (2, 12), "Paris": (1, 5)}
    assert [t["rank"] for t in result["teams"]] == [1, 2]
    assert result["unit"] == "km"


def test_a_campaign_counts_a_person_once_per_team(api: Api, org: str) -> None:
    lyon = team(api, org, "Lyon")
    campaign = api.request(
        "POST", "/admin/campaigns", {"title": "Mobility week", "organization_id": org}, ADMIN
    )
    assert campaign.status_code == 201, campaign.body
    campaign_id = json.loads(campaign.body)["id"]
    first = api.create(organization_id=org, campaign_id=campaign_id)["id"]
    second = api.create(organization_id=org, campaign_id=campaign_id)["id"]
    join(api, "a", lyon)
    join(api, "b", lyon)
    for challenge_id in (first, second):
        api.pledge(challenge_id, "a")
    api.pledge(second, "b")
    api.drain()
    answer = api.request("GET", f"/campaigns/{campaign_id}/leaderboard")
    assert answer.status_code == 200, answer.body
    assert figures(json.loads(answer.body)) == {"Lyon": (2, 0)}
    api.request("DELETE", f"/challenges/{first}/pledges/me", None, bearer("a"))
    api.drain()
    answer = api.request("GET", f"/campaigns/{campaign_id}/leaderboard")
    assert figures(json.loads(answer.body)) == {"Lyon": (2, 0)}  # a still pledges on `second`


def test_names_only_for_teams_of_five_or_more(api: Api, org: str) -> None:
    big, small = team(api, org, "Big"), team(api, org, "Small")
    challenge_id = api.create(organization_id=org)["id"]
    for n in range(5):
        join(api, f"big-{n}", big, name=f"Big {n}")
        api.pledge(challenge_id, f"big-{n}")
    for n in range(4):
        join(api, f"small-{n}", small, name=f"Small {n}")
        api.pledge(challenge_id, f"small-{n}")
    teams = {t["name"]: t for t in board(api, challenge_id)["teams"]}
    assert sorted(teams["Big"]["members"]) == [f"Big {n}" for n in range(5)]
    assert teams["Small"]["members"] is None
    assert "small-0" not in json.dumps(teams)
    assert "@" not in json.dumps(teams)


def test_bad_team_input_is_problem_json(api: Api, org: str) -> None:
    api.seed_organization("org_other", "GRDF")
    other = team(api, "org_other", "Elsewhere")
    answer = join(api, "a", other)
    assert answer.status_code == 400, answer.body
    problem = json.loads(answer.body)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert "team_id" in json.dumps(problem)
    team(api, org, "Lyon")
    taken = make_team(api, org, "lyon")
    assert taken.status_code == 409
    assert json.loads(taken.body)["type"].endswith("team-name-taken")
    org_admin = bearer("oa", groups=("org-admin",), org_id=org)
    assert make_team(api, "org_other", "Mine", org_admin).status_code == 404
    assert make_team(api, org, "Mine", org_admin).status_code == 201
    assert api.request("GET", "/me/teams/org_nowhere", None, bearer("a")).status_code == 404
    assert api.request("GET", "/challenges/ch_nowhere/leaderboard").status_code == 404


def test_my_teams(api: Api, org: str) -> None:
    lyon = team(api, org, "Lyon")
    mine = api.request("GET", f"/me/teams/{ORG}", None, bearer("a"))
    assert mine.status_code == 200, mine.body
    body = json.loads(mine.body)
    assert body["membership"]["team_id"] is None
    assert [t["id"] for t in body["teams"]] == [lyon]
    join(api, "a", lyon, name="Léa")
    listed = json.loads(api.request("GET", "/me/teams", None, bearer("a")).body)["items"]
    assert [(m["organization_id"], m["team_id"], m["display_name"]) for m in listed] == [
        (ORG, lyon, "Léa")
    ]
    left = api.request("DELETE", f"/me/teams/{ORG}", None, bearer("a"))
    assert left.status_code == 204
    assert json.loads(api.request("GET", "/me/teams", None, bearer("a")).body)["items"] == []


def test_a_team_s_description_is_optional_and_may_be_empty(api: Api, org: str) -> None:
    path = f"/admin/organizations/{org}/teams"
    for body in ({"name": "Lyon"}, {"name": "Paris", "description": ""}):
        answer = api.request("POST", path, body, ADMIN)
        assert answer.status_code == 201, answer.body
        assert json.loads(answer.body)["description"] == ""
    long = api.request("POST", path, {"name": "Arles", "description": "x" * 501}, ADMIN)
    assert long.status_code == 400
