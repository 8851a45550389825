"""Follows, updates, the feed and unsubscribe links."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.schemas.common import Text, Timestamp, _Body
from chalicelib.domain.follows import MAX_TOKEN_LENGTH, ChallengeUpdate, Follow, FollowTarget
from chalicelib.services.follow_ports import UpdateDeliveryRecord
from chalicelib.services.follows import FeedItem

MAX_UPDATE_TITLE = 200
MAX_UPDATE_BODY = 10_000


class FollowOut(BaseModel):
    kind: Literal["challenges", "campaigns"]
    id: str
    following: bool
    followed_at: Timestamp
    email_updates: bool = Field(
        description="whether updates are e-mailed (the token's verified e-mail); "
        "if not, they are in the feed only"
    )

    @classmethod
    def from_follow(cls, follow: Follow) -> FollowOut:
        return cls(
            kind=follow.target.kind.value,
            id=follow.target.id,
            following=follow.following,
            followed_at=follow.updated_at,
            email_updates=follow.following and follow.email is not None,
        )


class FollowList(BaseModel):
    items: list[FollowOut]


def _paragraphs(value: str) -> str:
    # Line breaks and tabs make paragraphs; other control and format characters have no
    # place in a text e-mailed to many people (as in names, see common.Text).
    if any(unicodedata.category(char) in ("Cc", "Cf") and char not in "\n\t" for char in value):
        raise ValueError("must not contain control or formatting characters")
    return value


LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_UPDATE_BODY),
    AfterValidator(_paragraphs),
]


class UpdateIn(_Body):
    title: Annotated[Text, StringConstraints(max_length=MAX_UPDATE_TITLE)]
    body: LongText
    locale: Literal["fr", "en"] = Field(description="the language the update is written in")


class UpdateOut(BaseModel):
    id: str
    challenge_id: str
    title: str
    body: str
    locale: str
    created_at: Timestamp

    @classmethod
    def from_update(cls, update: ChallengeUpdate) -> UpdateOut:
        return cls(
            id=update.id,
            challenge_id=update.challenge_id,
            title=update.title,
            body=update.body,
            locale=update.locale,
            created_at=update.created_at,
        )


class UpdateList(BaseModel):
    items: list[UpdateOut]
    next_cursor: str | None


class FeedItemOut(UpdateOut):
    challenge_title: str

    @classmethod
    def from_item(cls, item: FeedItem) -> FeedItemOut:
        return cls(
            challenge_title=item.challenge.title,
            **UpdateOut.from_update(item.update).model_dump(),
        )


class FeedList(BaseModel):
    items: list[FeedItemOut]
    next_cursor: str | None


class UnsubscribeQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class UnsubscribeOut(BaseModel):
    kind: Literal["challenges", "campaigns"]
    id: str
    unsubscribed: bool = Field(description="true once done (POST); false when only read (GET)")

    @classmethod
    def of(cls, target: FollowTarget, *, unsubscribed: bool) -> UnsubscribeOut:
        return cls(kind=target.kind.value, id=target.id, unsubscribed=unsubscribed)


class FollowExport(BaseModel):
    """A follow or an opt-out, as held for the participant."""

    kind: str
    id: str
    following: bool
    updated_at: Timestamp
    email: str | None = Field(description="the verified address update e-mails go to")
    locale: str | None

    @classmethod
    def from_follow(cls, follow: Follow) -> FollowExport:
        return cls(
            kind=follow.target.kind.value,
            id=follow.target.id,
            following=follow.following,
            updated_at=follow.updated_at,
            email=follow.email,
            locale=follow.locale,
        )


class UpdateEmailExport(BaseModel):
    update_id: str
    challenge_id: str
    status: str
    attempts: int
    sent_at: Timestamp | None

    @classmethod
    def from_record(cls, record: UpdateDeliveryRecord) -> UpdateEmailExport:
        return cls(
            update_id=record.update_id,
            challenge_id=record.challenge_id,
            status=record.status,
            attempts=record.attempts,
            sent_at=record.sent_at,
        )
