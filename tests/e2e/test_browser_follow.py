"""Follow and updates in a real browser against the real local stack: an admin posts news from
the admin page, a participant follows the challenge and reads it there and in their feed, the
e-mail's unsubscribe link stops it, and axe finds nothing serious on any of these pages.

Shares test_browser.py's browser and page fixtures. No time is asserted: Playwright's
`expect` waits for what the stream triggers do asynchronously.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

from playwright.sync_api import Page, expect

from tests.e2e import test_browser as shared
from tests.e2e.conftest import Stack
from tests.e2e.test_browser import serious_violations, shoot

# test_browser.py's fixtures, by the names the tests ask for.
playwright = shared.playwright
browser = shared.browser
page = shared.page

UNSUBSCRIBE = re.compile(r"#/unsubscribe\?token=([A-Za-z0-9_.%-]+)")


def sign_in_with_email(
    page: Page, name: str, email: str | None = None, role: str = "participant"
) -> None:
    page.goto("/#/signin")
    form = page.get_by_test_id("signin-form")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=role]").select_option(role)
    if email is not None:
        form.locator("input[name=email]").fill(email)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(name)


def post_from_the_admin_page(page: Page, challenge_id: str, title: str) -> None:
    page.goto(f"/#/admin/challenges/{challenge_id}")
    form = page.get_by_test_id("update-form")
    form.locator("[name=title]").fill(title)
    form.locator("[name=body]").fill("Forty trees planted.\nThank you all!")
    form.locator("[name=locale]").select_option("en")
    page.get_by_test_id("post-update").click()
    expect(page.get_by_test_id("update-posted")).to_contain_text(title)


def test_a_follower_reads_the_news_in_the_page_and_feed_and_unsubscribes(
    page: Page, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:6]
    challenge = stack.create_challenge()
    challenge_id = challenge["id"]
    found: dict[str, object] = {}

    # The admin's form: an empty title is shown next to its field, then the news is posted.
    sign_in_with_email(page, f"news-admin-{tag}", role="admin")
    page.goto(f"/#/admin/challenges/{challenge_id}")
    form = page.get_by_test_id("update-form")
    form.locator("[name=body]").fill("No title")
    page.get_by_test_id("post-update").click()
    expect(page.get_by_test_id("error-title")).to_be_visible()
    found["admin"] = serious_violations(page)
    first = f"Trees {tag}"
    post_from_the_admin_page(page, challenge_id, first)

    # A participant follows from the challenge page and reads the news there.
    address = f"follower-{tag}@people.example"
    sign_in_with_email(page, f"follower-{tag}", address)
    page.goto(f"/#/challenges/{challenge_id}")
    follow = page.get_by_test_id("follow")
    expect(follow).to_have_attribute("aria-pressed", "false")
    follow.click()
    expect(page.get_by_test_id("follow-done")).to_be_visible()
    expect(follow).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("update").filter(has_text=first)).to_have_count(1)
    found["challenge"] = serious_violations(page)
    shoot(page, "follow-challenge-desktop.png")

    # News posted now is e-mailed to the follower, and is in their feed.
    second = f"Bikes {tag}"
    response = stack.request(
        "POST",
        f"/admin/challenges/{challenge_id}/updates",
        token=stack.admin_token(),
        json={"title": second, "body": "Twelve bikes repaired.", "locale": "en"},
    )
    assert response.status_code == 201, response.text
    page.get_by_test_id("my-feed-link").click()
    feed = page.get_by_test_id("feed")
    expect(feed.get_by_test_id("update").first).to_contain_text(second)
    expect(feed.get_by_test_id("update")).to_have_count(2)
    found["feed"] = serious_violations(page)
    shoot(page, "my-feed-desktop.png")

    def email_link() -> str | None:
        for email in stack.sent_emails():
            if address in email.to and second in email.subject:
                match = UNSUBSCRIBE.search(email.html or "")
                return unquote(match[1]) if match else None
        return None

    token = stack.wait_until(email_link, 30, message="the update e-mailed to the follower")
    # The link opens the web client's page, which asks before it unsubscribes.
    page.goto(f"/#/unsubscribe?token={token}")
    page.get_by_test_id("unsubscribe").click()
    expect(page.get_by_test_id("unsubscribed")).to_be_visible()
    found["unsubscribe"] = serious_violations(page)
    page.goto(f"/#/challenges/{challenge_id}")
    expect(page.get_by_test_id("follow")).to_have_attribute("aria-pressed", "false")
    assert found == {"admin": [], "challenge": [], "feed": [], "unsubscribe": []}, found


def test_older_news_comes_a_page_at_a_time(page: Page, stack: Stack) -> None:
    challenge_id = stack.create_challenge()["id"]
    for n in range(12):
        response = stack.request(
            "POST",
            f"/admin/challenges/{challenge_id}/updates",
            token=stack.admin_token(),
            json={"title": f"News {n:02d}", "body": "Text", "locale": "fr"},
        )
        assert response.status_code == 201, response.text
    page.goto(f"/#/challenges/{challenge_id}")
    news = page.get_by_test_id("update")
    expect(news).to_have_count(10)
    expect(news.first).to_contain_text("News 11")
    page.get_by_test_id("older-updates").click()
    expect(news).to_have_count(12)
    expect(news.last).to_contain_text("News 00")
    expect(page.get_by_test_id("older-updates")).to_have_count(0)
