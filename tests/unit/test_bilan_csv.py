"""The report's CSV tables: what a sponsor's spreadsheet reads back from the ZIP."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import replace
from decimal import Decimal

import pytest

from chalicelib.bilan.csv_export import plain_text, report_zip
from chalicelib.domain.payouts import PayoutTotal
from chalicelib.domain.sponsor_report import SponsorReport
from tests.unit.bilan_examples import (
    HUMANIS_BENEFICIARY,
    HUMANIS_TITLE,
    humanis_campaign,
    zero_waste_challenge,
)

TABLES = [
    "summary.csv",
    "days.csv",
    "areas.csv",
    "challenges.csv",
    "teams.csv",
    "payouts.csv",
    "notifications.csv",
]


def read_table(report: SponsorReport, name: str) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(report_zip(report))) as archive:
        raw = archive.read(name)
    assert raw.startswith("\ufeff".encode()), "Excel needs the byte-order mark"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def summary(report: SponsorReport) -> dict[str, str]:
    header, *rows = read_table(report, "summary.csv")
    assert header == ["field", "value"]
    return dict(rows)


def test_the_zip_holds_one_csv_per_table() -> None:
    with zipfile.ZipFile(io.BytesIO(report_zip(humanis_campaign()))) as archive:
        assert archive.namelist() == TABLES
        assert archive.testzip() is None


def test_the_summary_lists_the_fields_in_order_with_machine_readable_values() -> None:
    _, *rows = read_table(humanis_campaign(), "summary.csv")

    assert [field for field, _ in rows] == [
        "subject",
        "id",
        "title",
        "status",
        "organisation",
        "sponsors",
        "beneficiaries",
        "rewards",
        "target_metric",
        "target_value",
        "target_unit",
        "starts_at",
        "ends_at",
        "reached_at",
        "ended_at",
        "participants",
        "pledges",
        "withdrawals",
        "hidden_participants",
        "generated_at",
        "time_zone",
        "quantity_km",
    ]
    values = dict(rows)
    assert values["subject"] == "campaign"
    assert values["title"] == HUMANIS_TITLE
    assert values["beneficiaries"] == HUMANIS_BENEFICIARY
    assert values["status"] == values["target_metric"] == values["reached_at"] == ""
    assert values["starts_at"] == "2026-09-16T06:00:00+00:00"
    assert values["generated_at"] == "2026-09-23T08:00:00+00:00"
    assert values["time_zone"] == "Europe/Paris"
    assert (values["participants"], values["pledges"], values["withdrawals"]) == (
        "188",
        "203",
        "15",
    )
    assert values["quantity_km"] == "80360"


def test_a_challenge_summary_has_its_target_and_status() -> None:
    values = summary(zero_waste_challenge())

    assert values["subject"] == "challenge"
    assert values["status"] == "ended"
    assert (values["target_metric"], values["target_value"], values["target_unit"]) == (
        "participants",
        "150",
        "",
    )
    assert values["reached_at"] == "2026-11-26T14:05:00+00:00"
    assert not any(field.startswith("quantity_") for field in values)


def test_several_sponsors_are_joined_and_decimals_use_a_point() -> None:
    report = replace(
        zero_waste_challenge(locale="fr"),
        sponsors=("Ville de Montreuil", "Est Ensemble"),
        quantity={"kg": 1234.5},
    )

    values = summary(report)

    assert values["sponsors"] == "Ville de Montreuil; Est Ensemble"
    assert values["quantity_kg"] == "1234.5"


def test_days_are_one_row_each_with_iso_dates() -> None:
    header, *rows = read_table(humanis_campaign(), "days.csv")

    assert header == ["day", "new_pledges", "withdrawals", "cumulative"]
    assert len(rows) == 7
    assert rows[0] == ["2026-09-16", "40", "0", "40"]
    assert rows[-1] == ["2026-09-22", "10", "1", "188"]


def test_areas_end_with_the_hidden_participants_as_elsewhere() -> None:
    header, *rows = read_table(zero_waste_challenge(), "areas.csv")

    assert header == ["area", "participants"]
    assert rows == [
        ["FR-93", "71"],
        ["FR-75", "44"],
        ["FR-94", "23"],
        ["FR-92", "19"],
        ["elsewhere", "6"],
    ]


def test_no_elsewhere_row_when_no_participant_is_hidden() -> None:
    report = replace(zero_waste_challenge(), hidden_participants=0)

    rows = read_table(report, "areas.csv")

    assert rows[-1] == ["FR-92", "19"]


def test_a_campaign_has_a_row_per_challenge() -> None:
    header, *rows = read_table(humanis_campaign(), "challenges.csv")

    assert header[0] == "challenge_id"
    assert header[-4:] == ["participants", "quantity", "promised", "reached_at"]
    table = [dict(zip(header, row, strict=True)) for row in rows]
    assert [row["title"] for row in table] == [
        "Vélo",
        "Marche",
        "Covoiturage",
        "Transports en commun",
        "Trottinette",
    ]
    assert sum(int(row["participants"]) for row in table) == 188
    assert sum(float(row["quantity"]) for row in table) == 80_360
    assert table[1]["quantity"] == "6310.5"
    assert table[0]["reached_at"] == "2026-09-20T17:42:00+00:00"
    assert table[1]["reached_at"] == ""
    assert {row["target_metric"] for row in table} == {"quantity"}
    assert {row["target_unit"] for row in table} == {"km"}


def test_a_challenge_has_the_challenges_header_only() -> None:
    rows = read_table(zero_waste_challenge(), "challenges.csv")

    assert len(rows) == 1
    assert rows[0][0] == "challenge_id"


def test_volunteering_promised_sits_beside_the_quantity() -> None:
    campaign = humanis_campaign()
    first = replace(campaign.challenges[0], promised=12.5)
    report = replace(campaign, challenges=(first, *campaign.challenges[1:]), promised={"h": 12.5})

    values = summary(report)
    header, *rows = read_table(report, "challenges.csv")
    table = [dict(zip(header, row, strict=True)) for row in rows]

    fields = list(values)
    assert fields.index("promised_h") == fields.index("quantity_km") + 1
    assert values["promised_h"] == "12.5"
    assert [row["promised"] for row in table] == ["12.5", "0", "0", "0", "0"]
    assert "promised_h" not in summary(humanis_campaign())  # nothing promised: no row


def test_teams_are_listed_as_the_report_orders_them_without_members() -> None:
    header, *rows = read_table(humanis_campaign(), "teams.csv")

    assert header == ["team", "participants", "quantity", "unit"]
    assert rows == [
        ["Lyon", "71", "30120.5", "km"],
        ["Paris La Défense", "71", "28400", "km"],
        ["Marseille", "46", "21839.5", "km"],
        ["Bordeaux", "0", "0", "km"],
    ]


def test_an_organisation_without_teams_has_the_teams_header_only() -> None:
    assert read_table(zero_waste_challenge(), "teams.csv") == [
        ["team", "participants", "quantity", "unit"]
    ]


def test_a_teams_name_is_guarded_and_a_campaign_of_mixed_units_has_none() -> None:
    campaign = humanis_campaign()
    odd = replace(campaign.teams[0], name="=cmd", unit=None)
    report = replace(campaign, teams=(odd,))

    _, row = read_table(report, "teams.csv")

    assert row == ["'=cmd", "71", "30120.5", ""]


def test_payouts_are_one_row_per_currency_with_its_minor_units() -> None:
    campaign = humanis_campaign()
    report = replace(campaign, paid=(*campaign.paid, PayoutTotal("JPY", Decimal("1500"))))

    header, *rows = read_table(report, "payouts.csv")

    assert header == ["currency", "amount"]
    assert rows == [["EUR", "8036.00"], ["JPY", "1500"]]
    assert read_table(zero_waste_challenge(), "payouts.csv") == [["currency", "amount"]]


def test_notifications_are_counted_by_status() -> None:
    header, *rows = read_table(humanis_campaign(), "notifications.csv")

    assert header == ["recipient_role", "channel", "sent", "failed", "pending"]
    assert rows == [
        ["sponsor", "email", "5", "0", "0"],
        ["sponsor", "webhook", "4", "1", "0"],
        ["participant", "email", "180", "2", "1"],
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            '=HYPERLINK("https://evil.example","clic")',
            '\'=HYPERLINK("https://evil.example","clic")',
        ),
        ("+33 1 23 45 67 89", "'+33 1 23 45 67 89"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Vélo - au travail", "Vélo - au travail"),
        ("", ""),
    ],
)
def test_a_text_that_a_spreadsheet_would_run_is_made_plain(text: str, shown: str) -> None:
    assert plain_text(text) == shown


def test_free_texts_are_guarded_in_every_table_but_numbers_are_not() -> None:
    campaign = humanis_campaign()
    first = replace(campaign.challenges[0], title="=1+1", sponsor="@sponsor", beneficiary="-benef")
    report = replace(
        campaign,
        title="=cmd|' /C calc'!A0",
        sponsors=("+Humanis",),
        branding=replace(campaign.branding, name="-Humanis"),
        challenges=(first, *campaign.challenges[1:]),
    )

    values = summary(report)
    header, row, *_ = read_table(report, "challenges.csv")
    challenge = dict(zip(header, row, strict=True))

    assert values["title"] == "'=cmd|' /C calc'!A0"
    assert values["sponsors"] == "'+Humanis"
    assert values["organisation"] == "'-Humanis"
    assert (challenge["title"], challenge["sponsor"], challenge["beneficiary"]) == (
        "'=1+1",
        "'@sponsor",
        "'-benef",
    )
    assert challenge["participants"] == "62"


def test_commas_quotes_and_line_breaks_survive_the_round_trip() -> None:
    title = 'Défi "zéro carbone", saison 2\nà Lyon'
    report = replace(humanis_campaign(), title=title)

    assert summary(report)["title"] == title


def test_the_same_report_gives_the_same_bytes() -> None:
    assert report_zip(humanis_campaign()) == report_zip(humanis_campaign())
    assert report_zip(humanis_campaign()) != report_zip(zero_waste_challenge())


def test_entries_are_dated_by_the_report_not_by_the_clock() -> None:
    with zipfile.ZipFile(io.BytesIO(report_zip(humanis_campaign()))) as archive:
        stamps = {entry.date_time for entry in archive.infolist()}

    assert stamps == {(2026, 9, 23, 8, 0, 0)}
