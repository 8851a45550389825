"""The local moto fix: a cancelled transaction leaves no stream record and no stale iterator."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from chalicelib.local import moto_fixes
from tests.functional.conftest import TEST_ENV


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-3")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        yield client


def _add(ddb: Any, key: str, *, must_exist: bool = False) -> None:
    counter = {"Update": {
        "TableName": "t", "Key": {"id": {"S": "counter"}},
        "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}},
    }}  # fmt: skip
    guarded = {"Put": {"TableName": "t", "Item": {"id": {"S": key}}}}
    if must_exist:
        guarded["Put"]["ConditionExpression"] = "attribute_exists(id)"
    ddb.transact_write_items(TransactItems=[guarded, counter])


def _stream_from_start(ddb: Any) -> tuple[Any, str]:
    """A streams client and an iterator at the start of table t's only shard."""
    streams = boto3.client(
        "dynamodbstreams", region_name="eu-west-3",
        config=Config(account_id_endpoint_mode="disabled"),
    )  # fmt: skip
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator: str = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return streams, iterator


def test_cancelled_transaction_leaves_no_record_and_iterators_see_later_writes(ddb: Any) -> None:
    streams, iterator = _stream_from_start(ddb)
    _add(ddb, "a")
    first = streams.get_records(ShardIterator=iterator)
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        _add(ddb, "missing", must_exist=True)
    _add(ddb, "b")
    later = streams.get_records(ShardIterator=first["NextShardIterator"])["Records"]
    keys = [record["dynamodb"]["Keys"]["id"]["S"] for record in later]
    # Without the fix the old iterator only sees the cancelled write's phantom counter record.
    assert sorted(keys) == ["b", "counter"]
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in first["Records"] + later]
    assert len(set(sequence)) == len(sequence)
    item = ddb.get_item(TableName="t", Key={"id": {"S": "counter"}})["Item"]
    assert item["n"]["N"] == "2"


def test_shard_iterators_are_bounded(ddb: Any) -> None:
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    streams, iterator = _stream_from_start(ddb)
    for _ in range(moto_fixes.MAX_SHARD_ITERATORS + 50):
        iterator = streams.get_records(ShardIterator=iterator)["NextShardIterator"]
    backend = dynamodbstreams_backends["123456789012"]["eu-west-3"]
    assert len(backend.shard_iterators) <= moto_fixes.MAX_SHARD_ITERATORS
    _add(ddb, "late")
    keys = [
        r["dynamodb"]["Keys"]["id"]["S"]
        for r in streams.get_records(ShardIterator=iterator)["Records"]
    ]
    # (moto emits two INSERT records when an update creates an item: hence a set)
    assert set(keys) == {"counter", "late"}


def test_cancelled_transaction_restores_the_items_it_named_and_keeps_the_others(ddb: Any) -> None:
    _add(ddb, "a")
    ddb.put_item(TableName="t", Item={"id": {"S": "bystander"}, "v": {"S": "kept"}})
    # The counter is updated first, then the guarded put fails: the update must be undone.
    counter = {"Update": {
        "TableName": "t", "Key": {"id": {"S": "counter"}},
        "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}},
    }}  # fmt: skip
    created = {"Put": {"TableName": "t", "Item": {"id": {"S": "new"}}}}
    guarded = {"Put": {"TableName": "t", "Item": {"id": {"S": "missing"}},
                       "ConditionExpression": "attribute_exists(id)"}}  # fmt: skip
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[counter, created, guarded])
    ids = {item["id"]["S"] for item in ddb.scan(TableName="t")["Items"]}
    assert ids == {"a", "counter", "bystander"}
    item = ddb.get_item(TableName="t", Key={"id": {"S": "counter"}})["Item"]
    assert item["n"]["N"] == "1"
