"""The sponsor's report over HTTP: figures from the stream triggers, in JSON, CSV and PDF."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import pypdfium2 as pdfium
import pytest

from chalicelib.domain.model import OrganizationKind, OrganizationProfile
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.services.organizations import OrganizationDraft
from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_public_api import assert_problem

ORG = "org_humanis"
HUMANIS_ADMIN = bearer("csr", groups=("org-admin",), org_id=ORG)
PDF = {**ADMIN, "Accept": "application/pdf"}


def _report(api: Api, path: str, headers: dict[str, str] | None = None) -> Any:
    response = api.request("GET", path, None, headers or ADMIN)
    assert response.status_code == 200, response.body
    return response


def _seed(api: Api) -> tuple[str, str, str]:
    """Humanis, its week with two challenges, pledges (with areas) and a withdrawal."""
    api.container.organizations.create(
        OrganizationDraft(
            "Humanis",
            OrganizationKind.COMPANY,
            id=ORG,
            profile=OrganizationProfile(
                display_name="Humanis Groupe", primary_color="#0b5394", default_locale="en"
            ),
        )
    )
    week = api.container.campaigns.create(CampaignDraft("Mobility week", organization_id=ORG))
    cycling = api.create(
        title="Cycling",
        organization_id=ORG,
        campaign_id=week.id,
        target={"metric": "participants", "value": 5},
    )
    walking = api.create(title="Walking", organization_id=ORG, campaign_id=week.id)
    for n in range(6):
        body = {"location": {"lat": 48.9045, "lon": 2.3057}}
        assert api.pledge(cycling["id"], f"p-{n}", body).status_code == 201
    assert api.pledge(walking["id"], "p-0").status_code == 201  # p-0 is on both
    assert api.pledge(walking["id"], "p-9").status_code == 201
    withdrawn = api.request(
        "DELETE", f"/challenges/{walking['id']}/pledges/me", None, bearer("p-9")
    )
    assert withdrawn.status_code == 204, withdrawn.body
    api.drain()
    return week.id, cycling["id"], walking["id"]


def test_a_challenge_report_in_json_has_the_streamed_figures(api: Api) -> None:
    _, cycling, walking = _seed(api)
    report = json.loads(_report(api, f"/admin/challenges/{cycling}/report").body)
    assert report["subject"] == "challenge"
    assert (report["participants"], report["pledges"], report["withdrawals"]) == (6, 6, 0)
    assert report["reached_at"] is not None  # 6 of 5
    assert [a["participants"] for a in report["areas"]] == [6]
    assert report["hidden_participants"] == 0
    assert sum(day["new_pledges"] for day in report["days"]) == 6
    assert report["days"][-1]["cumulative"] == 6
    assert report["branding"] == {
        "name": "Humanis Groupe",
        "primary_color": "#0b5394",
        "logo_url": None,
    }
    assert report["locale"] == "en"
    assert report["time_zone"] == "Europe/Paris"
    sent = {(n["recipient_role"], n["channel"]): n["sent"] for n in report["notifications"]}
    assert sent[("sponsor", "email")] == 1
    assert sent[("beneficiary", "email")] == 1
    walked = json.loads(_report(api, f"/admin/challenges/{walking}/report").body)
    assert (walked["participants"], walked["pledges"], walked["withdrawals"]) == (1, 2, 1)
    assert walked["days"][-1]["cumulative"] == 1


def test_a_campaign_report_counts_people_once_and_has_a_row_per_challenge(api: Api) -> None:
    week, _, _ = _seed(api)
    report = json.loads(_report(api, f"/admin/campaigns/{week}/report").body)
    assert report["subject"] == "campaign"
    assert report["participants"] == 6  # p-0 pledged on both challenges
    assert (report["pledges"], report["withdrawals"]) == (8, 1)
    assert {row["title"]: row["participants"] for row in report["challenges"]} == {
        "Cycling": 6,
        "Walking": 1,
    }
    # Walking's single area has 1 participant: hidden on its own, so hidden in the sum too.
    assert [a["participants"] for a in report["areas"]] == [6]


def test_the_csv_is_a_zip_of_one_csv_per_table(api: Api) -> None:
    week, _, _ = _seed(api)
    response = _report(
        api, f"/admin/campaigns/{week}/report?format=csv", {**ADMIN, "Accept": "*/*"}
    )
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.body))
    assert set(archive.namelist()) >= {"summary.csv", "days.csv", "areas.csv", "challenges.csv"}
    rows = list(csv.DictReader(io.StringIO(archive.read("challenges.csv").decode("utf-8-sig"))))
    assert {row["title"] for row in rows} == {"Cycling", "Walking"}
    # Accept alone chooses it too; text/csv is no representation of the whole report.
    zipped = {**ADMIN, "Accept": "application/zip"}
    by_accept = _report(api, f"/admin/campaigns/{week}/report", zipped)
    assert by_accept.headers["Content-Type"] == "application/zip"
    refused = api.request(
        "GET", f"/admin/campaigns/{week}/report", None, {**ADMIN, "Accept": "text/csv"}
    )
    assert "application/zip" in str(assert_problem(refused, 406)["detail"])


def test_the_pdf_is_a_branded_bilan_with_its_figures(api: Api) -> None:
    week, cycling, _ = _seed(api)
    response = _report(api, f"/admin/campaigns/{week}/report?format=pdf", PDF)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.body.startswith(b"%PDF")
    document = pdfium.PdfDocument(response.body)
    text = "\n".join(page.get_textpage().get_text_range() for page in document)
    assert "Mobility week" in text
    assert "Humanis Groupe" in text
    assert "Cycling" in text
    assert "Walking" in text
    french = _report(api, f"/admin/challenges/{cycling}/report?format=pdf&locale=fr", PDF)
    french_text = "\n".join(
        page.get_textpage().get_text_range() for page in pdfium.PdfDocument(french.body)
    )
    assert "Bilan" in french_text


@pytest.mark.parametrize(
    ("query", "accept", "status"),
    [
        ("?format=xml", "*/*", 400),
        ("?locale=de", "*/*", 400),
        ("", "image/png", 406),
        ("?format=pdf", "application/json", 406),
    ],
)
def test_a_bad_format_is_a_problem(api: Api, query: str, accept: str, status: int) -> None:
    _, cycling, _ = _seed(api)
    response = api.request(
        "GET", f"/admin/challenges/{cycling}/report{query}", None, {**ADMIN, "Accept": accept}
    )
    assert_problem(response, status)


def test_unknown_draft_and_others_reports_are_problems(api: Api) -> None:
    week, cycling, _ = _seed(api)
    draft = api.create(publish=False, organization_id=ORG)
    assert_problem(api.request("GET", "/admin/challenges/ch_nope/report", None, ADMIN), 404)
    assert_problem(api.request("GET", "/admin/campaigns/cmp_nope/report", None, ADMIN), 404)
    assert_problem(api.request("GET", f"/admin/challenges/{draft['id']}/report", None, ADMIN), 409)
    grdf_admin = bearer("grdf-csr", groups=("org-admin",), org_id="org_grdf")
    for path in (f"/admin/challenges/{cycling}/report", f"/admin/campaigns/{week}/report"):
        assert_problem(api.request("GET", path, None, grdf_admin), 404)
        assert api.request("GET", path, None, HUMANIS_ADMIN).status_code == 200


def test_reading_a_report_changes_no_figure(api: Api) -> None:
    week, cycling, _ = _seed(api)
    before = json.loads(_report(api, f"/admin/campaigns/{week}/report").body)
    for query in ("?format=pdf", "?format=csv"):
        _report(api, f"/admin/campaigns/{week}/report{query}", {**ADMIN, "Accept": "*/*"})
    api.drain()
    after = json.loads(_report(api, f"/admin/campaigns/{week}/report").body)
    assert {k: v for k, v in after.items() if k != "generated_at"} == {
        k: v for k, v in before.items() if k != "generated_at"
    }
    assert api.challenge(cycling)["progress"]["participants"] == 6


def _team(api: Api, name: str) -> str:
    created = api.request("POST", f"/admin/organizations/{ORG}/teams", {"name": name}, ADMIN)
    assert created.status_code == 201, created.body
    team_id: str = json.loads(created.body)["id"]
    return team_id


def _join(api: Api, sub: str, team_id: str) -> None:
    body = {"team_id": team_id, "display_name": f"Rider {sub}"}
    joined = api.request("PUT", f"/me/teams/{ORG}", body, bearer(sub, org_id=ORG))
    assert joined.status_code == 200, joined.body


def _seed_teams(api: Api) -> tuple[str, str]:
    """Humanis' week, with a km challenge its Lyon (3 people) and Paris (1) teams pledged on;
    one Lyon member reported 12 km. The campaign's other challenges count no team."""
    week, _, _ = _seed(api)
    lyon, paris = _team(api, "Lyon"), _team(api, "Paris")
    commute = api.create(
        title="Commute",
        organization_id=ORG,
        campaign_id=week,
        target={"metric": "quantity", "value": 500, "unit": "km"},
    )["id"]
    for sub, team_id in (("lyon-0", lyon), ("lyon-1", lyon), ("lyon-2", lyon), ("paris-0", paris)):
        _join(api, sub, team_id)
        assert api.pledge(commute, sub).status_code == 201
    reported = api.request(
        "POST", f"/challenges/{commute}/reports", {"quantity": 12}, bearer("lyon-0")
    )
    assert reported.status_code == 201, reported.body
    api.drain()
    return week, commute


def _pdf_text(body: bytes) -> str:
    return "\n".join(page.get_textpage().get_text_range() for page in pdfium.PdfDocument(body))


def test_the_report_has_a_row_per_team_and_no_members_name(api: Api) -> None:
    week, commute = _seed_teams(api)
    report = json.loads(_report(api, f"/admin/challenges/{commute}/report").body)
    assert report["teams"] == [
        {"name": "Lyon", "participants": 3, "quantity": 12, "unit": "km"},
        {"name": "Paris", "participants": 1, "quantity": 0, "unit": "km"},
    ]
    campaign = json.loads(_report(api, f"/admin/campaigns/{week}/report").body)
    assert [(t["name"], t["participants"], t["quantity"]) for t in campaign["teams"]] == [
        ("Lyon", 3, 12),
        ("Paris", 1, 0),
    ]
    archive = zipfile.ZipFile(
        io.BytesIO(
            _report(
                api, f"/admin/challenges/{commute}/report?format=csv", {**ADMIN, "Accept": "*/*"}
            ).body
        )
    )
    teams_csv = archive.read("teams.csv").decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(teams_csv))) == [
        ["team", "participants", "quantity", "unit"],
        ["Lyon", "3", "12", "km"],
        ["Paris", "1", "0", "km"],
    ]
    pdf = _pdf_text(_report(api, f"/admin/challenges/{commute}/report?format=pdf", PDF).body)
    assert "Teams" in pdf
    assert "Lyon" in pdf
    assert "Paris" in pdf
    # Neither the names members chose for leaderboards nor their subs, in any format.
    everything = [json.dumps(report), json.dumps(campaign), pdf]
    everything += [archive.read(name).decode("utf-8-sig") for name in archive.namelist()]
    for text in everything:
        assert "Rider" not in text
        assert "lyon-0" not in text


def test_a_report_without_teams_has_no_teams_table(api: Api) -> None:
    _, cycling, _ = _seed(api)
    assert json.loads(_report(api, f"/admin/challenges/{cycling}/report").body)["teams"] == []
    pdf = _pdf_text(_report(api, f"/admin/challenges/{cycling}/report?format=pdf", PDF).body)
    assert "Teams" not in pdf


def test_payouts_are_in_the_csv_and_the_pdf(api: Api) -> None:
    _, cycling, _ = _seed(api)  # reached: 6 of 5
    today = datetime.now(UTC).date().isoformat()
    body = {"amount": "150.00", "currency": "EUR", "paid_on": today, "to": "beneficiary"}
    paid = api.request("POST", f"/admin/challenges/{cycling}/payouts", body, ADMIN)
    assert paid.status_code == 201, paid.body
    zipped = _report(
        api, f"/admin/challenges/{cycling}/report?format=csv", {**ADMIN, "Accept": "*/*"}
    ).body
    payouts_csv = zipfile.ZipFile(io.BytesIO(zipped)).read("payouts.csv").decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(payouts_csv))) == [
        ["currency", "amount"],
        ["EUR", "150.00"],
    ]
    pdf = _pdf_text(_report(api, f"/admin/challenges/{cycling}/report?format=pdf", PDF).body)
    assert "150.00 EUR paid out" in " ".join(pdf.split())  # split: line breaks, no-break spaces
