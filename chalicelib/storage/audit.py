"""The audit trail in DynamoDB (`audit`): entries put once, read through two indexes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chalicelib.domain.audit import ActorRole, AuditEntry, AuditTarget, sort_time
from chalicelib.services.ports import Page
from chalicelib.storage.cursors import (
    checked_start_key,
    cursor_of_another_list,
    decode_cursor,
    encode_cursor,
)
from chalicelib.storage.tables import AuditItem
from chalicelib.storage.transactions import put_if_absent

LISTED = "audit"


def _to_item(entry: AuditEntry) -> AuditItem:
    return AuditItem(
        id=entry.id,
        listed=LISTED,
        at_key=entry.sort_key,
        at=entry.at,
        actor_sub=entry.actor_sub,
        actor_role=entry.actor_role.value,
        organization_id=entry.organization_id,
        action=entry.action,
        target_type=entry.target.type,
        target_id=entry.target.id,
        request_id=entry.request_id,
        details=json.dumps(dict(entry.details), sort_keys=True) if entry.details else None,
    )


def _from_item(item: AuditItem) -> AuditEntry:
    details: dict[str, str] = json.loads(item.details) if item.details else {}
    return AuditEntry(
        id=item.id,
        at=item.at,
        actor_sub=item.actor_sub,
        actor_role=ActorRole(item.actor_role),
        organization_id=item.organization_id,
        action=item.action,
        target=AuditTarget(item.target_type, item.target_id),
        request_id=item.request_id,
        details=details,
    )


class DynamoAuditRepository:
    """Puts and reads only: nothing here updates or deletes an entry."""

    def append(self, entry: AuditEntry) -> bool:
        return put_if_absent(_to_item(entry), AuditItem.id.does_not_exist())

    def get(self, entry_id: str) -> AuditEntry | None:
        try:
            return _from_item(AuditItem.get(entry_id, consistent_read=True))
        except AuditItem.DoesNotExist:
            return None

    def list(
        self,
        *,
        organization_id: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[AuditEntry]:
        index, key_name, key = (
            (AuditItem.by_time, "listed", LISTED)
            if organization_id is None
            else (AuditItem.by_organization, "organization_id", organization_id)
        )
        start_key = checked_start_key(
            decode_cursor(cursor), {"id": None, "at_key": None, key_name: key}
        )
        since_key = sort_time(since) if since is not None else None
        # DynamoDB refuses a start key outside the key condition (a 500 otherwise).
        if start_key is not None and since_key is not None and start_key["at_key"]["S"] < since_key:
            raise cursor_of_another_list()
        condition: Any = AuditItem.at_key >= since_key if since_key is not None else None
        result = index.query(
            key, condition, scan_index_forward=True, limit=limit, last_evaluated_key=start_key
        )
        items = [_from_item(item) for item in result]
        last = result.last_evaluated_key
        return Page(items, encode_cursor({"k": last}) if last else None)
