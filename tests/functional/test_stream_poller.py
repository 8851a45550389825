"""StreamPoller reads moto's DynamoDB streams and drives handlers the way Lambda does."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.local import shared_stream_reads
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.shared_stream_reads import SharedStreamReads
from chalicelib.local.stream_poller import (
    LocalLambdaContext,
    StreamBinding,
    StreamNotDrainedError,
    StreamPoller,
)
from tests.functional.conftest import aws_client

REGION = "eu-west-3"

Verdict = Callable[[list[dict[str, Any]], int], dict[str, Any] | None]


@pytest.fixture
def ddb(aws: EmbeddedAws) -> Any:
    return aws_client(aws, "dynamodb")


@pytest.fixture(params=["direct", "shared"])
def streams(aws: EmbeddedAws, request: pytest.FixtureRequest) -> Any:
    """The streams client itself, or the local stack's shared reads over it: every poller
    case holds for both."""
    client = aws_client(aws, "dynamodbstreams")
    return client if request.param == "direct" else SharedStreamReads(client)


@dataclass
class Table:
    ddb: Any
    name: str
    stream_arn: str

    def put(self, pk: str, **attributes: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.name, Item={"pk": {"S": pk}, **attributes})

    def put_many(self, count: int) -> None:
        for i in range(count):
            self.put(f"item-{i:03d}", n={"N": str(i)})


@pytest.fixture
def table(ddb: Any) -> Table:
    name = f"pledges-{uuid.uuid4().hex[:8]}"
    created = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return Table(ddb, name, created["TableDescription"]["LatestStreamArn"])


@dataclass
class RecordingHandler:
    """A stream handler that keeps every event it got (as JSON) and answers by a verdict."""

    verdict: Verdict = lambda records, call: None
    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        # A JSON round trip proves the event is what Lambda could have sent.
        self.events.append(json.loads(json.dumps(event)))
        self.contexts.append(context)
        return self.verdict(event["Records"], len(self.events))

    @property
    def batches(self) -> list[list[str]]:
        return [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in self.events]

    def delivered(self, pk: str) -> int:
        return sum(batch.count(pk) for batch in self.batches)


def sequence_of(records: list[dict[str, Any]], pk: str) -> str:
    return next(
        str(r["dynamodb"]["SequenceNumber"])
        for r in records
        if r["dynamodb"]["Keys"]["pk"]["S"] == pk
    )


def fail_on(pk: str, *, times: int | None = None) -> Verdict:
    """Report `pk` in batchItemFailures (the first `times` calls, or always)."""

    def verdict(records: list[dict[str, Any]], call: int) -> dict[str, Any] | None:
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]
        if pk not in keys or (times is not None and call > times):
            return None
        return {"batchItemFailures": [{"itemIdentifier": sequence_of(records, pk)}]}

    return verdict


def raise_on(pk: str) -> Verdict:
    def verdict(records: list[dict[str, Any]], call: int) -> dict[str, Any] | None:
        if any(r["dynamodb"]["Keys"]["pk"]["S"] == pk for r in records):
            raise ValueError(f"cannot process {pk}")
        return None

    return verdict


@dataclass
class FailureDestination:
    failed: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def __call__(self, binding: StreamBinding, record: dict[str, Any], reason: str) -> None:
        self.failed.append((binding.name, record, reason))

    @property
    def keys(self) -> list[str]:
        return [record["dynamodb"]["Keys"]["pk"]["S"] for _, record, _ in self.failed]


def poller_for(
    streams: Any,
    table: Table,
    handler: RecordingHandler,
    *,
    on_failure: FailureDestination | None = None,
    **settings: int,
) -> StreamPoller:
    binding = StreamBinding("notifier", table.stream_arn, handler, **settings)
    return StreamPoller(streams, [binding], on_failure=on_failure)


def test_delivers_lambda_shaped_records(streams: Any, table: Table) -> None:
    handler = RecordingHandler()
    poller = poller_for(streams, table, handler)
    table.put("ch-1", goal={"N": "10"}, logo={"B": b"\x89PNG"})
    table.ddb.update_item(
        TableName=table.name,
        Key={"pk": {"S": "ch-1"}},
        UpdateExpression="SET goal = :g",
        ExpressionAttributeValues={":g": {"N": "20"}},
    )
    table.ddb.delete_item(TableName=table.name, Key={"pk": {"S": "ch-1"}})

    assert poller.poll_once() == 3

    [event] = handler.events
    insert, modify, remove = event["Records"]
    assert [r["eventName"] for r in event["Records"]] == ["INSERT", "MODIFY", "REMOVE"]
    for record in event["Records"]:
        assert record["eventSourceARN"] == table.stream_arn
        assert record["awsRegion"] == REGION
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventVersion"] == "1.0"
        assert record["eventID"]
        dynamodb = record["dynamodb"]
        assert dynamodb["Keys"] == {"pk": {"S": "ch-1"}}
        assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(dynamodb["SizeBytes"], int)
        assert isinstance(dynamodb["ApproximateCreationDateTime"], int)
        assert abs(dynamodb["ApproximateCreationDateTime"] - time.time()) < 120
    sequence_numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]]
    assert sequence_numbers == sorted(set(sequence_numbers))
    # Binary attributes arrive base64-encoded, as in a real Lambda event.
    assert insert["dynamodb"]["NewImage"] == {
        "pk": {"S": "ch-1"},
        "goal": {"N": "10"},
        "logo": {"B": "iVBORw=="},
    }
    assert "OldImage" not in insert["dynamodb"]
    assert modify["dynamodb"]["OldImage"]["goal"] == {"N": "10"}
    assert modify["dynamodb"]["NewImage"]["goal"] == {"N": "20"}
    assert "NewImage" not in remove["dynamodb"]
    [context] = handler.contexts
    assert isinstance(context, LocalLambdaContext)
    assert context.function_name == "notifier"
    assert context.aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    assert context.invoked_function_arn == (
        f"arn:aws:lambda:{REGION}:123456789012:function:notifier"
    )


def test_batches_are_at_most_batch_size_and_in_order(streams: Any, table: Table) -> None:
    handler = RecordingHandler()
    poller = poller_for(streams, table, handler, batch_size=2)
    table.put_many(5)

    assert poller.drain() == 5

    assert handler.batches == [["item-000", "item-001"], ["item-002", "item-003"], ["item-004"]]


def test_partial_failure_redelivers_from_the_failed_record(streams: Any, table: Table) -> None:
    handler = RecordingHandler(fail_on("item-002", times=1))
    poller = poller_for(streams, table, handler)
    table.put_many(5)

    assert poller.poll_once() == 2
    assert poller.poll_once() == 3
    assert poller.poll_once() == 0

    assert handler.batches == [
        ["item-000", "item-001", "item-002", "item-003", "item-004"],
        ["item-002", "item-003", "item-004"],
    ]


def test_a_raising_handler_gets_the_whole_batch_again(streams: Any, table: Table) -> None:
    def fail_first_call(records: list[dict[str, Any]], call: int) -> None:
        if call == 1:
            raise RuntimeError("SES is down")

    handler = RecordingHandler(fail_first_call)
    poller = poller_for(streams, table, handler)
    table.put_many(3)

    assert poller.poll_once() == 0
    assert poller.poll_once() == 3

    first, second = handler.events
    assert second["Records"] == first["Records"]


def test_poison_record_goes_to_on_failure_after_max_retries(streams: Any, table: Table) -> None:
    handler = RecordingHandler(fail_on("item-001"))
    destination = FailureDestination()
    poller = poller_for(streams, table, handler, on_failure=destination, max_retries=2)
    table.put_many(4)

    assert poller.drain() == 4
    table.put("later")
    assert poller.drain() == 1

    assert destination.keys == ["item-001"]
    assert poller.given_up == 1
    [(name, record, reason)] = destination.failed
    assert name == "notifier"
    assert record["eventSourceARN"] == table.stream_arn
    assert "batchItemFailures" in reason
    assert "3 attempts" in reason
    assert handler.delivered("item-000") == 1
    assert handler.delivered("item-001") == 3  # the first delivery and two retries
    assert handler.batches[-2] == ["item-002", "item-003"]
    assert handler.batches[-1] == ["later"]


def test_a_batch_that_keeps_raising_sends_only_the_culprit_to_on_failure(
    streams: Any, table: Table
) -> None:
    handler = RecordingHandler(raise_on("item-002"))
    destination = FailureDestination()
    poller = poller_for(streams, table, handler, on_failure=destination, max_retries=1)
    table.put_many(4)

    assert poller.drain() == 4

    assert destination.keys == ["item-002"]
    assert "ValueError" in destination.failed[0][2]
    succeeded = [batch for batch in handler.batches if "item-002" not in batch]
    assert sorted(pk for batch in succeeded for pk in batch) == ["item-000", "item-001", "item-003"]
    assert handler.delivered("item-002") == 3  # twice in the batch, then once alone


def test_an_invalid_failure_report_fails_the_whole_batch(streams: Any, table: Table) -> None:
    def bogus(records: list[dict[str, Any]], call: int) -> dict[str, Any] | None:
        return (
            {"batchItemFailures": [{"itemIdentifier": "not-a-sequence-number"}]}
            if call == 1
            else None
        )

    handler = RecordingHandler(bogus)
    poller = poller_for(streams, table, handler)
    table.put_many(2)

    assert poller.poll_once() == 0
    assert poller.poll_once() == 2
    assert handler.batches == [["item-000", "item-001"], ["item-000", "item-001"]]


def test_default_on_failure_logs_a_warning(
    streams: Any, table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    handler = RecordingHandler(fail_on("item-000"))
    poller = poller_for(streams, table, handler, max_retries=0)
    table.put_many(1)

    with caplog.at_level(logging.WARNING, logger="chalicelib.local.stream_poller"):
        assert poller.drain() == 1

    assert any("on-failure destination" in message for message in caplog.messages)


def test_drain_processes_everything_and_keeps_up_with_new_writes(
    streams: Any, table: Table
) -> None:
    handler = RecordingHandler()
    poller = poller_for(streams, table, handler, batch_size=10)
    table.put_many(25)

    assert poller.drain() == 25
    assert poller.poll_once() == 0
    table.put("late")
    assert poller.drain() == 1

    assert [len(batch) for batch in handler.batches] == [10, 10, 5, 1]


def test_drain_gives_up_after_max_rounds(streams: Any, table: Table) -> None:
    def always_raise(records: list[dict[str, Any]], call: int) -> None:
        raise RuntimeError("broken")

    poller = poller_for(streams, table, RecordingHandler(always_raise), max_retries=10)
    table.put_many(1)

    with pytest.raises(StreamNotDrainedError):
        poller.drain(max_rounds=3)


def test_bindings_on_one_stream_are_independent(streams: Any, table: Table) -> None:
    notifier, counter = RecordingHandler(), RecordingHandler(fail_on("item-000", times=1))
    poller = StreamPoller(
        streams,
        [
            StreamBinding("notifier", table.stream_arn, notifier),
            StreamBinding("counter", table.stream_arn, counter),
        ],
    )
    table.put_many(2)

    assert poller.drain() == 4

    assert notifier.batches == [["item-000", "item-001"]]
    assert counter.batches == [["item-000", "item-001"], ["item-000", "item-001"]]
    assert counter.contexts[0].function_name == "counter"


def test_region_can_be_overridden(streams: Any, table: Table) -> None:
    handler = RecordingHandler()
    binding = StreamBinding("notifier", table.stream_arn, handler)
    poller = StreamPoller(streams, [binding], region="us-west-2")
    table.put_many(1)

    poller.drain()

    assert handler.events[0]["Records"][0]["awsRegion"] == "us-west-2"


def test_run_survives_errors_until_stopped(streams: Any, table: Table) -> None:
    def flaky(records: list[dict[str, Any]], call: int) -> None:
        if call % 2 == 1:
            raise RuntimeError("flaky")

    handler = RecordingHandler(flaky)
    poller = poller_for(streams, table, handler)
    everything = {"item-000", "item-001", "item-002"}

    def succeeded() -> set[str]:
        # Even-numbered calls are the ones that did not raise.
        return {pk for batch in handler.batches[1::2] for pk in batch}

    stop = threading.Event()
    loop = threading.Thread(target=poller.run, args=(stop,), kwargs={"interval": 0.01})
    loop.start()
    try:
        table.put_many(3)
        deadline = time.monotonic() + 10
        while succeeded() != everything and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        loop.join(timeout=5)

    assert not loop.is_alive()
    assert succeeded() == everything


@pytest.mark.parametrize("settings", [{"batch_size": 0}, {"max_retries": -1}])
def test_binding_rejects_impossible_settings(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings))):
        StreamBinding(
            "notifier", "arn:aws:dynamodb:eu-west-3:1:table/t/stream/x", print, **settings
        )


def test_binding_rejects_a_malformed_arn() -> None:
    with pytest.raises(ValueError, match="ARN"):
        StreamBinding("notifier", "pledges", print)


def test_moto_emits_two_inserts_when_update_item_creates_an_item(
    streams: Any, table: Table
) -> None:
    # Pins a moto quirk the notifier must tolerate: the first INSERT carries only the key.
    handler = RecordingHandler()
    poller = poller_for(streams, table, handler)
    table.ddb.update_item(
        TableName=table.name,
        Key={"pk": {"S": "counter"}},
        UpdateExpression="ADD pledges :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )

    poller.drain()

    records = handler.events[0]["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT"]
    assert [r["dynamodb"]["NewImage"] for r in records] == [
        {"pk": {"S": "counter"}},
        {"pk": {"S": "counter"}, "pledges": {"N": "1"}},
    ]


def test_an_expired_iterator_is_read_again_from_the_last_record(streams: Any, table: Table) -> None:
    """moto keeps a bounded number of iterators (moto_fixes): an older one read again is
    ExpiredIteratorException, as in AWS after 15 minutes, and the poller carries on."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    from chalicelib.local.embedded_aws import MOTO_ACCOUNT_ID, MOTO_LOCK

    handler = RecordingHandler()
    poller = poller_for(streams, table, handler)
    table.put_many(2)
    assert poller.drain() == 2
    with MOTO_LOCK:
        dynamodbstreams_backends[MOTO_ACCOUNT_ID][REGION].shard_iterators.clear()
    table.put("later")

    # The first read fails: drain does not take that round for an empty stream.
    assert poller.drain() == 1
    assert handler.batches[-1] == ["later"]
    assert [handler.delivered(pk) for pk in ("item-000", "item-001", "later")] == [1, 1, 1]


def test_drain_gives_up_while_reads_keep_failing(streams: Any, table: Table) -> None:
    class Refusing:
        def __init__(self, real: Any) -> None:
            self._real = real

        def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
            return dict(self._real.describe_stream(**kwargs))

        def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
            return dict(self._real.get_shard_iterator(**kwargs))

        def get_records(self, **kwargs: Any) -> dict[str, Any]:
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "InternalFailure", "Message": "no"}}
            raise ClientError(error, "GetRecords")

    table.put("waiting")
    binding = StreamBinding("notifier", table.stream_arn, RecordingHandler())
    poller = StreamPoller(Refusing(streams), [binding])
    with pytest.raises(StreamNotDrainedError, match="reads failing"):
        poller.drain(max_rounds=3)


class CountingReads:
    """A streams client that counts the GetRecords that reach the stream."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.reads = 0

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
        return dict(self._real.describe_stream(**kwargs))

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        return dict(self._real.get_shard_iterator(**kwargs))

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        self.reads += 1
        return dict(self._real.get_records(**kwargs))


def test_pollers_sharing_reads_read_each_record_from_the_stream_once(
    aws: EmbeddedAws, table: Table
) -> None:
    real = CountingReads(aws_client(aws, "dynamodbstreams"))
    shared = SharedStreamReads(real)
    handlers = [RecordingHandler(), RecordingHandler(fail_on("item-001", times=1))]
    pollers = [
        StreamPoller(shared, [StreamBinding(f"trigger-{i}", table.stream_arn, handler)])
        for i, handler in enumerate(handlers)
    ]
    table.put_many(3)
    assert [poller.poll_once() for poller in pollers] == [3, 1]
    # The first poller read the three records; the second got them from the log.
    assert real.reads == 1
    table.put("later")
    assert [poller.drain() for poller in pollers] == [1, 3]
    assert handlers[0].batches == [["item-000", "item-001", "item-002"], ["later"]]
    assert handlers[1].batches == [
        ["item-000", "item-001", "item-002"],
        ["item-001", "item-002", "later"],
    ]


def test_a_poller_behind_the_shared_log_reads_the_stream_alone(
    aws: EmbeddedAws, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_stream_reads, "MAX_LOGGED_RECORDS", 2)
    shared = SharedStreamReads(aws_client(aws, "dynamodbstreams"))
    ahead, behind = RecordingHandler(), RecordingHandler()
    fast = StreamPoller(shared, [StreamBinding("ahead", table.stream_arn, ahead)])
    slow = StreamPoller(shared, [StreamBinding("behind", table.stream_arn, behind, batch_size=1)])
    table.put_many(5)
    assert fast.drain() == 5  # the log keeps the last two
    assert slow.drain() == 5
    keys = [f"item-{i:03d}" for i in range(5)]
    assert [key for batch in behind.batches for key in batch] == keys
    assert [behind.delivered(key) for key in keys] == [1] * 5
