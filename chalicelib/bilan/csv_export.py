"""The report's tables as CSV files in one ZIP, for a sponsor's spreadsheet.

Values are machine-readable (ISO dates, '.' decimals, enum values), not the PDF's localised
texts: a spreadsheet formats them itself. Each CSV starts with a byte-order mark, without
which Excel reads UTF-8 as Windows-1252 and garbles every accent."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date

from chalicelib.domain.model import DeliveryStatus
from chalicelib.domain.payouts import format_amount
from chalicelib.domain.sponsor_report import SponsorReport

Cell = str | int | float | date | None  # a datetime is a date
Row = Sequence[Cell]

BYTE_ORDER_MARK = "\ufeff"
# A spreadsheet runs a cell starting with one of these as a formula ("=HYPERLINK(...)"):
# a title or a name typed by anyone is made plain text by a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FILE_MODE = 0o644 << 16  # -rw-r--r-- in the ZIP's Unix attributes


def report_zip(report: SponsorReport) -> bytes:
    """summary.csv, days.csv, areas.csv, challenges.csv, teams.csv, payouts.csv and
    notifications.csv in a ZIP that is the same bytes for the same report (its entries are
    dated by the report). A table with nothing to list still has its header row."""
    tables = {
        "summary.csv": _summary(report),
        "days.csv": _days(report),
        "areas.csv": _areas(report),
        "challenges.csv": _challenges(report),
        "teams.csv": _teams(report),
        "payouts.csv": _payouts(report),
        "notifications.csv": _notifications(report),
    }
    stamp = report.generated_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, rows in tables.items():
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # Unix, wherever it was made, so the bytes do not vary
            entry.external_attr = _FILE_MODE
            archive.writestr(entry, _csv_bytes(rows))
    return buffer.getvalue()


def plain_text(value: str) -> str:
    """A free text made safe from formula injection, as a spreadsheet will show it."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _csv_bytes(rows: Iterable[Row]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return (BYTE_ORDER_MARK + text.getvalue()).encode("utf-8")


def _cell(value: Cell) -> str:
    """A value as a machine reads it: ISO 8601 dates, plain numbers, empty for none."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _summary(report: SponsorReport) -> list[Row]:
    target = report.target
    rows: list[Row] = [
        ("field", "value"),
        ("subject", report.subject.value),
        ("id", report.id),
        ("title", plain_text(report.title)),
        ("status", report.status.value if report.status else None),
        ("organisation", plain_text(report.branding.name)),
        ("sponsors", plain_text("; ".join(report.sponsors))),
        ("beneficiaries", plain_text("; ".join(report.beneficiaries))),
        ("rewards", plain_text("; ".join(report.rewards))),
        ("target_metric", target.metric.value if target else None),
        ("target_value", target.value if target else None),
        ("target_unit", plain_text(target.unit) if target and target.unit else None),
        ("starts_at", report.starts_at),
        ("ends_at", report.ends_at),
        ("reached_at", report.reached_at),
        ("ended_at", report.ended_at),
        ("participants", report.participants),
        ("pledges", report.pledges),
        ("withdrawals", report.withdrawals),
        ("hidden_participants", report.hidden_participants),
        ("generated_at", report.generated_at),
        ("time_zone", report.time_zone),
    ]
    rows.extend((f"quantity_{unit}", value) for unit, value in report.quantity.items())
    rows.extend((f"promised_{unit}", value) for unit, value in report.promised.items())
    return rows


def _days(report: SponsorReport) -> list[Row]:
    rows: list[Row] = [("day", "new_pledges", "withdrawals", "cumulative")]
    rows.extend((d.day, d.new_pledges, d.withdrawals, d.cumulative) for d in report.days)
    return rows


def _areas(report: SponsorReport) -> list[Row]:
    rows: list[Row] = [("area", "participants")]
    rows.extend((plain_text(area.area), area.participants) for area in report.areas)
    if report.hidden_participants > 0:
        rows.append(("elsewhere", report.hidden_participants))
    return rows


def _challenges(report: SponsorReport) -> list[Row]:
    rows: list[Row] = [
        (
            "challenge_id",
            "title",
            "action",
            "status",
            "target_metric",
            "target_value",
            "target_unit",
            "sponsor",
            "beneficiary",
            "reward",
            "participants",
            "quantity",
            "promised",
            "reached_at",
        )
    ]
    rows.extend(
        (
            row.id,
            plain_text(row.title),
            plain_text(row.action),
            row.status.value,
            row.target.metric.value,
            row.target.value,
            plain_text(row.target.unit) if row.target.unit else None,
            plain_text(row.sponsor),
            plain_text(row.beneficiary),
            plain_text(row.reward),
            row.participants,
            row.quantity,
            row.promised,
            row.reached_at,
        )
        for row in report.challenges
    )
    return rows


def _teams(report: SponsorReport) -> list[Row]:
    """The organisation's teams, as the report orders them: names and counts, no member."""
    rows: list[Row] = [("team", "participants", "quantity", "unit")]
    rows.extend(
        (
            plain_text(team.name),
            team.participants,
            team.quantity,
            plain_text(team.unit) if team.unit else None,
        )
        for team in report.teams
    )
    return rows


def _payouts(report: SponsorReport) -> list[Row]:
    """What was paid out per currency, the amount with the currency's minor units."""
    rows: list[Row] = [("currency", "amount")]
    rows.extend((paid.currency, format_amount(paid.amount, paid.currency)) for paid in report.paid)
    return rows


def _notifications(report: SponsorReport) -> list[Row]:
    rows: list[Row] = [("recipient_role", "channel", "sent", "failed", "pending")]
    rows.extend(
        (
            tally.recipient_role.value,
            tally.channel.value,
            tally.count(DeliveryStatus.SENT),
            tally.count(DeliveryStatus.FAILED),
            tally.count(DeliveryStatus.PENDING),
        )
        for tally in report.notifications
    )
    return rows
