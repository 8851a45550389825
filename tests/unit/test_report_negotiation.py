"""Which format a report request gets: ?format= first, then the Accept header's q-values."""

from __future__ import annotations

import pytest

from chalicelib.api.admin_reports import negotiate
from chalicelib.domain.errors import NotAcceptableError


@pytest.mark.parametrize(
    ("format_asked", "accept", "chosen"),
    [
        (None, None, "json"),
        (None, "", "json"),
        (None, "*/*", "json"),
        (None, "application/*", "json"),
        (None, "application/pdf", "pdf"),
        (None, "APPLICATION/PDF", "pdf"),
        (None, "application/zip", "csv"),
        (None, "application/json;q=0.5, application/pdf", "pdf"),
        (None, "application/pdf;q=0.4, application/zip;q=0.9", "csv"),
        (None, "text/html,application/xhtml+xml,*/*;q=0.8", "json"),
        (None, "application/json;q=0, */*", "csv"),  # q=0 refuses JSON: the next offered
        (None, "application/pdf; Q=1, */*;q=0.1", "pdf"),
        ("pdf", "*/*", "pdf"),
        ("pdf", "application/pdf", "pdf"),
        ("csv", "application/zip", "csv"),
        ("json", "application/pdf", "json"),  # JSON is never a file: always deliverable
        ("json", None, "json"),
    ],
)
def test_the_format_chosen(format_asked: str | None, accept: str | None, chosen: str) -> None:
    assert negotiate(format_asked, accept) == chosen


@pytest.mark.parametrize(
    ("format_asked", "accept"),
    [
        (None, "text/csv"),
        (None, "image/png"),
        (None, "application/pdf;q=0"),
        (None, "application/json;q=nan"),
        (None, "application/json;q=2"),
        ("pdf", "application/json"),
        ("pdf", "application/*"),  # a file needs its own type or */*
        ("pdf", "application/pdf;q=0, */*"),  # an explicit q=0 refuses it
        ("csv", "text/csv"),
        ("pdf", None),  # no Accept: API Gateway would answer with base64 text
    ],
)
def test_an_accept_that_allows_nothing_offered_is_a_406(
    format_asked: str | None, accept: str
) -> None:
    with pytest.raises(NotAcceptableError):
        negotiate(format_asked, accept)
