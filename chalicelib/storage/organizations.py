"""Organisations in DynamoDB (the `organizations` table)."""

from __future__ import annotations

from chalicelib.domain.model import Organization, OrganizationKind
from chalicelib.services.ports import Page
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor
from chalicelib.storage.tables import OrganizationItem

LISTED = "organization"


def _to_item(organization: Organization) -> OrganizationItem:
    return OrganizationItem(
        id=organization.id,
        listed=LISTED,
        created_key=f"{organization.created_at.isoformat()}#{organization.id}",
        name=organization.name,
        kind=organization.kind.value,
        email_domains=list(organization.email_domains),
        created_at=organization.created_at,
    )


def _from_item(item: OrganizationItem) -> Organization:
    return Organization(
        id=item.id,
        name=item.name,
        kind=OrganizationKind(item.kind),
        created_at=item.created_at,
        email_domains=tuple(item.email_domains or ()),
    )


class DynamoOrganizationRepository:
    def add(self, organization: Organization) -> None:
        _to_item(organization).save(condition=OrganizationItem.id.does_not_exist())

    def get(self, organization_id: str) -> Organization | None:
        try:
            return _from_item(OrganizationItem.get(organization_id))
        except OrganizationItem.DoesNotExist:
            return None

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]:
        start_key = checked_start_key(
            decode_cursor(cursor), {"id": None, "created_key": None, "listed": LISTED}
        )
        result = OrganizationItem.by_creation.query(
            LISTED, scan_index_forward=False, limit=limit, last_evaluated_key=start_key
        )
        items = [_from_item(item) for item in result]
        last = result.last_evaluated_key
        return Page(items, encode_cursor({"k": last}) if last else None)
