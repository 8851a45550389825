"""PynamoDB models: the DynamoDB tables, their keys and indexes (see docs/architecture.md)."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    KeysOnlyProjection,
    LocalSecondaryIndex,
)
from pynamodb.models import Model

from chalicelib.aws_clients import botocore_session
from chalicelib.settings import Settings
from chalicelib.storage.event_tables import EVENT_TABLES
from chalicelib.storage.follow_tables import FOLLOW_TABLES
from chalicelib.storage.payout_tables import PayoutItem
from chalicelib.storage.proposal_tables import PROPOSAL_TABLES
from chalicelib.storage.table_meta import BaseMeta as _BaseMeta
from chalicelib.storage.team_tables import TEAM_TABLES


class PartyAttribute(MapAttribute[str, object]):
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret = UnicodeAttribute(null=True)


class TargetAttribute(MapAttribute[str, object]):
    metric = UnicodeAttribute()
    value = NumberAttribute()
    unit = UnicodeAttribute(null=True)


class CandidateAttribute(MapAttribute[str, object]):
    """A beneficiary vote's candidate (domain/votes.py)."""

    id = UnicodeAttribute()
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    url = UnicodeAttribute(null=True)


class ChallengesByStatus(GlobalSecondaryIndex["ChallengeItem"]):
    """Public and admin lists: one partition per status, newest first."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ChallengesByCampaign(GlobalSecondaryIndex["ChallengeItem"]):
    """A campaign's challenges (sparse: only challenges that belong to a campaign)."""

    class Meta:
        index_name = "by_campaign"
        projection = AllProjection()

    campaign_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ChallengesByOrganization(GlobalSecondaryIndex["ChallengeItem"]):
    """An organisation's challenges, for organisation admins (sparse)."""

    class Meta:
        index_name = "by_organization"
        projection = AllProjection()

    organization_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ChallengeItem(Model):
    """One item per challenge; `progress_*` are materialised from the counter shards."""

    class Meta(_BaseMeta):
        table_name = "challenges"

    id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute()  # created_at#id: a stable, sortable index key
    title = UnicodeAttribute()
    action = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    organization_id = UnicodeAttribute(null=True)
    campaign_id = UnicodeAttribute(null=True)
    proposal_id = UnicodeAttribute(null=True)  # adopted from a citizen proposal
    target = TargetAttribute()
    # Copied out of `target` so condition expressions can compare against it.
    target_value = NumberAttribute()
    sponsor = PartyAttribute()
    beneficiary = PartyAttribute()
    reward = UnicodeAttribute()
    status = UnicodeAttribute()
    visibility = UnicodeAttribute(default="public")
    report_cap = NumberAttribute(null=True)
    starts_at = UTCDateTimeAttribute(null=True)
    ends_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute(null=True)
    counter_shards = NumberAttribute(default=1)
    progress_participants = NumberAttribute(default=0)
    progress_quantity = NumberAttribute(default=0)
    progress_version = NumberAttribute(default=0)
    progress_promised = NumberAttribute(null=True)
    reached_at = UTCDateTimeAttribute(null=True)
    # A beneficiary vote (domain/votes.py): its candidates and deadline; its result is set
    # once, in one conditional write with the winner as `beneficiary` and the outbox's
    # `vote.closed` (storage/votes.py).
    vote_candidates = ListAttribute(of=CandidateAttribute, null=True)
    vote_closes_at = UTCDateTimeAttribute(null=True)
    vote_closed_at = UTCDateTimeAttribute(null=True)
    vote_winner = UnicodeAttribute(null=True)
    vote_tallies = MapAttribute[str, object](null=True)  # candidate id -> final votes

    by_status = ChallengesByStatus()
    by_campaign = ChallengesByCampaign()
    by_organization = ChallengesByOrganization()


class PledgesByChallenge(GlobalSecondaryIndex["PledgeItem"]):
    """A challenge's pledgers, spread over buckets so no index key gets hot."""

    class Meta:
        index_name = "by_challenge"
        projection = AllProjection()

    challenge_bucket = UnicodeAttribute(hash_key=True)  # <challenge_id>#<bucket>
    participant_id = UnicodeAttribute(range_key=True)


class PledgeItem(Model):
    """One item per participant and challenge: its existence *is* the pledge."""

    class Meta(_BaseMeta):
        table_name = "pledges"
        stream_view_type = "NEW_AND_OLD_IMAGES"

    participant_id = UnicodeAttribute(hash_key=True)
    challenge_id = UnicodeAttribute(range_key=True)
    challenge_bucket = UnicodeAttribute()
    display_name = UnicodeAttribute(null=True)
    area = UnicodeAttribute(null=True)
    notify = BooleanAttribute(default=True)
    quantity_reported = NumberAttribute(default=0)
    reported_at = UTCDateTimeAttribute(null=True)  # the last report's time (leaderboards)
    created_at = UTCDateTimeAttribute()
    # Private: where and in which language the participant e-mail goes (never in responses).
    email = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    # Erasure (chalicelib/storage/personal_data.py): `erasing` marks a pledge about to be
    # moved to the pseudonym it holds, so the stream's REMOVE of it is known for a move, not a
    # withdrawal; the moved item is `pseudonymised` and keeps the shard it was counted on.
    erasing = UnicodeAttribute(null=True)
    pseudonymised = BooleanAttribute(null=True)
    counter_shard = NumberAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)  # the key that made it (domain Pledge)
    # Set (True) by a moderator: public answers never show `display_name` (never False).
    name_hidden = BooleanAttribute(null=True)
    # The participant's beneficiary vote, if they cast one: withdrawing the pledge (deleting
    # the item) withdraws it. Counted on the vote shard `vote_shard` (storage/votes.py).
    candidate_id = UnicodeAttribute(null=True)
    voted_at = UTCDateTimeAttribute(null=True)
    vote_shard = NumberAttribute(null=True)
    # The quantity the pledge offers (volunteering), counted in its shard's `promised`.
    offered = NumberAttribute(null=True)
    # The request token of the put that wrote it (random, or derived from the request's
    # Idempotency-Key): a retried put that finds its own token knows it went through.
    write_token = UnicodeAttribute(null=True)

    by_challenge = PledgesByChallenge()


class CounterShardItem(Model):
    """One of a challenge's N counter shards: pledges are counted on it from the pledges
    stream (`count_areas`), reports in their own transaction."""

    class Meta(_BaseMeta):
        table_name = "counters"
        stream_view_type = "KEYS_ONLY"

    id = UnicodeAttribute(hash_key=True)  # <challenge_id>#<shard>, or a vote's (below)
    participants = NumberAttribute(default=0)
    quantity = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    promised = NumberAttribute(null=True)  # offered by the shard's pledges (volunteering)
    # A beneficiary vote's shard (`vote#<challenge_id>#<candidate_id>#<shard>`: its
    # `participants` are votes) once the vote closed: no vote or withdrawal changes it.
    closed = BooleanAttribute(null=True)


class ReportsByCreation(LocalSecondaryIndex["ReportItem"]):
    """A participant's reports, newest first (`GET /me/reports`)."""

    class Meta:
        index_name = "by_creation"
        projection = AllProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)  # <created_at>#<id>


class ReportsByChallenge(LocalSecondaryIndex["ReportItem"]):
    """A participant's reports on one challenge, newest first (`?challenge_id=`)."""

    class Meta:
        index_name = "by_challenge"
        projection = AllProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    challenge_key = UnicodeAttribute(range_key=True)  # <challenge_id>#<created_at>#<id>


class ReportItem(Model):
    """One item per activity report. Its id is derived from the Idempotency-Key when the
    request had one, so the conditional put stores a retried report once."""

    class Meta(_BaseMeta):
        table_name = "reports"

    participant_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    challenge_id = UnicodeAttribute()
    created_key = UnicodeAttribute()
    challenge_key = UnicodeAttribute()
    quantity = NumberAttribute()
    unit = UnicodeAttribute()
    occurred_on = UnicodeAttribute()  # YYYY-MM-DD, the participant's calendar date
    created_at = UTCDateTimeAttribute()
    idempotency_key = UnicodeAttribute(null=True)  # the key that made it (domain Report)

    by_creation = ReportsByCreation()
    by_challenge = ReportsByChallenge()


class ChallengeEventItem(Model):
    """The outbox: a milestone item is inserted once per challenge and event."""

    class Meta(_BaseMeta):
        table_name = "challenge_events"
        stream_view_type = "NEW_IMAGE"

    challenge_id = UnicodeAttribute(hash_key=True)
    event = UnicodeAttribute(range_key=True)
    occurred_at = UTCDateTimeAttribute()
    participants = NumberAttribute()
    quantity = NumberAttribute()
    reached = BooleanAttribute()
    # Participant e-mail fan-out chunks (`event` = fanout#<event>#<bucket>#<page>, see
    # chalicelib/storage/fanout.py) carry their milestone's fields above plus these.
    fanout_bucket = NumberAttribute(null=True)
    fanout_page = NumberAttribute(null=True)
    fanout_after = UnicodeAttribute(null=True)
    # Chunks only: they expire (storage/fanout.py); milestones are kept.
    expires_at = TTLAttribute(null=True)


class DeliveriesByParticipant(GlobalSecondaryIndex["DeliveryItem"]):
    """The messages addressed to one participant (sparse: participant e-mails only), for
    their export and their erasure. Keys only: both read the few items it finds."""

    class Meta:
        index_name = "by_participant"
        projection = KeysOnlyProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)


class DeliveryItem(Model):
    """The delivery log: one item per challenge, event, recipient and channel."""

    class Meta(_BaseMeta):
        table_name = "deliveries"

    challenge_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)  # <event>#<role>#<channel>#<recipient>
    id = UnicodeAttribute()
    event = UnicodeAttribute()
    recipient_role = UnicodeAttribute()
    channel = UnicodeAttribute()
    recipient_key = UnicodeAttribute()
    to = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    # Participant e-mails only: whose they are (the index above) and when the entry, with its
    # address, expires (docs/privacy.md: retention).
    participant_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    by_participant = DeliveriesByParticipant()


class OrganizationsByCreation(GlobalSecondaryIndex["OrganizationItem"]):
    """The admin list, newest first. One partition for all organisations: they number in
    the hundreds and are read by platform admins only."""

    class Meta:
        index_name = "by_creation"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)  # always "organization"
    created_key = UnicodeAttribute(range_key=True)


class OrganizationItem(Model):
    class Meta(_BaseMeta):
        table_name = "organizations"

    id = UnicodeAttribute(hash_key=True)
    listed = UnicodeAttribute(default="organization")
    created_key = UnicodeAttribute()  # created_at#id
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    email_domains = ListAttribute[str](default=list)  # plain strings
    created_at = UTCDateTimeAttribute()
    # The public profile (docs/decisions.md: branded spaces).
    display_name = UnicodeAttribute(null=True)
    logo_url = UnicodeAttribute(null=True)
    primary_color = UnicodeAttribute(null=True)
    default_locale = UnicodeAttribute(default="fr")
    slug = UnicodeAttribute(null=True)
    # Citizen proposals addressed to the organisation (domain/proposals.py).
    proposal_contact = PartyAttribute(null=True)
    support_threshold = NumberAttribute(null=True)

    by_creation = OrganizationsByCreation()


class OrganizationSlugItem(Model):
    """A slug's claim: written in the same transaction as the organisation that takes it,
    conditionally, so that no two organisations ever share one."""

    class Meta(_BaseMeta):
        table_name = "organization_slugs"

    slug = UnicodeAttribute(hash_key=True)
    organization_id = UnicodeAttribute()


class CampaignsByCreation(GlobalSecondaryIndex["CampaignItem"]):
    """The platform admin's list, newest first (one partition: campaigns number in the
    thousands at most, and only admins list them)."""

    class Meta:
        index_name = "by_creation"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)  # always "campaign"
    created_key = UnicodeAttribute(range_key=True)


class CampaignsByOrganization(GlobalSecondaryIndex["CampaignItem"]):
    """An organisation's campaigns, newest first: its admins' list and its public page."""

    class Meta:
        index_name = "by_organization"
        projection = AllProjection()

    organization_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class CampaignItem(Model):
    class Meta(_BaseMeta):
        table_name = "campaigns"

    id = UnicodeAttribute(hash_key=True)
    title = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    organization_id = UnicodeAttribute(null=True)
    starts_at = UTCDateTimeAttribute(null=True)
    ends_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    counter_shards = NumberAttribute(default=1)
    visibility = UnicodeAttribute(default="public")
    listed = UnicodeAttribute(default="campaign")
    created_key = UnicodeAttribute(null=True)  # created_at#id

    by_creation = CampaignsByCreation()
    by_organization = CampaignsByOrganization()


class CampaignMemberItem(Model):
    """A participant with at least one live pledge in a campaign: on which challenges, each
    with its audience (`<audience>/<challenge_id>`). The item exists exactly while that set
    is not empty; `version` orders its changes (see `chalicelib/storage/campaigns.py`)."""

    class Meta(_BaseMeta):
        table_name = "campaign_members"

    campaign_id = UnicodeAttribute(hash_key=True)
    participant_id = UnicodeAttribute(range_key=True)
    pledges = UnicodeSetAttribute()
    version = NumberAttribute(default=0)


class IdempotencyItem(Model):
    """Answers stored for Idempotency-Key replays; written by Powertools' idempotency utility
    (and, for a keyed pledge's first answer, by the pledge's transaction, the same way),
    expired by the table's TTL on `expiration`. Declared here: what a participant's export
    reads and their erasure deletes (chalicelib/domain/idempotency.py names the records)."""

    class Meta(_BaseMeta):
        table_name = "idempotency"

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute(null=True)  # epoch seconds
    status = UnicodeAttribute(null=True)  # COMPLETED, INPROGRESS
    data = UnicodeAttribute(null=True)  # the stored answer: {"status", "body"} as JSON
    validation = UnicodeAttribute(null=True)  # hash of the request's body (another is refused)


class AreaCountItem(Model):
    """Live pledges of a challenge in one coarse area, counted from the pledges stream by the
    `count_areas` trigger (never on the pledge path): one write per area per stream batch."""

    class Meta(_BaseMeta):
        table_name = "area_counts"

    challenge_id = UnicodeAttribute(hash_key=True)
    area = UnicodeAttribute(range_key=True)
    participants = NumberAttribute(default=0)


class PledgeHourItem(Model):
    """Pledges of a challenge made and withdrawn in one UTC hour (`2026-12-02T17`), counted
    from the pledges stream with the area counts, in the same transactions: the sponsor's
    report draws its per-day series from these, never from the pledges."""

    class Meta(_BaseMeta):
        table_name = "pledge_hours"

    challenge_id = UnicodeAttribute(hash_key=True)
    hour = UnicodeAttribute(range_key=True)
    made = NumberAttribute(default=0)
    withdrawn = NumberAttribute(default=0)


class StreamReceiptItem(Model):
    """A receipt for a stream record a consumer has counted, written in the same transaction
    as the count it made, so that a redelivered record counts nothing. `id` is
    `<consumer>#<sequence number>`; expires after the stream's 24 h retention, with a margin."""

    class Meta(_BaseMeta):
        table_name = "stream_receipts"

    id = UnicodeAttribute(hash_key=True)
    expires_at = TTLAttribute()


class AuditByTime(GlobalSecondaryIndex["AuditItem"]):
    """The platform admins' trail, oldest first. One partition for every entry: admin
    writes come by the dozen an hour, far below a partition's 1,000 writes/s."""

    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)  # always "audit"
    at_key = UnicodeAttribute(range_key=True)


class AuditByOrganization(GlobalSecondaryIndex["AuditItem"]):
    """An organisation's trail, oldest first, for its org-admins (sparse: entries of no
    organisation are not in it)."""

    class Meta:
        index_name = "by_organization"
        projection = AllProjection()

    organization_id = UnicodeAttribute(hash_key=True)
    at_key = UnicodeAttribute(range_key=True)


class AuditItem(Model):
    """One entry of the audit trail, append-only: its id comes from the request, action and
    target, it is put only if absent, and the API's role may put it but never update or
    delete it (infra/access.py)."""

    class Meta(_BaseMeta):
        table_name = "audit"

    id = UnicodeAttribute(hash_key=True)
    listed = UnicodeAttribute(default="audit")
    at_key = UnicodeAttribute()  # <at, fixed-width UTC>#<id>
    at = UTCDateTimeAttribute()
    actor_sub = UnicodeAttribute()
    actor_role = UnicodeAttribute()
    organization_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target_type = UnicodeAttribute()
    target_id = UnicodeAttribute()
    request_id = UnicodeAttribute()
    details = UnicodeAttribute(null=True)  # a JSON object of strings, when there are any

    by_time = AuditByTime()
    by_organization = AuditByOrganization()


class ErasureItem(Model):
    """An erasure under way (`DELETE /me`): the pseudonym it moves a participant's data to,
    so that concurrent and retried calls use the same one. Keyed by a SHA-256 of the `sub`,
    deleted when the erasure ends, and expiring a day after an erasure that never ended."""

    class Meta(_BaseMeta):
        table_name = "erasures"

    id = UnicodeAttribute(hash_key=True)
    pseudonym = UnicodeAttribute()
    expires_at = TTLAttribute()


class ModerationByParticipant(GlobalSecondaryIndex["ModerationItem"]):
    """The moderation records about one participant, for their export and their erasure.
    Keys only: both read the few items it finds from the table."""

    class Meta:
        index_name = "by_participant"
        projection = KeysOnlyProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)


class ModerationItem(Model):
    """One moderator's action on one pledge (chalicelib/storage/moderation.py), with the
    pledge as it was then, less its e-mail and language."""

    class Meta(_BaseMeta):
        table_name = "moderation"

    challenge_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)  # <participant_id>#<at, UTC, µs>#<action>
    participant_id = UnicodeAttribute()
    action = UnicodeAttribute()  # hide_name, remove
    at = UTCDateTimeAttribute()
    actor_sub = UnicodeAttribute()
    actor_role = UnicodeAttribute()  # admin, org-admin
    reason = UnicodeAttribute(null=True)
    after_freeze = BooleanAttribute(null=True)  # a platform admin's removal of final figures
    # The pledge when moderated.
    display_name = UnicodeAttribute(null=True)
    area = UnicodeAttribute(null=True)
    notify = BooleanAttribute(default=True)
    quantity_reported = NumberAttribute(default=0)
    pledged_at = UTCDateTimeAttribute()
    name_hidden = BooleanAttribute(null=True)
    pseudonymised = BooleanAttribute(null=True)
    counter_shard = NumberAttribute(null=True)

    by_participant = ModerationByParticipant()


ALL_TABLES: tuple[type[Model], ...] = (
    ChallengeItem,
    PledgeItem,
    CounterShardItem,
    ChallengeEventItem,
    DeliveryItem,
    OrganizationItem,
    CampaignItem,
    CampaignMemberItem,
    IdempotencyItem,
    ReportItem,
    AreaCountItem,
    StreamReceiptItem,
    OrganizationSlugItem,
    PledgeHourItem,
    AuditItem,
    ErasureItem,
    ModerationItem,
    PayoutItem,
    *FOLLOW_TABLES,
    *PROPOSAL_TABLES,
    *EVENT_TABLES,
    *TEAM_TABLES,
)
BASE_NAMES = {model: model.Meta.table_name for model in ALL_TABLES}


def configure_tables(settings: Settings) -> None:
    """Point every model at this stage's tables and endpoint (once per container)."""
    for model, base_name in BASE_NAMES.items():
        model.Meta.table_name = settings.table_name(base_name)
        model.Meta.region = settings.region
        model.Meta.host = settings.aws_endpoint_url
        # PynamoDB caches the connection per class; drop it so the new endpoint is used.
        model._connection = None


def open_connections() -> None:
    """Build each table's DynamoDB client now, once, rather than on first use, where
    concurrent first requests would each build their own (a costly botocore step), and all
    from the container's one botocore session (see `chalicelib.aws_clients`)."""
    for model in ALL_TABLES:
        with_container_session(model._get_connection().connection)


def with_container_session(connection: Connection) -> Connection:
    """Have PynamoDB build this connection's client now, from the container's botocore session.

    Left alone, it builds the client on first use from a session of the thread that uses it
    (a new one, unless this thread set it): a costly botocore step, and locally a client that
    the stack's in-process AWS does not answer. The client, once built, serves every thread.
    """
    connection._local.session = botocore_session()
    connection.client  # noqa: B018 - built here, kept by the connection
    return connection


def create_tables(wait: bool = True) -> None:
    """Create the tables that do not exist yet (local stack and tests; CDK does it in AWS)."""
    for model in ALL_TABLES:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)


def stream_arn(model: type[Model]) -> str:
    description = model.describe_table()
    arn: str = description["LatestStreamArn"]
    return arn
