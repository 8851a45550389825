"""Read DynamoDB streams and hand Lambda-shaped batches to stream handlers, as Lambda would."""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)

Record = dict[str, Any]
Handler = Callable[[dict[str, Any], Any], Any]
OnFailure = Callable[["StreamBinding", Record, str], None]

# get_records returns at most this many records per call (DynamoDB Streams API limit).
_GET_RECORDS_LIMIT = 1000
# Lambda's upper bound for BatchSize on a DynamoDB event source mapping.
_MAX_BATCH_SIZE = 10_000
# drain() waits this long after a round whose reads failed, before reading again.
_READ_ERROR_PAUSE_SECONDS = 0.05


class StreamsClient(Protocol):
    """The three DynamoDB Streams calls the poller makes (a boto3 `dynamodbstreams` client)."""

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_records(self, **kwargs: Any) -> dict[str, Any]: ...


class StreamNotDrainedError(RuntimeError):
    """drain() ran out of rounds while records were still being delivered."""


@dataclass(frozen=True)
class StreamBinding:
    """One stream trigger: which stream feeds which handler, with its Lambda settings."""

    name: str
    stream_arn: str
    handler: Handler
    batch_size: int = 100
    max_retries: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= _MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be in 1..{_MAX_BATCH_SIZE}: {self.batch_size}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must not be negative: {self.max_retries}")
        _arn_field(self.stream_arn, 3)


@dataclass
class LocalLambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    timeout_seconds: float = 60.0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    last_sequence_number: str | None = None
    # The shard is closed and get_records said so by returning no NextShardIterator.
    at_end: bool = False
    # Read but not acknowledged yet, oldest first; the head is what the next batch starts with.
    buffer: list[Record] = field(default_factory=list)
    head_failures: int = 0
    # After a batch kept raising, this many records are delivered one by one to find the culprit.
    isolate: int = 0
    # The last read filled the room it had: the shard may hold more.
    full_read: bool = False


@dataclass
class _BindingState:
    binding: StreamBinding
    region: str
    shards: dict[str, _Shard] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)


class _Outcome(NamedTuple):
    failed_at: int | None
    raised: bool
    reason: str


class _Round(NamedTuple):
    delivered: int
    acknowledged: int
    read_errors: int = 0  # describe_stream or get_records calls that failed
    backlog: bool = False  # a shard has a full batch or more waiting (read or not)


class StreamPoller:
    """Polls DynamoDB streams and invokes handlers like Lambda with ReportBatchItemFailures.

    Per binding and shard, records are read from TRIM_HORIZON and buffered until acknowledged.
    A handler that returns batchItemFailures gets the batch again from the lowest failed record;
    one that raises gets the whole batch again. A record that has failed `max_retries` retries
    goes to `on_failure` and is skipped. When a whole batch keeps raising, its records are then
    delivered one at a time so that only the culprit goes to `on_failure` (Lambda would send the
    whole batch there). Not thread-safe: poll from one thread.
    """

    def __init__(
        self,
        streams_client: StreamsClient,
        bindings: Sequence[StreamBinding],
        *,
        on_failure: OnFailure | None = None,
        region: str | None = None,
    ) -> None:
        """`region` sets each record's awsRegion; by default it is taken from the stream ARN."""
        self._client = streams_client
        self._on_failure = on_failure or _log_failure
        self.given_up = 0  # records sent to on_failure after their retries
        self._states = [
            _BindingState(binding, region or _arn_field(binding.stream_arn, 3))
            for binding in bindings
        ]

    @property
    def names(self) -> list[str]:
        """The triggers this poller delivers to."""
        return [state.binding.name for state in self._states]

    def poll_once(self) -> int:
        """Read what is new, deliver at most one batch per shard; returns records acknowledged."""
        return self._round().acknowledged

    def drain(self, max_rounds: int = 50) -> int:
        """Poll until a round reads every shard and hands nothing to any handler; returns
        records acknowledged. A round whose reads failed has not shown the stream empty."""
        acknowledged = 0
        for _ in range(max_rounds):
            result = self._round()
            acknowledged += result.acknowledged
            if result.delivered == 0 and result.read_errors == 0:
                return acknowledged
            if result.read_errors:
                time.sleep(_READ_ERROR_PAUSE_SECONDS)
        raise StreamNotDrainedError(
            f"records were still being delivered, or reads failing, after {max_rounds} rounds"
        )

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        """Poll until `stop` is set: a round every `interval` seconds, as Lambda polls a
        stream's shards four times a second, and the next one at once while a round leaves
        a full batch behind (Lambda invokes back to back while a shard has a backlog).

        Polling more often only cuts a burst's records into more, smaller batches: the same
        records cost more calls, and the triggers fall further behind (docs/performance.md).
        """
        while not stop.is_set():
            started = time.monotonic()
            try:
                backlog = self._round().backlog
            except Exception:
                # The local stack must outlive a bad handler or a hiccup of the embedded AWS.
                logger.exception("stream poll failed; retrying in %.1fs", interval)
                backlog = False
            if not backlog:
                stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _round(self) -> _Round:
        delivered = acknowledged = read_errors = 0
        backlog = False
        for state in self._states:
            try:
                self._discover_shards(state)
            except (ClientError, BotoCoreError):
                logger.exception("cannot describe stream %s", state.binding.stream_arn)
                read_errors += 1
            for shard in self._ready_shards(state):
                if not self._fetch(state, shard):
                    read_errors += 1
                if shard.buffer:
                    result = self._deliver(state, shard)
                    delivered += result.delivered
                    acknowledged += result.acknowledged
                if shard.at_end and not shard.buffer:
                    del state.shards[shard.shard_id]
                    state.finished.add(shard.shard_id)
                # A full read, or records still waiting: more is there.
                backlog = backlog or bool(shard.buffer) or shard.full_read
        return _Round(delivered, acknowledged, read_errors, backlog)

    def _discover_shards(self, state: _BindingState) -> None:
        request: dict[str, Any] = {"StreamArn": state.binding.stream_arn}
        while True:
            description = self._client.describe_stream(**request)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id not in state.shards and shard_id not in state.finished:
                    state.shards[shard_id] = _Shard(shard_id, shard.get("ParentShardId"))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return
            request["ExclusiveStartShardId"] = last

    @staticmethod
    def _ready_shards(state: _BindingState) -> list[_Shard]:
        # Like Lambda, finish a parent shard before reading its children: per-item order.
        return [
            shard
            for shard in state.shards.values()
            if shard.parent_id is None or shard.parent_id not in state.shards
        ]

    def _fetch(self, state: _BindingState, shard: _Shard) -> bool:
        """Read what the shard has beyond the buffer; False if the read failed."""
        room = state.binding.batch_size - len(shard.buffer)
        if shard.at_end or room <= 0:
            return True
        try:
            if shard.iterator is None:
                shard.iterator = self._new_iterator(state.binding, shard)
            response = self._client.get_records(
                ShardIterator=shard.iterator, Limit=min(room, _GET_RECORDS_LIMIT)
            )
        except (ClientError, BotoCoreError) as error:
            # An expired iterator, or another failure: start again after the last record read.
            if _error_code(error) == "ExpiredIteratorException":
                logger.warning("shard %s of %s: iterator expired; reading on from the last "
                               "record read", shard.shard_id, state.binding.name)  # fmt: skip
            else:
                logger.exception("cannot read shard %s of %s", shard.shard_id, state.binding.name)
            shard.iterator = None
            return False
        raws = response.get("Records", [])
        shard.full_read = len(raws) >= min(room, _GET_RECORDS_LIMIT)
        for raw in raws:
            record = _lambda_record(raw, state.binding.stream_arn, state.region)
            shard.buffer.append(record)
            shard.last_sequence_number = record["dynamodb"]["SequenceNumber"]
        shard.iterator = response.get("NextShardIterator")
        shard.at_end = shard.iterator is None
        return True

    def _new_iterator(self, binding: StreamBinding, shard: _Shard) -> str:
        return iterator_after(
            self._client, binding.stream_arn, shard.shard_id, shard.last_sequence_number
        )

    def _deliver(self, state: _BindingState, shard: _Shard) -> _Round:
        binding = state.binding
        batch = shard.buffer[: 1 if shard.isolate else binding.batch_size]
        outcome = self._invoke(state, batch)
        if outcome.failed_at is None:
            _acknowledge(shard, len(batch))
            return _Round(len(batch), len(batch))
        # Records before the lowest failure are done, as with ReportBatchItemFailures.
        acknowledged = outcome.failed_at
        _acknowledge(shard, acknowledged)
        isolating = shard.isolate > 0
        shard.head_failures += 1
        if isolating:
            # It already used its retries inside the batch that kept raising.
            reason = f"{outcome.reason} when delivered alone, after its batch failed repeatedly"
        elif shard.head_failures > binding.max_retries:
            if outcome.raised and len(batch) > 1:
                shard.isolate = len(batch)
                shard.head_failures = 0
                return _Round(len(batch), acknowledged)
            reason = f"{outcome.reason} ({shard.head_failures} attempts)"
        else:
            return _Round(len(batch), acknowledged)
        self._give_up(binding, shard.buffer[0], reason)
        _acknowledge(shard, 1)
        return _Round(len(batch), acknowledged + 1)

    @staticmethod
    def _invoke(state: _BindingState, batch: list[Record]) -> _Outcome:
        binding = state.binding
        context = LocalLambdaContext(
            function_name=binding.name,
            invoked_function_arn=(
                f"arn:aws:lambda:{state.region}:{_arn_field(binding.stream_arn, 4)}"
                f":function:{binding.name}"
            ),
        )
        # A copy per invocation: a handler that edits its event must not change the retry.
        event = {"Records": _copy(batch)}
        try:
            response = binding.handler(event, context)
        except Exception as exc:
            logger.warning("stream handler %s raised", binding.name, exc_info=True)
            return _Outcome(0, True, f"handler raised {exc!r}")
        return _partial_failure(response, batch)

    def _give_up(self, binding: StreamBinding, record: Record, reason: str) -> None:
        self.given_up += 1
        try:
            self._on_failure(binding, record, reason)
        except Exception:
            # The record is skipped either way: a broken destination must not block the shard.
            logger.exception("on_failure for %s raised", binding.name)


def iterator_after(
    client: StreamsClient, stream_arn: str, shard_id: str, sequence_number: str | int | None
) -> str:
    """An iterator of the shard reading on after `sequence_number` (None: from its start)."""
    request: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
    if sequence_number is None:
        request["ShardIteratorType"] = "TRIM_HORIZON"
    else:
        request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
        request["SequenceNumber"] = str(sequence_number)
    iterator: str = client.get_shard_iterator(**request)["ShardIterator"]
    return iterator


def _error_code(error: Exception) -> str | None:
    return error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None


def _acknowledge(shard: _Shard, count: int) -> None:
    if count <= 0:
        return
    del shard.buffer[:count]
    shard.head_failures = 0
    shard.isolate = max(0, shard.isolate - count)


def _partial_failure(response: object, batch: list[Record]) -> _Outcome:
    """Where a ReportBatchItemFailures response says the batch must resume, if anywhere."""
    if not isinstance(response, Mapping) or not response.get("batchItemFailures"):
        return _Outcome(None, False, "")
    failures = response["batchItemFailures"]
    positions = {record["dynamodb"]["SequenceNumber"]: i for i, record in enumerate(batch)}
    indices: list[int] = []
    for failure in failures if isinstance(failures, list) else [failures]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if identifier not in positions:
            # Lambda treats a malformed failure report as a failure of the whole batch.
            return _Outcome(0, False, f"invalid batchItemFailures entry {failure!r}")
        indices.append(positions[identifier])
    return _Outcome(min(indices), False, "handler reported it in batchItemFailures")


def _lambda_record(raw: Mapping[str, Any], stream_arn: str, region: str) -> Record:
    """A stream record as Lambda's DynamoDB event source delivers it, JSON-ready."""
    record: Record = {key: _json_ready(value) for key, value in raw.items()}
    record["eventSource"] = "aws:dynamodb"
    record["awsRegion"] = region
    record["eventSourceARN"] = stream_arn
    return record


def _json_ready(value: Any) -> Any:
    """boto3's parsed values back to the JSON Lambda sends: epoch seconds and base64 blobs."""
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(item) for item in value]
    if isinstance(value, datetime):
        # DynamoDB Streams rounds ApproximateCreationDateTime down to the second.
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


def _copy(records: list[Record]) -> list[Record]:
    """A deep copy of JSON-ready records (`_lambda_record`), through JSON: a fifth of what
    `copy.deepcopy` takes for the same records."""
    try:
        copied: list[Record] = json.loads(json.dumps(records))
    except (TypeError, ValueError):
        return copy.deepcopy(records)  # a record that is not plain JSON after all
    return copied


def _arn_field(arn: str, index: int) -> str:
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[index]:
        raise ValueError(f"not a stream ARN: {arn!r}")
    return parts[index]


def _log_failure(binding: StreamBinding, record: Record, reason: str) -> None:
    sequence_number = record.get("dynamodb", {}).get("SequenceNumber")
    logger.warning(
        "stream %s: record %s skipped and sent to the on-failure destination: %s",
        binding.name,
        sequence_number,
        reason,
    )
