"""PynamoDB models of citizen proposals, their supports and the claims of their e-mails
(listed in `tables.ALL_TABLES`; see docs/privacy.md and docs/decisions.md 122–133)."""

from __future__ import annotations

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.storage.table_meta import BaseMeta


class SuggestedTargetAttribute(MapAttribute[str, object]):
    metric = UnicodeAttribute()
    value = NumberAttribute()
    unit = UnicodeAttribute(null=True)


class ProposalsByStatus(GlobalSecondaryIndex["ProposalItem"]):
    """Lists by status (`open` for everyone, `pending` for admins), newest first."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class OpenProposalsByArea(GlobalSecondaryIndex["ProposalItem"]):
    """Open proposals per coarse area (sparse: `open_area` is set only while open)."""

    class Meta:
        index_name = "by_open_area"
        projection = AllProjection()

    open_area = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ProposalsByProposer(GlobalSecondaryIndex["ProposalItem"]):
    """One person's proposals: their export and erasure."""

    class Meta:
        index_name = "by_proposer"
        projection = KeysOnlyProjection()

    proposer_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ProposalItem(Model):
    """One item per proposal; `supports` is counted in the support's own transaction."""

    class Meta(BaseMeta):
        table_name = "proposals"

    id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute()
    proposer_id = UnicodeAttribute()
    title = UnicodeAttribute()
    action = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    suggested_target = SuggestedTargetAttribute()
    area = UnicodeAttribute()
    open_area = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    organization_id = UnicodeAttribute(null=True)
    support_threshold = NumberAttribute()
    supports = NumberAttribute(default=0)
    decided_at = UTCDateTimeAttribute(null=True)
    decision_reason = UnicodeAttribute(null=True)
    threshold_reached_at = UTCDateTimeAttribute(null=True)
    challenge_id = UnicodeAttribute(null=True)
    # Private: the proposer's verified address and language, for their e-mails.
    proposer_email = UnicodeAttribute(null=True)
    proposer_locale = UnicodeAttribute(null=True)

    by_status = ProposalsByStatus()
    by_open_area = OpenProposalsByArea()
    by_proposer = ProposalsByProposer()


class SupportsByParticipant(GlobalSecondaryIndex["SupportItem"]):
    """One person's supports: their export and erasure."""

    class Meta:
        index_name = "by_participant"
        projection = KeysOnlyProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    proposal_id = UnicodeAttribute(range_key=True)


class SupportItem(Model):
    """One item per proposal and supporter: the conditional put that makes a person count once."""

    class Meta(BaseMeta):
        table_name = "proposal_supports"

    proposal_id = UnicodeAttribute(hash_key=True)
    participant_id = UnicodeAttribute(range_key=True)
    created_at = UTCDateTimeAttribute()
    email = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)

    by_participant = SupportsByParticipant()


class ProposalDeliveriesByParticipant(GlobalSecondaryIndex["ProposalDeliveryItem"]):
    """The proposal e-mails claimed for one person (sparse), for their export and erasure."""

    class Meta:
        index_name = "by_participant"
        projection = KeysOnlyProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    recipient = UnicodeAttribute(range_key=True)


class ProposalDeliveryItem(Model):
    """The claim that makes one proposal message (`recipient` = <event>#<channel>#<key>) go
    out once, however often its outbox record is delivered. No address is kept here."""

    class Meta(BaseMeta):
        table_name = "proposal_deliveries"

    proposal_id = UnicodeAttribute(hash_key=True)
    recipient = UnicodeAttribute(range_key=True)
    participant_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # pending, sent, failed
    attempts = NumberAttribute(default=0)
    lease_until = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()

    by_participant = ProposalDeliveriesByParticipant()


PROPOSAL_TABLES: tuple[type[Model], ...] = (ProposalItem, SupportItem, ProposalDeliveryItem)
