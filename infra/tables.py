"""The DynamoDB tables, derived from the PynamoDB models so the infrastructure cannot drift.

Keys, attribute types, indexes and their projections come from the very schema PynamoDB's
`create_table` sends (`Model._get_schema()`), stream view types from `Meta.stream_view_type`,
and TTL from a `TTLAttribute` where a model declares one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.storage import tables as models
from infra.stages import StageConfig

# Tables whose TTL attribute is written by a library rather than declared on the model:
# Powertools' idempotency records expire on `expiration` (DynamoDBPersistenceLayer's
# default `expiry_attr`, which chalicelib.wiring.idempotency_store keeps).
LIBRARY_TTL_ATTRIBUTES: Mapping[str, str] = {"idempotency": "expiration"}


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: str  # "S", "N" or "B", as in DynamoDB's AttributeDefinitions


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None
    projection: str  # "ALL", "KEYS_ONLY" or "INCLUDE"
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    name: str  # the base name: `crowdact-<stage>-<name>` in AWS
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None
    global_indexes: tuple[IndexSpec, ...]
    local_indexes: tuple[IndexSpec, ...]
    stream_view_type: str | None
    ttl_attribute: str | None

    def physical_name(self, stage: StageConfig) -> str:
        return stage.table_prefix + self.name


def table_specs() -> tuple[TableSpec, ...]:
    """One spec per model in `chalicelib.storage.tables.ALL_TABLES`, in that order."""
    return tuple(_spec(model) for model in models.ALL_TABLES)


def _spec(model: type[Model]) -> TableSpec:
    schema = model._get_schema()
    types = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    partition_key, sort_key = _keys(schema["key_schema"], types)
    ttl = next((a for a in model.get_attributes().values() if isinstance(a, TTLAttribute)), None)
    base_name = models.BASE_NAMES[model]
    return TableSpec(
        name=base_name,
        partition_key=partition_key,
        sort_key=sort_key,
        global_indexes=tuple(_index(i, types) for i in schema["global_secondary_indexes"]),
        local_indexes=tuple(_index(i, types) for i in schema["local_secondary_indexes"]),
        stream_view_type=getattr(model.Meta, "stream_view_type", None),
        ttl_attribute=ttl.attr_name if ttl else LIBRARY_TTL_ATTRIBUTES.get(base_name),
    )


def _keys(
    key_schema: Sequence[Mapping[str, Any]], types: Mapping[str, str]
) -> tuple[KeyAttribute, KeyAttribute | None]:
    by_type = {
        str(key["KeyType"]): KeyAttribute(str(key["AttributeName"]), types[key["AttributeName"]])
        for key in key_schema
    }
    return by_type["HASH"], by_type.get("RANGE")


def _index(index: Mapping[str, Any], table_types: Mapping[str, str]) -> IndexSpec:
    types = dict(table_types)
    types.update(
        {d["AttributeName"]: d["AttributeType"] for d in index.get("attribute_definitions", [])}
    )
    partition_key, sort_key = _keys(index["key_schema"], types)
    projection = index["projection"]
    return IndexSpec(
        name=index["index_name"],
        partition_key=partition_key,
        sort_key=sort_key,
        projection=projection["ProjectionType"],
        non_key_attributes=tuple(projection.get("NonKeyAttributes", ())),
    )


_ATTRIBUTE_TYPES: Mapping[str, dynamodb.AttributeType] = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _construct_id(base_name: str) -> str:
    return "".join(part.capitalize() for part in base_name.split("_")) + "Table"


def build_tables(
    scope: Construct, stage: StageConfig, specs: Sequence[TableSpec] | None = None
) -> dict[str, dynamodb.Table]:
    """The stage's tables, keyed by base name: on demand, PITR, deletion protection in prod."""
    tables: dict[str, dynamodb.Table] = {}
    for spec in specs if specs is not None else table_specs():
        table = dynamodb.Table(
            scope,
            _construct_id(spec.name),
            table_name=spec.physical_name(stage),
            partition_key=_attribute(spec.partition_key),
            sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=stage.retain_data,
            removal_policy=cdk.RemovalPolicy.RETAIN
            if stage.retain_data
            else cdk.RemovalPolicy.DESTROY,
            stream=dynamodb.StreamViewType(spec.stream_view_type)
            if spec.stream_view_type
            else None,
            time_to_live_attribute=spec.ttl_attribute,
        )
        for index in spec.global_indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType(index.projection),
                non_key_attributes=list(index.non_key_attributes) or None,
            )
        for index in spec.local_indexes:
            if index.sort_key is None:  # pragma: no cover - DynamoDB requires one
                raise ValueError(f"local index {index.name} has no sort key")
            table.add_local_secondary_index(
                index_name=index.name,
                sort_key=_attribute(index.sort_key),
                projection_type=dynamodb.ProjectionType(index.projection),
                non_key_attributes=list(index.non_key_attributes) or None,
            )
        tables[spec.name] = table
    return tables
