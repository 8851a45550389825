"""Request models refuse bad input; response models leak no contacts and speak UTC."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from chalicelib.api.routing import parse_body
from chalicelib.api.schemas import (
    AdminChallengeOut,
    ChallengeCreate,
    ChallengeListQuery,
    ChallengeOut,
    ChallengePatch,
    LatLon,
    NotificationOut,
    PledgeIn,
    PledgeOut,
    PostalLocation,
    TargetIn,
)
from chalicelib.domain.errors import InvalidRequestError, PayloadTooLargeError
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Metric,
    Party,
    Pledge,
    RecipientRole,
    Target,
    Totals,
    Visibility,
)

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def parsed(model: type[BaseModel], body: str) -> BaseModel:
    """Validate a JSON body the way the routes do: strictly, from the JSON text."""
    return model.model_validate_json(body)


def rejects(model: type[BaseModel], body: str) -> list[tuple[object, ...]]:
    with pytest.raises(ValidationError) as raised:
        parsed(model, body)
    return [tuple(error["loc"]) for error in raised.value.errors()]


def creation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Cycle to work",
        "action": "I cycle to work at least once a week",
        "target": {"metric": "participants", "value": 200},
        "sponsor": {"name": "Ville de Clichy", "email": "sponsor@clichy.example"},
        "beneficiary": {"name": "Solicycle", "email": "contact@solicycle.example"},
        "reward": "€5,000 to teach 500 pupils bike repair",
    }
    body.update(overrides)
    return body


# --- requests ----------------------------------------------------------------------------------


def test_a_complete_creation_is_accepted() -> None:
    body = creation(
        description="Spring",
        target={"metric": "quantity", "value": 80000.5, "unit": "km"},
        sponsor={
            "name": "Ville de Clichy",
            "email": "sponsor@clichy.example",
            "webhook_url": "https://hooks.clichy.example/crowdact",
        },
        starts_at="2026-06-01T09:00:00Z",
        ends_at="2026-06-30T18:00:00+02:00",
        campaign_id="cmp_spring",
        organization_id="org_clichy",
        visibility="organization",
        report_cap=50,
        publish=True,
    )

    created = ChallengeCreate.model_validate_json(json.dumps(body))

    assert created.target.to_domain() == Target(Metric.QUANTITY, 80000.5, "km")
    assert created.sponsor.to_domain().webhook_url == "https://hooks.clichy.example/crowdact"
    assert created.ends_at == datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
    assert created.publish


def test_a_whole_float_participants_target_becomes_an_int() -> None:
    target = TargetIn.model_validate({"metric": "participants", "value": 200.0}).to_domain()

    assert target == Target(Metric.PARTICIPANTS, 200)
    assert isinstance(target.value, int)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"color": "red"}, ("color",)),
        ({"target": {"metric": "participants", "value": 10, "extra": 1}}, ("target", "extra")),
        ({"sponsor": {"name": "S", "email": "s@x.example", "phone": "1"}}, ("sponsor", "phone")),
    ],
)
def test_unknown_fields_are_refused(body: dict[str, Any], loc: tuple[object, ...]) -> None:
    assert loc in rejects(ChallengeCreate, json.dumps(creation(**body)))


@pytest.mark.parametrize(
    "target",
    [
        '{"metric": "participants", "value": 10.5}',
        '{"metric": "quantity", "value": 10}',
        '{"metric": "quantity", "value": 10, "unit": null}',
        '{"metric": "participants", "value": 0}',
        '{"metric": "participants", "value": -5}',
        '{"metric": "quantity", "value": -0.5, "unit": "km"}',
        '{"metric": "quantity", "value": NaN, "unit": "km"}',
        '{"metric": "quantity", "value": Infinity, "unit": "km"}',
        '{"metric": "quantity", "value": 1e12, "unit": "km"}',
        '{"metric": "headcount", "value": 10}',
        '{"metric": "quantity", "value": 10, "unit": "<b>"}',
        '{"value": 10}',
    ],
)
def test_bad_targets_are_refused(target: str) -> None:
    assert rejects(TargetIn, target)


def test_a_boolean_target_value_is_refused() -> None:
    try:
        accepted = parsed(TargetIn, '{"metric": "participants", "value": true}')
    except ValidationError:
        return
    raise AssertionError(f"a boolean was taken for a number: {accepted!r}")


@pytest.mark.parametrize(
    "party",
    [
        {"name": "S", "email": "not-an-email"},
        {"name": "S", "email": "two@@example.org"},
        {"name": "", "email": "s@example.org"},
        {"name": "   ", "email": "s@example.org"},
        {"name": "S"},
    ],
)
def test_bad_contacts_are_refused(party: dict[str, Any]) -> None:
    assert rejects(ChallengeCreate, json.dumps(creation(beneficiary=party)))


def test_a_webhook_url_must_be_http() -> None:
    sponsor = {"name": "S", "email": "s@example.org", "webhook_url": "ftp://example.org/x"}

    assert ("sponsor", "webhook_url") in rejects(
        ChallengeCreate, json.dumps(creation(sponsor=sponsor))
    )


def test_dates_must_carry_a_timezone() -> None:
    assert ("starts_at",) in rejects(
        ChallengeCreate, json.dumps(creation(starts_at="2026-06-01T09:00:00"))
    )


@pytest.mark.parametrize(
    "location",
    [
        '{"lat": 90.5, "lon": 2.35}',
        '{"lat": -91, "lon": 2.35}',
        '{"lat": 48.85, "lon": 180.01}',
        '{"lat": NaN, "lon": 2.35}',
        '{"lat": 48.85, "lon": -Infinity}',
        '{"lat": "north", "lon": 2.35}',
        '{"lat": 48.85}',
        '{"lat": 48.85, "lon": 2.35, "postal_code": "75011"}',
    ],
)
def test_bad_coordinates_are_refused(location: str) -> None:
    assert rejects(LatLon, location)
    assert rejects(PledgeIn, f'{{"location": {location}}}')


@pytest.mark.parametrize(
    "location",
    [
        '{"postal_code": "75011"}',
        '{"postal_code": "75011", "country": "FRA"}',
        '{"postal_code": "7", "country": "FR"}',
        '{"postal_code": "75011; DROP", "country": "FR"}',
    ],
)
def test_bad_postal_locations_are_refused(location: str) -> None:
    assert rejects(PostalLocation, location)


@pytest.mark.parametrize(
    "body",
    [
        '{"display_name": "' + "x" * 81 + '"}',
        '{"display_name": ""}',
        '{"display_name": "   "}',
        '{"display_name": 42}',
        '{"notify": "maybe"}',
        '{"nickname": "Léa"}',
    ],
)
def test_bad_pledges_are_refused(body: str) -> None:
    assert rejects(PledgeIn, body)


def test_good_pledges_are_accepted() -> None:
    assert PledgeIn.model_validate({}).notify
    full = PledgeIn.model_validate(
        {
            "display_name": "  " + "é" * 80 + " ",
            "location": {"lat": -90, "lon": 180},
            "notify": False,
        }
    )
    assert full.display_name == "é" * 80
    assert isinstance(full.location, LatLon)
    assert not full.notify
    postal = PledgeIn.model_validate({"location": {"postal_code": "SW1A 1AA", "country": "GB"}})
    assert isinstance(postal.location, PostalLocation)


@pytest.mark.parametrize(
    "patch",
    [
        "{}",
        '{"title": null}',
        '{"target": null}',
        '{"sponsor": null}',
        '{"visibility": null}',
        '{"title": ""}',
        '{"status": "live"}',
        '{"target": {"metric": "quantity", "value": 5}}',
    ],
)
def test_bad_patches_are_refused(patch: str) -> None:
    assert rejects(ChallengePatch, patch)


def test_a_patch_keeps_track_of_what_was_sent_including_nulls() -> None:
    patch = ChallengePatch.model_validate({"ends_at": None, "title": "New title"})

    assert patch.model_fields_set == {"ends_at", "title"}
    assert patch.ends_at is None


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"status": "draft"}, {"cursor": ""}],
)
def test_bad_list_queries_are_refused(query: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        ChallengeListQuery.model_validate(query)


def test_list_queries_have_defaults() -> None:
    query = ChallengeListQuery.model_validate({"status": "ended", "utm_source": "x"})

    assert query.limit == 20
    assert query.status == "ended"


# --- responses ---------------------------------------------------------------------------------

PARIS = timezone(timedelta(hours=2))


def a_challenge() -> Challenge:
    return Challenge(
        id="ch_0042",
        title="Cycle to work",
        action="I cycle to work at least once a week",
        description="Spring campaign",
        target=Target(Metric.PARTICIPANTS, 200),
        sponsor=Party("Ville de Clichy", "sponsor@clichy.example", "https://hooks.example/h"),
        beneficiary=Party("Solicycle", "contact@solicycle.example"),
        reward="€5,000 to teach 500 pupils bike repair",
        status=ChallengeStatus.LIVE,
        visibility=Visibility.PUBLIC,
        created_at=datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC),
        starts_at=datetime(2026, 6, 1, 11, 0, tzinfo=PARIS),
        ends_at=None,
        updated_at=datetime(2026, 5, 2, tzinfo=UTC),
        totals=Totals(participants=57, quantity=0, version=60),
        reached_at=datetime(2026, 6, 3, 12, 30, tzinfo=PARIS),
    )


def test_the_public_view_of_a_challenge_has_no_contacts() -> None:
    payload = ChallengeOut.from_challenge(a_challenge()).model_dump_json()

    assert "@" not in payload
    assert "hooks.example" not in payload
    data = json.loads(payload)
    assert data["sponsor"] == {"name": "Ville de Clichy"}
    assert data["beneficiary"] == {"name": "Solicycle"}
    assert data["progress"] == {
        "participants": 57,
        "quantity": 0,
        "promised": 0,
        "percent": 28.5,
        "reached": True,
        "reached_at": "2026-06-03T10:30:00Z",
    }


def test_the_admin_view_of_a_challenge_has_the_contacts() -> None:
    data = json.loads(AdminChallengeOut.from_challenge(a_challenge()).model_dump_json())

    assert data["sponsor"] == {
        "name": "Ville de Clichy",
        "email": "sponsor@clichy.example",
        "webhook_url": "https://hooks.example/h",
        "webhook_secret": None,  # shown only in the answer that generated it
    }
    assert data["beneficiary"]["email"] == "contact@solicycle.example"
    assert data["updated_at"] == "2026-05-02T00:00:00Z"


def test_timestamps_are_iso_8601_utc_with_a_z() -> None:
    data = ChallengeOut.from_challenge(a_challenge()).model_dump(mode="json")

    assert data["created_at"] == "2026-05-01T08:00:00Z"
    assert data["starts_at"] == "2026-06-01T09:00:00Z"
    assert data["ends_at"] is None
    for value in (data["created_at"], data["starts_at"], data["progress"]["reached_at"]):
        assert ISO_UTC.match(value), value


def test_pledge_and_notification_timestamps_are_utc_too() -> None:
    pledge = Pledge("ch_0042", "participant-1", datetime(2026, 6, 1, 11, 0, 5, tzinfo=PARIS))
    delivery = Delivery(
        challenge_id="ch_0042",
        event=EventType.REACHED,
        recipient_role=RecipientRole.SPONSOR,
        channel=Channel.EMAIL,
        recipient_key="sponsor",
        to="sponsor@clichy.example",
        status=DeliveryStatus.SENT,
        attempts=2,
        created_at=datetime(2026, 6, 1, 9, 0, tzinfo=UTC),
        sent_at=datetime(2026, 6, 1, 11, 1, tzinfo=PARIS),
    )

    assert PledgeOut.from_pledge(pledge).model_dump(mode="json")["created_at"] == (
        "2026-06-01T09:00:05Z"
    )
    notification = NotificationOut.from_delivery(delivery).model_dump(mode="json")
    assert notification["sent_at"] == "2026-06-01T09:01:00Z"
    assert notification["id"] == delivery.id
    assert notification["status"] == "sent"
    assert notification["attempts"] == 2


# --- body parsing ------------------------------------------------------------------------------


def body_request(raw: bytes) -> Any:
    """parse_body reads only `raw_body`; a stand-in keeps Chalice out of the unit layer."""
    return SimpleNamespace(raw_body=raw)


@pytest.mark.parametrize("raw", [b"{", b"\xff", b"[1, 2", b'{"display_name": "L\xc3"}'])
def test_malformed_json_bodies_are_invalid_requests(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        parse_body(body_request(raw), PledgeIn, 65536)
    assert raised.value.errors == [{"loc": ["body"], "msg": "malformed JSON"}]


def test_schema_errors_are_located_in_the_body() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        parse_body(body_request(b'{"display_name": ""}'), PledgeIn, 65536)
    assert [error["loc"] for error in raised.value.errors] == [["body", "display_name"]]


def test_oversized_bodies_are_refused_before_parsing() -> None:
    with pytest.raises(PayloadTooLargeError):
        parse_body(body_request(b" " * 65537), PledgeIn, 65536)


def test_a_deeply_nested_body_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError):
        parse_body(body_request(b"[" * 5000), PledgeIn, 65536)
