"""DynamoDB stream handlers: one record at a time, partial batch failures reported."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from chalicelib.domain.events import is_seat_notice_key
from chalicelib.domain.fanout import is_fanout_key
from chalicelib.domain.follows import is_update_chunk_key
from chalicelib.domain.model import CHALLENGE_ID_PREFIX
from chalicelib.domain.proposals import (
    is_proposal_event_key,
    is_supporter_chunk_key,
    proposal_event_from_key,
)
from chalicelib.domain.teams import TeamChange
from chalicelib.observability import set_correlation_id
from chalicelib.services.campaigns import PledgeRecord
from chalicelib.services.tallies import PledgeChange, group_changes
from chalicelib.storage.campaigns import pledge_record_from_stream_record
from chalicelib.storage.challenges import milestone_from_stream_image
from chalicelib.storage.counters import challenge_id_from_counter_key
from chalicelib.storage.events import seat_notice_from_stream_image
from chalicelib.storage.fanout import chunk_from_stream_image
from chalicelib.storage.follows import update_chunk_from_stream_image
from chalicelib.storage.proposals import supporter_chunk_from_stream_image
from chalicelib.storage.tallies import pledge_change_from_stream_record
from chalicelib.storage.teams import team_change_from_stream_record
from chalicelib.wiring import Container

logger = logging.getLogger(__name__)


def _process(
    event: dict[str, Any],
    context: Any,
    record_handler: Callable[[DynamoDBRecord], None],
    container: Container,
) -> dict[str, Any]:
    """Run `record_handler` on each record; answer which failed (ReportBatchItemFailures)."""
    # One correlation id per invocation: the Lambda request id, which its logs also carry.
    set_correlation_id(getattr(context, "aws_request_id", None))
    # Report failed records even when all of them failed, rather than raising: the retry is
    # the same, and the function's error metric keeps meaning "crowdact crashed".
    processor = BatchProcessor(
        event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
    )
    try:
        return dict(
            process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        )
    finally:
        container.metrics.flush()


def aggregate_progress(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """Counter shards changed: refresh each touched challenge's totals once per batch.

    Every record in the batch was written before the batch was read, so one strongly
    consistent sum per challenge covers them all; a failed refresh fails only that
    challenge's records, and the redelivery refreshes it again.
    """
    refreshed: set[str] = set()

    def record_handler(record: DynamoDBRecord) -> None:
        keys = record.dynamodb.keys if record.dynamodb else None
        if not keys:
            return
        challenge_id = challenge_id_from_counter_key(str(keys["id"]))
        if challenge_id in refreshed or not challenge_id.startswith(CHALLENGE_ID_PREFIX):
            return  # done in this batch, or a campaign's shard (read as it is, not published)
        container.progress.refresh(challenge_id)
        refreshed.add(challenge_id)

    return _process(event, context, record_handler, container)


def track_campaigns(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """Pledges were added or withdrawn: keep each campaign's unique participants
    (services.campaigns), the batch's records of each campaign read and written together.

    A record that fails fails the ones after it too, so the stream brings them back in
    order; those already applied then change nothing (each member keeps its set of pledges).
    """
    failed: dict[str, Exception] = {}
    records: list[PledgeRecord] = []
    for raw in event.get("Records", []):
        sequence_number = str((raw.get("dynamodb") or {}).get("SequenceNumber"))
        try:
            record = pledge_record_from_stream_record(raw)
        except (KeyError, TypeError, ValueError) as error:
            failed[sequence_number] = error
            break
        if record is not None:
            records.append(record)
    _hold_back_after_failures(event, failed)
    failed.update(
        (record.receipt, error) for record, error in container.campaigns.record_pledges(records)
    )

    return _report_failed(event, context, failed, container)


def count_areas(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """Pledges were added or withdrawn: count participants per area and pledges made and
    withdrawn per hour (services.tallies), one write per area and hour per challenge.

    The batch's changes are grouped by challenge first, and each group is applied once (its
    records' receipts make a redelivery count nothing). A group that fails fails its records
    alone; the stream brings them back, with the records after them, whose receipts then
    skip them.
    """
    failed: dict[str, Exception] = {}
    changes: list[PledgeChange] = []
    for raw in event.get("Records", []):
        sequence_number = str((raw.get("dynamodb") or {}).get("SequenceNumber"))
        try:
            change = pledge_change_from_stream_record(raw)
        except (KeyError, TypeError, ValueError) as error:
            failed[sequence_number] = error
            continue
        if change is not None:
            changes.append(change)
    for group in group_changes(changes):
        try:
            container.tallies.count(group)
        except Exception as error:  # the group's records are retried; the others go on
            logger.exception(
                "counting %d record(s) of challenge %s failed", len(group), group[0].challenge_id
            )
            failed.update((change.receipt, error) for change in group)

    return _report_failed(event, context, failed, container)


def count_teams(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """Pledges were made, withdrawn or reported on: keep the leaderboards of the teams
    (services.teams.TeamTallyService), each record once. A record that fails fails the
    ones after it too, so the stream brings them back in order."""
    failed: dict[str, Exception] = {}
    changes: list[TeamChange] = []
    for raw in event.get("Records", []):
        sequence_number = str((raw.get("dynamodb") or {}).get("SequenceNumber"))
        try:
            change = team_change_from_stream_record(raw)
        except (KeyError, TypeError, ValueError) as error:
            failed[sequence_number] = error
            break
        if change is not None:
            changes.append(change)
    _hold_back_after_failures(event, failed)
    failed.update((change.receipt, error) for change, error in container.teams_tally.count(changes))

    return _report_failed(event, context, failed, container)


def _hold_back_after_failures(event: dict[str, Any], failed: dict[str, Exception]) -> None:
    """Fail, in `failed`, every record after the first one there: it waits with it."""
    if not failed:
        return
    seen_bad = False
    for raw in event.get("Records", []):
        number = str((raw.get("dynamodb") or {}).get("SequenceNumber"))
        seen_bad = seen_bad or number in failed
        if seen_bad:
            failed.setdefault(number, TallyError(f"record {number} waits for an earlier one"))


def _report_failed(
    event: dict[str, Any], context: Any, failed: dict[str, Exception], container: Container
) -> dict[str, Any]:
    """The batch's answer when its records were counted beforehand: those in `failed` (by
    sequence number) are reported, so the stream brings them back."""

    def record_handler(record: DynamoDBRecord) -> None:
        sequence_number = record.dynamodb.sequence_number if record.dynamodb else None
        error = failed.get(str(sequence_number))
        if error is not None:
            raise TallyError(f"record {sequence_number} was not counted") from error

    return _process(event, context, record_handler, container)


class TallyError(RuntimeError):
    """A pledges-stream record that could not be counted (it will be delivered again)."""


def notify_milestones(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """A milestone was inserted in the outbox: send what each recipient is owed, once; and a
    participant e-mail fan-out chunk: e-mail its participants, once each; an update
    fan-out chunk: e-mail the update to its followers and pledgers, once each; a proposal
    event: tell its proposer or organisation, once each (and start its supporters' chunks);
    a supporters' chunk: e-mail those supporters, once each; and a meetup seat
    notice: e-mail the person their seat, once."""

    def record_handler(record: DynamoDBRecord) -> None:
        if record.event_name is not DynamoDBRecordEventName.INSERT:
            return
        image = record.raw_event.get("dynamodb", {}).get("NewImage")
        if not image:
            return
        event_key = str(image.get("event", {}).get("S", ""))
        if is_seat_notice_key(event_key):
            container.events.send_seat_mail(seat_notice_from_stream_image(image))
            return
        if is_update_chunk_key(event_key):
            container.update_mail.run(
                update_chunk_from_stream_image(image), time_left=_time_left(context)
            )
            return
        if is_supporter_chunk_key(event_key):
            container.proposal_mail.run(
                supporter_chunk_from_stream_image(image), time_left=_time_left(context)
            )
            return
        if is_proposal_event_key(event_key):
            container.proposal_mail.notify(
                str(image.get("challenge_id", {}).get("S", "")),
                proposal_event_from_key(event_key),
            )
            return
        if is_fanout_key(event_key):
            container.participant_mail.run(
                chunk_from_stream_image(image), time_left=_time_left(context)
            )
            return
        milestone = milestone_from_stream_image(image)
        try:
            container.notifications.notify(milestone)
        finally:
            # Participants are not kept waiting on a sponsor's mailbox that keeps failing.
            container.participant_mail.start(milestone)

    return _process(event, context, record_handler, container)


def _time_left(context: Any) -> timedelta | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return timedelta(milliseconds=remaining()) if callable(remaining) else None
