"""The sponsor's report ("bilan") of a challenge or a campaign, as JSON, CSV (a zip of one
CSV per table) or PDF: chosen by `?format=`, else by the Accept header, else JSON."""

from __future__ import annotations

import functools
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
    # Accept is documented in the `format` parameter: OpenAPI ignores an Accept parameter.
)


def negotiate(format_asked: str | None, accept: str | None) -> str:
    """The report's format: `?format=` if given; else the one the Accept header prefers
    (highest q, then JSON, the zip, the PDF); no header: JSON. NotAcceptableError if the
    header allows none.

    A file (zip, PDF) needs its own media type or `*/*` in Accept with a q above 0 (curl's
    and browsers' default is `*/*`): API Gateway hands binary bodies over only then."""
    has_accept = bool(accept and accept.strip())
    ranges = _media_ranges(accept) if accept and has_accept else {}
    if format_asked is not None:
        if format_asked != "json" and _quality_of(ranges, _FORMAT_MEDIA[format_asked]) <= 0:
            raise NotAcceptableError(
                f"format={format_asked} is a file: send an Accept header that allows "
                f"{_FORMAT_MEDIA[format_asked]} (or */*)"
            )
        return format_asked
    if not has_accept:
        return "json"
    preferred = max(
        ((_quality_of(ranges, media), -rank, name) for rank, (media, name) in enumerate(_OFFERED)),
        default=(0.0, 0, ""),
    )
    if preferred[0] <= 0:
        raise NotAcceptableError(
            "the report is available as application/json, application/zip (its tables as "
            "CSV files) and application/pdf; or ask with ?format=json|csv|pdf"
        )
    return preferred[2]


# What is offered, in the order that breaks a tie of q-values.
_OFFERED = ((JSON, "json"), (ZIP, "csv"), (PDF, "pdf"))


def _quality_of(ranges: dict[str, float], media: str) -> float:
    """The q-value Accept gives a media type: its own entry if it has one, else `*/*`'s; a
    JSON answer may also come under `application/*` (a file may not: API Gateway and
    Chalice match a binary type exactly or through `*/*` only)."""
    if media in ranges:
        return ranges[media]
    if media == JSON and "application/*" in ranges:
        return ranges["application/*"]
    return ranges.get("*/*", 0.0)


def _media_ranges(accept: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if media:
            ranges[media.lower()] = max(ranges.get(media.lower(), 0.0), _quality(params))
    return ranges


def _quality(params: list[str]) -> float:
    """An Accept entry's q-value: 1 when absent, 0 when unreadable (RFC 9110: 0 to 1)."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


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
