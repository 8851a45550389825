"""Shared building blocks of the v1 bodies: annotated field types, the strict request base,
list paging, and the health and problem answers."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from chalicelib.domain.model import QUANTITY_DECIMALS


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


Timestamp = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]


def _instant(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:00:00-05:00
        raise ValueError("this date is out of range") from exc
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"must be between the years {MIN_YEAR} and {MAX_YEAR}")
    return utc


MIN_YEAR, MAX_YEAR = 2000, 2100
# A date-time with its offset, stored in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_instant)]


def _printable(value: str) -> str:
    # Control and format characters (NUL, bidi overrides…) have no place in a name shown to others.
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in value):
        raise ValueError("must not contain control or formatting characters")
    return value


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_printable)
]
# As Text, but may be empty: an optional one-line text whose default is "" (a `minLength` of
# 1 beside a default of "" makes the OpenAPI document invalid).
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_printable)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Unit = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9%°/._ -]{1,16}$")]


def _decimals(value: int | float) -> int | float:
    # Like reported quantities; this also keeps out what DynamoDB cannot store (5e-324).
    if round(value, QUANTITY_DECIMALS) != value:
        raise ValueError(f"must have at most {QUANTITY_DECIMALS} decimals")
    return value


Number = Annotated[
    int | float,
    Field(gt=0, le=1_000_000_000, description=f"at most {QUANTITY_DECIMALS} decimals"),
    AfterValidator(_decimals),
]


class _Body(BaseModel):
    """Request bodies reject unknown fields, so a typo is a 400 rather than silently ignored,
    and are strict: `true` is not the number 1 and `"200"` is not 200."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
