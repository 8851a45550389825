"""Activity reports: what pledged participants did (km, kg), counted exactly once."""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from chalicelib.domain.errors import (
    ChallengeNotOpenError,
    IdempotencyKeyReusedError,
    InvalidFieldsError,
    NotPledgedError,
    ReportsNotAcceptedError,
)
from chalicelib.domain.model import (
    MAX_REPORT_QUANTITY,
    QUANTITY_DECIMALS,
    Challenge,
    Principal,
    Report,
    counter_shard_for,
    tidy_quantity,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.pledges import _closed_reason, request_token
from chalicelib.services.ports import (
    NO_METRICS,
    Clock,
    MetricName,
    MetricsRecorder,
    Page,
    ReportRepository,
    ReportWrite,
)

REPORT_ID_PREFIX = "rpt_"
REPORT_ID_HEX_DIGITS = 20
# Calendar dates are the participant's own: the world's clocks run from UTC-12 to UTC+14, so
# a date is "in the future" only once it has begun nowhere yet, and "before the start" only
# when it had ended everywhere by then.
LATEST_UTC_OFFSET = timedelta(hours=14)
EARLIEST_UTC_OFFSET = timedelta(hours=-12)


@dataclass(frozen=True)
class ReportRequest:
    quantity: int | float
    unit: str | None = None  # None: the challenge's unit
    occurred_on: date | None = None  # None: today (UTC)
    # The client's Idempotency-Key, when it sent one: it names the report for good.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class ReportOutcome:
    report: Report
    challenge: Challenge
    created: bool  # False: the report this Idempotency-Key had already made


def report_id(participant_id: str, challenge_id: str, idempotency_key: str | None) -> str:
    """A new report's id: derived from the Idempotency-Key when there is one, so a retry of
    the request, however late and whatever became of the first attempt, names the same report
    (and its conditional put cannot count it twice); random otherwise."""
    if idempotency_key is None:
        return REPORT_ID_PREFIX + secrets.token_hex(REPORT_ID_HEX_DIGITS // 2)
    name = json.dumps([participant_id, challenge_id, "report", idempotency_key])
    digest = hashlib.sha256(name.encode()).hexdigest()
    return REPORT_ID_PREFIX + digest[:REPORT_ID_HEX_DIGITS]


def _invalid(field: str, message: str) -> InvalidFieldsError:
    return InvalidFieldsError(message, {field: message})


def check_quantity(quantity: int | float, report_cap: int | float | None) -> int | float:
    """The quantity as stored (an int when whole), or a 400 saying what is wrong with it."""
    if isinstance(quantity, bool) or not math.isfinite(quantity) or quantity <= 0:
        raise _invalid("quantity", "the quantity must be a number greater than 0")
    if round(quantity, QUANTITY_DECIMALS) != quantity:
        raise _invalid("quantity", f"the quantity has at most {QUANTITY_DECIMALS} decimals")
    if quantity > MAX_REPORT_QUANTITY:
        raise _invalid("quantity", f"one report is at most {MAX_REPORT_QUANTITY}")
    if report_cap is not None and quantity > report_cap:
        raise _invalid("quantity", f"this challenge takes at most {report_cap} per report")
    return tidy_quantity(quantity)


def check_occurred_on(occurred_on: date | None, challenge: Challenge, now: datetime) -> date:
    """The report's date: today (UTC) by default; a date that has begun somewhere on Earth,
    and that had not ended everywhere when the challenge started."""
    if occurred_on is None:
        return now.date()
    if occurred_on > (now + LATEST_UTC_OFFSET).date():
        raise _invalid("occurred_on", "occurred_on is in the future")
    started = challenge.starts_at or challenge.created_at
    earliest = (started + EARLIEST_UTC_OFFSET).date()
    if occurred_on < earliest:
        raise _invalid(
            "occurred_on", f"occurred_on is before the challenge started ({earliest.isoformat()})"
        )
    return occurred_on


def check_unit(unit: str | None, challenge: Challenge) -> str:
    expected = challenge.target.unit
    if expected is None:
        raise ReportsNotAcceptedError(
            "this challenge counts participants only and declares no unit: it takes no reports"
        )
    if unit is not None and unit != expected:
        raise _invalid("unit", f"this challenge counts {expected!r}, not {unit!r}")
    return expected


class ReportService:
    def __init__(
        self,
        challenges: ChallengeService,
        reports: ReportRepository,
        clock: Clock,
        *,
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        self._challenges = challenges
        self._reports = reports
        self._clock = clock
        self._metrics = metrics

    def report(
        self, principal: Principal, challenge_id: str, request: ReportRequest
    ) -> ReportOutcome:
        # The pledge path's cached read (docs/decisions.md): a close or a new report_cap
        # reaches this container within the cache's TTL.
        challenge = self._challenges.get_visible(challenge_id, principal, cached=True)
        now = self._clock.now()
        if not challenge.accepts_pledges_at(now):
            raise ChallengeNotOpenError(f"{_closed_reason(challenge, now)}: it takes no reports")
        unit = check_unit(request.unit, challenge)
        report = Report(
            id=report_id(principal.sub, challenge.id, request.idempotency_key),
            challenge_id=challenge.id,
            participant_id=principal.sub,
            quantity=check_quantity(request.quantity, challenge.report_cap),
            unit=unit,
            occurred_on=check_occurred_on(request.occurred_on, challenge, now),
            created_at=now,
            idempotency_key=request.idempotency_key,
        )
        shard = counter_shard_for(principal.sub, challenge.counter_shards)
        token = request_token(principal.sub, challenge.id, "report", request.idempotency_key)
        written = self._reports.add(report, shard, request_token=token)
        if written is ReportWrite.ADDED:
            self._metrics.count(MetricName.REPORTS_CREATED)
            return ReportOutcome(report, challenge, created=True)
        if written is ReportWrite.NOT_PLEDGED:
            raise NotPledgedError(challenge.id)
        return ReportOutcome(self._same_report(report, request), challenge, created=False)

    def _same_report(self, report: Report, request: ReportRequest) -> Report:
        """The report an earlier attempt with this Idempotency-Key stored, if it is this one."""
        stored = self._reports.get(report.participant_id, report.id)
        if stored is None:  # pragma: no cover - reports are never deleted
            raise AssertionError(f"report {report.id} exists and cannot be read")
        same = (stored.challenge_id, stored.quantity, stored.unit) == (
            report.challenge_id,
            report.quantity,
            report.unit,
        ) and (request.occurred_on is None or stored.occurred_on == report.occurred_on)
        if not same:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key already made another report on this challenge"
            )
        return stored

    def list_mine(
        self,
        principal: Principal,
        *,
        challenge_id: str | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[Report]:
        return self._reports.list_for_participant(
            principal.sub, challenge_id=challenge_id, limit=limit, cursor=cursor
        )
