"""The deadline schedule: its EventBridge rule, its least-privilege role, its error alarm."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized
from tests.infra.test_alarms import alarms, dimension
from tests.infra.test_iam import as_list, granted_tables, role_statements, table_id

SCHEDULE = "end_due_challenges"


def schedule_events(stage: Synthesized, function: str) -> list[dict[str, Any]]:
    cfn_name = stage.stack.functions[function].cfn_name
    events = stage.json["Resources"][cfn_name]["Properties"].get("Events", {})
    return [event for event in events.values() if event["Type"] == "Schedule"]


def test_the_app_schedule_is_found_with_its_expression(stage: Synthesized) -> None:
    scheduled = {
        name: function.schedule
        for name, function in stage.stack.functions.items()
        if function.schedule is not None
    }

    assert scheduled == {SCHEDULE: "rate(1 minute)"}
    assert stage.stack.functions[SCHEDULE].stream_table is None


def test_its_rule_runs_every_minute(stage: Synthesized) -> None:
    (event,) = schedule_events(stage, SCHEDULE)

    assert event["Properties"]["Schedule"] == "rate(1 minute)"
    assert event["Properties"].get("Enabled", True) is True
    # Only the schedule function is scheduled.
    for name in stage.stack.functions:
        if name != SCHEDULE:
            assert schedule_events(stage, name) == []


def test_its_function_is_named_logged_and_bound_to_its_own_role(stage: Synthesized) -> None:
    function = stage.stack.functions[SCHEDULE]
    properties = stage.properties(function.cfn_name)

    assert properties["FunctionName"] == stage.stack.function_name(SCHEDULE)
    assert properties["Role"] == {
        "Fn::GetAtt": [stage.logical_id(stage.stack.roles[SCHEDULE]), "Arn"]
    }
    assert properties["LoggingConfig"]["LogGroup"]["Ref"] == stage.logical_id(
        stage.stack.log_groups[SCHEDULE]
    )


def test_its_role_has_named_actions_on_its_three_tables_only(stage: Synthesized) -> None:
    found = role_statements(stage, SCHEDULE)

    assert set(found) == {"WriteOwnLogs", "ReadItems", "WriteItems", "WriteTraces"}
    for sid, statement in found.items():
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action
        # X-Ray's writes have no resource-level permissions (tests/infra/test_iam.py).
        if sid != "WriteTraces":
            assert "*" not in as_list(statement["Resource"])
    assert granted_tables(found["ReadItems"]) == {
        table_id(stage, base) for base in ("counters", "challenges", "challenge_events")
    }
    # Counters too: closing a beneficiary vote past its closes_at freezes the vote's shards.
    assert granted_tables(found["WriteItems"]) == {
        table_id(stage, base) for base in ("counters", "challenges", "challenge_events")
    }
    # It lists live challenges through the by_status index.
    assert "/index/by_status" in json.dumps(found["ReadItems"]["Resource"])
    assert "ses:SendEmail" not in json.dumps(found)


def test_its_errors_raise_an_alarm(stage: Synthesized) -> None:
    name = f"crowdact-{stage.stack.stage.name}-{SCHEDULE}"
    matching = [
        a
        for a in alarms(stage)
        if a.get("MetricName") == "Errors" and dimension(a, "FunctionName") == name
    ]

    assert len(matching) == 1
    assert matching[0]["Threshold"] == 0
    assert matching[0]["ComparisonOperator"] == "GreaterThanThreshold"
