"""Make moto's DynamoDB behave like AWS where crowdact depends on it, and its transactions and
answers fast."""

from __future__ import annotations

import base64
import calendar
import contextvars
import copy
import functools
import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.local import moto_speedups

_APPLIED = False
# AWS expires a shard iterator after 15 minutes; moto keeps every one forever, and a poller
# makes one per read: with one poller per trigger, about 40 a second, 250 MB an hour. Keep the
# newest ones only (~1.8 KB each); an older one read again is answered as expired.
MAX_SHARD_ITERATORS = 10_000


def apply() -> None:
    """Cancelled transactions must leave the stream as it was, with its shard object intact.

    moto backs a transaction up by deep-copying every table it touches (its items and its
    whole stream), applies the writes one by one (each appending a stream record) and, when one
    fails, swaps the copies in. Open shard iterators then hold an orphaned shard that carries
    the cancelled writes' records, and the next real write reuses their sequence numbers: a
    poller loses it. AWS emits nothing for a cancelled transaction. So the stream shard is
    shared with the backup instead of copied (which also keeps each transaction from copying
    the table's whole stream history), and a cancelled transaction's records are cut off.
    """
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    # A backup of a table keeps the same stream shard object.
    StreamShard.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        lengths = {
            name: len(table.stream_shard.items)
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            original(self, transact_items)
        except Exception:
            for name, length in lengths.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not None:
                    del table.stream_shard.items[length:]
                    table.stream_shard.table = table  # the restored backup
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _back_up_named_items_only()  # wraps the fix above
    _bound_shard_iterators()
    _answer_data_calls_with_json_dumps()
    _keep_no_dynamodb_instances()
    moto_speedups.apply()
    _APPLIED = True


class _NotKept(list[Any]):
    """An `instances_tracked` that keeps nothing."""

    def append(self, _instance: Any) -> None:
        pass


# The services whose model instances moto need not keep for its dashboard.
UNTRACKED_SERVICES = ("dynamodb", "dynamodbstreams")


def _keep_no_dynamodb_instances() -> None:
    """moto keeps every instance of its models for its dashboard (`/moto-api/data.json`),
    copies included: every DynamoDB item it ever built, each deep copy an update or a
    transaction makes of one, each stream record and shard iterator. 500 meetup sign-ups
    left 109,000 items there, never freed, and each read of the dump (the tests read SES's
    sent messages from it) walked them all for 5 s under the lock every call waits for. The
    DynamoDB ones are in the tables themselves (the aws CLI reads them); SES's messages, which
    are read from the dump, are still kept."""
    import moto.dynamodb.models
    import moto.dynamodbstreams.models  # noqa: F401
    from moto.core.model_instances import model_data

    for service in UNTRACKED_SERVICES:
        for model in model_data.get(service, {}).values():
            model.instances_tracked = _NotKept()  # type: ignore[attr-defined]


def _bound_shard_iterators() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    original = DynamoDBStreamsBackend.get_records

    @functools.wraps(original)
    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        if iterator_arn not in self.shard_iterators:
            # moto raises KeyError for an iterator it no longer keeps; AWS answers this for an
            # iterator past its 15 minutes, and a reader starts again from where it was.
            raise JsonRESTError(
                "ExpiredIteratorException", "The shard iterator has expired: get a new one."
            )
        result: dict[str, Any] = original(self, iterator_arn, limit)
        iterators = self.shard_iterators
        while len(iterators) > MAX_SHARD_ITERATORS:
            del iterators[next(iter(iterators))]  # dicts keep insertion order: oldest first
        return result

    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]


_IN_TRANSACTION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "moto_in_transaction", default=False
)


@dataclass
class _Saved:
    table: Any
    hash_key: Any
    range_key: Any
    had_hash: bool
    item: Any  # a deep copy of the stored item, or None when there was none


def _back_up_named_items_only() -> None:
    """moto backs a transaction up with copy.deepcopy of every table it touches, so each
    pledge's transaction copies the whole pledges table: the n-th pledge copies n items
    (~45 µs each), which makes a burst of thousands of pledges crawl and grow memory, and a
    copy taken while another request thread writes can fail. The items a transaction does
    not name cannot change, so saving only the named ones restores exactly the same state on
    cancellation: how moto rolls back changes, not what it answers."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        if _IN_TRANSACTION.get():
            return self  # the backup is the live table; _restore undoes the named items
        result = self.__class__.__new__(self.__class__)
        memo[id(self)] = result
        for name, value in self.__dict__.items():
            setattr(result, name, copy.deepcopy(value, memo))
        return result

    Table.__deepcopy__ = table_deepcopy  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _save(self, transact_items)
        token = _IN_TRANSACTION.set(True)
        try:
            original(self, transact_items)
        except Exception:
            _restore(saved)
            raise
        finally:
            _IN_TRANSACTION.reset(token)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _save(backend: Any, transact_items: list[dict[str, Any]]) -> list[_Saved]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved: list[_Saved] = []
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto rejects it before writing anything
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        if not key or table.hash_key_attr not in key:
            continue
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in key:
                continue
            range_key = DynamoType(key[table.range_key_attr])
        had_hash = hash_key in table.items  # before get_item: its defaultdict adds the key
        stored = table.get_item(hash_key, range_key)
        saved.append(_Saved(table, hash_key, range_key, had_hash, copy.deepcopy(stored)))
    return saved


def _restore(saved: list[_Saved]) -> None:
    for entry in reversed(saved):
        items = entry.table.items
        if entry.range_key is None:
            if entry.item is None:
                items.pop(entry.hash_key, None)
            else:
                items[entry.hash_key] = entry.item
            continue
        if entry.item is None:
            items.get(entry.hash_key, {}).pop(entry.range_key, None)
            if not entry.had_hash and not items.get(entry.hash_key):
                items.pop(entry.hash_key, None)
        else:
            items[entry.hash_key][entry.range_key] = entry.item


# The DynamoDB and Streams calls whose answers moto builds as plain data in the wire format.
FAST_ANSWERS = frozenset({
    ("dynamodb", "GetItem"), ("dynamodb", "PutItem"), ("dynamodb", "UpdateItem"),
    ("dynamodb", "DeleteItem"), ("dynamodb", "BatchGetItem"), ("dynamodb", "BatchWriteItem"),
    ("dynamodb", "TransactGetItems"), ("dynamodb", "TransactWriteItems"),
    ("dynamodb", "Query"), ("dynamodb", "Scan"),
    ("dynamodbstreams", "GetRecords"), ("dynamodbstreams", "GetShardIterator"),
})  # fmt: skip
# Set (tests, or CROWDACT_MOTO_COMPARE_ANSWERS=1) to serialise every such answer both ways and
# fail on any difference.
COMPARE_ANSWERS = os.environ.get("CROWDACT_MOTO_COMPARE_ANSWERS") == "1"


class AnswerMismatchError(AssertionError):
    """The JSON dump of a result and moto's serializer disagreed (compare mode only)."""


def _answer_data_calls_with_json_dumps() -> None:
    """moto serialises every answer by walking the operation's botocore output shape, which
    costs more than the DynamoDB work itself: 1.3 s of an 8 s local start, 21 ms for one
    GetRecords of 100 records. For the calls in FAST_ANSWERS, moto's result is already the
    answer's JSON data (`dynamo_to_dict`), apart from timestamps and binary values: a JSON
    dump with moto's own rules for those two (epoch seconds truncated to the millisecond;
    base64) is the same answer once botocore has parsed it. Anything else (errors, objects)
    still goes to the serializer, and `tests/functional/test_moto_answers.py` compares both
    for every attribute type."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    original = ActionResult.execute_result
    # Exactly these: their subclasses (paginated, empty results) shape what they hold.
    plain_results = (ActionResult, DynamoResult)

    @functools.wraps(original)
    def execute_result(self: Any, context: Any) -> Any:
        operation = context.operation_model
        fast = (
            type(self) in plain_results
            and isinstance(self.result, dict)
            and (operation.service_model.service_name, operation.name) in FAST_ANSWERS
        )
        if not fast:
            return original(self, context)
        try:
            body = json.dumps(self.result, default=_wire_value)
        except TypeError:
            return original(self, context)
        headers = {"Content-Type": _json_content_type(operation.service_model)}
        status = operation.http.get("responseCode", 200)
        if COMPARE_ANSWERS:
            _compare(original(self, context), (status, headers, body), operation)
        return status, headers, body

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]


def _wire_value(value: object) -> object:
    """What moto's JSON serializer writes for the values `json` does not know."""
    if isinstance(value, datetime):
        seconds = calendar.timegm(value.utctimetuple())  # naive: taken as UTC, as moto does
        return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not plain JSON data: {type(value).__name__}")


def _json_content_type(service_model: Any) -> str:
    return f"application/x-amz-json-{service_model.metadata.get('jsonVersion', '1.0')}"


def _compare(expected: Any, actual: Any, operation: Any) -> None:
    """The same answer for a client: botocore parses both alike (it reads only the output
    shape's members, so a key moto's serializer drops, such as DeleteItem's legacy
    `ConsumedCapacityUnits`, is not part of it). Numbers compare by value: a `double` that
    moto's result holds as 1 parses as 1 from the dump and 1.0 from the serializer."""
    from botocore.parsers import create_parser

    parser = create_parser(operation.service_model.protocol)

    def parsed(answer: Any) -> Any:
        status, headers, body = answer
        response = {"status_code": status, "headers": headers, "body": body.encode("utf-8")}
        return status, headers.get("Content-Type"), parser.parse(response, operation.output_shape)

    if parsed(expected) != parsed(actual):
        raise AnswerMismatchError(
            f"{operation.name}: moto answers {expected!r}, the dump {actual!r}"
        )
