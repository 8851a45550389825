"""DynamoDB stream handlers: one record at a time, partial batch failures reported."""

from __future__ import annotations

from collections.abc import Callable
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

from chalicelib.domain.model import CHALLENGE_ID_PREFIX
from chalicelib.storage.repositories import (
    challenge_id_from_counter_key,
    milestone_from_stream_image,
)
from chalicelib.wiring import Container


def _process(
    event: dict[str, Any], context: Any, record_handler: Callable[[DynamoDBRecord], None]
) -> dict[str, Any]:
    """Run `record_handler` on each record; answer which failed (ReportBatchItemFailures)."""
    # Report failed records even when all of them failed, rather than raising: the retry is
    # the same, and the function's error metric keeps meaning "crowdact crashed".
    processor = BatchProcessor(
        event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
    )
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


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

    return _process(event, context, record_handler)


def track_campaigns(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """Pledges were added or withdrawn: keep each campaign's unique participants."""

    def record_handler(record: DynamoDBRecord) -> None:
        keys = record.dynamodb.keys if record.dynamodb else None
        if not keys:
            return
        challenge_id, participant_id = str(keys["challenge_id"]), str(keys["participant_id"])
        if record.event_name is DynamoDBRecordEventName.INSERT:
            container.campaigns.pledge_added(challenge_id, participant_id)
        elif record.event_name is DynamoDBRecordEventName.REMOVE:
            container.campaigns.pledge_removed(challenge_id, participant_id)

    return _process(event, context, record_handler)


def notify_milestones(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """A milestone was inserted in the outbox: send what each recipient is owed, once."""

    def record_handler(record: DynamoDBRecord) -> None:
        if record.event_name is not DynamoDBRecordEventName.INSERT:
            return
        image = record.raw_event.get("dynamodb", {}).get("NewImage")
        if image:
            container.notifications.notify(milestone_from_stream_image(image))

    return _process(event, context, record_handler)
