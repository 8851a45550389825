"""pydantic models for every request and response body of the v1 contract."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    UrlConstraints,
    field_validator,
    model_validator,
)

from chalicelib.domain.areas import (
    AreaSummary,
    area_from_coordinates,
    area_from_postal_code,
    cell_bounds,
    is_geohash_cell,
    is_postal_code,
)
from chalicelib.domain.model import (
    MAX_REPORT_QUANTITY,
    QUANTITY_DECIMALS,
    Campaign,
    Challenge,
    Delivery,
    Organization,
    Party,
    Pledge,
    Report,
    Target,
)

if TYPE_CHECKING:
    from chalicelib.services.campaigns import CampaignView


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


Timestamp = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]


def _instant(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:00:00-05:00
        raise ValueError("this date is out of range") from exc
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"must be between the years {MIN_YEAR} and {MAX_YEAR}")
    return utc


MIN_YEAR, MAX_YEAR = 2000, 2100
# A date-time with its offset, stored in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_instant)]


def _printable(value: str) -> str:
    # Control and format characters (NUL, bidi overrides…) have no place in a name shown to others.
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in value):
        raise ValueError("must not contain control or formatting characters")
    return value


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_printable)
]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Unit = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9%°/._ -]{1,16}$")]


def _decimals(value: int | float) -> int | float:
    # Like reported quantities; this also keeps out what DynamoDB cannot store (5e-324).
    if round(value, QUANTITY_DECIMALS) != value:
        raise ValueError(f"must have at most {QUANTITY_DECIMALS} decimals")
    return value


Number = Annotated[
    int | float,
    Field(gt=0, le=1_000_000_000, description=f"at most {QUANTITY_DECIMALS} decimals"),
    AfterValidator(_decimals),
]


class _Body(BaseModel):
    """Request bodies reject unknown fields, so a typo is a 400 rather than silently ignored,
    and are strict: `true` is not the number 1 and `"200"` is not 200."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --- requests ----------------------------------------------------------------------------------


class TargetIn(_Body):
    metric: Literal["participants", "quantity"]
    value: Number
    unit: Unit | None = None

    @model_validator(mode="after")
    def _check_metric(self) -> TargetIn:
        if self.metric == "participants" and not float(self.value).is_integer():
            raise ValueError("a participants target is a whole number")
        if self.metric == "quantity" and self.unit is None:
            raise ValueError("a quantity target needs a unit, e.g. km or kg")
        return self

    def to_domain(self) -> Target:
        from chalicelib.domain.model import Metric

        value = int(self.value) if float(self.value).is_integer() else self.value
        return Target(metric=Metric(self.metric), value=value, unit=self.unit)


class SponsorIn(_Body):
    name: Annotated[Text, StringConstraints(max_length=120)]
    email: EmailStr
    webhook_url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)] | None = None
    webhook_secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] | None = None

    @property
    def secret_to_generate(self) -> bool:
        """The server makes the webhook secret, and shows it in this answer only."""
        return self.webhook_url is not None and self.webhook_secret is None

    def to_domain(self) -> Party:
        url = str(self.webhook_url) if self.webhook_url else None
        return Party(
            name=self.name,
            email=str(self.email),
            webhook_url=url,
            webhook_secret=self.webhook_secret,
        )


class BeneficiaryIn(_Body):
    name: Annotated[Text, StringConstraints(max_length=120)]
    email: EmailStr

    def to_domain(self) -> Party:
        return Party(name=self.name, email=str(self.email))


class _ChallengeFields(_Body):
    title: Annotated[Text, StringConstraints(max_length=140)]
    action: Annotated[Text, StringConstraints(max_length=280)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    target: TargetIn
    sponsor: SponsorIn
    beneficiary: BeneficiaryIn
    reward: Annotated[Text, StringConstraints(max_length=500)]
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    campaign_id: Identifier | None = Field(
        default=None, description="An existing campaign's id (400 otherwise)."
    )
    organization_id: Identifier | None = Field(
        default=None,
        description="An existing organisation's id (400 otherwise); required when "
        "visibility is organization.",
    )
    visibility: Literal["public", "organization"] = "public"
    report_cap: Number | None = None


class ChallengeCreate(_ChallengeFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Clichy à vélo",
                    "action": "I cycle when I can",
                    "target": {"metric": "participants", "value": 500, "unit": "km"},
                    "sponsor": {"name": "Ville de Clichy", "email": "mobilite@clichy.example"},
                    "beneficiary": {"name": "Solicycle", "email": "contact@solicycle.example"},
                    "reward": "€5,000 to teach 500 pupils bike repair",
                    "publish": True,
                }
            ]
        }
    )

    publish: bool = False


_REQUIRED_ON_PATCH = ("title", "action", "target", "sponsor", "beneficiary", "reward", "visibility")


class ChallengePatch(_Body):
    """Any subset of the creation fields; `null` clears an optional one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"title": "Clichy à vélo, saison 2", "ends_at": "2099-06-30T18:00:00Z"},
                {"target": {"metric": "participants", "value": 1000, "unit": "km"}},
            ]
        }
    )

    title: Annotated[Text, StringConstraints(max_length=140)] | None = None
    action: Annotated[Text, StringConstraints(max_length=280)] | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    target: TargetIn | None = None
    sponsor: SponsorIn | None = None
    beneficiary: BeneficiaryIn | None = None
    reward: Annotated[Text, StringConstraints(max_length=500)] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    campaign_id: Identifier | None = Field(
        default=None,
        description="An existing campaign's id, or null to leave it. Only a draft changes "
        "campaign (409 otherwise: its pledges are counted in the campaign it has).",
    )
    organization_id: Identifier | None = None
    visibility: Literal["public", "organization"] | None = Field(
        default=None,
        description="With organization_id, who the challenge is for; in a campaign only a "
        "draft changes it (409 otherwise).",
    )
    report_cap: Number | None = None

    @model_validator(mode="after")
    def _check_fields(self) -> ChallengePatch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in _REQUIRED_ON_PATCH:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class LatLon(_Body):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]

    @field_validator("lat", "lon")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class PostalLocation(_Body):
    postal_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]


class PledgeIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"display_name": "Léa", "location": {"lat": 48.904, "lon": 2.305}},
                {"location": {"postal_code": "92110", "country": "FR"}, "notify": False},
            ]
        }
    )

    display_name: Annotated[Text, StringConstraints(max_length=80)] | None = None
    location: LatLon | PostalLocation | None = None
    notify: bool = True


class ReportIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"quantity": 12.5}]})

    quantity: Annotated[
        float,
        Field(
            gt=0,
            le=MAX_REPORT_QUANTITY,
            allow_inf_nan=False,
            description="what was done, in the challenge's unit (at most 3 decimals; at most "
            "the challenge's report_cap when it has one)",
        ),
    ]
    unit: Unit | None = Field(default=None, description="the challenge's unit, when omitted")
    occurred_on: date | None = Field(
        default=None,
        description="YYYY-MM-DD, the participant's own date (default: today in UTC); not in "
        "the future nor before the challenge started",
    )


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


class NotificationListQuery(ListQuery):
    recipient_role: Literal["sponsor", "beneficiary", "participant"] | None = Field(
        default=None, description="only this role's entries"
    )


class ChallengeListQuery(ListQuery):
    status: Literal["live", "ended"] | None = None
    campaign_id: Identifier | None = None


# --- responses ---------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class TargetOut(BaseModel):
    metric: Literal["participants", "quantity"]
    value: int | float
    unit: str | None


class ProgressOut(BaseModel):
    participants: int
    quantity: int | float
    percent: float
    reached: bool
    reached_at: Timestamp | None


class PartyName(BaseModel):
    name: str


class ChallengeOut(BaseModel):
    """A challenge as participants and the public see it: no contacts, no secrets."""

    id: str
    title: str
    action: str
    description: str
    organization_id: str | None
    campaign_id: str | None
    target: TargetOut
    progress: ProgressOut
    sponsor: PartyName
    beneficiary: PartyName
    reward: str
    status: Literal["draft", "live", "ended", "closed"]
    visibility: Literal["public", "organization"]
    report_cap: int | float | None
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    created_at: Timestamp

    @classmethod
    def fields_from(cls, challenge: Challenge) -> dict[str, Any]:
        return {
            "id": challenge.id,
            "title": challenge.title,
            "action": challenge.action,
            "description": challenge.description,
            "organization_id": challenge.organization_id,
            "campaign_id": challenge.campaign_id,
            "target": TargetOut(
                metric=challenge.target.metric.value,
                value=challenge.target.value,
                unit=challenge.target.unit,
            ),
            "progress": ProgressOut(
                participants=challenge.totals.participants,
                quantity=challenge.totals.quantity,
                percent=challenge.percent(),
                reached=challenge.reached,
                reached_at=challenge.reached_at,
            ),
            "sponsor": PartyName(name=challenge.sponsor.name),
            "beneficiary": PartyName(name=challenge.beneficiary.name),
            "reward": challenge.reward,
            "status": challenge.status.value,
            "visibility": challenge.visibility.value,
            "report_cap": challenge.report_cap,
            "starts_at": challenge.starts_at,
            "ends_at": challenge.ends_at,
            "created_at": challenge.created_at,
        }

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> ChallengeOut:
        return cls(**cls.fields_from(challenge))


class SponsorOut(BaseModel):
    name: str
    email: str
    webhook_url: str | None
    webhook_secret: str | None = Field(
        default=None,
        description="Only in the answer to the request that made the server generate it "
        "(a webhook_url sent without a secret); null everywhere else.",
    )


class BeneficiaryOut(BaseModel):
    name: str
    email: str


class AdminChallengeOut(ChallengeOut):
    """A challenge for admins: with the sponsor's and beneficiary's contacts."""

    sponsor: SponsorOut  # type: ignore[assignment]
    beneficiary: BeneficiaryOut  # type: ignore[assignment]
    updated_at: Timestamp | None

    @classmethod
    def from_challenge(
        cls, challenge: Challenge, *, reveal_webhook_secret: bool = False
    ) -> AdminChallengeOut:
        fields = cls.fields_from(challenge)
        fields["sponsor"] = SponsorOut(
            name=challenge.sponsor.name,
            email=challenge.sponsor.email,
            webhook_url=challenge.sponsor.webhook_url,
            webhook_secret=challenge.sponsor.webhook_secret if reveal_webhook_secret else None,
        )
        fields["beneficiary"] = BeneficiaryOut(
            name=challenge.beneficiary.name, email=challenge.beneficiary.email
        )
        fields["updated_at"] = challenge.updated_at
        return cls(**fields)


class ChallengeList(BaseModel):
    items: list[ChallengeOut]
    next_cursor: str | None


class AdminChallengeList(BaseModel):
    items: list[AdminChallengeOut]
    next_cursor: str | None


class PledgeOut(BaseModel):
    challenge_id: str
    participant_id: str
    display_name: str | None
    area: str | None
    notify: bool
    quantity_reported: int | float
    created_at: Timestamp

    @classmethod
    def from_pledge(cls, pledge: Pledge) -> PledgeOut:
        return cls(
            challenge_id=pledge.challenge_id,
            participant_id=pledge.participant_id,
            display_name=pledge.display_name,
            area=pledge.area,
            notify=pledge.notify,
            quantity_reported=pledge.quantity_reported,
            created_at=pledge.created_at,
        )


class PledgeResult(BaseModel):
    pledge: PledgeOut
    challenge: ChallengeOut


class PledgeList(BaseModel):
    items: list[PledgeOut]
    next_cursor: str | None


class ReportListQuery(ListQuery):
    challenge_id: Identifier | None = None


class ReportOut(BaseModel):
    id: str
    challenge_id: str
    quantity: int | float
    unit: str
    occurred_on: date
    created_at: Timestamp

    @classmethod
    def from_report(cls, report: Report) -> ReportOut:
        return cls(
            id=report.id,
            challenge_id=report.challenge_id,
            quantity=report.quantity,
            unit=report.unit,
            occurred_on=report.occurred_on,
            created_at=report.created_at,
        )


class ReportResult(BaseModel):
    report: ReportOut
    challenge: ChallengeOut


class ReportList(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None


class NotificationOut(BaseModel):
    id: str
    event: Literal["challenge.reached", "challenge.ended"]
    recipient_role: Literal["sponsor", "beneficiary", "participant"]
    channel: Literal["email", "webhook"]
    to: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    created_at: Timestamp | None
    sent_at: Timestamp | None

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> NotificationOut:
        return cls(
            id=delivery.id,
            event=delivery.event.value,
            recipient_role=delivery.recipient_role.value,
            channel=delivery.channel.value,
            to=delivery.to,
            status=delivery.status.value,
            attempts=delivery.attempts,
            created_at=delivery.created_at,
            sent_at=delivery.sent_at,
        )


class NotificationList(BaseModel):
    """Sponsor entries first, then beneficiary, then participant ones (one per participant
    of a reached challenge: page with `limit`/`cursor`, or filter with `recipient_role`)."""

    items: list[NotificationOut]
    next_cursor: str | None = None


# --- organisations -----------------------------------------------------------------------------

# A DNS name: labels of letters, digits and inner hyphens, and a final alphabetic label.
Domain = Annotated[
    str,
    StringConstraints(
        max_length=253,
        pattern=r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    ),
]


class OrganizationCreate(_Body):
    name: Annotated[Text, StringConstraints(max_length=120)]
    kind: Literal["company", "city", "association"]
    email_domains: Annotated[list[Domain], Field(max_length=20)] = []


class OrganizationOut(BaseModel):
    id: str
    name: str
    kind: str
    email_domains: list[str]
    created_at: Timestamp

    @classmethod
    def from_organization(cls, organization: Organization) -> OrganizationOut:
        return cls(
            id=organization.id,
            name=organization.name,
            kind=organization.kind.value,
            email_domains=list(organization.email_domains),
            created_at=organization.created_at,
        )


class OrganizationList(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None


# --- campaigns ---------------------------------------------------------------------------------


class CampaignCreate(_Body):
    title: Annotated[Text, StringConstraints(max_length=140)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    organization_id: Identifier | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None


class CampaignOut(BaseModel):
    id: str
    title: str
    description: str
    organization_id: str | None
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    created_at: Timestamp

    @classmethod
    def fields_of(cls, campaign: Campaign) -> dict[str, Any]:
        return {
            "id": campaign.id,
            "title": campaign.title,
            "description": campaign.description,
            "organization_id": campaign.organization_id,
            "starts_at": campaign.starts_at,
            "ends_at": campaign.ends_at,
            "created_at": campaign.created_at,
        }

    @classmethod
    def from_campaign(cls, campaign: Campaign) -> CampaignOut:
        return cls(**cls.fields_of(campaign))


class CampaignTotals(BaseModel):
    participants: int = Field(description="unique people with a live pledge on its challenges")
    pledges: int = Field(description="live pledges, all its challenges together")
    quantity: dict[str, int | float] = Field(description="reported quantities per unit")


class CampaignDetail(CampaignOut):
    challenges: list[ChallengeOut]
    totals: CampaignTotals

    @classmethod
    def from_view(cls, view: CampaignView) -> CampaignDetail:
        return cls(
            **CampaignOut.fields_of(view.campaign),
            challenges=[ChallengeOut.from_challenge(c) for c in view.challenges],
            totals=CampaignTotals(
                participants=view.participants, pledges=view.pledges, quantity=view.quantity
            ),
        )


# --- areas -------------------------------------------------------------------------------------

AREA_DESCRIPTION = (
    "a geohash cell of precision 5 (about 5 km wide, e.g. u09wj) or a postal district "
    "(the country and the first two characters of the code, e.g. FR-92)"
)


class AreaOut(BaseModel):
    area: str = Field(description=AREA_DESCRIPTION)
    participants: int


class AreaList(BaseModel):
    """Participants per area: areas with fewer than 5 are not listed, only summed."""

    areas: list[AreaOut] = Field(description="most participants first, then by label")
    hidden_participants: int = Field(
        description="participants in the areas not listed (fewer than 5 each), together"
    )

    @classmethod
    def from_summary(cls, summary: AreaSummary) -> AreaList:
        return cls(
            areas=[AreaOut(area=a.area, participants=a.participants) for a in summary.areas],
            hidden_participants=summary.hidden_participants,
        )


class AreasQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: Literal["json", "geojson"] = Field(
        default="json",
        description="geojson: a GeoJSON FeatureCollection (application/geo+json) for maps",
    )


Position = tuple[float, float]  # [longitude, latitude], as GeoJSON orders them


class CellPolygon(BaseModel):
    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[Position]] = Field(
        description="one closed ring, counter-clockwise: the cell's corners in [lon, lat]"
    )


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: CellPolygon | None = Field(
        description="the geohash cell; null for a postal district (no shape is known)"
    )
    properties: AreaOut


class AreaFeatureCollection(BaseModel):
    """The listed areas as GeoJSON (RFC 7946); `hidden_participants` is a foreign member."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]
    hidden_participants: int

    @classmethod
    def from_summary(cls, summary: AreaSummary) -> AreaFeatureCollection:
        return cls(
            features=[
                AreaFeature(
                    geometry=_cell_polygon(a.area),
                    properties=AreaOut(area=a.area, participants=a.participants),
                )
                for a in summary.areas
            ],
            hidden_participants=summary.hidden_participants,
        )


def _cell_polygon(area: str) -> CellPolygon | None:
    if not is_geohash_cell(area):
        return None
    cell = cell_bounds(area)
    ring = [
        (cell.west, cell.south),
        (cell.east, cell.south),
        (cell.east, cell.north),
        (cell.west, cell.north),
        (cell.west, cell.south),
    ]
    return CellPolygon(coordinates=[ring])


def _postal_code(value: str) -> str:
    if not is_postal_code(value):
        raise ValueError("must be a postal code: 2 to 10 letters, digits, spaces or hyphens")
    return value


Coordinate = Annotated[float, Field(allow_inf_nan=False)]


class NearbyQuery(BaseModel):
    """Where the caller is: `lat` and `lon`, or `postal_code` and `country`; it is reduced to
    a coarse area exactly as a pledge's location is, and not kept."""

    model_config = ConfigDict(extra="ignore")

    lat: Annotated[Coordinate, Field(ge=-90, le=90)] | None = None
    lon: Annotated[Coordinate, Field(ge=-180, le=180)] | None = None
    postal_code: Annotated[str, AfterValidator(_postal_code)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] | None = None

    @model_validator(mode="after")
    def _one_location(self) -> NearbyQuery:
        coordinates = (self.lat, self.lon)
        postal = (self.postal_code, self.country)
        given = [any(v is not None for v in form) for form in (coordinates, postal)]
        if given == [True, True]:
            raise ValueError("give lat and lon, or postal_code and country, not both")
        if given == [False, False]:
            raise ValueError("give lat and lon, or postal_code and country")
        form = coordinates if given[0] else postal
        if any(v is None for v in form):
            raise ValueError("lat needs lon, and postal_code needs country (and vice versa)")
        return self

    def area(self) -> str:
        """The coarse area, by the same functions as a pledge's location."""
        if self.lat is not None and self.lon is not None:
            return area_from_coordinates(self.lat, self.lon)
        if self.postal_code is not None and self.country is not None:
            return area_from_postal_code(self.postal_code, self.country)
        raise AssertionError("unreachable: the validator requires one complete location")


class NearbyOut(BaseModel):
    area: str = Field(description=AREA_DESCRIPTION)
    participants: int = Field(description="participants in this area; 0 when fewer than 5")
