"""Where the money went, in a real browser against the real local stack: an admin records a
payout through the form (the API's field errors shown next to their fields first), and the
public challenge page shows the trail with its totals. axe finds nothing serious on either.

The browser, contexts and helpers are tests/e2e/test_browser.py's. No time is asserted:
Playwright's `expect` waits for what the stream triggers update asynchronously.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_browser
from tests.e2e.conftest import Stack
from tests.e2e.test_browser import pledge_in_paris, serious_violations, shoot, sign_in

pytestmark = pytest.mark.e2e

# test_browser's fixtures, by name: its browser (one per module) and a fresh page per test.
playwright = test_browser.playwright
browser = test_browser.browser
page = test_browser.page


def reached_challenge(stack: Stack) -> dict[str, str]:
    tag = uuid.uuid4().hex[:6]
    challenge = stack.create_challenge(
        target={"metric": "participants", "value": 1},
        beneficiary={"name": "Solicycle", "email": f"contact-{tag}@solicycle.example"},
    )
    pledge_in_paris(stack, challenge["id"], f"payer-{tag}")
    return challenge


def test_an_admin_records_a_payout_and_the_public_page_shows_where_the_money_went(
    page: Page, stack: Stack
) -> None:
    challenge = reached_challenge(stack)
    sign_in(page, "payout-admin", "admin")
    page.goto(f"/#/admin/challenges/{challenge['id']}")
    form = page.get_by_test_id("payout-form")  # shown once the challenge is reached
    expect(form).to_be_visible()

    # The API refuses a negative amount and an unknown currency: each error by its field.
    form.locator("[name=amount]").fill("-5")
    form.locator("[name=currency]").fill("ABC")
    page.get_by_test_id("record-payout").click()
    for name in ("amount", "currency"):
        error = page.get_by_test_id(f"payout-error-{name}")
        expect(error).to_be_visible()
        expect(error).not_to_be_empty()
        expect(form.locator(f"[name={name}]")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("payouts-none")).to_be_visible()
    assert serious_violations(page) == []
    shoot(page, "admin-payout-desktop.png")

    form.locator("[name=amount]").fill("5000.00")
    form.locator("[name=currency]").fill("EUR")
    form.locator("[name=proof_url]").fill("https://solicycle.example/receipts/2026-12")
    form.locator("[name=note]").fill("Bike repair lessons, first term")
    page.get_by_test_id("record-payout").click()
    expect(page.get_by_test_id("payout-recorded")).to_be_visible()
    expect(page.get_by_test_id("payout-error-amount")).to_have_count(0)
    expect(page.get_by_test_id("payout")).to_have_count(1)

    page.goto(f"/#/challenges/{challenge['id']}")
    trail = page.get_by_test_id("payouts")
    expect(trail).to_be_visible()
    payout = trail.get_by_test_id("payout")
    expect(payout).to_have_count(1)
    expect(payout.get_by_test_id("payout-amount")).to_have_text("€5,000.00")  # en-GB
    expect(payout).to_contain_text("Solicycle")
    expect(payout.get_by_test_id("payout-note")).to_have_text("Bike repair lessons, first term")
    expect(payout.get_by_test_id("payout-proof")).to_have_attribute(
        "href", "https://solicycle.example/receipts/2026-12"
    )
    expect(trail.get_by_test_id("payout-totals")).to_contain_text("€5,000.00")
    # News posted after the payout is part of the trail: what the money is doing.
    posted = stack.request(
        "POST",
        f"/admin/challenges/{challenge['id']}/updates",
        token=stack.admin_token(),
        json={"title": "500 pupils trained", "body": "The first term is over.", "locale": "en"},
    )
    assert posted.status_code == 201, posted.text
    page.reload()
    expect(trail.get_by_test_id("trail-update")).to_contain_text("500 pupils trained")
    assert serious_violations(page) == []
    trail.scroll_into_view_if_needed()
    shoot(page, "payouts-desktop.png")


def test_before_the_target_is_reached_there_is_no_trail_and_no_form(
    page: Page, stack: Stack
) -> None:
    challenge = stack.create_challenge()
    page.goto(f"/#/challenges/{challenge['id']}")
    expect(page.get_by_test_id("progress-bar")).to_be_visible()
    expect(page.get_by_test_id("payouts")).to_have_count(0)
    sign_in(page, "payout-admin", "admin")
    page.goto(f"/#/admin/challenges/{challenge['id']}")
    expect(page.get_by_test_id("publish")).to_be_visible()
    expect(page.get_by_test_id("payout-form")).to_have_count(0)
