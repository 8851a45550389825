"""The alarms: DLQs, stream lag, function errors, table throttles, API 5xx rate."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized


def alarms(stage: Synthesized) -> list[dict[str, Any]]:
    return [a["Properties"] for a in stage.resources("AWS::CloudWatch::Alarm").values()]


def dimension(alarm: dict[str, Any], name: str) -> Any:
    return next(d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == name)


def test_every_failure_queue_alarms_when_not_empty(stage: Synthesized) -> None:
    for trigger in stage.stack.triggers:
        queue = stage.stack.failure_queues[trigger.function_name]
        queue_id = stage.logical_id(queue)
        matching = [
            a
            for a in alarms(stage)
            if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and dimension(a, "QueueName") == {"Fn::GetAtt": [queue_id, "QueueName"]}
        ]
        assert len(matching) == 1, trigger.function_name
        assert matching[0]["Threshold"] == 0
        assert matching[0]["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_trigger_alarms_on_iterator_age(stage: Synthesized) -> None:
    for trigger in stage.stack.triggers:
        name = f"crowdact-{stage.stack.stage.name}-{trigger.function_name}"
        (alarm,) = [
            a
            for a in alarms(stage)
            if a.get("MetricName") == "IteratorAge" and dimension(a, "FunctionName") == name
        ]
        assert alarm["Threshold"] == trigger.settings.iterator_age_alarm_ms
        assert alarm["Statistic"] == "Maximum"


def test_every_function_alarms_on_errors(stage: Synthesized) -> None:
    names = {dimension(a, "FunctionName") for a in alarms(stage) if a.get("MetricName") == "Errors"}
    assert names == {f"crowdact-{stage.stack.stage.name}-{n}" for n in stage.stack.functions}


def test_every_table_alarms_on_throttled_requests(stage: Synthesized) -> None:
    throttled: set[str] = set()
    for alarm in alarms(stage):
        for metric in alarm.get("Metrics", []):
            stat = metric.get("MetricStat", {}).get("Metric", {})
            if stat.get("MetricName") == "ThrottledRequests":
                throttled.add(
                    next(d["Value"]["Ref"] for d in stat["Dimensions"] if d["Name"] == "TableName")
                )
    tables = {stage.logical_id(t) for t in stage.stack.tables.values()}
    assert throttled == tables


def test_api_5xx_rate_alarm(stage: Synthesized) -> None:
    (alarm,) = [a for a in alarms(stage) if a.get("MetricName") == "5XXError"]
    assert alarm["Namespace"] == "AWS/ApiGateway"
    assert alarm["Statistic"] == "Average"
    assert dimension(alarm, "ApiName") == f"crowdact-{stage.stack.stage.name}-api"
    assert dimension(alarm, "Stage") == "api"
    assert 0 < alarm["Threshold"] < 0.1


def test_a_lost_audit_entry_alarms(stage: Synthesized) -> None:
    (alarm,) = [a for a in alarms(stage) if a.get("MetricName") == "AuditAppendFailed"]
    assert alarm["Namespace"] == "crowdact"
    assert alarm["Statistic"] == "Sum"
    assert alarm["Threshold"] == 0
    # The dimensions the app's EMF lines carry (chalicelib.observability.Metrics).
    assert dimension(alarm, "stage") == stage.stack.stage.name
    assert dimension(alarm, "service") == "crowdact"


def test_every_alarm_notifies_the_stage_topic(stage: Synthesized) -> None:
    topic = {"Ref": stage.logical_id(stage.stack.alarm_topic)}
    for alarm in alarms(stage):
        assert alarm["AlarmActions"] == [topic]
        assert alarm["OKActions"] == [topic]
        assert alarm["TreatMissingData"] == "notBreaching"
