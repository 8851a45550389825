"""crowdact's domain objects: challenges, pledges, progress, milestones and notifications."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from chalicelib.domain.votes import BeneficiaryChoice

# Ids are a type prefix and random hex digits (docs/decisions.md 15).
CHALLENGE_ID_PREFIX = "ch_"


class ChallengeStatus(StrEnum):
    DRAFT = "draft"
    LIVE = "live"
    ENDED = "ended"
    CLOSED = "closed"


class Visibility(StrEnum):
    PUBLIC = "public"
    ORGANIZATION = "organization"


class Metric(StrEnum):
    PARTICIPANTS = "participants"
    QUANTITY = "quantity"


class EventType(StrEnum):
    REACHED = "challenge.reached"
    ENDED = "challenge.ended"
    VOTE_CLOSED = "vote.closed"


class RecipientRole(StrEnum):
    SPONSOR = "sponsor"
    BENEFICIARY = "beneficiary"
    PARTICIPANT = "participant"
    CANDIDATE = "candidate"  # a beneficiary vote's candidate (vote.closed)


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class OrganizationKind(StrEnum):
    COMPANY = "company"
    CITY = "city"
    ASSOCIATION = "association"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


ADMIN_GROUP = "admin"
ORG_ADMIN_GROUP = "org-admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as told by a verified token."""

    sub: str
    email: str | None = None
    name: str | None = None
    groups: frozenset[str] = frozenset()
    org_id: str | None = None
    email_verified: bool = False
    locale: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups

    @property
    def is_org_admin(self) -> bool:
        """An organisation's administrator: the group, and the organisation it administers."""
        return ORG_ADMIN_GROUP in self.groups and bool(self.org_id)


@dataclass(frozen=True)
class Target:
    metric: Metric
    value: int | float
    unit: str | None = None


@dataclass(frozen=True)
class Party:
    """A sponsor or a beneficiary: public name, private contact."""

    name: str
    email: str
    webhook_url: str | None = None
    # Signs webhook deliveries; stored, never shown again after creation.
    webhook_secret: str | None = field(default=None, repr=False)

    def with_webhook_secret(self) -> Party:
        """This party, with a newly generated secret if it has a webhook URL and no secret."""
        if self.webhook_url is None or self.webhook_secret:
            return self
        return replace(self, webhook_secret=f"whsec_{secrets.token_urlsafe(32)}")


@dataclass(frozen=True)
class Totals:
    """A challenge's counted figures; `version` grows with every counted change."""

    participants: int = 0
    quantity: int | float = 0
    version: int = 0
    # Promised by pledges that offer a quantity (volunteering: hours), in the target's unit.
    promised: int | float = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            participants=self.participants + other.participants,
            quantity=tidy_quantity(self.quantity + other.quantity),
            version=self.version + other.version,
            promised=tidy_quantity(self.promised + other.promised),
        )


@dataclass(frozen=True)
class Challenge:
    id: str
    title: str
    action: str
    description: str
    target: Target
    sponsor: Party
    beneficiary: Party
    reward: str
    status: ChallengeStatus
    visibility: Visibility
    created_at: datetime
    organization_id: str | None = None
    campaign_id: str | None = None
    report_cap: int | float | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    updated_at: datetime | None = None
    totals: Totals = field(default_factory=Totals)
    reached_at: datetime | None = None
    counter_shards: int = 1
    # Set when the participants choose the beneficiary: `beneficiary` is then a placeholder
    # until the vote closes, and the winner once it has (domain/votes.py).
    beneficiary_choice: BeneficiaryChoice | None = None
    # The citizen proposal this challenge was adopted from (domain/proposals.py), if any.
    proposal_id: str | None = None

    @property
    def reached(self) -> bool:
        return self.reached_at is not None

    def vote_open_at(self, now: datetime) -> bool:
        """Whether votes are taken: a vote that is not closed, not past its own deadline,
        on a challenge not reached and whose figures are not final."""
        choice = self.beneficiary_choice
        if choice is None or choice.closed or choice.due_at(now):
            return False
        return not self.reached and not self.figures_frozen_at(now)

    def counted_value(self, totals: Totals | None = None) -> int | float:
        totals = totals or self.totals
        if self.target.metric is Metric.QUANTITY:
            return totals.quantity
        return totals.participants

    def percent(self) -> float:
        return round(100.0 * float(self.counted_value()) / float(self.target.value), 1)

    def is_target_met(self, totals: Totals) -> bool:
        return self.counted_value(totals) >= self.target.value

    def figures_frozen_at(self, now: datetime) -> bool:
        """Whether the counted figures are final: closed, ended, or past its deadline (the
        schedule may not have marked it ended yet). A challenge not started yet is not
        frozen: nothing can be withdrawn from it, but nothing is final either."""
        if self.status is not ChallengeStatus.LIVE:
            return True
        return self.ends_at is not None and now >= self.ends_at

    def accepts_pledges_at(self, now: datetime) -> bool:
        if self.figures_frozen_at(now):
            return False
        return self.starts_at is None or now >= self.starts_at

    def with_changes(self, **changes: object) -> Challenge:
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_LOCALE = "fr"


@dataclass(frozen=True)
class OrganizationProfile:
    """An organisation's public face (its branded space, its reports), set by its admins."""

    display_name: str | None = None
    logo_url: str | None = None  # https only
    primary_color: str | None = None  # "#rrggbb"
    default_locale: str = DEFAULT_LOCALE  # "fr" or "en"
    slug: str | None = None  # unique: /organizations/{slug}
    # Who is told when a citizen proposal addressed to the organisation reaches its
    # `support_threshold`: this contact's e-mail and, if set, its (signed) webhook.
    proposal_contact: Party | None = None
    support_threshold: int = 10


@dataclass(frozen=True)
class Organization:
    """A company, city or association that runs challenges; `email_domains` (lower case)
    let its employees see its employee-only challenges by their verified e-mail."""

    id: str
    name: str
    kind: OrganizationKind
    created_at: datetime
    email_domains: tuple[str, ...] = ()
    profile: OrganizationProfile = field(default_factory=OrganizationProfile)

    @property
    def display_name(self) -> str:
        return self.profile.display_name or self.name

    def employs(self, principal: Principal) -> bool:
        if principal.org_id is not None and principal.org_id == self.id:
            return True
        if principal.email is None or not principal.email_verified or "@" not in principal.email:
            return False
        return principal.email.rsplit("@", 1)[1].lower() in self.email_domains


@dataclass(frozen=True)
class Campaign:
    """Several challenges run together (e.g. a No Impact Week), counted together."""

    id: str
    title: str
    created_at: datetime
    description: str = ""
    organization_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    # ORGANIZATION: only its organisation's people (and admins) see it, like a challenge.
    visibility: Visibility = Visibility.PUBLIC


@dataclass(frozen=True)
class Pledge:
    challenge_id: str
    participant_id: str
    created_at: datetime
    display_name: str | None = None
    area: str | None = None
    notify: bool = True
    quantity_reported: int | float = 0
    # Private contact for the participant e-mail (verified address, language): never shown
    # in a pledge response, never logged.
    email: str | None = field(default=None, repr=False)
    locale: str | None = None
    # Erased (`DELETE /me`): moved to a random id unrelated to the participant's `sub`, with
    # no name, address or language; counted on the shard it was counted on when made.
    pseudonymised: bool = False
    counter_shard: int | None = None
    # The Idempotency-Key that made it, if any: its stored answer is the participant's data
    # too (export, erasure). Private, like the e-mail.
    idempotency_key: str | None = field(default=None, repr=False)
    # Hidden by a moderator: the name stays stored (its owner and admins see it) but no
    # public answer may show it: a public view uses `public_name` (docs/decisions.md).
    name_hidden: bool = False
    # The beneficiary vote this pledge carries, if any (domain/votes.py), and the vote
    # shard it is counted on.
    candidate_id: str | None = None
    voted_at: datetime | None = None
    vote_shard: int | None = None
    # What the pledge promises (volunteering: `{"offer": {"quantity": 3, "unit": "h"}}`), in
    # the challenge's unit; counted in `Totals.promised` beside what is reported.
    offered: int | float = 0
    reported_at: datetime | None = None  # the last report's time (teams: its team then)

    @property
    def public_name(self) -> str | None:
        """The name anyone else may see: none once a moderator hid it."""
        return None if self.name_hidden else self.display_name


class ModerationKind(StrEnum):
    HIDE_NAME = "hide_name"
    REMOVE = "remove"


@dataclass(frozen=True)
class ModerationAction:
    """A moderator's action on one pledge, kept for the admin view of it. `pledge` is the
    pledge as it was then (without its e-mail or language), so a removed one can still be
    shown; `after_freeze` marks a platform admin's removal once the figures were final."""

    challenge_id: str
    participant_id: str
    action: ModerationKind
    at: datetime
    actor_sub: str
    actor_role: str  # "admin" or "org-admin"
    pledge: Pledge
    reason: str | None = None
    after_freeze: bool = False


@dataclass(frozen=True)
class Report:
    """What a participant did for a challenge (km cycled, kg collected), counted in its
    `progress.quantity`; `occurred_on` is the participant's own calendar date."""

    id: str
    challenge_id: str
    participant_id: str
    quantity: int | float
    unit: str
    occurred_on: date
    created_at: datetime
    idempotency_key: str | None = field(default=None, repr=False)  # as on a Pledge


# Reported quantities keep at most this many decimals (metres of a km, grams of a kg), so
# sums stay exact where binary floating point would drift (0.1 + 0.2).
QUANTITY_DECIMALS = 3
# No single report is larger than this, whatever the challenge's report_cap (a typo guard).
MAX_REPORT_QUANTITY = 1_000_000


def tidy_quantity(value: int | float) -> int | float:
    """A quantity rounded to QUANTITY_DECIMALS, as an int when it is whole."""
    rounded = round(float(value), QUANTITY_DECIMALS)
    return int(rounded) if rounded.is_integer() else rounded


def quantities_by_unit(
    challenges: Iterable[Challenge], *, promised: bool = False
) -> dict[str, int | float]:
    """The quantities the challenges counted (`promised`: that their pledges offered), added
    up per unit ("km": 615.5); challenges without a unit count none."""
    quantity: dict[str, int | float] = {}
    for challenge in challenges:
        unit = challenge.target.unit
        if unit:
            value = challenge.totals.promised if promised else challenge.totals.quantity
            quantity[unit] = tidy_quantity(quantity.get(unit, 0) + value)
    if promised:  # only the units something was promised in
        return {unit: value for unit, value in quantity.items() if value}
    return quantity


@dataclass(frozen=True)
class Milestone:
    """A once-only event in a challenge's life, written to the outbox that drives notifications."""

    challenge_id: str
    event: EventType
    occurred_at: datetime
    totals: Totals
    reached: bool


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient for one event: the delivery log's unit."""

    challenge_id: str
    event: EventType
    recipient_role: RecipientRole
    channel: Channel
    recipient_key: str
    to: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    created_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    # Set on a claimed delivery: the claim's fencing token for marking it sent or failed.
    lease_until: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.event}#{self.recipient_role}#{self.channel}#{self.recipient_key}"

    @property
    def id(self) -> str:
        # Deterministic, so a redelivered event maps onto the same log entry and webhook id.
        digest = hashlib.sha256(f"{self.challenge_id}#{self.key}".encode()).hexdigest()
        return f"ntf_{digest[:24]}"


def counter_shard_for(participant_id: str, shards: int) -> int:
    """The counter shard a participant's pledges always land on (a calculated suffix)."""
    digest = hashlib.blake2b(participant_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
