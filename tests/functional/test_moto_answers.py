"""moto's data-call answers as a JSON dump: what a client parses is what moto's serializer gives.

With COMPARE_ANSWERS on, every answer in FAST_ANSWERS is serialised both ways and botocore's
parses of the two must be equal (else AnswerMismatchError). These calls cover every attribute
type, images in stream records, timestamps, binary values, pagination, conditions that fail
and a legacy key that moto's serializer drops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local import moto_fixes
from tests.functional.conftest import TEST_ENV

EVERY_TYPE: dict[str, Any] = {
    "pk": {"S": "item-1"},
    "s": {"S": "Léa ✓"},
    "n": {"N": "12.5"},
    "big": {"N": "123456789012345678901234567890"},
    "b": {"B": b"\x00\xffbinary"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "m": {"M": {"inner": {"S": "x"}, "deep": {"M": {"n": {"N": "1"}}}}},
    "l": {"L": [{"S": "x"}, {"N": "2"}, {"NULL": True}, {"BOOL": False}]},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "empty": {"S": ""},
}


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """moto with its fixes, in compare mode; yields the operations that took the fast path."""
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    moto_fixes.apply()
    monkeypatch.setattr(moto_fixes, "COMPARE_ANSWERS", True)
    fast: list[str] = []
    original = moto_fixes._compare

    def compare(expected: Any, actual: Any, operation: Any) -> None:
        fast.append(str(operation.name))
        original(expected, actual, operation)

    monkeypatch.setattr(moto_fixes, "_compare", compare)
    with mock_aws():
        yield fast


def _table(ddb: Any, name: str, view: str = "NEW_AND_OLD_IMAGES") -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )


def test_every_data_call_answers_as_motos_serializer(compared: list[str]) -> None:
    ddb = boto3.client("dynamodb", region_name="eu-west-3")
    _table(ddb, "answers")
    item = {**EVERY_TYPE, "sk": {"N": "1"}}
    ddb.put_item(TableName="answers", Item=item, ReturnConsumedCapacity="TOTAL")
    got = ddb.get_item(TableName="answers", Key={"pk": item["pk"], "sk": item["sk"]},
                       ConsistentRead=True)["Item"]  # fmt: skip
    assert got == item  # bytes came back as bytes: base64 on the wire, decoded by botocore
    ddb.put_item(TableName="answers", Item={**item, "n": {"N": "13"}}, ReturnValues="ALL_OLD")
    ddb.update_item(
        TableName="answers", Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="ADD n :one SET s = :s", ReturnValues="ALL_NEW",
        ExpressionAttributeValues={":one": {"N": "1"}, ":s": {"S": "changed"}},
    )  # fmt: skip
    with pytest.raises(ClientError) as failed:
        ddb.put_item(TableName="answers", Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    for sk in range(2, 8):
        ddb.put_item(TableName="answers", Item={"pk": item["pk"], "sk": {"N": str(sk)}})
    pages = ddb.get_paginator("query").paginate(
        TableName="answers", KeyConditionExpression="pk = :pk", Limit=3,
        ExpressionAttributeValues={":pk": item["pk"]},
    )  # fmt: skip
    assert sum(page["Count"] for page in pages) == 7
    assert ddb.scan(TableName="answers", Limit=2)["LastEvaluatedKey"]
    ddb.batch_write_item(RequestItems={"answers": [
        {"PutRequest": {"Item": {"pk": {"S": "item-2"}, "sk": {"N": "1"}, "b": {"B": b"x"}}}},
        {"DeleteRequest": {"Key": {"pk": item["pk"], "sk": {"N": "7"}}}},
    ]})  # fmt: skip
    keys = [{"pk": item["pk"], "sk": item["sk"]}, {"pk": {"S": "item-2"}, "sk": {"N": "1"}}]
    batch = ddb.batch_get_item(RequestItems={"answers": {"Keys": keys, "ConsistentRead": True}})
    assert len(batch["Responses"]["answers"]) == 2
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "answers", "Key": keys[1], "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"NS": ["1", "2"]}}}},
        {"ConditionCheck": {"TableName": "answers", "Key": keys[0],
                            "ConditionExpression": "attribute_exists(pk)"}},
    ])  # fmt: skip
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "answers", "Item": keys[0],
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])  # fmt: skip
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "answers", "Key": k}}
                                                 for k in keys])["Responses"]  # fmt: skip
    # DeleteItem: moto's result carries a legacy ConsumedCapacityUnits its serializer drops.
    ddb.delete_item(TableName="answers", Key=keys[1], ReturnValues="ALL_OLD")

    records = _all_stream_records(ddb, "answers")
    assert {record["eventName"] for record in records} == {"INSERT", "MODIFY", "REMOVE"}
    first = records[0]["dynamodb"]
    assert first["NewImage"] == item
    assert first["ApproximateCreationDateTime"].tzinfo is not None  # a timestamp, parsed

    assert set(compared) == {
        "PutItem", "GetItem", "UpdateItem", "Query", "Scan", "BatchWriteItem", "BatchGetItem",
        "TransactWriteItems", "TransactGetItems", "DeleteItem", "GetShardIterator", "GetRecords",
    }  # fmt: skip


def _all_stream_records(ddb: Any, table: str) -> list[dict[str, Any]]:
    streams = boto3.client(
        "dynamodbstreams", region_name="eu-west-3",
        config=Config(account_id_endpoint_mode="disabled"),
    )  # fmt: skip
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=5)
        records.extend(page["Records"])
        if not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    return records


def test_a_difference_is_reported_in_compare_mode(
    compared: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison itself can fail: a dump that writes a binary value wrongly is caught."""
    ddb = boto3.client("dynamodb", region_name="eu-west-3")
    _table(ddb, "lossy")
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    ddb.put_item(TableName="lossy", Item={**key, "b": {"B": b"right"}})
    right = moto_fixes._wire_value

    def wrong(value: object) -> object:
        return "d3Jvbmc=" if isinstance(value, bytes) else right(value)  # base64 of b"wrong"

    monkeypatch.setattr(moto_fixes, "_wire_value", wrong)
    with pytest.raises(Exception, match="GetItem: moto answers"):
        ddb.get_item(TableName="lossy", Key=key)


def test_what_is_not_plain_data_still_goes_to_motos_serializer(compared: list[str]) -> None:
    ddb = boto3.client("dynamodb", region_name="eu-west-3")
    _table(ddb, "control")
    assert ddb.describe_table(TableName="control")["Table"]["TableName"] == "control"
    assert compared == []  # CreateTable, DescribeTable: control-plane calls, not fast
    with pytest.raises(TypeError):
        moto_fixes._wire_value(object())
