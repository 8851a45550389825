"""The audit trail of administrative writes: appended once per request, read by admins.

Every admin route with a write method declares its action in `@endpoint(audit=...)`, and
the request pipeline calls `AuditService.record` once the write has succeeded. Code that
writes outside an admin route's own action (moderation, erasure) calls `record` itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.audit import (
    ActorRole,
    AuditEntry,
    AuditTarget,
    check_action,
    entry_id,
    tidy_details,
)
from chalicelib.domain.model import Principal
from chalicelib.services.ports import (
    NO_METRICS,
    AuditRepository,
    Clock,
    MetricName,
    MetricsRecorder,
    Page,
)
from chalicelib.services.retry import RetryPolicy

logger = logging.getLogger(__name__)

# A failed append is retried on the spot, briefly: the write it records is already made, and
# its caller is waiting for the answer (at most 0.15 s of waiting, plus PynamoDB's own retries).
APPEND_RETRY = RetryPolicy(attempts=3, base=0.05, cap=0.5)


class AuditService:
    def __init__(
        self,
        repository: AuditRepository,
        clock: Clock,
        *,
        metrics: MetricsRecorder = NO_METRICS,
        retry: RetryPolicy = APPEND_RETRY,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._metrics = metrics
        self._retry = retry

    def record(
        self,
        *,
        actor: Principal,
        action: str,
        target: AuditTarget,
        request_id: str | None,
        organization_id: str | None,
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        """Append that `actor` did `action` to `target`, once per request, action and target
        (a retry of the same request appends nothing more). `organization_id`: the target's
        organisation when known (its org-admins then see the entry), else the actor's.

        Call it after the write succeeded. It never raises for a storage failure: after
        `APPEND_RETRY` it logs the whole entry as an error and counts `AuditAppendFailed`,
        so the write's answer still goes out (docs/decisions.md 85). A malformed action or
        target is a programming error and raises ValueError.
        """
        entry = self.entry(
            actor=actor,
            action=action,
            target=target,
            request_id=request_id,
            organization_id=organization_id,
            details=details,
        )
        self.append(entry)
        return entry

    def entry(
        self,
        *,
        actor: Principal,
        action: str,
        target: AuditTarget,
        request_id: str | None,
        organization_id: str | None,
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        check_action(action)
        # Requests always carry an id in AWS and locally; a call from elsewhere gets its own.
        request_id = request_id or f"none-{uuid.uuid4().hex}"
        return AuditEntry(
            id=entry_id(request_id, action, target),
            at=self._clock.now(),
            actor_sub=actor.sub,
            actor_role=ActorRole.of(actor),
            organization_id=organization_id,
            action=action,
            target=target,
            request_id=request_id,
            details=tidy_details(details),
        )

    def append(self, entry: AuditEntry) -> bool:
        """Store the entry (or find it stored by an earlier attempt): False if every attempt
        failed, the entry then being in the error log line."""
        delays = self._retry.delays()
        while True:
            try:
                # False: an earlier attempt stored it (its answer lost), which is as good.
                self._repository.append(entry)
                return True
            except Exception as error:  # any failure: the write this records is made
                failure = error
            delay = next(delays, None)
            if delay is None:
                break
            self._retry.sleep(delay)
        self._metrics.count(MetricName.AUDIT_APPEND_FAILED)
        logger.error(
            "audit entry not stored after %d attempts (%s: %s); the entry: %s",
            self._retry.attempts,
            type(failure).__name__,
            failure,
            as_json(entry),
            extra={"audit_entry": as_dict(entry)},
        )
        return False

    def list(
        self,
        *,
        scope: AdminScope = PLATFORM,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[AuditEntry]:
        """Oldest first from `since`: every entry for a platform admin, an org-admin's
        organisation's only."""
        return self._repository.list(
            organization_id=scope.organization_id, since=since, limit=limit, cursor=cursor
        )


def as_dict(entry: AuditEntry) -> dict[str, object]:
    fields = dataclasses.asdict(entry)
    fields["at"] = entry.at.isoformat()
    fields["actor_role"] = entry.actor_role.value
    fields["details"] = dict(entry.details)
    return fields


def as_json(entry: AuditEntry) -> str:
    return json.dumps(as_dict(entry), sort_keys=True, separators=(",", ":"))


def from_dict(fields: Mapping[str, Any]) -> AuditEntry:
    """The entry `as_dict` wrote (e.g. in a failed append's log line), to store it later."""
    target = fields["target"]
    return AuditEntry(
        id=str(fields["id"]),
        at=datetime.fromisoformat(str(fields["at"])),
        actor_sub=str(fields["actor_sub"]),
        actor_role=ActorRole(fields["actor_role"]),
        organization_id=fields.get("organization_id"),
        action=str(fields["action"]),
        target=AuditTarget(str(target["type"]), str(target["id"])),
        request_id=str(fields["request_id"]),
        details=tidy_details(fields.get("details")),
    )
