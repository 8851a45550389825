"""Areas and hourly tallies without DynamoDB: grouping a batch, the privacy threshold, cell
geometry, the nearby query, reading pledges-stream records, the transactions' chunks, and
the services' rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pygeohash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.api.schemas import AreaFeatureCollection, AreaList, NearbyQuery
from chalicelib.domain.areas import (
    MIN_PARTICIPANTS_SHOWN,
    AreaCount,
    AreaSummary,
    area_from_coordinates,
    area_from_postal_code,
    cell_bounds,
    is_geohash_cell,
    shown_participants,
    summarize,
)
from chalicelib.domain.errors import ChallengeNotFoundError
from chalicelib.domain.model import Principal, Visibility
from chalicelib.domain.series import HourCount
from chalicelib.services.areas import AreaService
from chalicelib.services.tallies import PledgeChange, TallyService, group_changes
from chalicelib.storage.tallies import (
    MAX_TRANSACTION_ITEMS,
    _chunks,
    pledge_change_from_stream_record,
)
from tests.unit.fakes import FakePledgeTallies
from tests.unit.support import Backend, challenge_draft

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)


T0 = datetime(2026, 6, 1, 9, 15, tzinfo=UTC)
NINE, TEN = T0.replace(minute=0), T0.replace(hour=10, minute=0)


def change(
    receipt: int,
    area: str | None,
    delta: int = 1,
    challenge_id: str = "ch_1",
    at: datetime = T0,
) -> PledgeChange:
    return PledgeChange(str(receipt), challenge_id, delta, at, area)


# --- grouping a batch -------------------------------------------------------------------------


def test_a_batch_is_grouped_by_challenge_in_order_of_appearance() -> None:
    batch = [
        change(1, "u09wh", challenge_id="ch_2"),
        change(2, "FR-92"),
        change(3, "u09wh", -1, challenge_id="ch_2"),
        change(4, None),
        change(5, "FR-92", challenge_id="ch_3"),
    ]
    groups = group_changes(batch)
    assert [[c.receipt for c in group] for group in groups] == [["1", "3"], ["2", "4"], ["5"]]


@given(st.lists(st.tuples(st.sampled_from(["ch_1", "ch_2"]), st.sampled_from(["a", "b", None]))))
def test_grouping_keeps_every_change_once_and_groups_are_uniform(
    pairs: list[tuple[str, str | None]],
) -> None:
    batch = [change(i, area, challenge_id=cid) for i, (cid, area) in enumerate(pairs)]
    groups = group_changes(batch)
    assert sorted(c.receipt for group in groups for c in group) == sorted(c.receipt for c in batch)
    assert all(len({c.challenge_id for c in group}) == 1 for group in groups)
    assert len(groups) == len({c.challenge_id for c in batch})
    # In each group, the changes keep their order in the batch.
    assert all(
        [int(c.receipt) for c in group] == sorted(int(c.receipt) for c in group) for group in groups
    )


def test_a_change_counts_in_the_utc_hour_it_falls_in() -> None:
    assert change(1, None, at=T0).hour == "2026-06-01T09"
    paris = datetime(2026, 6, 1, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert change(1, None, at=paris).hour == "2026-05-31T22"


# --- the privacy threshold ---------------------------------------------------------------------


def test_areas_with_fewer_than_five_are_only_summed() -> None:
    assert MIN_PARTICIPANTS_SHOWN == 5
    summary = summarize(
        [
            AreaCount("u09wh", 5),
            AreaCount("u09wj", 4),
            AreaCount("FR-92", 12),
            AreaCount("u09tv", 1),
            AreaCount("u05kq", 0),  # everyone there withdrew
        ]
    )
    assert summary == AreaSummary(
        areas=(AreaCount("FR-92", 12), AreaCount("u09wh", 5)), hidden_participants=5
    )


def test_equal_counts_are_ordered_by_label() -> None:
    summary = summarize([AreaCount("u09wj", 7), AreaCount("FR-92", 7), AreaCount("u09wh", 9)])
    assert [a.area for a in summary.areas] == ["u09wh", "FR-92", "u09wj"]


@pytest.mark.parametrize(("count", "shown"), [(0, 0), (1, 0), (4, 0), (5, 5), (6, 6), (500, 500)])
def test_nearby_shows_a_count_only_from_five(count: int, shown: int) -> None:
    assert shown_participants(count) == shown


@given(st.lists(st.integers(0, 20), max_size=30))
def test_listed_and_hidden_add_up_and_nothing_small_is_listed(numbers: list[int]) -> None:
    counts = [AreaCount(f"area-{i:02d}", n) for i, n in enumerate(numbers)]
    summary = summarize(counts)
    assert sum(a.participants for a in summary.areas) + summary.hidden_participants == sum(numbers)
    assert all(a.participants >= MIN_PARTICIPANTS_SHOWN for a in summary.areas)
    assert summary.hidden_participants == sum(n for n in numbers if n < MIN_PARTICIPANTS_SHOWN)


# --- geometry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("area", "cell"), [("u09wh", True), ("FR-92", False), ("GB-SW", False), ("u09w", False)]
)
def test_cells_and_districts_are_told_apart(area: str, cell: bool) -> None:
    assert is_geohash_cell(area) is cell


def test_a_district_has_no_bounds() -> None:
    with pytest.raises(ValueError, match="not a geohash cell"):
        cell_bounds("FR-92")


@settings(max_examples=100, deadline=None)
@given(latitudes, longitudes)
def test_a_cell_polygon_is_a_closed_counter_clockwise_lon_lat_ring_around_its_points(
    lat: float, lon: float
) -> None:
    area = area_from_coordinates(lat, lon)
    summary = AreaSummary((AreaCount(area, 5),), 0)
    (feature,) = AreaFeatureCollection.from_summary(summary).model_dump()["features"]
    (ring,) = feature["geometry"]["coordinates"]
    assert len(ring) == 5
    assert ring[0] == ring[-1]
    lons = [position[0] for position in ring]
    lats = [position[1] for position in ring]
    assert min(lons) <= lon <= max(lons)  # [lon, lat]: longitude first
    assert min(lats) <= lat <= max(lats)
    # Shoelace formula: positive area is counter-clockwise (RFC 7946 exterior rings).
    twice_area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    assert twice_area > 0
    _, _, lat_error, lon_error = pygeohash.decode_exactly(area)
    assert max(lats) - min(lats) == pytest.approx(2 * lat_error)
    assert max(lons) - min(lons) == pytest.approx(2 * lon_error)


def test_geojson_keeps_districts_without_geometry_and_the_order_of_the_list() -> None:
    summary = AreaSummary((AreaCount("FR-92", 8), AreaCount("u09wh", 6)), 3)
    collection = AreaFeatureCollection.from_summary(summary).model_dump()
    assert collection["type"] == "FeatureCollection"
    assert collection["hidden_participants"] == 3
    assert [f["properties"] for f in collection["features"]] == [
        {"area": "FR-92", "participants": 8},
        {"area": "u09wh", "participants": 6},
    ]
    assert collection["features"][0]["geometry"] is None
    assert collection["features"][1]["geometry"]["type"] == "Polygon"
    assert AreaList.from_summary(summary).model_dump() == {
        "areas": [{"area": "FR-92", "participants": 8}, {"area": "u09wh", "participants": 6}],
        "hidden_participants": 3,
    }


# --- the nearby query --------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(latitudes, longitudes)
def test_nearby_reduces_coordinates_as_a_pledge_does(lat: float, lon: float) -> None:
    query = NearbyQuery.model_validate({"lat": repr(lat), "lon": repr(lon)})
    assert query.area() == area_from_coordinates(lat, lon)


@pytest.mark.parametrize(
    ("code", "country"), [("92110", "fr"), ("SW1A 1AA", "GB"), ("10-115", "de")]
)
def test_nearby_reduces_postal_codes_as_a_pledge_does(code: str, country: str) -> None:
    query = NearbyQuery.model_validate({"postal_code": code, "country": country})
    assert query.area() == area_from_postal_code(code, country)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"lat": "1"},
        {"postal_code": "92110"},
        {"lat": "1", "lon": "2", "postal_code": "92110", "country": "FR"},
        {"lat": "1", "lon": "2", "country": "FR"},
        {"lat": "90.000001", "lon": "2"},
        {"lat": "nan", "lon": "2"},
        {"lat": "1", "lon": "-inf"},
        {"postal_code": "<b>", "country": "FR"},
        {"postal_code": "92110", "country": "France"},
    ],
)
def test_nearby_refuses_anything_but_one_complete_valid_place(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        NearbyQuery.model_validate(params)


# --- pledges-stream records --------------------------------------------------------------------


RECORD_TIME = datetime(2026, 1, 3, 17, 45, 12, tzinfo=UTC)


def stream_record(
    event_name: str,
    *,
    area: str | None = "u09wh",
    sequence_number: str = "100",
    created_at: str | None = "2026-01-01T00:00:00.000000+0000",
) -> dict[str, Any]:
    image: dict[str, Any] = {
        "participant_id": {"S": "lea"},
        "challenge_id": {"S": "ch_1"},
        "challenge_bucket": {"S": "ch_1#3"},
    }
    if created_at is not None:
        image["created_at"] = {"S": created_at}
    if area is not None:
        image["area"] = {"S": area}
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": int(RECORD_TIME.timestamp()),
        "Keys": {"participant_id": {"S": "lea"}, "challenge_id": {"S": "ch_1"}},
        "SequenceNumber": sequence_number,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if event_name in ("INSERT", "MODIFY"):
        dynamodb["NewImage"] = image
    if event_name in ("REMOVE", "MODIFY"):
        dynamodb["OldImage"] = image
    return {"eventName": event_name, "dynamodb": dynamodb}


def test_a_pledge_counts_plus_one_when_made_and_minus_one_when_its_record_withdraws_it() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert pledge_change_from_stream_record(stream_record("INSERT")) == PledgeChange(
        "100", "ch_1", +1, created, "u09wh"
    )
    # A withdrawal counts at its own record's time (the pledge's creation is days before).
    withdrawal = pledge_change_from_stream_record(stream_record("REMOVE"))
    assert withdrawal == PledgeChange("100", "ch_1", -1, RECORD_TIME, "u09wh")
    assert withdrawal.hour == "2026-01-03T17"


def test_a_pledge_without_its_creation_time_counts_at_its_records_time() -> None:
    made = pledge_change_from_stream_record(stream_record("INSERT", created_at=None))
    assert made == PledgeChange("100", "ch_1", +1, RECORD_TIME, "u09wh")


def test_pledges_without_an_area_count_in_hours_only_and_modifications_count_nothing() -> None:
    assert pledge_change_from_stream_record(stream_record("MODIFY")) is None
    made = pledge_change_from_stream_record(stream_record("INSERT", area=None))
    assert made == PledgeChange("100", "ch_1", +1, datetime(2026, 1, 1, tzinfo=UTC), None)
    withdrawn = pledge_change_from_stream_record(stream_record("REMOVE", area=None))
    assert withdrawn == PledgeChange("100", "ch_1", -1, RECORD_TIME, None)


def test_a_record_without_its_image_is_an_error_not_a_silent_skip() -> None:
    record = stream_record("REMOVE")
    del record["dynamodb"]["OldImage"]
    with pytest.raises(ValueError, match="NEW_AND_OLD_IMAGES"):
        pledge_change_from_stream_record(record)


# --- the transactions' chunks ------------------------------------------------------------------


def items_in(chunk: list[PledgeChange]) -> int:
    """A chunk's transaction items: a receipt per change, the counter shard's update, an
    update per area and per hour."""
    areas = len({c.area for c in chunk if c.area})
    return len(chunk) + 1 + areas + len({c.hour for c in chunk})


@pytest.mark.parametrize(("changes", "chunks"), [(97, 1), (98, 2), (194, 2), (195, 3)])
def test_a_burst_in_one_area_and_hour_takes_97_receipts_a_transaction(
    changes: int, chunks: int
) -> None:
    batch = [change(n, "u09wh") for n in range(changes)]
    split = _chunks(batch)
    assert [len(chunk) for chunk in split][:1] == [min(changes, 97)]
    assert len(split) == chunks
    assert all(items_in(chunk) <= MAX_TRANSACTION_ITEMS for chunk in split)
    assert [c for chunk in split for c in chunk] == batch


def test_a_chunk_with_many_areas_and_hours_splits_before_100_items() -> None:
    # Every change its own area and hour: three items each, and the counter shard's update,
    # so 33 changes a transaction.
    batch = [change(n, f"area-{n}", at=T0 + timedelta(hours=n)) for n in range(100)]
    split = _chunks(batch)
    assert [len(chunk) for chunk in split] == [33, 33, 33, 1]
    assert [items_in(chunk) for chunk in split] == [100, 100, 100, 4]
    assert [c for chunk in split for c in chunk] == batch


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 60).map(lambda n: f"area-{n}")),
            st.integers(0, 60),
            st.sampled_from([1, -1]),
        ),
        max_size=400,
    )
)
def test_chunks_keep_every_change_once_in_order_within_100_items(
    specs: list[tuple[str | None, int, int]],
) -> None:
    batch = [
        change(n, area, delta, at=T0 + timedelta(hours=hour))
        for n, (area, hour, delta) in enumerate(specs)
    ]
    split = _chunks(batch)
    assert [c for chunk in split for c in chunk] == batch
    assert all(chunk and items_in(chunk) <= MAX_TRANSACTION_ITEMS for chunk in split)
    # Greedy: each chunk but the last was closed only because the next change did not fit.
    for chunk, following in itertools.pairwise(split):
        assert items_in([*chunk, following[0]]) > MAX_TRANSACTION_ITEMS


# --- the services ------------------------------------------------------------------------------


@pytest.fixture
def tallies(backend: Backend) -> tuple[TallyService, FakePledgeTallies]:
    counts = FakePledgeTallies()
    return TallyService(counts, backend.clock), counts


@pytest.fixture
def areas(
    backend: Backend, tallies: tuple[TallyService, FakePledgeTallies]
) -> tuple[AreaService, TallyService]:
    service, counts = tallies
    return AreaService(counts, backend.challenges), service


def test_a_group_is_applied_once_however_often_it_comes(
    tallies: tuple[TallyService, FakePledgeTallies],
) -> None:
    service, counts = tallies
    group = [change(1, "u09wh"), change(2, "u09wh"), change(3, "u09wh", -1)]
    assert service.count(group) == 3
    assert service.count(group) == 0
    assert service.count([*group, change(4, "u09wh")]) == 1
    assert counts.count("ch_1", "u09wh") == 2


def test_hours_are_counted_once_however_often_the_group_comes(
    tallies: tuple[TallyService, FakePledgeTallies],
) -> None:
    service, counts = tallies
    group = [
        change(1, "u09wh", at=NINE + timedelta(minutes=1)),
        change(2, None, at=NINE + timedelta(minutes=59)),
        change(3, "u09wh", -1, at=TEN + timedelta(minutes=30)),  # its record's hour
    ]
    for _ in range(3):
        service.count(group)
    assert counts.hours("ch_1") == [HourCount(NINE, 2, 0), HourCount(TEN, 0, 1)]
    assert counts.counts("ch_1") == []  # +1 and -1 in one group: the area is never written
    assert counts.hours("ch_2") == []


def test_a_group_must_share_its_challenge(
    tallies: tuple[TallyService, FakePledgeTallies],
) -> None:
    service, counts = tallies
    with pytest.raises(ValueError, match="one challenge"):
        service.count([change(1, "u09wh"), change(2, "u09wh", challenge_id="ch_2")])
    assert counts.receipts == set()
    assert service.count([]) == 0
    # One challenge, many areas: one group.
    assert service.count([change(1, "u09wh"), change(2, "FR-92"), change(3, None)]) == 3


def test_summary_and_nearby_of_a_visible_challenge(
    backend: Backend, areas: tuple[AreaService, TallyService]
) -> None:
    service, tallies = areas
    challenge = backend.live_challenge()
    tallies.count([change(n, "u09wh", challenge_id=challenge.id) for n in range(5)])
    tallies.count([change(n, "FR-92", challenge_id=challenge.id) for n in range(10, 14)])
    tallies.count([change(20, None, challenge_id=challenge.id)])  # counted in its hour only
    assert service.summary(challenge.id, None) == AreaSummary((AreaCount("u09wh", 5),), 4)
    assert service.nearby(challenge.id, None, "u09wh") == AreaCount("u09wh", 5)
    assert service.nearby(challenge.id, None, "FR-92") == AreaCount("FR-92", 0)
    assert service.nearby(challenge.id, None, "u05kq") == AreaCount("u05kq", 0)


def test_drafts_and_other_organisations_challenges_are_not_found(
    backend: Backend, areas: tuple[AreaService, TallyService]
) -> None:
    service, _ = areas
    draft = backend.challenges.create(challenge_draft(publish=False))
    internal = backend.live_challenge(visibility=Visibility.ORGANIZATION, organization_id="org_a")
    for challenge_id, principal in (
        (draft.id, None),
        (internal.id, None),
        (internal.id, Principal(sub="x", org_id="org_b")),
        ("ch_missing", None),
    ):
        with pytest.raises(ChallengeNotFoundError):
            service.summary(challenge_id, principal)
        with pytest.raises(ChallengeNotFoundError):
            service.nearby(challenge_id, principal, "u09wh")
    employee = Principal(sub="e", org_id="org_a")
    assert service.summary(internal.id, employee) == AreaSummary((), 0)
