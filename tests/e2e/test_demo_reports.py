"""`make run`'s demo: Humanis' and GRDF's org-admins get their week's report at once, in
JSON, CSV and PDF, with the tokens the banner prints; neither sees the other's."""

from __future__ import annotations

import io
import re
import zipfile

import pypdfium2 as pdfium
import pytest

from chalicelib.local.demo import (
    DEMO_CHALLENGES,
    GRDF_CAMPAIGN,
    GRDF_KEYS,
    GRDF_WITHDRAWN,
    HUMANIS_CAMPAIGN,
    HUMANIS_KEYS,
    demo_participant,
)
from tests.e2e.conftest import Stack, assert_problem

pytestmark = pytest.mark.e2e

BANNER_TOKEN = re.compile(r"(Humanis|GRDF) org-admin:\s+(\S+)")


def _banner_tokens(stack: Stack) -> dict[str, str]:
    return dict(BANNER_TOKEN.findall(stack.process.output()))


def _report(stack: Stack, token: str, path: str, accept: str = "*/*") -> bytes:
    response = stack.request("GET", path, token=token, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    return response.content


def test_the_banner_prints_an_org_admin_token_for_humanis_and_grdf(demo_stack: Stack) -> None:
    tokens = _banner_tokens(demo_stack)
    assert set(tokens) == {"Humanis", "GRDF"}


def test_humanis_week_report_is_ready_in_every_format(demo_stack: Stack) -> None:
    token = _banner_tokens(demo_stack)["Humanis"]
    path = f"/admin/campaigns/{HUMANIS_CAMPAIGN}/report"
    demos = [demo for demo in DEMO_CHALLENGES if demo.key in HUMANIS_KEYS]
    people = {demo_participant(d.key, n).sub for d in demos for n in range(d.pledges)}
    report = demo_stack.request("GET", path, token=token).json()
    assert report["participants"] == len(people)
    assert report["pledges"] == sum(d.pledges for d in demos)
    assert len(report["challenges"]) == len(HUMANIS_KEYS)
    assert report["quantity"]["km"] > 0
    # The week started four days ago: its pledges are spread over its days.
    assert len(report["days"]) >= 4
    assert report["days"][-1]["cumulative"] == report["pledges"]
    archive = zipfile.ZipFile(io.BytesIO(_report(demo_stack, token, f"{path}?format=csv")))
    assert "challenges.csv" in archive.namelist()
    pdf = _report(demo_stack, token, path, accept="application/pdf")
    text = "".join(p.get_textpage().get_text_range() for p in pdfium.PdfDocument(pdf))
    assert "Humanis sustainable mobility week" in text
    assert "Bilan" in text  # Humanis writes in French


def test_grdf_week_report_shows_its_withdrawals_in_english(demo_stack: Stack) -> None:
    token = _banner_tokens(demo_stack)["GRDF"]
    path = f"/admin/campaigns/{GRDF_CAMPAIGN}/report"
    demos = [demo for demo in DEMO_CHALLENGES if demo.key in GRDF_KEYS]
    report = demo_stack.request("GET", path, token=token).json()
    assert report["withdrawals"] == GRDF_WITHDRAWN * len(GRDF_KEYS)
    assert report["pledges"] == sum(d.pledges for d in demos) + report["withdrawals"]
    assert report["locale"] == "en"
    pdf = _report(demo_stack, token, f"{path}?format=pdf")
    text = "".join(p.get_textpage().get_text_range() for p in pdfium.PdfDocument(pdf))
    assert "GRDF sustainable-development week" in text


def test_neither_org_admin_sees_the_others_week(demo_stack: Stack) -> None:
    tokens = _banner_tokens(demo_stack)
    for campaign, outsider in ((HUMANIS_CAMPAIGN, "GRDF"), (GRDF_CAMPAIGN, "Humanis")):
        for suffix in ("", "/report"):
            response = demo_stack.request(
                "GET", f"/admin/campaigns/{campaign}{suffix}", token=tokens[outsider]
            )
            assert_problem(response, 404)
    # Nor the other's challenges, in its list or one by one.
    humanis = demo_stack.request("GET", "/admin/challenges?limit=100", token=tokens["Humanis"])
    titles = {item["title"] for item in humanis.json()["items"]}
    assert titles
    assert all(title.startswith("Humanis") for title in titles)
    grdf_ids = [
        item["id"]
        for item in demo_stack.request(
            "GET", "/admin/challenges?limit=100", token=tokens["GRDF"]
        ).json()["items"]
    ]
    assert len(grdf_ids) == len(GRDF_KEYS)
    for challenge_id in grdf_ids:
        response = demo_stack.request(
            "GET", f"/admin/challenges/{challenge_id}/report", token=tokens["Humanis"]
        )
        assert_problem(response, 404)


def test_the_humanis_space_is_for_its_employees(demo_stack: Stack) -> None:
    outsider = demo_stack.request("GET", "/organizations/humanis").json()
    assert outsider["challenges"] == []
    assert outsider["campaigns"] == []
    assert_problem(demo_stack.request("GET", f"/campaigns/{HUMANIS_CAMPAIGN}"), 404)
    employee = demo_stack.employee_token("e2e-sam", "org_humanis")
    inside = demo_stack.request("GET", "/organizations/humanis", token=employee).json()
    assert len(inside["challenges"]) == len(HUMANIS_KEYS)
    assert [c["id"] for c in inside["campaigns"]] == [HUMANIS_CAMPAIGN]
