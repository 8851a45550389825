"""The tables are the PynamoDB models' tables: same names, keys, indexes and streams."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Match
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from moto import mock_aws

from chalicelib.settings import Settings
from chalicelib.storage import tables as models
from infra.tables import LIBRARY_TTL_ATTRIBUTES, table_specs
from tests.infra.conftest import Synthesized

RS256_ENV = {
    "CROWDACT_JWKS_URL": "https://issuer.example/.well-known/jwks.json",
    "CROWDACT_JWT_ISSUER": "https://issuer.example",
    "CROWDACT_JWT_AUDIENCE": "client",
}


def tables_by_name(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        table["Properties"]["TableName"]: table
        for table in synthesized.resources("AWS::DynamoDB::Table").values()
    }


def test_every_model_has_exactly_its_table(stage: Synthesized) -> None:
    expected = {stage.stack.stage.table_prefix + models.BASE_NAMES[m] for m in models.ALL_TABLES}
    assert set(tables_by_name(stage)) == expected


def test_table_names_are_the_ones_the_app_computes(stage: Synthesized) -> None:
    settings = Settings.from_env({"CROWDACT_STAGE": stage.stack.stage.name, **RS256_ENV})
    names = set(tables_by_name(stage))
    for spec in table_specs():
        assert settings.table_name(spec.name) in names


def test_tables_are_on_demand_with_point_in_time_recovery(stage: Synthesized) -> None:
    stage.template.all_resources_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )
    for table in tables_by_name(stage).values():
        assert "ProvisionedThroughput" not in table["Properties"]


def test_prod_tables_are_protected_and_retained(prod: Synthesized) -> None:
    prod.template.all_resources(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like({"DeletionProtectionEnabled": True}),
        },
    )


def test_dev_tables_can_be_deleted(dev: Synthesized) -> None:
    for table in tables_by_name(dev).values():
        assert table["DeletionPolicy"] == "Delete"
        assert table["Properties"].get("DeletionProtectionEnabled", False) is False


def _key_schema(schema: list[dict[str, str]]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in schema}


def test_keys_indexes_and_streams_follow_the_models(stage: Synthesized) -> None:
    by_name = tables_by_name(stage)
    for model in models.ALL_TABLES:
        base = models.BASE_NAMES[model]
        table = by_name[stage.stack.stage.table_prefix + base]["Properties"]
        schema = model._get_schema()
        assert _key_schema(table["KeySchema"]) == _key_schema(list(schema["key_schema"]))  # type: ignore[arg-type]
        expected_types = {
            **{d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]},
        }
        for index in schema["global_secondary_indexes"]:
            expected_types.update(
                {d["AttributeName"]: d["AttributeType"] for d in index["attribute_definitions"]}
            )
        actual_types = {
            d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]
        }
        assert actual_types == expected_types, base
        indexes = {
            i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"])
            for i in table.get("GlobalSecondaryIndexes", [])
        }
        expected_indexes = {
            i["index_name"]: (_key_schema(list(i["key_schema"])), dict(i["projection"]))
            for i in schema["global_secondary_indexes"]
        }
        assert indexes == expected_indexes, base
        view_type = getattr(model.Meta, "stream_view_type", None)
        if view_type is None:
            assert "StreamSpecification" not in table, base
        else:
            assert table["StreamSpecification"] == {"StreamViewType": view_type}, base


@pytest.mark.parametrize(
    ("base", "view_type"),
    [
        ("counters", "KEYS_ONLY"),
        ("challenge_events", "NEW_IMAGE"),
        ("pledges", "NEW_AND_OLD_IMAGES"),
    ],
)
def test_streams_the_triggers_read(stage: Synthesized, base: str, view_type: str) -> None:
    stage.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": stage.stack.stage.table_prefix + base,
            "StreamSpecification": {"StreamViewType": view_type},
        },
    )


def test_idempotency_records_expire_on_powertools_attribute(stage: Synthesized) -> None:
    defaults = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters
    # chalicelib.wiring.idempotency_store keeps Powertools' attribute names.
    assert LIBRARY_TTL_ATTRIBUTES["idempotency"] == defaults["expiry_attr"].default
    assert models.IdempotencyItem._hash_keyname == defaults["key_attr"].default
    stage.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": stage.stack.stage.table_prefix + "idempotency",
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
        },
    )


def test_ttl_only_where_a_model_or_library_expires_items(stage: Synthesized) -> None:
    expected = {
        stage.stack.stage.table_prefix + spec.name: spec.ttl_attribute for spec in table_specs()
    }
    actual = {
        name: table["Properties"].get("TimeToLiveSpecification", {}).get("AttributeName")
        for name, table in tables_by_name(stage).items()
    }
    assert actual == expected


@pytest.fixture
def moto_tables() -> Iterator[dict[str, dict[str, Any]]]:
    """What `create_tables` (the local stack's and the tests' way) creates, per base name."""
    saved = {m: (m.Meta.table_name, m.Meta.region, m.Meta.host) for m in models.ALL_TABLES}
    env = {"CROWDACT_STAGE": "dev", "AWS_REGION": "eu-west-3", **RS256_ENV}
    with (
        pytest.MonkeyPatch.context() as patch,
        mock_aws(),
    ):
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }.items():
            patch.setenv(key, value)
        settings = Settings.from_env(env)
        try:
            models.configure_tables(settings)
            models.create_tables(wait=False)
            client = boto3.client("dynamodb", region_name="eu-west-3")
            yield {
                base: client.describe_table(TableName=settings.table_name(base))["Table"]
                for base in models.BASE_NAMES.values()
            }
        finally:
            for model, (name, region, host) in saved.items():
                model.Meta.table_name, model.Meta.region, model.Meta.host = name, region, host
                model._connection = None


def test_the_template_creates_what_create_tables_creates(
    dev: Synthesized, moto_tables: dict[str, dict[str, Any]]
) -> None:
    by_name = tables_by_name(dev)
    for base, described in moto_tables.items():
        table = by_name[described["TableName"]]["Properties"]
        assert _key_schema(table["KeySchema"]) == _key_schema(described["KeySchema"])
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(
            described["AttributeDefinitions"], key=str
        )
        assert {
            i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"])
            for i in table.get("GlobalSecondaryIndexes", [])
        } == {
            i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"])
            for i in described.get("GlobalSecondaryIndexes", [])
        }, base
        stream = described.get("StreamSpecification", {})
        if stream.get("StreamEnabled"):
            assert table["StreamSpecification"] == {"StreamViewType": stream["StreamViewType"]}
        else:
            assert "StreamSpecification" not in table, base
        assert table["BillingMode"] == described["BillingModeSummary"]["BillingMode"]
