"""The stream triggers: partial failures, bounded retries, a DLQ each, filters, real streams."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.functions import API_HANDLER, app_functions, load_app, stream_table
from infra.triggers import FILTER_PATTERNS
from tests.infra.conftest import Synthesized


def functions(stage: Synthesized) -> dict[str, dict[str, Any]]:
    return stage.resources("AWS::Serverless::Function")


def stream_event(stage: Synthesized, cfn_name: str) -> dict[str, Any]:
    events = functions(stage)[cfn_name]["Properties"]["Events"]
    assert len(events) == 1, f"{cfn_name} has events {sorted(events)}"
    (event,) = events.values()
    assert event["Type"] == "DynamoDB"
    properties: dict[str, Any] = event["Properties"]
    return properties


def test_the_app_triggers_are_discovered(repo_root: Any) -> None:
    names = {f.name: f.stream_table for f in app_functions(load_app(repo_root))}
    assert names[API_HANDLER] is None
    assert names["aggregate_progress"] == "counters"
    assert names["notify_milestones"] == "challenge_events"


@pytest.mark.parametrize(
    ("arn", "table"),
    [
        ("arn:aws:dynamodb:eu-west-3:000000000000:table/counters/stream/local", "counters"),
        (
            "arn:aws:dynamodb:eu-west-3:123456789012:table/crowdact-prod-challenge_events"
            "/stream/2026-01-01T00:00:00.000",
            "challenge_events",
        ),
    ],
)
def test_stream_arns_name_their_table(arn: str, table: str) -> None:
    assert stream_table(arn) == table


def test_every_trigger_reads_its_tables_real_stream(stage: Synthesized) -> None:
    assert stage.stack.triggers, "no stream trigger found"
    for trigger in stage.stack.triggers:
        table_id = stage.logical_id(stage.stack.tables[trigger.table])
        assert stream_event(stage, trigger.cfn_name)["Stream"] == {
            "Fn::GetAtt": [table_id, "StreamArn"]
        }
        assert "StreamSpecification" in stage.properties(table_id)


def test_triggers_report_partial_failures_and_give_up_in_bounded_time(stage: Synthesized) -> None:
    for trigger in stage.stack.triggers:
        event = stream_event(stage, trigger.cfn_name)
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert event["BisectBatchOnFunctionError"] is True
        assert 0 < event["MaximumRetryAttempts"] <= 10
        assert 60 <= event["MaximumRecordAgeInSeconds"] <= 6 * 3600
        # The app's own batch settings survive the overrides.
        assert event["StartingPosition"] == "TRIM_HORIZON"
        assert event["BatchSize"] >= 1


def test_each_trigger_has_its_own_encrypted_failure_queue(stage: Synthesized) -> None:
    destinations = []
    for trigger in stage.stack.triggers:
        destination = stream_event(stage, trigger.cfn_name)["DestinationConfig"]["OnFailure"]
        queue_id = stage.logical_id(stage.stack.failure_queues[trigger.function_name])
        assert destination == {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
        assert stage.properties(queue_id)["SqsManagedSseEnabled"] is True
        destinations.append(queue_id)
    assert len(set(destinations)) == len(destinations)
    stage.template.resource_count_is("AWS::SQS::Queue", len(stage.stack.triggers))


def test_milestone_notifications_see_only_inserts(stage: Synthesized) -> None:
    event = stream_event(stage, "NotifyMilestones")
    patterns = [json.loads(f["Pattern"]) for f in event["FilterCriteria"]["Filters"]]
    assert patterns == [{"eventName": ["INSERT"]}]


def test_progress_aggregation_sees_every_change_of_a_challenge_counter(
    stage: Synthesized,
) -> None:
    filters = stream_event(stage, "AggregateProgress")["FilterCriteria"]["Filters"]
    assert [json.loads(f["Pattern"]) for f in filters] == [
        {"dynamodb": {"Keys": {"id": {"S": [{"prefix": "ch_"}]}}}}
    ]


def test_filters_are_declared_for_the_triggers_that_exist(stage: Synthesized) -> None:
    names = {t.function_name for t in stage.stack.triggers}
    assert set(FILTER_PATTERNS) <= names, "a filter for a trigger that no longer exists"
    for trigger in stage.stack.triggers:
        event = stream_event(stage, trigger.cfn_name)
        expected = list(FILTER_PATTERNS.get(trigger.function_name, ()))
        actual = [
            json.loads(f["Pattern"]) for f in event.get("FilterCriteria", {}).get("Filters", [])
        ]
        assert actual == expected


def test_every_function_is_named_logged_and_has_its_own_role(stage: Synthesized) -> None:
    roles = set()
    for name, function in stage.stack.functions.items():
        properties = stage.properties(function.cfn_name)
        assert properties["FunctionName"] == f"crowdact-{stage.stack.stage.name}-{name}"
        role_id = stage.logical_id(stage.stack.roles[name])
        assert properties["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
        assert properties["LoggingConfig"]["LogGroup"] == {
            "Ref": stage.logical_id(stage.stack.log_groups[name])
        }
        roles.add(role_id)
    assert len(roles) == len(stage.stack.functions)
    assert set(functions(stage)) == {f.cfn_name for f in stage.stack.functions.values()}


def test_function_logs_expire(stage: Synthesized) -> None:
    stage.template.all_resources_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": stage.stack.stage.log_retention_days}
    )
    # The functions' and the web deployment's.
    stage.template.resource_count_is("AWS::Logs::LogGroup", len(stage.stack.functions) + 1)


def test_no_placeholder_stream_arn_is_left(stage: Synthesized) -> None:
    assert "stream/local" not in json.dumps(stage.json)
