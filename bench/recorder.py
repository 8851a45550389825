"""Records every DynamoDB call through botocore event hooks, with its capacity per partition key."""

from __future__ import annotations

import base64
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import botocore.session

Json = dict[str, Any]

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READ_OPERATIONS = {"GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan"}


# --- item sizes (DynamoDB's sizing rules) ------------------------------------------------------


def _number_size(text: str) -> int:
    """About 1 byte per two significant digits, plus 1 (DynamoDB developer guide)."""
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        return len(text)
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The stored size of one attribute value in DynamoDB JSON ({"S": "…"}, {"M": {…}}, …)."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return len(raw) if isinstance(raw, bytes | bytearray) else len(base64.b64decode(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(item).encode()) for item in raw)
    if kind == "NS":
        return sum(_number_size(str(item)) for item in raw)
    if kind == "BS":
        return sum(len(item) for item in raw)
    if kind == "L":
        return 3 + sum(value_size(item) + 1 for item in raw)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(item) + 1 for name, item in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes of an item: attribute names plus values (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# --- the store the recorder reads item images from ---------------------------------------------


@dataclass(frozen=True)
class IndexSchema:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    name: str
    hash_key: str
    range_key: str | None
    indexes: tuple[IndexSchema, ...] = ()

    def key_of(self, item: Mapping[str, Any]) -> Json:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        return {name: item[name] for name in names if name in item}


class ItemStore(Protocol):
    """Where the recorder reads item images before and after a write (moto's state here)."""

    def schema(self, table: str) -> TableSchema: ...

    def item(self, table: str, key: Mapping[str, Any]) -> Json | None: ...


class MotoStore:
    """Reads moto's in-memory DynamoDB (the state `mock_aws` serves) without an API call."""

    def __init__(self, region: str, account_id: str | None = None) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[account_id or DEFAULT_ACCOUNT_ID][region]
        self._schemas: dict[str, TableSchema] = {}

    def schema(self, table: str) -> TableSchema:
        if table not in self._schemas:
            moto_table = self._backend.get_table(table)
            indexes = []
            for index in moto_table.global_indexes:
                keys = {k["KeyType"]: k["AttributeName"] for k in index.schema}
                projection = index.projection or {}
                indexes.append(
                    IndexSchema(
                        name=index.name,
                        hash_key=keys["HASH"],
                        range_key=keys.get("RANGE"),
                        projection=projection.get("ProjectionType", "ALL"),
                        included=tuple(projection.get("NonKeyAttributes", ())),
                    )
                )
            self._schemas[table] = TableSchema(
                table, moto_table.hash_key_attr, moto_table.range_key_attr, tuple(indexes)
            )
        return self._schemas[table]

    def item(self, table: str, key: Mapping[str, Any]) -> Json | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        schema = self.schema(table)
        moto_table = self._backend.get_table(table)
        if schema.hash_key not in key or (schema.range_key and schema.range_key not in key):
            return None
        hash_key = DynamoType(key[schema.hash_key])
        range_key = DynamoType(key[schema.range_key]) if schema.range_key else None
        if range_key is not None and hash_key not in moto_table.items:
            return None  # moto's items is a defaultdict: do not let a lookup add a key
        stored = moto_table.get_item(hash_key, range_key)
        if stored is None:
            return None
        attributes: Json = stored.to_json()["Attributes"]
        return attributes


# --- what is recorded ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionKey:
    """A partition key value of a table, or of one of its global secondary indexes."""

    table: str
    index: str | None
    value: str

    def label(self, prefix: str = "") -> str:
        table = self.table.removeprefix(prefix)
        where = f"{table}.{self.index}" if self.index else table
        return f"{where} [{self.value}]"


@dataclass(frozen=True)
class Write:
    phase: str
    operation: str
    action: str  # put, update, delete, condition; gsi-put, gsi-update, gsi-delete
    partition: PartitionKey
    key: Json
    size: int
    wcu: float
    transactional: bool
    outcome: str  # ok, condition-failed, cancelled, error


@dataclass(frozen=True)
class Read:
    phase: str
    operation: str
    partition: PartitionKey
    rcu: float
    consistent: bool
    size: int = 0  # bytes read (a GetItem of a missing item reads 0 and still costs a unit)
    at: float = 0.0  # time.perf_counter() when the answer came back


@dataclass(frozen=True)
class Call:
    phase: str
    operation: str
    ok: bool
    seconds: float  # the whole botocore call
    backend_seconds: float  # inside moto (what a real DynamoDB round trip replaces)


@dataclass
class _Pending:
    operation: str
    params: Json
    started: float
    before: list[tuple[str, str, Json, Json | None, bool]] = field(default_factory=list)


def _partition_value(value: Mapping[str, Any]) -> str:
    return str(next(iter(value.values())))


class CapacityRecorder:
    """Hooks DynamoDB clients and keeps, per phase, every call, write and read with its units.

    Writes: a standard write costs 1 WCU per started KB of the larger of the item's old and new
    images; inside TransactWriteItems every item costs twice that. A global secondary index
    entry that is added, changed or removed costs one standard write (1 WCU per KB of the
    projected entry) on the index's own partition key: DynamoDB propagates transactions to
    indexes asynchronously, as ordinary writes. A failed conditional write still costs its
    units. Reads: 0.5 RCU per 4 KB eventually consistent, 1 strongly consistent, 2 in a
    transaction. Not thread-safe: one call at a time.
    """

    def __init__(self, store: ItemStore) -> None:
        self._store = store
        self.phase = "setup"
        self.calls: list[Call] = []
        self.writes: list[Write] = []
        self.reads: list[Read] = []
        self.clients = 0
        self._pending: _Pending | None = None
        self._send_started = 0.0
        self._send_seconds = 0.0

    # --- wiring --------------------------------------------------------------------------------

    def attach(self, client: Any) -> None:
        """Register the hooks on one botocore DynamoDB client."""
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._before_call)
        events.register("after-call.dynamodb", self._after_call)
        events.register("after-call-error.dynamodb", self._after_error)
        # Handlers on a more specific event name run first: the start runs before moto's
        # stubber (registered on "before-send"), the end after it, last on the same node.
        events.register_first("before-send.dynamodb", self._send_start)
        events.register_last("before-send", self._send_end)
        self.clients += 1

    @contextmanager
    def capture_clients(self) -> Iterator[None]:
        """Attach to every DynamoDB client botocore creates inside the block.

        PynamoDB creates each client from its own `botocore.session.get_session()`, so the
        hooks go on each client as it is made rather than on one shared session.
        """
        session_class = botocore.session.Session
        original = session_class.create_client
        recorder = self

        def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = original(self, service_name, *args, **kwargs)
            if service_name == "dynamodb":
                recorder.attach(client)
            return client

        session_class.create_client = create_client
        try:
            yield
        finally:
            session_class.create_client = original

    @contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = previous

    # --- hooks ---------------------------------------------------------------------------------

    def _send_start(self, **_: Any) -> None:
        self._send_started = time.perf_counter()

    def _send_end(self, **_: Any) -> None:
        self._send_seconds += time.perf_counter() - self._send_started

    def _before_call(self, params: Json, model: Any, **_: Any) -> None:
        pending = _Pending(model.name, params, time.perf_counter())
        self._send_seconds = 0.0
        for table, action, key, transactional in self._write_targets(model.name, params):
            before = self._store.item(table, key)
            pending.before.append((table, action, key, before, transactional))
        self._pending = pending

    def _after_call(self, http_response: Any, parsed: Json, model: Any, **_: Any) -> None:
        pending = self._pending
        self._pending = None
        if pending is None or pending.operation != model.name:
            raise RuntimeError(f"unmatched DynamoDB call {model.name}")
        ok = http_response.status_code < 300
        self.calls.append(
            Call(
                self.phase,
                model.name,
                ok,
                time.perf_counter() - pending.started,
                self._send_seconds,
            )
        )
        error = parsed.get("Error", {}).get("Code", "") if not ok else ""
        self._record_writes(pending, ok, error)
        if ok:
            self._record_reads(pending.operation, pending.params, parsed)

    def _after_error(self, **_: Any) -> None:
        pending = self._pending
        self._pending = None
        if pending is not None:
            self.calls.append(
                Call(self.phase, pending.operation, False, time.perf_counter() - pending.started, 0)
            )

    # --- writes --------------------------------------------------------------------------------

    def _write_targets(self, operation: str, params: Json) -> Iterator[tuple[str, str, Json, bool]]:
        if operation == "PutItem":
            table = params["TableName"]
            yield table, "put", self._store.schema(table).key_of(params["Item"]), False
        elif operation in ("UpdateItem", "DeleteItem"):
            action = "update" if operation == "UpdateItem" else "delete"
            yield params["TableName"], action, params["Key"], False
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        key = self._store.schema(table).key_of(request["PutRequest"]["Item"])
                        yield table, "put", key, False
                    else:
                        yield table, "delete", request["DeleteRequest"]["Key"], False
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                kind, op = next(iter(entry.items()))
                table = op["TableName"]
                if kind == "Put":
                    yield table, "put", self._store.schema(table).key_of(op["Item"]), True
                else:
                    action = {"Update": "update", "Delete": "delete"}.get(kind, "condition")
                    yield table, action, op["Key"], True

    def _record_writes(self, pending: _Pending, ok: bool, error: str) -> None:
        if not pending.before:
            return
        if ok:
            outcome = "ok"
        elif error == "TransactionCanceledException":
            outcome = "cancelled"
        elif error == "ConditionalCheckFailedException":
            outcome = "condition-failed"
        else:
            outcome = "error"
        for table, action, key, before, transactional in pending.before:
            after = self._store.item(table, key) if ok else before
            size = max(item_size(before), item_size(after))
            units = write_units(size) * (2 if transactional else 1)
            schema = self._store.schema(table)
            partition = PartitionKey(table, None, _partition_value(key[schema.hash_key]))
            self.writes.append(
                Write(
                    self.phase,
                    pending.operation,
                    action,
                    partition,
                    key,
                    size,
                    units,
                    transactional,
                    outcome,
                )
            )
            if ok and action != "condition":
                self._record_index_writes(pending.operation, schema, key, before, after)

    def _record_index_writes(
        self,
        operation: str,
        schema: TableSchema,
        key: Json,
        before: Json | None,
        after: Json | None,
    ) -> None:
        for index in schema.indexes:
            old = _index_entry(schema, index, before)
            new = _index_entry(schema, index, after)
            changes: list[tuple[str, Json]] = []
            if old is not None and new is not None:
                if _index_key(index, old) != _index_key(index, new):
                    changes = [("gsi-delete", old), ("gsi-put", new)]
                elif old != new:
                    changes = [("gsi-update", new if item_size(new) >= item_size(old) else old)]
            elif new is not None:
                changes = [("gsi-put", new)]
            elif old is not None:
                changes = [("gsi-delete", old)]
            for action, entry in changes:
                size = item_size(entry)
                partition = PartitionKey(
                    schema.name, index.name, _partition_value(entry[index.hash_key])
                )
                self.writes.append(
                    Write(
                        self.phase,
                        operation,
                        action,
                        partition,
                        key,
                        size,
                        write_units(size),
                        False,
                        "ok",
                    )
                )

    # --- reads ---------------------------------------------------------------------------------

    def _record_reads(self, operation: str, params: Json, parsed: Json) -> None:
        if operation == "GetItem":
            self._read(
                operation,
                params["TableName"],
                None,
                params["Key"],
                item_size(parsed.get("Item")),
                bool(params.get("ConsistentRead")),
            )
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                schema = self._store.schema(table)
                found = {
                    _key_text(schema.key_of(item)): item_size(item)
                    for item in parsed.get("Responses", {}).get(table, [])
                }
                for key in request["Keys"]:
                    self._read(
                        operation,
                        table,
                        None,
                        key,
                        found.get(_key_text(key), 0),
                        bool(request.get("ConsistentRead")),
                    )
        elif operation == "TransactGetItems":
            for entry, response in zip(
                params["TransactItems"], parsed.get("Responses", []), strict=False
            ):
                get = entry["Get"]
                size = item_size(response.get("Item"))
                self._read(operation, get["TableName"], None, get["Key"], size, True, factor=2)
        elif operation in ("Query", "Scan"):
            self._read_many(operation, params, parsed.get("Items", []))

    def _read(
        self,
        operation: str,
        table: str,
        index: str | None,
        key: Json,
        size: int,
        consistent: bool,
        *,
        factor: float = 1,
    ) -> None:
        schema = self._store.schema(table)
        partition = PartitionKey(table, index, _partition_value(key[schema.hash_key]))
        units = read_units(size, consistent=consistent) * factor
        self.reads.append(
            Read(self.phase, operation, partition, units, consistent, size, time.perf_counter())
        )

    def _read_many(self, operation: str, params: Json, items: Sequence[Json]) -> None:
        table = params["TableName"]
        index_name = params.get("IndexName")
        schema = self._store.schema(table)
        hash_key = schema.hash_key
        for index in schema.indexes:
            if index.name == index_name:
                hash_key = index.hash_key
        sizes: dict[str, int] = defaultdict(int)
        for item in items:
            value = _partition_value(item[hash_key]) if hash_key in item else "?"
            sizes[value] += item_size(item)
        consistent = bool(params.get("ConsistentRead"))
        for value, size in (sizes or {"?": 0}).items():
            units = read_units(size, consistent=consistent)
            partition = PartitionKey(table, index_name, value)
            self.reads.append(
                Read(self.phase, operation, partition, units, consistent, size, time.perf_counter())
            )

    # --- summaries -----------------------------------------------------------------------------

    def calls_by_operation(self, phases: Sequence[str]) -> Counter[str]:
        return Counter(call.operation for call in self.calls if call.phase in phases)

    def wcu_by_partition(self, phases: Sequence[str]) -> dict[PartitionKey, float]:
        """Write units per partition key, hottest first."""
        return _hottest_first((w.partition, w.wcu) for w in self.writes if w.phase in phases)

    def rcu_by_partition(self, phases: Sequence[str]) -> dict[PartitionKey, float]:
        """Read units per partition key, hottest first."""
        return _hottest_first((r.partition, r.rcu) for r in self.reads if r.phase in phases)

    def select(self, phases: Sequence[str], predicate: Callable[[Write], bool]) -> list[Write]:
        return [write for write in self.writes if write.phase in phases and predicate(write)]

    def select_reads(
        self, phases: Sequence[str], predicate: Callable[[Read], bool] = lambda _: True
    ) -> list[Read]:
        return [read for read in self.reads if read.phase in phases and predicate(read)]


def _index_entry(schema: TableSchema, index: IndexSchema, item: Json | None) -> Json | None:
    """The index entry an item projects into `index`, or None when the item is not in it."""
    if item is None or index.hash_key not in item:
        return None
    if index.range_key and index.range_key not in item:
        return None
    if index.projection == "ALL":
        return dict(item)
    names = {schema.hash_key, index.hash_key}
    names.update(name for name in (schema.range_key, index.range_key) if name)
    if index.projection == "INCLUDE":
        names.update(index.included)
    return {name: value for name, value in item.items() if name in names}


def _index_key(index: IndexSchema, entry: Json) -> tuple[str, str]:
    range_value = _partition_value(entry[index.range_key]) if index.range_key else ""
    return _partition_value(entry[index.hash_key]), range_value


def _key_text(key: Mapping[str, Any]) -> str:
    return repr(sorted((name, _partition_value(value)) for name, value in key.items()))


def _hottest_first(units: Iterable[tuple[PartitionKey, float]]) -> dict[PartitionKey, float]:
    totals: dict[PartitionKey, float] = defaultdict(float)
    for partition, amount in units:
        totals[partition] += amount
    return dict(sorted(totals.items(), key=lambda item: item[1], reverse=True))
