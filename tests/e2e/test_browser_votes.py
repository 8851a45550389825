"""The beneficiary vote in a real browser against the real local stack: a participant pledges,
votes, changes their vote, and sees the vote close on the winner when the target is reached;
a visitor who has not pledged is told to pledge first. axe finds nothing serious.

The browser, contexts and helpers are tests/e2e/test_browser.py's. No time is asserted:
Playwright's `expect` waits for what the stream triggers update asynchronously.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_browser
from tests.e2e.conftest import Stack
from tests.e2e.test_browser import serious_violations, shoot, sign_in

pytestmark = pytest.mark.e2e

playwright = test_browser.playwright
browser = test_browser.browser
page = test_browser.page


def voting_challenge(stack: Stack, tag: str) -> dict[str, str]:
    return stack.create_challenge(
        title=f"Vélotaf à Lyon {tag}",
        target={"metric": "participants", "value": 3},
        beneficiary=None,
        beneficiary_choice={
            "candidates": [
                {"id": "solicycle", "name": "Solicycle", "email": f"s-{tag}@asso.example",
                 "description": "Ateliers de réparation de vélos", "url": "https://solicycle.example"},
                {"id": "emmaus", "name": "Emmaüs Connect", "email": f"e-{tag}@asso.example",
                 "description": "Le numérique pour tous"},
                {"id": "rejoue", "name": "Rejoué", "email": f"r-{tag}@asso.example",
                 "description": "Des jouets réemployés"},
            ]
        },
    )  # fmt: skip


def test_a_participant_votes_changes_their_vote_and_sees_the_winner(
    page: Page, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:6]
    challenge = voting_challenge(stack, tag)
    sign_in(page, f"voter-{tag}")
    page.goto(f"/#/challenges/{challenge['id']}")
    expect(page.get_by_test_id("candidate")).to_have_count(3)
    expect(page.get_by_test_id("vote-pledge-first")).to_be_visible()
    expect(page.get_by_test_id("vote-for")).to_have_count(0)

    page.get_by_test_id("pledge").click()
    expect(page.get_by_test_id("pledged")).to_be_visible()
    rejoue = page.locator('[data-testid="candidate"][data-candidate="rejoue"]')
    emmaus = page.locator('[data-testid="candidate"][data-candidate="emmaus"]')
    rejoue.get_by_test_id("vote-for").click()
    expect(page.get_by_test_id("vote-saved")).to_contain_text("Rejoué")
    expect(rejoue.get_by_test_id("my-vote")).to_be_visible()
    expect(rejoue.get_by_test_id("candidate-votes")).to_contain_text("1 vote")
    emmaus.get_by_test_id("vote-for").click()
    expect(emmaus.get_by_test_id("my-vote")).to_be_visible()
    expect(rejoue.get_by_test_id("my-vote")).to_have_count(0)
    expect(emmaus.get_by_test_id("candidate-votes")).to_contain_text("1 vote")
    expect(rejoue.get_by_test_id("candidate-votes")).to_contain_text("0 votes")
    assert serious_violations(page) == []
    shoot(page, "vote-desktop.png")

    # Two more pledge and vote: the target is reached, the vote closes on the winner.
    for n, choice in enumerate(("emmaus", "rejoue")):
        token = stack.participant_token(f"voter-{tag}-{n}")
        assert stack.request("POST", f"/challenges/{challenge['id']}/pledges", token=token).ok
        voted = stack.request(
            "PUT", f"/challenges/{challenge['id']}/vote", token=token, json={"candidate_id": choice}
        )
        assert voted.status_code == 200, voted.text
    expect(page.get_by_test_id("vote-status")).to_contain_text(
        "The participants chose: Emmaüs Connect"
    )
    expect(emmaus.get_by_test_id("vote-winner")).to_be_visible()
    expect(page.get_by_test_id("vote-for")).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("beneficiary")).to_have_text("Emmaüs Connect")


def test_an_admin_creates_a_vote_from_the_console_and_sees_a_bad_candidate_flagged(
    page: Page, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:6]
    sign_in(page, f"vote-admin-{tag}", "admin")
    page.goto("/#/admin")
    form = page.get_by_test_id("create-form")
    form.locator("[name=title]").fill(f"Choose your association {tag}")
    form.locator("[name=action]").fill("I sort my waste")
    form.locator("[name='target.value']").fill("50")
    form.locator("[name='sponsor.name']").fill("Ville")
    form.locator("[name='sponsor.email']").fill("sponsor@ville.example")
    form.locator("[name=beneficiary_choice]").fill(
        "La Recyclerie | contact@recyclerie.example | Repair and reuse\nEmmaüs | not-an-address"
    )
    form.locator("[name=reward]").fill("€2,000 to the association you choose")
    form.locator("[name=publish]").check()
    page.get_by_test_id("create").click()
    error = page.get_by_test_id("error-beneficiary_choice")
    expect(error).to_be_visible()
    expect(error).to_contain_text("email")
    form.locator("[name=beneficiary_choice]").fill(
        "La Recyclerie | contact@recyclerie.example | Repair and reuse\n"
        "Emmaüs | contact@emmaus.example"
    )
    page.get_by_test_id("create").click()
    created_link = page.get_by_role("status").get_by_role(
        "link", name=f"Choose your association {tag}"
    )
    created = (created_link.get_attribute("href") or "").rsplit("/", 1)[-1]
    page.goto(f"/#/challenges/{created}")
    expect(page.get_by_test_id("candidate")).to_have_count(2)
    expect(page.locator('[data-candidate="emmaus"]')).to_contain_text("Emmaüs")
