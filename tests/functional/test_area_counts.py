"""The `count_areas` trigger on moto: one write per area and batch, exact under redelivery,
crashes, partial failures and bisected batches, and nothing added to the pledge path."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app as app_module
from chalicelib.aws_clients import botocore_session
from chalicelib.local.stack import streams_client
from chalicelib.local.stream_poller import LocalLambdaContext, StreamBinding, StreamPoller
from chalicelib.services.areas import AreaChange, AreaService
from chalicelib.settings import Settings
from chalicelib.storage.tables import AreaCountItem, PledgeItem, StreamReceiptItem, stream_arn
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


class Crash(BaseException):
    """The function dies mid-batch (a timeout, out of memory): nothing is reported."""


@dataclasses.dataclass
class CrashingAreas:
    """The real service, which dies after counting `groups` groups."""

    service: AreaService
    groups: int

    def count(self, changes: Sequence[AreaChange]) -> int:
        if self.groups == 0:
            raise Crash
        self.groups -= 1
        return self.service.count(changes)


@contextlib.contextmanager
def crashing_after(groups: int) -> Iterator[None]:
    """The trigger's container, with an area service that dies after `groups` groups."""
    real = get_container()
    crashing = CrashingAreas(real.areas, groups)
    set_container(dataclasses.replace(real, areas=crashing))  # type: ignore[arg-type]
    try:
        yield
    finally:
        set_container(real)


def test_a_crash_after_some_groups_then_the_batch_again_counts_exactly(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    for number in range(5):
        pledge(api, challenge_id, f"clichy-{number}", CLICHY)
    for number in range(3):
        pledge(api, challenge_id, f"lyon-{number}", LYON)
    pledge(api, challenge_id, "district", HAUTS_DE_SEINE)
    batch = stream.read()

    # Clichy's group is written, then the function dies: Lambda retries the whole batch.
    with crashing_after(1), pytest.raises(Crash):
        deliver(batch)
    assert area_counts(challenge_id) == {CLICHY_CELL: 5}
    with crashing_after(2), pytest.raises(Crash):
        deliver(batch)
    assert area_counts(challenge_id) == {CLICHY_CELL: 5, LYON_CELL: 3}
    assert deliver(batch) == {"batchItemFailures": []}
    expected = {CLICHY_CELL: 5, LYON_CELL: 3, HAUTS_DE_SEINE_DISTRICT: 1}
    assert area_counts(challenge_id) == expected == live_pledges_by_area(challenge_id)


def test_a_failed_group_is_reported_and_the_redelivery_from_it_counts_exactly(
    api: Api, stream: PledgeStream, challenge_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(3):
        pledge(api, challenge_id, f"clichy-{number}", CLICHY)
        pledge(api, challenge_id, f"lyon-{number}", LYON)
    pledge(api, challenge_id, "district", HAUTS_DE_SEINE)
    batch = stream.read()
    service = api.container.areas
    real_count = service.count

    def lyon_is_down(changes: Sequence[AreaChange]) -> int:
        if changes[0].area == LYON_CELL:
            raise RuntimeError("DynamoDB is unreachable")
        return real_count(changes)

    monkeypatch.setattr(service, "count", lyon_is_down)
    response = deliver(batch)
    lyon = [r["dynamodb"]["SequenceNumber"] for r in batch if "lyon" in json.dumps(r)]
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(lyon)
    assert area_counts(challenge_id) == {CLICHY_CELL: 3, HAUTS_DE_SEINE_DISTRICT: 1}

    # Lambda starts again at the lowest failed record: records after it come back too.
    monkeypatch.setattr(service, "count", real_count)
    first_failed = min(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in lyon)
    assert first_failed < len(batch) - 1  # records after it, already counted, come back too
    assert deliver(batch[first_failed:]) == {"batchItemFailures": []}
    expected = {CLICHY_CELL: 3, LYON_CELL: 3, HAUTS_DE_SEINE_DISTRICT: 1}
    assert area_counts(challenge_id) == expected == live_pledges_by_area(challenge_id)


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


def test_receipts_expire_two_days_after_counting(
    api: Api, stream: PledgeStream, challenge_id: str
) -> None:
    pledge(api, challenge_id, "a", CLICHY)
    (record,) = stream.read()
    deliver([record])
    receipt = StreamReceiptItem.get(f"areas#{record['dynamodb']['SequenceNumber']}")
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


def test_a_pledge_with_a_location_makes_one_transaction_and_nothing_for_areas(
    writes: tuple[Api, list[Write]],
) -> None:
    api, recorded = writes
    challenge = api.create()
    recorded.clear()
    assert api.pledge(challenge["id"], "lea", {"location": CLICHY}).status_code == 201
    prefix = api.container.settings.table_prefix
    assert [(w.operation, sorted(w.tables)) for w in recorded] == [
        ("TransactWriteItems", sorted([f"{prefix}pledges", f"{prefix}counters"]))
    ]


@pytest.mark.parametrize(("pledges", "area_writes"), [(99, 1), (100, 2)])
def test_a_burst_in_one_area_is_one_write_per_99_records(
    writes: tuple[Api, list[Write]], pledges: int, area_writes: int
) -> None:
    api, recorded = writes
    challenge_id = api.create(target={"metric": "participants", "value": 10_000})["id"]
    stream = PledgeStream(api.container.settings)
    for number in range(pledges):
        pledge(api, challenge_id, f"p{number}", CLICHY)
    batch = stream.read()
    assert len(batch) == pledges
    table = f"{api.container.settings.table_prefix}area_counts"

    def area_item_writes() -> int:
        return sum(w.tables.count(table) for w in recorded)

    recorded.clear()
    deliver(batch)
    assert area_item_writes() == area_writes
    assert area_counts(challenge_id) == {CLICHY_CELL: pledges}
    # Redelivered: each transaction is refused once, on its receipts, and not tried again.
    recorded.clear()
    deliver(batch)
    assert area_item_writes() == area_writes
    assert area_counts(challenge_id) == {CLICHY_CELL: pledges}


# --- the property: any interleaving of pledges, withdrawals and (re)deliveries ----------------

PLACES = (CLICHY, CLICHY_TOO, LYON, HAUTS_DE_SEINE, None)
PEOPLE = tuple(f"person-{n}" for n in range(5))

steps = st.lists(
    st.one_of(
        st.tuples(st.just("pledge"), st.sampled_from(PEOPLE), st.integers(0, len(PLACES) - 1)),
        st.tuples(st.just("withdraw"), st.sampled_from(PEOPLE), st.just(0)),
        # Deliver a window of what the stream holds so far (again, in parts, out of order),
        # or crash after 0-2 groups of a batch of up to 8 records.
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
    challenge_id = str(api.create(target={"metric": "participants", "value": 10_000})["id"])
    records: list[Record] = []
    for action, subject, number in steps:
        if action == "pledge":
            pledge(api, challenge_id, subject, PLACES[number])
        elif action == "withdraw":
            withdraw(api, challenge_id, subject)
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
    assert area_counts(challenge_id) == live_pledges_by_area(challenge_id)
