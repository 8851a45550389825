"""The web client in a real browser (Debian's chromium driven by Playwright) against the real
local stack: a newcomer pledges and sees the count and their area, the target is reached,
the admin reads the delivery log and sees a form error next to its field, a phone works, axe
finds nothing serious, and the first page stays within its size budget.

Screenshots of the run go to docs/screenshots/ (shown in the README). No time is asserted:
Playwright's `expect` waits for what the stream triggers update asynchronously.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Geolocation,
    Page,
    Playwright,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

from bench.report import WEB_FIRST_PAGE
from chalicelib.web_security import content_security_policy, pin_connections
from tests.e2e.conftest import REPO_ROOT, Stack

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
PARIS: Geolocation = {"latitude": 48.8566, "longitude": 2.3522}
FIRST_PAGE_BUDGET_BYTES = 250_000
WAIT_MS = 20_000  # for figures the stream triggers update (2 s in the contract)
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield launched
    launched.close()


def context(browser: Browser, stack: Stack, *, phone: bool = False) -> BrowserContext:
    made = browser.new_context(
        base_url=stack.base_url,
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        locale="en-GB",
        geolocation=PARIS,
        permissions=["geolocation"],
    )
    made.set_default_timeout(WAIT_MS)
    return made


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    made = context(browser, stack)
    yield made.new_page()
    made.close()


def sign_in(page: Page, name: str, role: str = "participant") -> None:
    page.goto("/#/signin")
    form = page.get_by_test_id("signin-form")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=role]").select_option(role)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(name)


def pledge_in_paris(stack: Stack, challenge_id: str, sub: str) -> None:
    location = {"lat": PARIS["latitude"], "lon": PARIS["longitude"]}
    response = stack.request(
        "POST",
        f"/challenges/{challenge_id}/pledges",
        token=stack.participant_token(sub),
        json={"location": location},
    )
    assert response.status_code == 201, response.text


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True, animations="disabled")


def serious_violations(page: Page) -> list[dict[str, Any]]:
    # Evaluated, not added as a <script>: the page's policy refuses inline scripts.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = page.evaluate("async () => (await axe.run()).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_a_newcomer_pledges_sees_the_count_rise_their_area_appear_and_the_target_reached(
    page: Page, stack: Stack
) -> None:
    challenge = stack.create_challenge(target={"metric": "participants", "value": 6})
    page.goto("/")
    page.get_by_test_id("signin-link").click()
    sign_in(page, f"newcomer-{uuid.uuid4().hex[:6]}")
    page.goto("/")
    page.get_by_test_id("challenge-card").filter(has_text=challenge["title"]).locator("a").click()
    expect(page.get_by_test_id("if-then")).to_be_visible()
    page.get_by_test_id("pledge-locate").click()
    expect(page.get_by_test_id("pledge-located")).to_be_visible()
    page.get_by_test_id("pledge").click()
    expect(page.get_by_test_id("pledged")).to_be_visible()
    expect(page.get_by_test_id("progress-count")).to_contain_text("1")
    # Fewer than 5 people in the cell: it is not drawn (the k=5 rule).
    expect(page.locator(".area-cell")).to_have_count(0)
    for number in range(4):
        pledge_in_paris(stack, challenge["id"], f"neighbour-{uuid.uuid4().hex[:6]}-{number}")
    expect(page.get_by_test_id("progress-count")).to_contain_text("5")
    expect(page.locator(".area-cell")).to_have_count(1)
    expect(page.get_by_test_id("reached")).to_have_count(0)
    pledge_in_paris(stack, challenge["id"], f"sixth-{uuid.uuid4().hex[:6]}")
    expect(page.get_by_test_id("reached")).to_be_visible()
    expect(page.get_by_test_id("progress-count")).to_contain_text("6")
    shoot(page, "challenge-desktop.png")


def test_the_admin_sees_one_email_each_to_the_sponsor_and_the_beneficiary(
    page: Page, stack: Stack
) -> None:
    challenge = stack.create_challenge(target={"metric": "participants", "value": 2})
    for number in range(2):
        pledge_in_paris(stack, challenge["id"], f"reacher-{uuid.uuid4().hex[:6]}-{number}")
    sign_in(page, "console-admin", "admin")
    page.goto(f"/#/admin/challenges/{challenge['id']}")
    rows = page.get_by_test_id("delivery-row")
    for role in ("sponsor", "beneficiary"):
        mail = rows.filter(has=page.get_by_test_id("delivery-role").filter(has_text=role))
        expect(mail.filter(has_text="email")).to_have_count(1)
    shoot(page, "admin-challenge-desktop.png")
    page.goto("/#/admin")
    expect(page.get_by_test_id("create-form")).to_be_visible()
    shoot(page, "admin-desktop.png")


def test_an_invalid_target_shows_the_apis_error_next_to_the_field(page: Page, stack: Stack) -> None:
    sign_in(page, "form-admin", "admin")
    page.goto("/#/admin")
    form = page.get_by_test_id("create-form")
    form.locator("[name=title]").fill("Too small a target")
    form.locator("[name=action]").fill("I cycle")
    form.locator("[name='target.value']").fill("0")
    form.locator("[name='sponsor.name']").fill("Ville")
    form.locator("[name='sponsor.email']").fill("sponsor@ville.example")
    form.locator("[name='beneficiary.name']").fill("Asso")
    form.locator("[name='beneficiary.email']").fill("asso@asso.example")
    form.locator("[name=reward]").fill("€1,000")
    page.get_by_test_id("create").click()
    error = page.get_by_test_id("error-target.value")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()


def test_the_challenge_page_works_on_a_phone(browser: Browser, stack: Stack) -> None:
    challenge = stack.create_challenge()
    phone = context(browser, stack, phone=True)
    try:
        page = phone.new_page()
        page.goto(f"/#/challenges/{challenge['id']}")
        expect(page.get_by_test_id("progress-bar")).to_be_visible()
        expect(page.get_by_test_id("map")).to_be_visible()
        page.get_by_test_id("pledge").scroll_into_view_if_needed()
        expect(page.get_by_test_id("pledge")).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways: {width} px wide"
        shoot(page, "challenge-phone.png")
    finally:
        phone.close()


def test_axe_finds_no_serious_or_critical_violation(page: Page, stack: Stack) -> None:
    challenge = stack.create_challenge()
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto("/")
    expect(page.get_by_test_id("challenge-card").first).to_be_visible()
    found["list"] = serious_violations(page)
    page.goto(f"/#/challenges/{challenge['id']}")
    expect(page.get_by_test_id("progress-bar")).to_be_visible()
    found["challenge"] = serious_violations(page)
    sign_in(page, "axe-admin", "admin")
    page.goto("/#/admin")
    expect(page.get_by_test_id("create-form")).to_be_visible()
    found["admin"] = serious_violations(page)
    assert found == {"list": [], "challenge": [], "admin": []}, json.dumps(found, indent=1)


def test_the_first_page_loads_within_its_size_budget(page: Page, stack: Stack) -> None:
    transferred: dict[str, int] = {}

    def count(request: Any) -> None:
        sizes = request.sizes()
        transferred[request.url] = sizes["responseBodySize"] + sizes["responseHeadersSize"]

    page.on("requestfinished", count)
    page.goto("/", wait_until="networkidle")
    total = sum(transferred.values())
    files = {url.removeprefix(stack.base_url): size for url, size in transferred.items()}
    print(f"first page: {total} bytes transferred over {len(files)} requests: {files}")
    assert any(path.endswith("leaflet.js") for path in files), files  # the map is counted
    assert total < FIRST_PAGE_BUDGET_BYTES, files
    # For docs/performance.md (bench/report.py renders it): the figure, as measured here.
    measured = {
        "measured": date.today().isoformat(),
        "total": total,
        "budget": FIRST_PAGE_BUDGET_BYTES,
        "files": files,
    }
    WEB_FIRST_PAGE.write_text(json.dumps(measured, indent=1, sort_keys=True) + "\n")


def test_the_pkce_challenge_is_the_base64url_sha_256_of_the_verifier(page: Page) -> None:
    page.goto("/")
    verifiers = ["a" * 43, "dBjftJeZ4CVP-mJ92K9qVbzMCjTQ8dxD-aQjgXJ8Zkk", "~._-" * 32]
    computed = page.evaluate(
        "async (vs) => { const m = await import('/web/auth.js');"
        " return Promise.all(vs.map((v) => m.challengeFor(v))); }",
        verifiers,
    )
    expected = [
        base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).decode().rstrip("=")
        for v in verifiers
    ]  # RFC 7636, 4.2: BASE64URL(SHA256(ASCII(code_verifier))), no padding
    assert computed == expected


def test_signing_in_through_the_hosted_ui_uses_the_code_flow_with_pkce(
    page: Page, stack: Stack
) -> None:
    # config.js as a deployed stage writes it, and a stand-in for Cognito's two endpoints.
    hosted = "https://auth.crowdact.example"
    redirect = f"{stack.base_url}/"
    config = {"apiBase": "", "tileUrl": None, "stage": "dev", "cognito": {
        "domain": hosted, "clientId": "client-1", "redirectUri": redirect}}  # fmt: skip
    seen: dict[str, str] = {}
    token = stack.participant_token("hosted-user", name="Hosted User")

    def config_js(route: Route) -> None:
        route.fulfill(
            content_type="text/javascript",
            body=f"window.CROWDACT_CONFIG = {json.dumps(config)};",
        )

    def cognito(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.path == "/oauth2/authorize":
            query = dict(parse_qsl(url.query))
            seen.update(query)
            back = f"{redirect}?{urlencode({'code': 'code-1', 'state': query['state']})}"
            # Back through a page, not a 302: Playwright routes no redirect's target, and
            # the page coming back must be the deployed one.
            script = f"<script>location.replace({json.dumps(back)})</script>"
            route.fulfill(status=200, content_type="text/html", body=script)
            return
        form = dict(parse_qsl(route.request.post_data or ""))
        digest = hashlib.sha256(form["code_verifier"].encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        ok = (
            form["grant_type"] == "authorization_code"
            and form["code"] == "code-1"
            and form["client_id"] == "client-1"
            and form["redirect_uri"] == redirect
            and challenge == seen["code_challenge"]
        )
        route.fulfill(
            status=200 if ok else 400,
            headers={"Access-Control-Allow-Origin": "*"},
            json={"id_token": token} if ok else {"error": "invalid_grant"},
        )

    page.route("**/web/config.js", config_js)
    page.route(f"{hosted}/**", cognito)
    serve_as_deployed(page, stack, header=[hosted], pinned=[hosted])
    page.goto("/#/signin")
    page.get_by_test_id("hosted-signin").click()
    expect(page.get_by_test_id("whoami")).to_contain_text("Hosted User")
    assert seen["code_challenge_method"] == "S256"
    assert seen["response_type"] == "code"
    assert seen["client_id"] == "client-1"
    assert "code=" not in page.url  # the code does not stay in the address bar
    stored = page.evaluate("() => sessionStorage.getItem('crowdact.token')")
    assert stored == token
    cookies = page.context.cookies()
    assert cookies == []  # no token in a cookie


def test_a_participant_downloads_then_erases_their_data_and_the_count_stays(
    page: Page, stack: Stack
) -> None:
    challenge = stack.create_challenge()
    sub = f"data-{uuid.uuid4().hex[:6]}"
    token = stack.participant_token(sub, email=f"{sub}@example.org", email_verified=True)
    pledged = stack.request(
        "POST", f"/challenges/{challenge['id']}/pledges", token=token, json={"display_name": "Léa"}
    )
    assert pledged.status_code == 201, pledged.text
    stack.wait_until(
        lambda: stack.challenge(challenge["id"])["progress"]["participants"] == 1,
        WAIT_MS / 1000,
        message="the pledge counted",
    )
    sign_in(page, sub)
    page.get_by_test_id("my-data-link").click()
    expect(page.get_by_test_id("export-summary")).to_contain_text("1 pledge")
    assert serious_violations(page) == []
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["subject"] == sub
    assert [p["email"] for p in exported["pledges"]] == [f"{sub}@example.org"]
    erase = page.get_by_test_id("erase")
    expect(erase).to_be_disabled()  # until the person says they understand
    page.get_by_label("cannot be undone").check()
    erase.click()
    expect(page.get_by_test_id("erased")).to_be_visible()
    expect(page.get_by_test_id("export-summary")).to_contain_text("0 pledge")
    shoot(page, "my-data-desktop.png")
    # The challenge's count is what it was: the pledge is kept, under a random id.
    assert stack.challenge(challenge["id"])["progress"]["participants"] == 1


def test_the_admin_reads_the_audit_trail(page: Page, stack: Stack) -> None:
    challenge = stack.create_challenge()  # an admin write: one entry
    sign_in(page, "audit-reader", "admin")
    page.get_by_test_id("audit-link").click()
    rows = page.get_by_test_id("audit-row")
    created = rows.filter(
        has=page.get_by_test_id("audit-action").filter(has_text="challenge.create")
    )
    mine = created.filter(has=page.get_by_test_id("audit-target").filter(has_text=challenge["id"]))
    expect(mine).to_have_count(1)
    assert serious_violations(page) == []
    shoot(page, "audit-desktop.png")


EXECUTE_API = "https://*.execute-api.eu-west-3.amazonaws.com"


def serve_as_deployed(
    page: Page, stack: Stack, *, header: list[str], pinned: list[str] | None
) -> None:
    """The first page as a deployed stage serves it: CloudFront's policy header naming
    `header`, and index.html pinned by the deployment to `pinned` (None: not pinned)."""
    index = (REPO_ROOT / "web" / "index.html").read_text(encoding="utf-8")
    body = index if pinned is None else pin_connections(index, pinned)
    policy = content_security_policy(connect=header)

    def first_page(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": policy},
            body=body,
        )

    site = urlsplit(stack.base_url).netloc
    page.route(lambda url: urlsplit(url)[1:3] == (site, "/"), first_page)  # with any query


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "header-only"])
def test_the_deployed_page_connects_to_its_own_api_only(
    page: Page, stack: Stack, pinned: bool
) -> None:
    """In AWS the header allows the region's execute-api hosts (infra/web.py says why); the
    deployment pins index.html to the stage's own API. The browser enforces both: another
    API in the region is refused before any request leaves the page. Without the pin it is
    not, which is what the pin is for."""
    ours = "https://abc123.execute-api.eu-west-3.amazonaws.com"
    other = "https://other456.execute-api.eu-west-3.amazonaws.com"
    reached: list[str] = []
    refused: list[str] = []

    def api(route: Route) -> None:
        reached.append(urlsplit(route.request.url).netloc)
        route.fulfill(status=200, headers={"Access-Control-Allow-Origin": "*"}, json=[])

    page.route(f"{EXECUTE_API}/**", api)
    serve_as_deployed(page, stack, header=[EXECUTE_API], pinned=[ours] if pinned else None)
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto("/")
    expect(page.get_by_test_id("lang")).to_be_visible()  # the client started under it
    statuses = page.evaluate(
        """async (urls) => Promise.all(urls.map(
            (url) => fetch(url).then((r) => r.status, () => "refused")))""",
        [f"{ours}/api/challenges", f"{other}/api/challenges"],
    )
    if pinned:
        assert statuses == [200, "refused"]
        assert reached == [urlsplit(ours).netloc]
        assert any("other456" in text for text in refused)
    else:
        assert statuses == [200, 200]
        assert sorted(reached) == sorted(urlsplit(u).netloc for u in (ours, other))
