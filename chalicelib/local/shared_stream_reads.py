"""One read of each stream shard for all the triggers on it (the local stack's pollers).

The local stack runs a poller per trigger, as Lambda runs an event source mapping per
function, and three triggers read the pledges stream. Each used to read every record
itself: three GetRecords of the same records, each parsed by botocore and turned into
Lambda's JSON, which was a sixth of a burst's time (docs/performance.md, "Where the burst's
time goes").

`SharedStreamReads` is a streams client (`StreamsClient`) the pollers share. It reads each
shard once, into a log of the records read, and answers each poller's GetRecords from the
log at that poller's own position: every trigger still sees every record of the shard, in
order, at its own pace, with its own retries. The iterators it hands out name a position
(the sequence number after which to read), and never expire. A position the log no longer
holds (a poller far behind the others) is read from the stream for that poller alone, as
before. DescribeStream answers are kept for a second: a table's stream keeps its shards.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.local.stream_poller import StreamsClient, iterator_after

# Records kept per shard: the slowest trigger can lag the fastest by this many records.
MAX_LOGGED_RECORDS = 20_000
# What one GetRecords of the shard's log asks for (the API's maximum).
READ_LIMIT = 1000
DESCRIBE_TTL_SECONDS = 1.0
# Iterators handed out and still answered (a poller uses only its latest one).
MAX_ITERATORS = 10_000
_PREFIX = "shared-iterator:"


@dataclass
class _ShardLog:
    stream_arn: str
    shard_id: str
    # The sequence number the log starts after; None: the shard's trim horizon.
    starts_after: int | None
    records: list[dict[str, Any]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # the records' sequence numbers
    iterator: str | None = None  # the stream's own iterator at the log's end
    at_end: bool = False  # the shard is closed and every record of it is in the log
    lock: threading.Lock = field(default_factory=threading.Lock)

    def covers(self, after: int | None) -> bool:
        if self.starts_after is None:
            return True
        return after is not None and after >= self.starts_after


@dataclass(frozen=True)
class _Position:
    stream_arn: str
    shard_id: str
    after: int | None  # read the records after this sequence number; None: from the start


class SharedStreamReads:
    """A `StreamsClient` whose GetRecords are served from one read per shard (see above)."""

    def __init__(self, client: StreamsClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str], _ShardLog] = {}
        self._positions: dict[str, _Position] = {}
        self._ids = itertools.count(1)
        self._described: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
        key = tuple(sorted(kwargs.items()))
        now = time.monotonic()
        with self._lock:
            cached = self._described.get(key)
        if cached is not None and now - cached[0] < DESCRIBE_TTL_SECONDS:
            return cached[1]
        answer = self._client.describe_stream(**kwargs)
        with self._lock:
            self._described[key] = (now, answer)
        return answer

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        kind = kwargs.get("ShardIteratorType")
        if kind == "TRIM_HORIZON":
            after = None
        elif kind == "AFTER_SEQUENCE_NUMBER":
            after = int(kwargs["SequenceNumber"])
        else:
            return self._client.get_shard_iterator(**kwargs)  # not a position the log knows
        position = _Position(kwargs["StreamArn"], kwargs["ShardId"], after)
        with self._lock:
            self._logs.setdefault(
                (position.stream_arn, position.shard_id),
                _ShardLog(position.stream_arn, position.shard_id, after),
            )
        return {"ShardIterator": self._iterator(position)}

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        iterator = kwargs["ShardIterator"]
        if not iterator.startswith(_PREFIX):
            return self._client.get_records(**kwargs)
        with self._lock:
            position = self._positions.get(iterator)
            log = self._logs.get((position.stream_arn, position.shard_id)) if position else None
        if position is None or log is None:
            raise _expired(iterator)
        limit = int(kwargs.get("Limit", READ_LIMIT))
        with log.lock:
            if not log.covers(position.after):
                return self._read_alone(position, limit)
            start = _start_index(log, position.after)
            if start == len(log.records) and not log.at_end:
                self._read_more(log)
            records = log.records[start : start + limit]
            after = log.numbers[start + len(records) - 1] if records else position.after
            finished = log.at_end and start + len(records) == len(log.records)
            _trim(log)
        answer: dict[str, Any] = {"Records": records}
        if not finished:
            answer["NextShardIterator"] = self._iterator(
                _Position(position.stream_arn, position.shard_id, after)
            )
        return answer

    def _iterator(self, position: _Position) -> str:
        iterator = f"{_PREFIX}{next(self._ids)}"
        with self._lock:
            self._positions[iterator] = position
            while len(self._positions) > MAX_ITERATORS:  # the oldest first: insertion order
                del self._positions[next(iter(self._positions))]
        return iterator

    def _read_more(self, log: _ShardLog) -> None:
        """Append what the shard has beyond the log (under the log's lock)."""
        if log.iterator is None:
            log.iterator = iterator_after(
                self._client,
                log.stream_arn,
                log.shard_id,
                log.numbers[-1] if log.numbers else log.starts_after,
            )
        try:
            response = self._client.get_records(ShardIterator=log.iterator, Limit=READ_LIMIT)
        except ClientError:
            log.iterator = None  # expired or refused: the next read starts again after the log
            raise
        for record in response.get("Records", []):
            log.records.append(record)
            log.numbers.append(int(record["dynamodb"]["SequenceNumber"]))
        log.iterator = response.get("NextShardIterator")
        log.at_end = log.iterator is None

    def _read_alone(self, position: _Position, limit: int) -> dict[str, Any]:
        """A position the log no longer holds: read it from the stream itself."""
        iterator = iterator_after(
            self._client, position.stream_arn, position.shard_id, position.after
        )
        response = self._client.get_records(ShardIterator=iterator, Limit=limit)
        records = list(response.get("Records", []))
        after = int(records[-1]["dynamodb"]["SequenceNumber"]) if records else position.after
        answer: dict[str, Any] = {"Records": records}
        if response.get("NextShardIterator") is not None:
            answer["NextShardIterator"] = self._iterator(
                _Position(position.stream_arn, position.shard_id, after)
            )
        return answer


def _expired(iterator: str) -> ClientError:
    """What DynamoDB Streams answers for an iterator it no longer knows; the poller then
    reads on from the last record it read."""
    return ClientError(
        {"Error": {"Code": "ExpiredIteratorException", "Message": f"{iterator} expired"}},
        "GetRecords",
    )


def _start_index(log: _ShardLog, after: int | None) -> int:
    return 0 if after is None else bisect.bisect_right(log.numbers, after)


def _trim(log: _ShardLog) -> None:
    """Keep the newest records only: a reader behind them is read from the stream alone."""
    excess = len(log.records) - MAX_LOGGED_RECORDS
    if excess <= 0:
        return
    log.starts_after = log.numbers[excess - 1]
    del log.records[:excess]
    del log.numbers[:excess]
