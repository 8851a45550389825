"""Meetups in a real browser against the real local stack: an admin creates one from the
admin page, a first participant takes its only place, a second waits (position 1) and gets
the place when the first cancels; the calendar link is there; axe finds nothing serious.

Shares test_browser.py's browser and page fixtures. No time is asserted: Playwright's
`expect` waits.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from playwright.sync_api import Page, expect

from tests.e2e import test_browser as shared
from tests.e2e.conftest import Stack
from tests.e2e.test_browser import serious_violations, shoot
from tests.e2e.test_browser_follow import sign_in_with_email

# test_browser.py's fixtures, by the names the tests ask for.
playwright = shared.playwright
browser = shared.browser
page = shared.page


def test_a_meetup_with_one_place_a_waitlist_and_a_promotion(page: Page, stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    challenge_id = stack.create_challenge()["id"]
    found: dict[str, object] = {}
    title = f"Repair café {tag}"

    # The admin's form: a missing place is shown next to its field, then the meetup is made.
    sign_in_with_email(page, f"meetup-admin-{tag}", role="admin")
    page.goto(f"/#/admin/challenges/{challenge_id}")
    form = page.get_by_test_id("meetup-form")
    form.locator("[name=title]").fill(title)
    starts = (datetime.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    form.locator("[name=starts_at]").fill(starts)
    form.locator("[name=capacity]").fill("1")
    page.get_by_test_id("create-meetup").click()
    expect(page.get_by_test_id("error-place")).to_be_visible()
    found["admin"] = serious_violations(page)
    form.locator("[name=place]").fill("12 rue des Lilas, Lyon")
    page.get_by_test_id("create-meetup").click()
    expect(page.get_by_test_id("meetup-created")).to_contain_text(title)

    # A first participant takes the place.
    sign_in_with_email(page, f"first-{tag}", f"first-{tag}@people.example")
    page.goto(f"/#/challenges/{challenge_id}")
    meetup = page.get_by_test_id("meetup").filter(has_text=title)
    expect(meetup.get_by_test_id("meetup-signup")).to_be_enabled()
    meetup.get_by_test_id("meetup-signup").click()
    expect(meetup.get_by_test_id("meetup-status")).to_have_attribute("data-status", "confirmed")
    expect(meetup.get_by_test_id("meetup-cancel")).to_be_visible()

    # A second one waits, first in the queue.
    sign_in_with_email(page, f"second-{tag}", f"second-{tag}@people.example")
    page.goto(f"/#/challenges/{challenge_id}")
    meetup = page.get_by_test_id("meetup").filter(has_text=title)
    meetup.get_by_test_id("meetup-signup").click()
    status = meetup.get_by_test_id("meetup-status")
    expect(status).to_have_attribute("data-status", "waitlisted")
    expect(status).to_contain_text("(position 1)")
    expect(meetup.get_by_test_id("meetup-counts")).to_contain_text("1 / 1")
    href = meetup.get_by_test_id("meetup-ics").get_attribute("href") or ""
    assert href.endswith("/calendar.ics"), href
    found["challenge"] = serious_violations(page)
    shoot(page, "meetup-waitlist-desktop.png")

    # The first cancels: the second has the place.
    sign_in_with_email(page, f"first-{tag}", f"first-{tag}@people.example")
    page.goto(f"/#/challenges/{challenge_id}")
    meetup = page.get_by_test_id("meetup").filter(has_text=title)
    meetup.get_by_test_id("meetup-cancel").click()
    expect(meetup.get_by_test_id("meetup-signup")).to_be_visible()
    sign_in_with_email(page, f"second-{tag}", f"second-{tag}@people.example")
    page.goto(f"/#/challenges/{challenge_id}")
    meetup = page.get_by_test_id("meetup").filter(has_text=title)
    expect(meetup.get_by_test_id("meetup-status")).to_have_attribute("data-status", "confirmed")
    expect(meetup.get_by_test_id("meetup-cancel")).to_be_visible()
    assert found == {"admin": [], "challenge": []}, found


def test_a_proposals_page_lists_its_meetup_with_the_same_sign_up(page: Page, stack: Stack) -> None:
    """A proposal's page (where its e-mails link) shows its meetups with the challenge page's
    component: a participant takes the only place, a second one waits."""
    tag = uuid.uuid4().hex[:6]
    admin = stack.admin_token()
    proposer = stack.participant_token(f"proposer-{tag}")
    body = {
        "title": f"Repair café {tag}",
        "action": "I bring one broken thing a month",
        "suggested_target": {"metric": "participants", "value": 50},
        "postal_code": "92110",
    }
    made = stack.request("POST", "/proposals", token=proposer, json=body)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    approved = stack.request("POST", f"/admin/proposals/{pid}/approve", token=admin, json={})
    assert approved.status_code == 200, approved.text
    title = f"First evening {tag}"
    starts = (datetime.now() + timedelta(days=3)).astimezone().isoformat()
    meetup_body = {"title": title, "starts_at": starts, "place": "Bibliothèque", "capacity": 1}
    created = stack.request("POST", f"/admin/proposals/{pid}/events", token=admin, json=meetup_body)
    assert created.status_code == 201, created.text

    page.goto(f"/#/proposals/{pid}")  # signed out: the meetup, and a way to sign in
    meetup = page.get_by_test_id("meetup").filter(has_text=title)
    expect(meetup).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Repair café {tag}")

    sign_in_with_email(page, f"pfirst-{tag}", f"pfirst-{tag}@people.example")
    page.goto(f"/#/proposals/{pid}")
    meetup = page.get_by_test_id("meetup").filter(has_text=title)
    expect(meetup.get_by_test_id("meetup-signup")).to_be_enabled()
    meetup.get_by_test_id("meetup-signup").click()
    expect(meetup.get_by_test_id("meetup-status")).to_have_attribute("data-status", "confirmed")

    sign_in_with_email(page, f"psecond-{tag}", f"psecond-{tag}@people.example")
    page.goto(f"/#/proposals/{pid}")
    meetup = page.get_by_test_id("meetup").filter(has_text=title)
    meetup.get_by_test_id("meetup-signup").click()
    status = meetup.get_by_test_id("meetup-status")
    expect(status).to_have_attribute("data-status", "waitlisted")
    expect(status).to_contain_text("(position 1)")
    href = meetup.get_by_test_id("meetup-ics").get_attribute("href") or ""
    assert href.endswith("/calendar.ics"), href
    assert serious_violations(page) == []
