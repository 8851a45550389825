"""Teams on the real local stack: after a burst of pledges, reports, team changes and
withdrawals on two challenges of a campaign, the leaderboards equal a recount from what was
pledged and reported, each counted for the team of its time; bad team input is problem+json."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tests.e2e.conftest import Stack, assert_problem

PEOPLE = 90
WORKERS = 32
MOVERS = range(0, PEOPLE, 4)  # move to the next team between the two phases
LEAVERS = range(1, PEOPLE, 9)  # withdraw their first pledge in the second phase
T = TypeVar("T")


def _all(work: Callable[[T], Any], items: Iterable[T]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(work, items))


class Recount:
    """The truth, from what the test did: each pledge counted for its person's team when it
    was made (while it stands), each report's quantity for the team when it was made."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the test's threads record into it
        self.pledges: dict[tuple[str, int], str] = {}  # (challenge, person) -> team then
        self.quantity: dict[tuple[str, str], float] = defaultdict(float)  # (scope, team)

    def challenge(self, challenge_id: str) -> dict[str, tuple[int, float]]:
        people: dict[str, int] = defaultdict(int)
        for (challenge, _), team in self.pledges.items():
            if challenge == challenge_id:
                people[team] += 1
        return self._figures(people, challenge_id)

    def campaign(self, campaign_id: str) -> dict[str, tuple[int, float]]:
        members: dict[str, set[int]] = defaultdict(set)
        for (_, person), team in self.pledges.items():
            members[team].add(person)
        return self._figures({t: len(p) for t, p in members.items()}, campaign_id)

    def _figures(self, people: dict[str, int], scope: str) -> dict[str, tuple[int, float]]:
        teams = {*people, *(team for s, team in self.quantity if s == scope)}
        return {t: (people.get(t, 0), self.quantity.get((scope, t), 0.0)) for t in teams}


def _setup(stack: Stack, tag: str) -> tuple[str, list[str], str, str, str]:
    """A company with three teams and a campaign of two challenges: a quantity (km) and a
    headcount; their ids."""
    admin = stack.admin_token()
    made = stack.request(
        "POST",
        "/admin/organizations",
        token=admin,
        json={"name": f"Teams Co {tag}", "kind": "company", "email_domains": ["teams.example"]},
    )
    assert made.status_code == 201, made.text
    org = made.json()["id"]
    teams = []
    for name in ("Lyon", "Paris", "Lille"):
        created = stack.request(
            "POST", f"/admin/organizations/{org}/teams", token=admin, json={"name": name}
        )
        assert created.status_code == 201, created.text
        teams.append(created.json()["id"])
    campaign = stack.create_campaign(f"Mobility week {tag}", organization_id=org)
    km = stack.create_challenge(
        organization_id=org,
        campaign_id=campaign,
        target={"metric": "quantity", "value": 100_000, "unit": "km"},
    )["id"]
    heads = stack.create_challenge(
        organization_id=org, campaign_id=campaign, target={"metric": "participants", "value": 999}
    )["id"]
    return org, teams, campaign, km, heads


def test_leaderboards_equal_a_recount_after_a_burst_with_team_changes(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    org, teams, campaign, km, heads = _setup(stack, tag)
    tokens = [stack.employee_token(f"e2e-team-{tag}-{n:03d}", org) for n in range(PEOPLE)]
    team_of = {n: teams[n % 3] for n in range(PEOPLE)}
    recount = Recount()

    def join(n: int) -> None:
        body = {"team_id": team_of[n], "display_name": f"Member {n}"}
        answer = stack.request("PUT", f"/me/teams/{org}", token=tokens[n], json=body)
        assert answer.status_code == 200, answer.text

    def pledge(challenge_id: str) -> Callable[[int], None]:
        def run(n: int) -> None:
            answer = stack.request("POST", f"/challenges/{challenge_id}/pledges", token=tokens[n])
            assert answer.status_code == 201, answer.text
            with recount.lock:
                recount.pledges[(challenge_id, n)] = team_of[n]

        return run

    def report(n: int) -> None:
        quantity = 1 + n % 7
        answer = stack.request(
            "POST", f"/challenges/{km}/reports", token=tokens[n], json={"quantity": quantity}
        )
        assert answer.status_code == 201, answer.text
        with recount.lock:
            for scope in (km, campaign):
                recount.quantity[(scope, team_of[n])] += quantity

    # Phase 1: everyone joins a team, pledges on `km`, two thirds also on `heads`, a half
    # reports; each step waits for the previous one's answers.
    _all(join, range(PEOPLE))
    _all(pledge(km), range(PEOPLE))
    _all(pledge(heads), [n for n in range(PEOPLE) if n % 3])
    _all(report, range(0, PEOPLE, 2))
    # Phase 2: a quarter move team; the rest of `heads` pledges, everyone reports again
    # (the movers' reports now count for their new team) and some withdraw from `km`.
    for n in MOVERS:
        team_of[n] = teams[(teams.index(team_of[n]) + 1) % 3]
    _all(join, MOVERS)
    _all(pledge(heads), [n for n in range(PEOPLE) if not n % 3])
    _all(report, range(PEOPLE))

    def withdraw(n: int) -> None:
        answer = stack.request("DELETE", f"/challenges/{km}/pledges/me", token=tokens[n])
        assert answer.status_code == 204, answer.text
        with recount.lock:
            del recount.pledges[(km, n)]

    _all(withdraw, LEAVERS)

    def shown(path: str) -> dict[str, tuple[int, float]]:
        answer = stack.request("GET", path)
        assert answer.status_code == 200, answer.text
        return {
            t["team_id"]: (t["participants"], float(t["quantity"]))
            for t in answer.json()["teams"]
            if t["participants"] or t["quantity"]
        }

    for path, expected in (
        (f"/challenges/{km}/leaderboard", recount.challenge(km)),
        (f"/challenges/{heads}/leaderboard", recount.challenge(heads)),
        (f"/campaigns/{campaign}/leaderboard", recount.campaign(campaign)),
    ):
        stack.wait_until(
            lambda path=path, expected=expected: shown(path) == expected,  # type: ignore[misc]
            60,
            message=f"{path} equals the recount {expected}",
        )
    # Ranked by quantity, the order follows the recount too; names of teams of 5 or more.
    by_quantity = stack.request("GET", f"/challenges/{km}/leaderboard?by=quantity").json()
    quantities = [float(t["quantity"]) for t in by_quantity["teams"]]
    assert quantities == sorted(quantities, reverse=True)
    assert all(t["members"] for t in by_quantity["teams"])


def test_bad_team_input_is_problem_json(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    admin = stack.admin_token()
    orgs = []
    for name in ("Ours", "Theirs"):
        made = stack.request(
            "POST",
            "/admin/organizations",
            token=admin,
            json={"name": f"{name} {tag}", "kind": "company", "email_domains": [f"{tag}.example"]},
        )
        assert made.status_code == 201, made.text
        orgs.append(made.json()["id"])
    theirs = stack.request(
        "POST", f"/admin/organizations/{orgs[1]}/teams", token=admin, json={"name": "Theirs"}
    ).json()["id"]
    member = stack.employee_token(f"e2e-team-bad-{tag}", orgs[0])
    wrong = stack.request("PUT", f"/me/teams/{orgs[0]}", token=member, json={"team_id": theirs})
    problem = assert_problem(wrong, 400)
    assert "team_id" in str(problem)
    stranger = stack.participant_token(f"e2e-team-stranger-{tag}")
    assert_problem(stack.request("GET", f"/me/teams/{orgs[0]}", token=stranger), 403)
    assert_problem(
        stack.request("PUT", f"/me/teams/{orgs[0]}", token=member, json={"team_id": "no such!"}),
        400,
    )
    stack.request("POST", f"/admin/organizations/{orgs[0]}/teams", token=admin, json={"name": "A"})
    again = stack.request(
        "POST", f"/admin/organizations/{orgs[0]}/teams", token=admin, json={"name": "a"}
    )
    assert assert_problem(again, 409)["type"].endswith("team-name-taken")


def _humanis_recount() -> dict[str, tuple[int, float]]:
    """The demo's Humanis week by team, recounted from the demo's own definitions: each
    pledge for its employee's team when it was made, each report (made today) for the
    employee's team today; a person once per team."""
    from chalicelib.local.demo import (
        DEMO_CHALLENGES,
        HUMANIS_KEYS,
        WEEK_STARTED,
        demo_reports,
        humanis_employee,
    )
    from chalicelib.local.demo_teams import HUMANIS_TEAMS, MOVED_AFTER, MOVER, humanis_employee_id

    first_team: dict[str, str] = {}
    number = 0
    for name, _, size in HUMANIS_TEAMS:
        for _ in range(size):
            first_team[humanis_employee_id(number)] = name
            number += 1
    mover = humanis_employee_id(MOVER)
    moved_at = WEEK_STARTED - MOVED_AFTER  # as an offset back from now

    def team(person: str, offset: Any) -> str:
        return "Lyon" if person == mover and offset < moved_at else first_team[person]

    members: dict[str, set[str]] = defaultdict(set)
    for demo in DEMO_CHALLENGES:
        if demo.key in HUMANIS_KEYS:
            for n in range(demo.pledges):
                offset = WEEK_STARTED * (1 - (n / max(demo.pledges, 1)) ** 0.6)
                person = humanis_employee(demo.key, n)
                members[team(person, offset)].add(person)
    quantity: dict[str, float] = defaultdict(float)
    for report in demo_reports():
        if report.challenge_key in HUMANIS_KEYS:
            person = humanis_employee(report.challenge_key, report.number)
            quantity[team(person, WEEK_STARTED * 0)] += report.quantity
    return {
        name: (len(members.get(name, ())), round(quantity.get(name, 0.0), 1))
        for name, _, _ in HUMANIS_TEAMS
    }


def test_the_demo_humanis_week_has_a_leaderboard(demo_stack: Stack) -> None:
    employee = demo_stack.employee_token("humanis-e2e-teams", "org_humanis")
    expected = _humanis_recount()

    def board() -> dict[str, Any] | None:
        answer = demo_stack.request(
            "GET", "/campaigns/cmp_humanis_mobility_week/leaderboard", token=employee
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        shown = {t["name"]: (t["participants"], round(t["quantity"], 1)) for t in result["teams"]}
        return result if shown == expected else None

    result = demo_stack.wait_until(board, 60, message=f"the Humanis leaderboard is {expected}")
    named = {t["name"]: t["members"] for t in result["teams"]}
    assert named["Siège (Paris)"], "a team of 5 or more shows its members' chosen names"
    assert named["Marseille"] is None, "a team under 5 shows no names"
    # Not for the public: the week is Humanis' employees' only.
    anonymous = demo_stack.request("GET", "/campaigns/cmp_humanis_mobility_week/leaderboard")
    assert_problem(anonymous, 404)
