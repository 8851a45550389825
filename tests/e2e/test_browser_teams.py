"""Teams and leaderboards in a real browser against the real local stack: an admin creates an
organisation's teams from the console (a missing name and a taken one shown as the API says);
someone outside the organisation is told its teams are not for them; one of its people joins a
team from the challenge page, pledges and reports, and the leaderboard ranks their team with
1 participant, names hidden, under a team of 5 whose names are shown; ranking by quantity
puts theirs first; the campaign's page ranks the same teams. axe finds nothing serious.

Shares test_browser.py's browser and page fixtures. No time is asserted: Playwright's
`expect` waits for what the pledges stream counts (and the leaderboard's few seconds of cache).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_browser as shared
from tests.e2e.conftest import Stack
from tests.e2e.test_browser import serious_violations, shoot, sign_in
from tests.e2e.test_browser_follow import sign_in_with_email

pytestmark = pytest.mark.e2e

# test_browser.py's fixtures, by the names the tests ask for.
playwright = shared.playwright
browser = shared.browser
page = shared.page

# The stream's lag plus the leaderboard's cache (5 s): more than other figures wait.
BOARD_WAIT_MS = 45_000


def create_organization(stack: Stack, tag: str) -> dict[str, Any]:
    body = {"name": f"Teamco {tag}", "kind": "company", "email_domains": [f"teamco-{tag}.example"]}
    response = stack.request("POST", "/admin/organizations", token=stack.admin_token(), json=body)
    assert response.status_code == 201, response.text
    organization: dict[str, Any] = response.json()
    return organization


def create_team(stack: Stack, organization_id: str, name: str) -> str:
    response = stack.request(
        "POST",
        f"/admin/organizations/{organization_id}/teams",
        token=stack.admin_token(),
        json={"name": name},
    )
    assert response.status_code == 201, response.text
    team_id: str = response.json()["id"]
    return team_id


def join_and_pledge(
    stack: Stack, challenge_id: str, organization_id: str, team_id: str, sub: str
) -> None:
    token = stack.employee_token(sub, organization_id)
    joined = stack.request(
        "PUT",
        f"/me/teams/{organization_id}",
        token=token,
        json={"team_id": team_id, "display_name": sub.split("-")[0].title()},
    )
    assert joined.status_code == 200, joined.text
    pledged = stack.request("POST", f"/challenges/{challenge_id}/pledges", token=token)
    assert pledged.status_code == 201, pledged.text


def test_an_admin_creates_an_organisations_teams_from_the_console(page: Page, stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    organization = create_organization(stack, tag)
    sign_in(page, f"teams-admin-{tag}", "admin")
    page.goto("/#/admin")
    page.get_by_test_id("organizations-link").click()
    page.get_by_role("link", name=organization["name"]).click()
    expect(page.get_by_test_id("org-teams-none")).to_be_visible()
    form = page.get_by_test_id("team-create-form")

    page.get_by_test_id("team-create").click()
    expect(page.get_by_test_id("error-name")).to_be_visible()
    expect(form.locator("[name=name]")).to_be_focused()

    form.locator("[name=name]").fill("Lyon office")
    form.locator("[name=description]").fill("Bâtiment B")
    page.get_by_test_id("team-create").click()
    expect(page.get_by_test_id("team-created")).to_contain_text("Lyon office")
    form.locator("[name=name]").fill("lyon OFFICE")
    page.get_by_test_id("team-create").click()
    taken = page.get_by_test_id("team-create-error")
    expect(taken).to_contain_text("lyon office", ignore_case=True)
    form.locator("[name=name]").fill("Paris office")
    page.get_by_test_id("team-create").click()
    expect(page.get_by_test_id("team-created")).to_contain_text("Paris office")
    teams = page.get_by_test_id("org-team")
    expect(teams).to_have_count(2)
    expect(teams.first).to_contain_text("Lyon office")
    assert serious_violations(page) == []
    shoot(page, "admin-teams-desktop.png")

    page.reload()  # what the API keeps, not only what the page added
    expect(page.get_by_test_id("org-team")).to_have_count(2)


def test_a_person_joins_a_team_pledges_and_sees_it_on_the_leaderboard(
    page: Page, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:6]
    organization = create_organization(stack, tag)
    org_id = organization["id"]
    campaign_id = stack.create_campaign(f"Teamco week {tag}", organization_id=org_id)
    cyclists = create_team(stack, org_id, f"Cyclists {tag}")
    walkers = create_team(stack, org_id, f"Walkers {tag}")
    challenge = stack.create_challenge(
        organization_id=org_id,
        campaign_id=campaign_id,
        target={"metric": "participants", "value": 50, "unit": "km"},
    )
    challenge_id = challenge["id"]
    names = ["anna", "bruno", "chloe", "david", "emma"]
    for name in names:
        join_and_pledge(stack, challenge_id, org_id, walkers, f"{name}-{tag}")
    walkers_row = page.locator(f'[data-testid="team-row"][data-team="{walkers}"]')
    cyclists_row = page.locator(f'[data-testid="team-row"][data-team="{cyclists}"]')

    # Someone outside the organisation sees the board, and is told its teams are not theirs.
    sign_in(page, f"outsider-{tag}")
    page.goto(f"/#/challenges/{challenge_id}")
    expect(page.get_by_test_id("team-row")).to_have_count(2)
    expect(page.get_by_test_id("team-forbidden")).to_be_visible()
    expect(page.get_by_test_id("team-form")).to_have_count(0)

    # One of its people: choosing no team is an error shown by its field, then they join.
    sign_in_with_email(page, f"lea-{tag}", f"lea-{tag}@teamco-{tag}.example")
    page.goto(f"/#/challenges/{challenge_id}")
    expect(page.get_by_test_id("my-team-current")).to_contain_text("none of")
    page.get_by_test_id("team-join").click()
    expect(page.get_by_test_id("team-error-team_id")).to_be_visible()
    page.get_by_label("Team", exact=True).select_option(label=f"Cyclists {tag}")
    page.get_by_label("Name shown").fill("Léa")
    page.get_by_test_id("team-join").click()
    expect(page.get_by_test_id("team-done")).to_contain_text(f"Cyclists {tag}")
    expect(page.get_by_test_id("my-team-current")).to_contain_text(f"Cyclists {tag}")
    expect(cyclists_row.get_by_test_id("team-mine")).to_be_visible()

    # They pledge and report: their team counts 1 participant once the stream has counted it.
    page.get_by_test_id("pledge").click()
    expect(page.get_by_test_id("pledged")).to_be_visible()
    page.locator("#report-quantity").fill("100")
    page.get_by_test_id("report").click()
    expect(page.get_by_test_id("pledged")).to_contain_text("100")
    participants = cyclists_row.get_by_test_id("team-participants")
    expect(participants).to_have_text("1 participant", timeout=BOARD_WAIT_MS)
    expect(cyclists_row.get_by_test_id("team-names-hidden")).to_contain_text("under 5 people")
    expect(walkers_row.get_by_test_id("team-participants")).to_have_text("5 participants")
    members = walkers_row.get_by_test_id("team-members")
    expect(members).to_contain_text("Anna")
    expect(walkers_row.get_by_test_id("team-names-hidden")).to_have_count(0)
    first = page.get_by_test_id("team-row").first
    expect(first).to_have_attribute("data-team", walkers)

    # Ranked by quantity: the 100 km put the person's team first.
    page.get_by_test_id("rank-by-quantity").check()
    expect(page.get_by_test_id("leaderboard")).to_have_attribute("data-by", "quantity")
    expect(first).to_have_attribute("data-team", cyclists, timeout=BOARD_WAIT_MS)
    expect(cyclists_row.get_by_test_id("team-quantity")).to_have_text("100 km")
    expect(first.get_by_test_id("team-rank")).to_have_text("#1")
    assert serious_violations(page) == []
    page.get_by_test_id("teams").screenshot(path=str(shared.SCREENSHOTS / "teams-desktop.png"))

    # The campaign's page ranks the same teams over its challenges.
    page.get_by_test_id("campaign").get_by_role("link").click()
    expect(page.get_by_test_id("campaign-challenge")).to_have_count(1)
    expect(cyclists_row.get_by_test_id("team-participants")).to_have_text(
        "1 participant", timeout=BOARD_WAIT_MS
    )
    expect(cyclists_row.get_by_test_id("team-mine")).to_be_visible()
    assert serious_violations(page) == []

    # Leaving: the control says so, and the team's count made before stays.
    page.get_by_test_id("team-leave").click()
    expect(page.get_by_test_id("my-team-current")).to_contain_text("none of")
    expect(cyclists_row.get_by_test_id("team-mine")).to_have_count(0)
    expect(cyclists_row.get_by_test_id("team-participants")).to_have_text("1 participant")


def test_a_challenge_whose_organisation_has_no_teams_shows_no_teams_section(
    page: Page, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:6]
    organization = create_organization(stack, tag)
    challenge = stack.create_challenge(organization_id=organization["id"])
    with page.expect_response(lambda r: "/leaderboard" in r.url) as answered:
        page.goto(f"/#/challenges/{challenge['id']}")
    assert answered.value.json()["teams"] == []
    expect(page.get_by_test_id("progress-bar")).to_be_visible()
    expect(page.get_by_test_id("teams")).to_have_count(0)
