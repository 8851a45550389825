"""Least privilege: named actions on named resources, one role per function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.access import (
    APPEND_ACTIONS,
    APPEND_ONLY_TABLES,
    FUNCTION_ACCESS,
    READ_ACTIONS,
    TRACE_ACTIONS,
    WRITE_ACTIONS,
    TableAccess,
    table_levels,
)
from tests.infra.conftest import Synthesized

# Every resource type whose properties hold an IAM policy document.
POLICY_HOLDERS = {
    "AWS::IAM::Role": ("Policies",),
    "AWS::IAM::Policy": ("PolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::SNS::TopicPolicy": ("PolicyDocument",),
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
}


def statements(stage: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in stage.json["Resources"].items():
        holder = POLICY_HOLDERS.get(resource["Type"])
        if holder is None:
            continue
        value = resource["Properties"][holder[0]]
        documents = [p["PolicyDocument"] for p in value] if holder[0] == "Policies" else [value]
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_allow_statement_has_a_wildcard_action(stage: Synthesized) -> None:
    for logical_id, statement in statements(stage):
        if statement["Effect"] != "Allow":
            continue
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{logical_id}: {action}"


def test_only_x_ray_writes_apply_to_every_resource(stage: Synthesized) -> None:
    # X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so
    # active tracing needs them on "*": that statement holds those two actions and nothing
    # else. Metrics go out as EMF log lines (no cloudwatch:PutMetricData). ListStreams is
    # scoped to the table's streams, as AWS's own stream-reader example does.
    traced = 0
    for logical_id, statement in statements(stage):
        if statement["Effect"] != "Allow":
            continue
        assert "NotAction" not in statement, logical_id
        assert "NotResource" not in statement, logical_id
        if "*" in as_list(statement["Resource"]):
            assert statement.get("Sid") == "WriteTraces", logical_id
            assert sorted(as_list(statement["Action"])) == sorted(TRACE_ACTIONS), logical_id
            assert as_list(statement["Resource"]) == ["*"], logical_id
            traced += 1
    assert traced == len(stage.stack.functions)


def test_every_function_is_traced(stage: Synthesized) -> None:
    functions = stage.template.find_resources("AWS::Serverless::Function")
    assert functions
    for logical_id, function in functions.items():
        assert function["Properties"].get("Tracing") == "Active", logical_id


def test_wildcards_appear_only_in_tls_only_deny_statements(stage: Synthesized) -> None:
    """The one wildcard action is the DLQs' "deny everything over plain HTTP" (enforce_ssl):
    a Deny only takes rights away."""
    for logical_id, statement in statements(stage):
        if statement["Effect"] == "Deny":
            assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, logical_id


def test_roles_hold_inline_policies_only(stage: Synthesized) -> None:
    # Inline: the policy exists as soon as the role does, before Lambda checks it can read
    # the stream when it creates the event source mapping.
    assert not stage.resources("AWS::IAM::Policy")
    assert not stage.resources("AWS::IAM::ManagedPolicy")
    for role in stage.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
        principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        assert principal == {"Service": "lambda.amazonaws.com"}
    # One per function, and the web deployment's (tests/infra/test_web.py).
    assert len(stage.resources("AWS::IAM::Role")) == len(stage.stack.functions) + 1


def role_statements(stage: Synthesized, function: str) -> dict[str, dict[str, Any]]:
    role_id = stage.logical_id(stage.stack.roles[function])
    (policy,) = stage.properties(role_id)["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def table_id(stage: Synthesized, base: str) -> str:
    return stage.logical_id(stage.stack.tables[base])


def granted_tables(statement: dict[str, Any] | None) -> set[str]:
    if statement is None:
        return set()
    names = set()
    for resource in as_list(statement["Resource"]):
        text = json.dumps(resource)
        if "/index/" in text:
            continue
        names.add(resource["Fn::GetAtt"][0])
    return names


def test_each_function_reaches_only_its_tables(stage: Synthesized) -> None:
    for name, access in FUNCTION_ACCESS.items():
        if name not in stage.stack.functions:
            continue
        declared = table_levels(name, stage.stack.tables)
        if access.tables is None:  # every table: read-write, the append-only ones appended
            assert set(declared) == set(stage.stack.tables)
        found = role_statements(stage, name)
        assert as_list(found["ReadItems"]["Action"]) == list(READ_ACTIONS)
        assert granted_tables(found["ReadItems"]) == {table_id(stage, t) for t in declared}
        for sid, level, actions in (
            ("WriteItems", TableAccess.READ_WRITE, WRITE_ACTIONS),
            ("AppendItems", TableAccess.APPEND, APPEND_ACTIONS),
        ):
            granted = {t for t, given in declared.items() if given is level}
            assert granted_tables(found.get(sid)) == {table_id(stage, t) for t in granted}, sid
            if granted:
                assert as_list(found[sid]["Action"]) == list(actions)


def test_the_api_reaches_every_table_and_index(stage: Synthesized) -> None:
    resources = json.dumps(role_statements(stage, "api_handler")["ReadItems"]["Resource"])
    for spec in stage.stack.specs.values():
        for index in spec.global_indexes:
            assert f"/index/{index.name}" in resources
    assert granted_tables(role_statements(stage, "api_handler")["ReadItems"]) == {
        table_id(stage, base) for base in stage.stack.tables
    }


def test_only_triggers_read_streams_and_only_their_own(stage: Synthesized) -> None:
    for name, function in stage.stack.functions.items():
        found = role_statements(stage, name)
        if function.stream_table is None:
            assert "ReadTriggerStream" not in found
            assert "SendFailedBatchesToDlq" not in found
            continue
        stream = found["ReadTriggerStream"]
        assert stream["Resource"] == {
            "Fn::Join": [
                "",
                [{"Fn::GetAtt": [table_id(stage, function.stream_table), "Arn"]}, "/stream/*"],
            ]
        }
        queue_id = stage.logical_id(stage.stack.failure_queues[name])
        assert found["SendFailedBatchesToDlq"]["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert found["SendFailedBatchesToDlq"]["Action"] == "sqs:SendMessage"


def test_only_the_notifier_sends_mail_from_the_stage_identity(stage: Synthesized) -> None:
    senders = {name for name in stage.stack.functions if "SendMail" in role_statements(stage, name)}
    assert senders == {"notify_milestones"}
    mail = role_statements(stage, "notify_milestones")["SendMail"]
    assert mail["Action"] == "ses:SendEmail"
    text = json.dumps(mail["Resource"])
    assert f":identity/{stage.stack.stage.mail_domain}" in text
    assert ":configuration-set/" in text


def test_functions_write_only_their_own_log_group(stage: Synthesized) -> None:
    for name in stage.stack.functions:
        logs = role_statements(stage, name)["WriteOwnLogs"]
        log_group = stage.logical_id(stage.stack.log_groups[name])
        assert logs["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
        assert "logs:CreateLogGroup" not in as_list(logs["Action"])


def test_the_audit_trail_can_be_appended_to_and_read_never_changed(stage: Synthesized) -> None:
    """No role may update or delete an audit entry: the API reads the table and puts new
    entries (conditionally, in code), and no other function reaches it at all."""
    assert "audit" in APPEND_ONLY_TABLES
    audit = table_id(stage, "audit")
    reaching: dict[str, set[str]] = {}
    for logical_id, statement in statements(stage):
        if statement["Effect"] != "Allow":
            continue
        if audit in json.dumps(statement["Resource"]):
            reaching.setdefault(logical_id, set()).update(as_list(statement["Action"]))
    api_role = stage.logical_id(stage.stack.roles["api_handler"])
    assert set(reaching) == {api_role}
    assert reaching[api_role] == {*READ_ACTIONS, "dynamodb:PutItem"}
    api = role_statements(stage, "api_handler")
    assert granted_tables(api["AppendItems"]) == {audit}
    assert audit not in granted_tables(api["WriteItems"])


def test_no_function_may_be_declared_to_change_an_append_only_table() -> None:
    from infra import access

    changing = access.FunctionAccess(tables={"audit": TableAccess.READ_WRITE})
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(access.FUNCTION_ACCESS, "rogue", changing)
        with pytest.raises(ValueError, match="may only append"):
            table_levels("rogue", ["audit"])
