"""Citizen proposals in a real browser against the real local stack: a participant proposes
one, an admin approves it, the participant supports it and withdraws, the admin adopts it
as a draft challenge; a refused form shows its errors by field. axe finds nothing serious.

The browser, contexts and helpers are tests/e2e/test_browser.py's. No time is asserted:
Playwright's `expect` waits for what the page updates.
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


def test_propose_approve_support_and_adopt(page: Page, stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    title = f"Repair café {tag}"
    sign_in(page, f"ada-{tag}")
    page.goto("/#/proposals")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    form = page.get_by_test_id("propose-form")
    form.get_by_test_id("propose").click()  # empty: refused, field by field
    expect(page.locator("#err-title")).to_be_visible()
    expect(page.locator("#proposal-title")).to_have_attribute("aria-invalid", "true")
    assert serious_violations(page) == []
    page.locator("#proposal-title").fill(title)
    page.locator("#proposal-action").fill("I bring one broken thing a month")
    page.locator("#proposal-target").fill("100")
    page.locator("#proposal-postal").fill("92110")
    form.get_by_test_id("propose").click()
    expect(page.get_by_test_id("proposed")).to_contain_text(title)
    mine = page.locator('[data-testid="proposal-card"]', has_text=title)
    expect(mine).to_have_count(0)  # pending: not listed yet

    sign_in(page, f"admin-{tag}", role="admin")
    page.goto("/#/admin/proposals")
    card = page.locator('[data-testid="admin-proposal"]', has_text=title)
    expect(card).to_be_visible()
    assert serious_violations(page) == []
    shoot(page, "admin-proposals-desktop.png")
    card.get_by_test_id("approve").click()
    expect(card.get_by_test_id("adopt-form")).to_be_visible()

    sign_in(page, f"bob-{tag}")
    page.goto("/#/proposals")
    listed = page.locator('[data-testid="proposal-card"]', has_text=title)
    expect(listed).to_be_visible()
    listed.get_by_test_id("support").click()
    expect(listed.get_by_test_id("proposal-supports")).to_contain_text("1 supporter")
    expect(listed.get_by_test_id("support")).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(listed.get_by_test_id("support")).to_have_attribute("aria-pressed", "true")
    assert serious_violations(page) == []
    shoot(page, "proposals-desktop.png")
    listed.get_by_test_id("support").click()
    expect(listed.get_by_test_id("proposal-supports")).to_contain_text("0 supporters")

    sign_in(page, f"admin-{tag}", role="admin")
    page.goto("/#/admin/proposals")
    card = page.locator('[data-testid="admin-proposal"]', has_text=title)
    adopt = card.get_by_test_id("adopt-form")
    adopt.locator('input[name="sponsor.name"]').fill("Ville de Clichy")
    adopt.locator('input[name="sponsor.email"]').fill(f"sponsor-{tag}@clichy.example")
    adopt.locator('input[name="beneficiary.name"]').fill("Repair café")
    adopt.locator('input[name="beneficiary.email"]').fill(f"hello-{tag}@repair.example")
    adopt.locator('input[name="reward"]').fill("a workshop room")
    adopt.get_by_test_id("adopt").click()
    expect(card.get_by_test_id("adopted")).to_be_visible()
    card.get_by_test_id("adopted").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
