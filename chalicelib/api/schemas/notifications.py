"""Notification deliveries as admins list them: the list query and the delivery views."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from chalicelib.api.schemas.common import ListQuery, Timestamp
from chalicelib.domain.model import Delivery


class NotificationListQuery(ListQuery):
    recipient_role: Literal["sponsor", "beneficiary", "participant", "candidate"] | None = Field(
        default=None, description="only this role's entries"
    )


class NotificationOut(BaseModel):
    id: str
    event: Literal["challenge.reached", "challenge.ended", "vote.closed"]
    recipient_role: Literal["sponsor", "beneficiary", "participant", "candidate"]
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
