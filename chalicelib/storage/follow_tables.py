"""PynamoDB models of follows and updates (listed in `tables.ALL_TABLES`; see docs/privacy.md)."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model


class _BaseMeta:
    # As chalicelib.storage.tables._BaseMeta (which imports this module, so cannot be
    # imported here); `configure_tables` points them at the stage's tables and endpoint.
    region = "eu-west-3"
    host: str | None = None
    billing_mode = "PAY_PER_REQUEST"
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3


class FollowsByParticipant(GlobalSecondaryIndex["FollowItem"]):
    """One person's follows and opt-outs: `/me/follows`, their feed, export and erasure."""

    class Meta:
        index_name = "by_participant"
        projection = AllProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    target = UnicodeAttribute(range_key=True)


class FollowItem(Model):
    """One item per person and followed challenge or campaign (`target` = <kind>#<id>):
    following, or opted out (`following` false)."""

    class Meta(_BaseMeta):
        table_name = "follows"

    target = UnicodeAttribute(hash_key=True)
    participant_id = UnicodeAttribute(range_key=True)
    following = BooleanAttribute()
    updated_at = UTCDateTimeAttribute()
    # Private: the verified address and language the update e-mails go to.
    email = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)

    by_participant = FollowsByParticipant()


class UpdateItem(Model):
    """A challenge's updates, newest first by `created_key` (<created_at>#<id>)."""

    class Meta(_BaseMeta):
        table_name = "challenge_updates"

    challenge_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    locale = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class UpdateDeliveriesByParticipant(GlobalSecondaryIndex["UpdateDeliveryItem"]):
    """The update e-mails claimed for one person, for their export and erasure."""

    class Meta:
        index_name = "by_participant"
        projection = KeysOnlyProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    update_id = UnicodeAttribute(range_key=True)


class UpdateDeliveryItem(Model):
    """The claim that makes an update's e-mail go to a person once, whichever sources found
    them and however often the chunks are delivered. No address is kept here."""

    class Meta(_BaseMeta):
        table_name = "update_deliveries"

    update_id = UnicodeAttribute(hash_key=True)
    participant_id = UnicodeAttribute(range_key=True)
    challenge_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending, sent, failed
    attempts = NumberAttribute(default=0)
    lease_until = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()

    by_participant = UpdateDeliveriesByParticipant()


FOLLOW_TABLES: tuple[type[Model], ...] = (FollowItem, UpdateItem, UpdateDeliveryItem)
