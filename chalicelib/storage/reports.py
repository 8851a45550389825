"""Activity reports in DynamoDB (`reports`), counted in the pledge and its counter shard.

A report is one transaction: put the report (it must not exist), add its quantity to the
participant's pledge (which must exist: reports need a current pledge) and to their counter
shard, bumping the shard's `version` so the `aggregate_progress` trigger republishes the
challenge's totals and reaches it on quantity, as a pledge does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import Report
from chalicelib.services.ports import Page, ReportWrite
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.counters import counter_key
from chalicelib.storage.cursors import (
    checked_start_key,
    cursor_of_another_list,
    decode_cursor,
    encode_cursor,
)
from chalicelib.storage.tables import CounterShardItem, PledgeItem, ReportItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    transact_once,
    with_transaction_retries,
)

# The transaction's items, in the order DynamoDB reports cancellation reasons.
_REPORT, _PLEDGE = 0, 1


def _sort_time(moment: datetime) -> str:
    # One fixed width, so the keys sort as the instants do.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _report_to_item(report: Report) -> ReportItem:
    created = f"{_sort_time(report.created_at)}#{report.id}"
    return ReportItem(
        participant_id=report.participant_id,
        id=report.id,
        challenge_id=report.challenge_id,
        created_key=created,
        challenge_key=f"{report.challenge_id}#{created}",
        quantity=report.quantity,
        unit=report.unit,
        occurred_on=report.occurred_on.isoformat(),
        created_at=report.created_at,
        idempotency_key=report.idempotency_key,
    )


def report_from_item(item: ReportItem) -> Report:
    return Report(
        id=item.id,
        challenge_id=item.challenge_id,
        participant_id=item.participant_id,
        quantity=item.quantity,
        unit=item.unit,
        occurred_on=date.fromisoformat(item.occurred_on),
        created_at=item.created_at,
        idempotency_key=item.idempotency_key,
    )


class DynamoReportRepository:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)
        self._connection.client  # noqa: B018 - built once, up front (see open_connections)

    def add(self, report: Report, shard: int, *, request_token: str | None = None) -> ReportWrite:
        item = _report_to_item(report)

        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.save(item, condition=ReportItem.id.does_not_exist())
                transaction.update(
                    PledgeItem(
                        participant_id=report.participant_id, challenge_id=report.challenge_id
                    ),
                    actions=[
                        PledgeItem.quantity_reported.add(report.quantity),
                        PledgeItem.reported_at.set(report.created_at),
                    ],
                    condition=PledgeItem.challenge_id.exists(),
                )
                transaction.update(
                    CounterShardItem(id=counter_key(report.challenge_id, shard)),
                    actions=[
                        CounterShardItem.quantity.add(report.quantity),
                        CounterShardItem.version.add(1),
                    ],
                )

        return transact_once(write, request_token, _written)

    def get(self, participant_id: str, report_id: str) -> Report | None:
        try:
            return report_from_item(ReportItem.get(participant_id, report_id, consistent_read=True))
        except ReportItem.DoesNotExist:
            return None

    def list_for_participant(
        self, participant_id: str, *, challenge_id: str | None, limit: int, cursor: str | None
    ) -> Page[Report]:
        state = decode_cursor(cursor)
        keys: dict[str, str | None] = {"participant_id": participant_id, "id": None}
        if challenge_id is None:
            result = ReportItem.by_creation.query(
                participant_id,
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=checked_start_key(state, {**keys, "created_key": None}),
            )
        else:
            prefix = f"{challenge_id}#"
            start = checked_start_key(state, {**keys, "challenge_key": None})
            if start is not None and not start["challenge_key"]["S"].startswith(prefix):
                raise cursor_of_another_list()
            result = ReportItem.by_challenge.query(
                participant_id,
                ReportItem.challenge_key.startswith(prefix),
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=start,
            )
        items = [report_from_item(item) for item in result]
        next_key: dict[str, Any] | None = result.last_evaluated_key
        return Page(items, encode_cursor({"k": next_key}) if next_key else None)


def _written(transact: Callable[[], None]) -> ReportWrite:
    """Run the report's transaction; what its cancellation, if any, means."""
    try:
        with_transaction_retries(transact)
    except TransactWriteError as error:
        codes = cancellation_codes(error)
        if len(codes) > _PLEDGE and CONDITIONAL_CHECK_FAILED in codes[: _PLEDGE + 1]:
            # A report already stored wins over a missing pledge: its answer is replayed.
            if codes[_REPORT] == CONDITIONAL_CHECK_FAILED:
                return ReportWrite.EXISTS
            return ReportWrite.NOT_PLEDGED
        raise
    return ReportWrite.ADDED
