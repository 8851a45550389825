"""The stream triggers' failure handling, added to the event sources Chalice generates.

`@app.on_dynamodb_record` only sets the stream, batch size, starting position and batching
window; Chalice emits it as a `DynamoDB` event of the `AWS::Serverless::Function` (SAM turns
it into an `AWS::Lambda::EventSourceMapping`). The rest is set here on that event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sam as sam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.domain.model import CHALLENGE_ID_PREFIX
from infra.functions import ChaliceFunction
from infra.stages import StageConfig, TriggerSettings

# Lambda drops (and never bills) records matching none of a trigger's patterns; each filter
# keeps exactly the records its handler in chalicelib/streams.py acts on. A trigger not
# listed gets every record.
FILTER_PATTERNS: Mapping[str, tuple[dict[str, Any], ...]] = {
    # Challenges' counter shards only (`ch_…#<shard>`): campaign shards share the table but
    # are read as they are (chalicelib/streams.py skips them too).
    "aggregate_progress": (
        {"dynamodb": {"Keys": {"id": {"S": [{"prefix": CHALLENGE_ID_PREFIX}]}}}},
    ),
    # Milestone, participant e-mail chunk and meetup seat notice INSERTs (each written once, with
    # attribute_not_exists; chunks are keyed `fanout#…` beside the milestones): the handler
    # skips MODIFY and REMOVE. Do not filter on the `event` key without letting chunks in.
    "notify_milestones": ({"eventName": ["INSERT"]},),
    # Pledges made (INSERT) and withdrawn (REMOVE); the handler skips MODIFY.
    "track_campaigns": ({"eventName": ["INSERT", "REMOVE"]},),
    # Pledges made (INSERT) and withdrawn (REMOVE), with an area or not: every one is counted
    # in its hour (the report's series), those with an area in their area too. The handler
    # skips MODIFY.
    "count_areas": ({"eventName": ["INSERT", "REMOVE"]},),
    # Pledges made, withdrawn and reported on (a report is a MODIFY raising
    # `quantity_reported`; a filter cannot compare the two images, so every MODIFY comes
    # and the handler skips the others, such as a vote).
    "count_teams": ({"eventName": ["INSERT", "REMOVE", "MODIFY"]},),
}


@dataclass(frozen=True)
class Trigger:
    function: ChaliceFunction
    table: str  # the base name of the table whose stream it reads
    settings: TriggerSettings

    @property
    def function_name(self) -> str:
        return self.function.name

    @property
    def cfn_name(self) -> str:
        return self.function.cfn_name


def triggers(stage: StageConfig, functions: Sequence[ChaliceFunction]) -> tuple[Trigger, ...]:
    return tuple(
        Trigger(function, function.stream_table, stage.trigger(function.name))
        for function in functions
        if function.stream_table is not None
    )


def build_failure_queue(scope: Construct, stage: StageConfig, trigger: Trigger) -> sqs.Queue:
    """Where Lambda sends a batch it gave up on: the record's position in the stream (not its
    content), to replay it while the stream keeps it (24 h)."""
    return sqs.Queue(
        scope,
        f"{trigger.cfn_name}Failures",
        queue_name=stage.resource_name(f"{trigger.function_name}-failures"),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
        removal_policy=cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY,
    )


def event_source_properties(
    trigger: Trigger, stream_arn: str, failure_queue_arn: str
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "Stream": stream_arn,
        # chalicelib.streams answers with batchItemFailures: without this Lambda would take a
        # partly failed batch for a success.
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": trigger.settings.max_retry_attempts,
        "MaximumRecordAgeInSeconds": trigger.settings.max_record_age_seconds,
        "DestinationConfig": {"OnFailure": {"Destination": failure_queue_arn}},
    }
    patterns = FILTER_PATTERNS.get(trigger.function_name, ())
    if patterns:
        properties["FilterCriteria"] = {
            "Filters": [{"Pattern": json.dumps(pattern)} for pattern in patterns]
        }
    return properties


def configure_trigger(
    function: sam.CfnFunction,
    trigger: Trigger,
    table: dynamodb.ITable,
    failure_queue: sqs.IQueue,
) -> None:
    if table.table_stream_arn is None:
        raise ValueError(f"table {trigger.table} has no stream for {trigger.function_name}")
    properties = event_source_properties(trigger, table.table_stream_arn, failure_queue.queue_arn)
    for name, value in properties.items():
        function.add_property_override(
            f"Events.{trigger.function.event_name}.Properties.{name}", value
        )
