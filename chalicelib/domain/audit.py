"""The audit trail: one entry per administrative write, appended once, never changed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from chalicelib.domain.model import Principal

AUDIT_ID_PREFIX = "aud_"
# `<subject>.<verb>`, lower case: `challenge.publish`, `participant.hide_name`.
ACTION_PATTERN = re.compile(r"^[a-z][a-z_]{0,31}(?:\.[a-z][a-z_]{0,31}){1,2}$")
TARGET_TYPE_PATTERN = re.compile(r"^[a-z][a-z_]{0,31}$")
MAX_TARGET_ID_LENGTH = 256
# `details` stays small: a reason, the names of the fields a PATCH changed.
MAX_DETAILS = 10
MAX_DETAIL_KEY_LENGTH = 64
MAX_DETAIL_VALUE_LENGTH = 500


class AuditAction:
    """The actions recorded so far; other features add theirs (any `ACTION_PATTERN` name)."""

    CHALLENGE_CREATE = "challenge.create"
    CHALLENGE_UPDATE = "challenge.update"
    CHALLENGE_PUBLISH = "challenge.publish"
    CHALLENGE_CLOSE = "challenge.close"
    CAMPAIGN_CREATE = "campaign.create"
    ORGANIZATION_CREATE = "organization.create"
    ORGANIZATION_UPDATE = "organization.update"
    PARTICIPANT_ERASE = "participant.erase"
    # Moderation: the target is the challenge; whose pledge, and why, are in the moderation
    # record, which follows its participant's erasure (the trail, append-only, cannot).
    PLEDGE_NAME_HIDE = "challenge.hide_pledge_name"
    PLEDGE_REMOVE = "challenge.remove_pledge"
    # The target is the challenge; the payout's id, amount and currency are in the details.
    PAYOUT_RECORD = "challenge.record_payout"


class ActorRole(StrEnum):
    ADMIN = "admin"
    ORG_ADMIN = "org-admin"
    PARTICIPANT = "participant"

    @classmethod
    def of(cls, principal: Principal) -> ActorRole:
        """The role a caller acted in: a platform admin's wins over any other group."""
        if principal.is_admin:
            return cls.ADMIN
        if principal.is_org_admin:
            return cls.ORG_ADMIN
        return cls.PARTICIPANT


@dataclass(frozen=True)
class AuditTarget:
    """What an action was done to: a type (`challenge`) and that thing's id."""

    type: str
    id: str

    def __post_init__(self) -> None:
        if not TARGET_TYPE_PATTERN.match(self.type):
            raise ValueError(f"invalid audit target type {self.type!r}")
        if not 0 < len(self.id) <= MAX_TARGET_ID_LENGTH:
            raise ValueError(f"invalid audit target id {self.id[:64]!r}")

    def __str__(self) -> str:
        return f"{self.type}/{self.id}"


def check_action(action: str) -> str:
    if not ACTION_PATTERN.match(action):
        raise ValueError(f"invalid audit action {action!r}: expected e.g. 'challenge.publish'")
    return action


def entry_id(request_id: str, action: str, target: AuditTarget) -> str:
    """The same for every attempt of one request's action on one target, so an entry written
    conditionally on its id is written once however often the request is retried."""
    digest = hashlib.sha256(f"{request_id}\n{action}\n{target}".encode()).hexdigest()
    return AUDIT_ID_PREFIX + digest[:32]


def sort_time(moment: datetime) -> str:
    """One fixed width in UTC, so that these strings sort as the instants do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: datetime
    actor_sub: str
    actor_role: ActorRole
    organization_id: str | None  # the target's organisation when known, else the actor's
    action: str
    target: AuditTarget
    request_id: str
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_action(self.action)

    @property
    def sort_key(self) -> str:
        """`<at>#<id>`: entries in time order, ties broken by id."""
        return f"{sort_time(self.at)}#{self.id}"


def tidy_details(details: Mapping[str, object] | None) -> dict[str, str]:
    """At most `MAX_DETAILS` string values, keys and values cut to their maximum length."""
    tidy: dict[str, str] = {}
    for key, value in sorted((details or {}).items())[:MAX_DETAILS]:
        tidy[str(key)[:MAX_DETAIL_KEY_LENGTH]] = str(value)[:MAX_DETAIL_VALUE_LENGTH]
    return tidy
