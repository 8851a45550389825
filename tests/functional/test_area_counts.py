"""The `count_areas` trigger on moto: participants per area and pledges made and withdrawn
per hour, one write per area and hour per challenge and batch, exact under redelivery,
crashes, partial failures and bisected batches, and nothing added to the pledge path."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app as app_module
from chalicelib.aws_clients import botocore_session
from chalicelib.domain.series import hour_key
from chalicelib.local.stack import streams_client
from chalicelib.local.stream_poller import LocalLambdaContext, StreamBinding, StreamPoller
from chalicelib.services.tallies import PledgeChange, TallyService
from chalicelib.settings import Settings
from chalicelib.storage import tallies as tally_storage
from chalicelib.storage.tables import (
    AreaCountItem,
    CounterShardItem,
    PledgeHourItem,
    PledgeItem,
    StreamReceiptItem,
    stream_arn,
)
from chalicelib.storage.tallies import DynamoPledgeTallies, receipt_key
from chalicelib.wiring import get_container, set_container
from tests.functional.conftest import Api, bearer, make_api

CONTEXT = LocalLambdaContext(
    function_name="count_areas",
    invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:count_areas",
)
# Where pledges come from: three ~5 km cells (two in Clichy's, one in Lyon's) and a district.
CLICHY = {"lat": 48.9045, "lon": 2.3057}
CLICHY_TOO = {"lat": 48.9050, "lon": 2.3050}  # the same cell as CLICHY
LYON = {"lat": 45.7640, "lon": 4.8357}
HAUTS_DE_SEINE = {"postal_code": "92110", "country": "FR"}
CLICHY_CELL, LYON_CELL, HAUTS_DE_SEINE_DISTRICT = "u09wh", "u05kq", "FR-92"
Record = dict[str, Any]
# How a pledge's created_at is stored (PynamoDB's UTCDateTimeAttribute).
STORED_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"


class PledgeStream:
    """Reads the pledges stream without counting anything: the test delivers the records."""

    def __init__(self, settings: Settings) -> None:
        self.records: list[Record] = []
        self._poller = StreamPoller(
            streams_client(settings),
            [StreamBinding("recorder", stream_arn(PledgeItem), self._keep, batch_size=1000)],
        )

    def _keep(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.records.extend(event["Records"])
        return {"batchItemFailures": []}

    def read(self) -> list[Record]:
        """The records written since the last read, in stream order."""
        start = len(self.records)
        self._poller.drain()
        return self.records[start:]


def deliver(records: Sequence[Record]) -> dict[str, Any]:
    """One invocation of the trigger with these records, as Lambda makes it (never empty)."""
    if not records:
        return {"batchItemFailures": []}
    response: dict[str, Any] = app_module.count_areas(
        {"Records": copy.deepcopy(list(records))}, CONTEXT
    )
    return response


def area_counts(challenge_id: str) -> dict[str, int]:
    return {
        item.area: int(item.participants)
        for item in AreaCountItem.query(challenge_id, consistent_read=True)
        if item.participants
    }


def hour_counts(challenge_id: str) -> dict[str, tuple[int, int]]:
    """Pledges (made, withdrawn) per UTC hour, as stored."""
    return {
        item.hour: (int(item.made), int(item.withdrawn))
        for item in PledgeHourItem.query(challenge_id, consistent_read=True)
    }


def hours_of(records: Sequence[Record], challenge_id: str) -> dict[str, tuple[int, int]]:
    """The truth for hours: each INSERT once in its pledge's hour, each REMOVE once in its
    record's hour (whatever the deliveries were)."""
    made: Counter[str] = Counter()
    withdrawn: Counter[str] = Counter()
    seen: set[str] = set()
    for record in records:
        dynamodb = record["dynamodb"]
        if dynamodb["SequenceNumber"] in seen or record["eventName"] == "MODIFY":
            continue
        seen.add(dynamodb["SequenceNumber"])
        if record["eventName"] == "INSERT":
            image = dynamodb["NewImage"]
            if image["challenge_id"]["S"] == challenge_id:
                made[hour_key(datetime.strptime(image["created_at"]["S"], STORED_TIME))] += 1
        elif dynamodb["OldImage"]["challenge_id"]["S"] == challenge_id:
            moment = datetime.fromtimestamp(dynamodb["ApproximateCreationDateTime"], tz=UTC)
            withdrawn[hour_key(moment)] += 1
    return {hour: (made[hour], withdrawn[hour]) for hour in sorted({*made, *withdrawn})}


def timed(record: Record, moment: datetime) -> Record:
    """The record as if written at `moment`: an INSERT's pledge created then, a REMOVE's
    record made then (the hours a record counts in come from these)."""
    changed = copy.deepcopy(record)
    dynamodb = changed["dynamodb"]
    dynamodb["ApproximateCreationDateTime"] = int(moment.timestamp())
    if changed["eventName"] == "INSERT":
        dynamodb["NewImage"]["created_at"] = {"S": moment.strftime(STORED_TIME)}
    return changed


def participants_counted(challenge_id: str) -> int:
    """The challenge's participants as its counter shards hold them (what the aggregator
    publishes)."""
    return sum(
        int(item.participants or 0)
        for item in CounterShardItem.scan(
            CounterShardItem.id.startswith(f"{challenge_id}#"), consistent_read=True
        )
    )


def live_pledges(challenge_id: str) -> int:
    """The truth: the pledges table itself, scanned."""
    return sum(
        1 for _ in PledgeItem.scan(PledgeItem.challenge_id == challenge_id, consistent_read=True)
    )


def live_pledges_by_area(challenge_id: str) -> dict[str, int]:
    """The truth: the pledges table itself, scanned."""
    areas = Counter(
        item.area
        for item in PledgeItem.scan(PledgeItem.challenge_id == challenge_id, consistent_read=True)
        if item.area
    )
    return dict(areas)


def pledge(api: Api, challenge_id: str, sub: str, location: dict[str, Any] | None) -> int:
    body = {"location": location} if location is not None else {}
    response = api.pledge(challenge_id, sub, body)
    assert response.status_code in (200, 201), response.body
    return int(response.status_code)


def withdraw(api: Api, challenge_id: str, sub: str) -> int:
    response = api.request("DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer(sub))
    assert response.status_code in (204, 404), response.body
    return int(response.status_code)


@pytest.fixture
def stream(api: Api) -> PledgeStream:
    return PledgeStream(api.container.settings)


@pytest.fixture
def challenge_id(api: Api) -> str:
    return str(api.create(target={"metric": "participants", "value": 10_000})["id"])


def test_pledges_and_withdrawals_are_counted_per_area(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    for number in range(3):
        pledge(api, challenge_id, f"clichy-{number}", CLICHY if number % 2 else CLICHY_TOO)
    pledge(api, challenge_id, "lyon", LYON)
    pledge(api, challenge_id, "district", HAUTS_DE_SEINE)
    pledge(api, challenge_id, "nowhere", None)
    withdraw(api, challenge_id, "clichy-0")
    withdraw(api, challenge_id, "nowhere")
    records = stream.read()
    assert [r["eventName"] for r in records].count("REMOVE") == 2

    assert deliver(records) == {"batchItemFailures": []}
    assert area_counts(challenge_id) == {CLICHY_CELL: 2, LYON_CELL: 1, HAUTS_DE_SEINE_DISTRICT: 1}
    assert area_counts(challenge_id) == live_pledges_by_area(challenge_id)
    # Every pledge counts in its hour, with an area or without.
    hours = hour_counts(challenge_id)
    assert hours == hours_of(records, challenge_id)
    assert sum(made for made, _ in hours.values()) == 6
    assert sum(withdrawn for _, withdrawn in hours.values()) == 2


def test_the_same_batch_delivered_twice_counts_once(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    for number in range(4):
        pledge(api, challenge_id, f"p{number}", CLICHY)
    pledge(api, challenge_id, "lyon", LYON)
    withdraw(api, challenge_id, "p3")
    batch = stream.read()
    for _ in range(3):
        assert deliver(batch) == {"batchItemFailures": []}
        assert area_counts(challenge_id) == {CLICHY_CELL: 3, LYON_CELL: 1}
        assert hour_counts(challenge_id) == hours_of(batch, challenge_id)


def test_a_withdrawal_counts_in_its_own_records_hour(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    pledge(api, challenge_id, "lea", CLICHY)
    withdraw(api, challenge_id, "lea")
    made, withdrawn = stream.read()
    nine = datetime(2026, 6, 1, 9, 59, 59, tzinfo=UTC)
    # The REMOVE's old image still says the pledge was made at 9:59; it counts at 13:00.
    batch = [timed(made, nine), timed(withdrawn, nine + timedelta(hours=3, seconds=1))]
    for _ in range(2):
        assert deliver(batch) == {"batchItemFailures": []}
    assert hour_counts(challenge_id) == {"2026-06-01T09": (1, 0), "2026-06-01T13": (0, 1)}
    assert area_counts(challenge_id) == {}


def test_modify_records_and_pledges_without_an_area_count_nothing(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    pledge(api, challenge_id, "somewhere", CLICHY)
    pledge(api, challenge_id, "nowhere", None)
    records = stream.read()
    modified = copy.deepcopy(records[0])
    modified["eventName"] = "MODIFY"
    modified["dynamodb"]["OldImage"] = modified["dynamodb"]["NewImage"]
    modified["dynamodb"]["SequenceNumber"] = "9" + modified["dynamodb"]["SequenceNumber"]
    assert deliver([*records, modified]) == {"batchItemFailures": []}
    assert area_counts(challenge_id) == {CLICHY_CELL: 1}
    # Both pledges count in their hour: the one without an area too; the MODIFY not at all.
    assert sum(made for made, _ in hour_counts(challenge_id).values()) == 2


class Crash(BaseException):
    """The function dies mid-batch (a timeout, out of memory): nothing is reported."""


@dataclasses.dataclass
class CrashingTallies:
    """The real service, which dies after counting `groups` groups (challenges)."""

    service: TallyService
    groups: int

    def count(self, changes: Sequence[PledgeChange]) -> int:
        if self.groups == 0:
            raise Crash
        self.groups -= 1
        return self.service.count(changes)


@contextlib.contextmanager
def crashing_after(groups: int) -> Iterator[None]:
    """The trigger's container, with a tally service that dies after `groups` groups."""
    real = get_container()
    crashing = CrashingTallies(real.tallies, groups)
    set_container(dataclasses.replace(real, tallies=crashing))  # type: ignore[arg-type]
    try:
        yield
    finally:
        set_container(real)


def test_a_crash_after_some_groups_then_the_batch_again_counts_exactly(
    api: Api, stream: PledgeStream
) -> None:
    clichy, lyon, district = (
        str(api.create(target={"metric": "participants", "value": 100})["id"]) for _ in range(3)
    )
    for number in range(5):
        pledge(api, clichy, f"clichy-{number}", CLICHY)
    for number in range(3):
        pledge(api, lyon, f"lyon-{number}", LYON)
    pledge(api, district, "district", HAUTS_DE_SEINE)
    pledge(api, clichy, "lyon-0", LYON)  # a Lyon pledge on the first challenge
    batch = stream.read()

    # The first challenge's group is written, then the function dies: Lambda retries all.
    with crashing_after(1), pytest.raises(Crash):
        deliver(batch)
    assert area_counts(clichy) == {CLICHY_CELL: 5, LYON_CELL: 1}
    assert (area_counts(lyon), area_counts(district)) == ({}, {})
    assert hour_counts(lyon) == {}
    with crashing_after(2), pytest.raises(Crash):
        deliver(batch)
    assert area_counts(lyon) == {LYON_CELL: 3}
    assert area_counts(district) == {}
    assert deliver(batch) == {"batchItemFailures": []}
    for challenge_id in (clichy, lyon, district):
        assert area_counts(challenge_id) == live_pledges_by_area(challenge_id)
        assert participants_counted(challenge_id) == live_pledges(challenge_id)
        assert hour_counts(challenge_id) == hours_of(batch, challenge_id)
    assert area_counts(district) == {HAUTS_DE_SEINE_DISTRICT: 1}


def test_a_failed_group_is_reported_and_the_redelivery_from_it_counts_exactly(
    api: Api, stream: PledgeStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    up, down = (
        str(api.create(target={"metric": "participants", "value": 100})["id"]) for _ in range(2)
    )
    for number in range(3):
        pledge(api, up, f"clichy-{number}", CLICHY)
        pledge(api, down, f"lyon-{number}", LYON)
    pledge(api, up, "district", HAUTS_DE_SEINE)
    batch = stream.read()
    service = api.container.tallies
    real_count = service.count

    def one_is_down(changes: Sequence[PledgeChange]) -> int:
        if changes[0].challenge_id == down:
            raise RuntimeError("DynamoDB is unreachable")
        return real_count(changes)

    monkeypatch.setattr(service, "count", one_is_down)
    response = deliver(batch)
    failed = [r["dynamodb"]["SequenceNumber"] for r in batch if down in json.dumps(r)]
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(failed)
    assert area_counts(up) == {CLICHY_CELL: 3, HAUTS_DE_SEINE_DISTRICT: 1}
    assert (area_counts(down), hour_counts(down)) == ({}, {})

    # Lambda starts again at the lowest failed record: records after it come back too.
    monkeypatch.setattr(service, "count", real_count)
    first_failed = min(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
    assert first_failed < len(batch) - 1  # records after it, already counted, come back too
    assert deliver(batch[first_failed:]) == {"batchItemFailures": []}
    assert area_counts(up) == {CLICHY_CELL: 3, HAUTS_DE_SEINE_DISTRICT: 1}
    assert area_counts(down) == {LYON_CELL: 3} == live_pledges_by_area(down)
    for challenge_id in (up, down):
        assert hour_counts(challenge_id) == hours_of(batch, challenge_id)


def test_a_group_failing_after_its_first_transactions_counts_exactly_when_delivered_again(
    api: Api, stream: PledgeStream, challenge_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Transactions of 7 items: 4 receipts, the counter shard, an area, an hour; 10 pledges
    # make 3 of them.
    monkeypatch.setattr(tally_storage, "MAX_TRANSACTION_ITEMS", 7)
    for number in range(10):
        pledge(api, challenge_id, f"p{number}", CLICHY)
    moment = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    batch = [timed(record, moment) for record in stream.read()]
    real_write = DynamoPledgeTallies._write
    transactions: list[int] = []

    def second_fails(
        self: DynamoPledgeTallies, challenge_id: str, changes: Sequence[PledgeChange], *args: Any
    ) -> None:
        transactions.append(len(changes))
        if len(transactions) == 2:
            raise RuntimeError("the connection dropped")
        real_write(self, challenge_id, changes, *args)

    monkeypatch.setattr(DynamoPledgeTallies, "_write", second_fails)
    response = deliver(batch)
    # The group fails whole (all its records come back); its first transaction stays.
    assert len(response["batchItemFailures"]) == 10
    assert transactions == [4, 4]
    assert area_counts(challenge_id) == {CLICHY_CELL: 4}
    assert participants_counted(challenge_id) == 4
    assert hour_counts(challenge_id) == {"2026-06-01T09": (4, 0)}

    monkeypatch.setattr(DynamoPledgeTallies, "_write", real_write)
    assert deliver(batch) == {"batchItemFailures": []}
    assert participants_counted(challenge_id) == 10
    assert area_counts(challenge_id) == {CLICHY_CELL: 10}
    assert hour_counts(challenge_id) == {"2026-06-01T09": (10, 0)}


def test_bisected_batches_and_their_redeliveries_count_each_record_once(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    for number in range(6):
        pledge(api, challenge_id, f"p{number}", CLICHY if number % 3 else LYON)
    withdraw(api, challenge_id, "p1")
    pledge(api, challenge_id, "p1", HAUTS_DE_SEINE)  # back, from elsewhere
    batch = stream.read()
    half = len(batch) // 2
    for part in (batch[:half], batch, batch[half:], batch[: half // 2], batch):
        assert deliver(part) == {"batchItemFailures": []}
    assert area_counts(challenge_id) == {CLICHY_CELL: 3, LYON_CELL: 2, HAUTS_DE_SEINE_DISTRICT: 1}
    assert hour_counts(challenge_id) == hours_of(batch, challenge_id)


def test_a_malformed_record_fails_alone(api: Api, stream: PledgeStream, challenge_id: str) -> None:
    pledge(api, challenge_id, "a", CLICHY)
    pledge(api, challenge_id, "b", LYON)
    good, bad = stream.read()
    del bad["dynamodb"]["NewImage"]["challenge_id"]
    response = deliver([good, bad])
    assert response == {
        "batchItemFailures": [{"itemIdentifier": bad["dynamodb"]["SequenceNumber"]}]
    }
    assert area_counts(challenge_id) == {CLICHY_CELL: 1}
    assert sum(made for made, _ in hour_counts(challenge_id).values()) == 1


def test_receipts_expire_two_days_after_counting(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    pledge(api, challenge_id, "a", CLICHY)
    (record,) = stream.read()
    deliver([record])
    receipt = StreamReceiptItem.get(receipt_key(record["dynamodb"]["SequenceNumber"]))
    lifetime = receipt.expires_at - datetime.now(UTC)
    # Longer than the 24 h a stream keeps its records (the TTL has a one-second grain).
    assert 47 * 3600 < lifetime.total_seconds() <= 48 * 3600 + 1


# --- writes: one per area and batch; none added to the pledge path ----------------------------


@dataclasses.dataclass
class Write:
    operation: str
    tables: list[str]


@pytest.fixture
def writes(env: Settings) -> Iterator[tuple[Api, list[Write]]]:
    """An app whose DynamoDB writes are recorded (hooked before any client exists)."""
    recorded: list[Write] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            tables = [next(iter(item.values()))["TableName"] for item in params["TransactItems"]]
            recorded.append(Write(model.name, tables))
        elif model.name in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
            tables = list(params.get("RequestItems", {})) or [params["TableName"]]
            recorded.append(Write(model.name, tables))

    session = botocore_session()
    session.register("before-parameter-build.dynamodb", record)
    try:
        for api in make_api(env):
            yield api, recorded
    finally:
        session.unregister("before-parameter-build.dynamodb", record)


def test_a_pledge_with_a_location_is_one_put_of_the_pledge_and_nothing_else(
    writes: tuple[Api, list[Write]],
) -> None:
    api, recorded = writes
    challenge = api.create()
    recorded.clear()
    assert api.pledge(challenge["id"], "lea", {"location": CLICHY}).status_code == 201
    prefix = api.container.settings.table_prefix
    assert [(w.operation, w.tables) for w in recorded] == [("PutItem", [f"{prefix}pledges"])]
    recorded.clear()
    assert withdraw(api, challenge["id"], "lea") == 204
    assert [(w.operation, w.tables) for w in recorded] == [("DeleteItem", [f"{prefix}pledges"])]


@pytest.mark.parametrize(("pledges", "transactions"), [(97, 1), (98, 2)])
def test_a_burst_in_one_area_and_hour_is_one_write_per_97_records(
    writes: tuple[Api, list[Write]], pledges: int, transactions: int
) -> None:
    api, recorded = writes
    challenge_id = api.create(target={"metric": "participants", "value": 10_000})["id"]
    stream = PledgeStream(api.container.settings)
    for number in range(pledges):
        pledge(api, challenge_id, f"p{number}", CLICHY)
    # All in one hour, whenever the test runs: 97 receipts, the counter shard, the area and
    # the hour make 100.
    moment = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    batch = [timed(record, moment) for record in stream.read()]
    assert len(batch) == pledges
    prefix = api.container.settings.table_prefix

    def item_writes(table: str) -> int:
        return sum(w.tables.count(f"{prefix}{table}") for w in recorded)

    recorded.clear()
    deliver(batch)
    assert [w.operation for w in recorded] == ["TransactWriteItems"] * transactions
    assert all(len(w.tables) <= 100 for w in recorded)
    assert item_writes("area_counts") == item_writes("pledge_hours") == transactions
    assert item_writes("counters") == transactions
    assert item_writes("stream_receipts") == pledges
    assert participants_counted(challenge_id) == pledges
    assert area_counts(challenge_id) == {CLICHY_CELL: pledges}
    assert hour_counts(challenge_id) == {"2026-06-01T09": (pledges, 0)}
    # Redelivered: each transaction is refused once, on its receipts, and not tried again.
    recorded.clear()
    deliver(batch)
    assert item_writes("area_counts") == item_writes("pledge_hours") == transactions
    assert participants_counted(challenge_id) == pledges
    assert area_counts(challenge_id) == {CLICHY_CELL: pledges}
    assert hour_counts(challenge_id) == {"2026-06-01T09": (pledges, 0)}


def test_a_batch_with_many_areas_and_hours_splits_into_transactions_of_at_most_100_items(
    writes: tuple[Api, list[Write]],
) -> None:
    api, recorded = writes
    challenge_id = api.create(target={"metric": "participants", "value": 10_000})["id"]
    stream = PledgeStream(api.container.settings)
    # 70 pledges, each in an area of its own (0.1° apart: ~11 km, over 5 km cells)...
    for number in range(70):
        pledge(api, challenge_id, f"p{number}", {"lat": 40 + number / 10, "lon": 2.35})
    start = datetime(2026, 6, 1, 0, 30, tzinfo=UTC)
    records = stream.read()
    # ... and in an hour of its own: three items each, so 33 to a transaction.
    batch = [timed(record, start + timedelta(hours=n)) for n, record in enumerate(records)]
    areas = {r["dynamodb"]["NewImage"]["area"]["S"] for r in batch}
    assert len(areas) == 70
    prefix = api.container.settings.table_prefix

    recorded.clear()
    assert deliver(batch) == {"batchItemFailures": []}
    assert [len(w.tables) for w in recorded] == [100, 100, 13]
    assert sum(w.tables.count(f"{prefix}stream_receipts") for w in recorded) == 70
    assert area_counts(challenge_id) == dict.fromkeys(areas, 1)
    hours = hour_counts(challenge_id)
    assert len(hours) == 70
    assert set(hours.values()) == {(1, 0)}
    assert hours == hours_of(batch, challenge_id)
    # Delivered again in another split (a bisected batch): nothing counts twice.
    for part in (batch[:50], batch[20:]):
        assert deliver(part) == {"batchItemFailures": []}
    assert hour_counts(challenge_id) == hours
    assert area_counts(challenge_id) == dict.fromkeys(areas, 1)


# --- the property: any interleaving of pledges, withdrawals and (re)deliveries ----------------

PLACES = (CLICHY, CLICHY_TOO, LYON, HAUTS_DE_SEINE, None)
PEOPLE = tuple(f"person-{n}" for n in range(5))

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("pledge"),
            st.tuples(st.sampled_from(PEOPLE), st.integers(0, 1)),
            st.integers(0, len(PLACES) - 1),
        ),
        st.tuples(
            st.just("withdraw"), st.tuples(st.sampled_from(PEOPLE), st.integers(0, 1)), st.just(0)
        ),
        # Deliver a window of what the stream holds so far (again, in parts, out of order),
        # or crash after 0-2 groups (challenges) of a batch of up to 8 records.
        st.tuples(st.just("deliver"), st.integers(0, 1000), st.integers(1, 12)),
        st.tuples(st.just("crash"), st.integers(0, 1000), st.integers(0, 2)),
    ),
    max_size=18,
)


def window(records: list[Record], start: int, size: int) -> list[Record]:
    """Up to `size` records from any position of what the stream holds so far."""
    if not records:
        return []
    start %= len(records)
    return records[start : start + size]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_any_interleaving_of_pledges_withdrawals_and_redeliveries_counts_exactly(
    api: Api, stream: PledgeStream, steps: list[tuple[str, Any, int]]
) -> None:
    challenge_ids = [
        str(api.create(target={"metric": "participants", "value": 10_000})["id"]) for _ in range(2)
    ]
    records: list[Record] = []
    for action, subject, number in steps:
        if action == "pledge":
            person, which = subject
            pledge(api, challenge_ids[which], person, PLACES[number])
        elif action == "withdraw":
            person, which = subject
            withdraw(api, challenge_ids[which], person)
        elif action == "deliver":
            records += stream.read()
            assert deliver(window(records, subject, number)) == {"batchItemFailures": []}
        else:  # a crash after `number` groups of a batch of up to 8 records
            records += stream.read()
            with crashing_after(number), contextlib.suppress(Crash):
                deliver(window(records, subject, 8))
    # The stream's guarantee: in the end, every record is delivered at least once.
    records += stream.read()
    assert deliver(records) == {"batchItemFailures": []}
    for challenge_id in challenge_ids:
        assert participants_counted(challenge_id) == live_pledges(challenge_id)
        assert area_counts(challenge_id) == live_pledges_by_area(challenge_id)
        assert hour_counts(challenge_id) == hours_of(records, challenge_id)
