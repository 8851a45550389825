"""PynamoDB models of meetups and their sign-ups (listed in `tables.ALL_TABLES`; see
docs/decisions.md 134–144 and docs/privacy.md)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.storage.table_meta import BaseMeta


class EventsByChallenge(GlobalSecondaryIndex["EventItem"]):
    """A challenge's events, soonest first. Keys only: the counts change with every sign-up,
    and an index projecting them would be written (2 WCU in a transaction) each time."""

    class Meta:
        index_name = "by_challenge"
        projection = KeysOnlyProjection()

    challenge_id = UnicodeAttribute(hash_key=True)
    starts_key = UnicodeAttribute(range_key=True)  # <starts_at ISO>#<id>


class EventsByProposal(GlobalSecondaryIndex["EventItem"]):
    """A proposal's events, soonest first (sparse: `proposal_id` is set on those only). Keys
    only, as `by_challenge`."""

    class Meta:
        index_name = "by_proposal"
        projection = KeysOnlyProjection()

    proposal_id = UnicodeAttribute(hash_key=True)
    starts_key = UnicodeAttribute(range_key=True)  # <starts_at ISO>#<id>


class EventItem(Model):
    """An event and its seat counter: `confirmed <= capacity` is the condition of every
    write that gives a seat, `next_seq` numbers arrivals, `waiting` counts the queue."""

    class Meta(BaseMeta):
        table_name = "events"

    id = UnicodeAttribute(hash_key=True)
    # Exactly one of the two: the challenge or the proposal the meetup is on.
    challenge_id = UnicodeAttribute(null=True)
    proposal_id = UnicodeAttribute(null=True)
    organization_id = UnicodeAttribute(null=True)
    title = UnicodeAttribute()
    starts_at = UTCDateTimeAttribute()
    starts_key = UnicodeAttribute()
    place = UnicodeAttribute()
    capacity = NumberAttribute()
    confirmed = NumberAttribute(default=0)
    waiting = NumberAttribute(default=0)
    next_seq = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()

    by_challenge = EventsByChallenge()
    by_proposal = EventsByProposal()


class RsvpsByParticipant(GlobalSecondaryIndex["RsvpItem"]):
    """One person's sign-ups (sparse: sign-up items only), for their export and erasure
    (each person's partition: it spreads, unlike the event's)."""

    class Meta:
        index_name = "by_participant"
        projection = AllProjection()

    participant_id = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute(range_key=True)


class RsvpItem(Model):
    """Per event, two kinds of item under one partition key:
    `P#<participant>` a person's sign-up (status, arrival `seq`, private e-mail and locale,
    the seat e-mail's claim), and `W#<seq, 12 digits>` a place in the queue: a query of
    `W#` items in key order is the waitlist in arrival order."""

    class Meta(BaseMeta):
        table_name = "event_rsvps"

    event_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    seq = NumberAttribute()
    # Sign-up items only (the index is sparse on it).
    participant_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    confirmed_at = UTCDateTimeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    mail_lease_until = UTCDateTimeAttribute(null=True)
    mailed_at = UTCDateTimeAttribute(null=True)
    # Queue items only: whose place it is.
    waiting_participant = UnicodeAttribute(null=True)

    by_participant = RsvpsByParticipant()


EVENT_TABLES: tuple[type[Model], ...] = (EventItem, RsvpItem)
