"""The audit trail as admins read it: the query (`since`, `limit`, `cursor`) and the entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from chalicelib.api.schemas.common import Instant
from chalicelib.domain.audit import AuditEntry


def _utc_iso_micro(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# To the microsecond, as stored: an entry's `at` given back as `since` lists it again.
PreciseTimestamp = Annotated[
    datetime, PlainSerializer(_utc_iso_micro, return_type=str, when_used="json")
]


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    since: Instant | None = Field(
        default=None,
        description="only entries at or after this ISO 8601 date-time with its offset "
        "(e.g. 2026-12-01T00:00:00Z); the trail is listed oldest first",
    )
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


class AuditActorOut(BaseModel):
    sub: str
    role: Literal["admin", "org-admin", "participant"]


class AuditTargetOut(BaseModel):
    type: str = Field(examples=["challenge"])
    id: str


class AuditEntryOut(BaseModel):
    id: str
    at: PreciseTimestamp
    actor: AuditActorOut
    organization_id: str | None = Field(
        description="the organisation of what was acted on (else the actor's); its "
        "org-admins read the entry"
    )
    action: str = Field(examples=["challenge.publish"])
    target: AuditTargetOut
    request_id: str = Field(description="API Gateway's request id, also in its access logs")
    details: dict[str, str] = Field(
        description="e.g. `fields`: the fields a PATCH changed (names only), or a reason"
    )

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=AuditActorOut(sub=entry.actor_sub, role=entry.actor_role.value),
            organization_id=entry.organization_id,
            action=entry.action,
            target=AuditTargetOut(type=entry.target.type, id=entry.target.id),
            request_id=entry.request_id,
            details=dict(entry.details),
        )


class AuditList(BaseModel):
    """Oldest first (from `since`): a platform admin's holds every entry, an org-admin's
    its organisation's."""

    items: list[AuditEntryOut]
    next_cursor: str | None = None
