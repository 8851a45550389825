"""Volunteering in a real browser against the real local stack: a participant offers hours
with their pledge and sees what is promised beside what is done; axe finds nothing serious.

The browser, contexts and helpers are tests/e2e/test_browser.py's. No time is asserted.
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


def test_a_volunteer_offers_hours_and_sees_them_promised_beside_what_is_done(
    page: Page, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:6]
    challenge = stack.create_challenge(
        title=f"Maraudes solidaires {tag}",
        action="I give hours to the evening rounds",
        target={"metric": "quantity", "value": 100, "unit": "h"},
    )
    sign_in(page, f"volunteer-{tag}")
    page.goto(f"/#/challenges/{challenge['id']}")
    page.get_by_test_id("pledge-offer").fill("3")
    page.get_by_test_id("pledge").click()
    expect(page.get_by_test_id("pledged")).to_be_visible()
    expect(page.get_by_test_id("promised")).to_contain_text("Promised: 3 h")
    expect(page.get_by_test_id("promised")).to_contain_text("done: 0 h")
    assert serious_violations(page) == []
    shoot(page, "volunteering-desktop.png")
