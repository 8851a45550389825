"""The sponsor's report ("bilan") of a challenge or a campaign, as JSON, CSV (a zip of one
CSV per table) or PDF: chosen by `?format=`, else by the Accept header, else JSON."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas import SponsorReportOut, SponsorReportQuery
from chalicelib.domain.errors import NotAcceptableError
from chalicelib.domain.sponsor_report import SponsorReport

JSON, ZIP, PDF = "application/json", "application/zip", "application/pdf"
# The media types a client may ask for, and the format each one gets. The CSV tables come
# in a zip (docs/decisions.md), so `text/csv` is not one: it would get a 406 naming the zip.
_MEDIA_FORMATS = {JSON: "json", ZIP: "csv", PDF: "pdf"}
_FORMAT_MEDIA = {"json": JSON, "csv": ZIP, "pdf": PDF}

report_endpoint = functools.partial(
    endpoint,
    auth="admin",
    tag="admin",
    response=SponsorReportOut,
    query=SponsorReportQuery,
    errors=(404, 406, 409),
    files=(ZIP, PDF),
)


def negotiate(format_asked: str | None, accept: str | None) -> str:
    """The report's format: `?format=` if given; else the Accept header's most preferred
    media type we have (`*/*` and no header: JSON); NotAcceptableError if it names none.

    A file (zip, PDF) needs an Accept header that allows it, `*/*` included (curl's and
    browsers' default): API Gateway sends binary bodies only to such requests."""
    if format_asked is not None:
        if format_asked != "json" and not _allows(accept, _FORMAT_MEDIA[format_asked]):
            raise NotAcceptableError(
                f"format={format_asked} is a file: send an Accept header that allows "
                f"{_FORMAT_MEDIA[format_asked]} (or */*)"
            )
        return format_asked
    if not accept or not accept.strip():
        return "json"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        quality = _quality(params)
        media = media.strip().lower()
        if quality <= 0:
            continue
        if media in ("*/*", "application/*"):
            ranked.append((quality, -position, "json"))
        elif media in _MEDIA_FORMATS:
            ranked.append((quality, -position, _MEDIA_FORMATS[media]))
    if not ranked:
        raise NotAcceptableError(
            "the report is available as application/json, application/zip (its tables as "
            "CSV files) and application/pdf; or ask with ?format=json|csv|pdf"
        )
    return max(ranked)[2]


def _allows(accept: str | None, media: str) -> bool:
    if not accept:
        return False
    for part in accept.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if _quality(params) > 0 and name in (media, "*/*", media.split("/")[0] + "/*"):
            return True
    return False


_Q = re.compile(r"(?:^|;)\s*q\s*=\s*([0-9.]+)")


def _quality(params: str) -> float:
    match = _Q.search(params)
    if match is None:
        return 1.0
    try:
        return min(max(float(match.group(1)), 0.0), 1.0)
    except ValueError:
        return 0.0


def _file_name(report: SponsorReport, extension: str) -> str:
    return f"bilan-{report.id}.{extension}"


def _format(request: ApiRequest[Any, SponsorReportQuery]) -> str:
    return negotiate(request.query.format, request.headers.get("accept"))


def _respond(report: SponsorReport, format_chosen: str) -> Any:
    if format_chosen == "json":
        return SponsorReportOut.from_report(report)
    render: Callable[[SponsorReport], bytes]
    if format_chosen == "pdf":
        from chalicelib.bilan.pdf import report_pdf as render

        extension = "pdf"
    else:
        from chalicelib.bilan.csv_export import report_zip as render

        extension = "zip"
    return Response(
        body=render(report),
        status_code=200,
        headers={
            "Content-Type": _FORMAT_MEDIA[format_chosen],
            "Content-Disposition": f'attachment; filename="{_file_name(report, extension)}"',
        },
    )


@report_endpoint(
    "/admin/challenges/{challenge_id}/report",
    "GET",
    summary="The challenge's report for its sponsor (JSON, CSV zip or PDF)",
)
def challenge_report(request: ApiRequest[Any, SponsorReportQuery], challenge_id: str) -> Any:
    format_chosen = _format(request)  # before any work: a 406 costs nothing
    report = request.container.sponsor_reports.for_challenge(
        challenge_id, request.scope, locale=request.query.locale
    )
    return _respond(report, format_chosen)


@report_endpoint(
    "/admin/campaigns/{campaign_id}/report",
    "GET",
    summary="The campaign's report for its sponsors (JSON, CSV zip or PDF)",
)
def campaign_report(request: ApiRequest[Any, SponsorReportQuery], campaign_id: str) -> Any:
    format_chosen = _format(request)
    report = request.container.sponsor_reports.for_campaign(
        campaign_id, request.scope, locale=request.query.locale
    )
    return _respond(report, format_chosen)
