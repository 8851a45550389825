"""Organisations in DynamoDB (`organizations`), with their slugs' claims (`organization_slugs`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import SlugTakenError
from chalicelib.domain.model import (
    DEFAULT_LOCALE,
    Organization,
    OrganizationKind,
    OrganizationProfile,
    Party,
)
from chalicelib.domain.proposals import DEFAULT_SUPPORT_THRESHOLD
from chalicelib.services.ports import Page
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor
from chalicelib.storage.tables import OrganizationItem, OrganizationSlugItem, PartyAttribute
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    with_transaction_retries,
)

LISTED = "organization"


def _to_item(organization: Organization) -> OrganizationItem:
    profile = organization.profile
    return OrganizationItem(
        id=organization.id,
        listed=LISTED,
        created_key=f"{organization.created_at.isoformat()}#{organization.id}",
        name=organization.name,
        kind=organization.kind.value,
        email_domains=list(organization.email_domains),
        created_at=organization.created_at,
        display_name=profile.display_name,
        logo_url=profile.logo_url,
        primary_color=profile.primary_color,
        default_locale=profile.default_locale,
        slug=profile.slug,
        proposal_contact=_contact_to_attribute(profile.proposal_contact),
        support_threshold=profile.support_threshold,
    )


def _contact_to_attribute(contact: Party | None) -> PartyAttribute | None:
    if contact is None:
        return None
    return PartyAttribute(
        name=contact.name,
        email=contact.email,
        webhook_url=contact.webhook_url,
        webhook_secret=contact.webhook_secret,
    )


def _contact_from_attribute(attribute: PartyAttribute | None) -> Party | None:
    if attribute is None:
        return None
    return Party(
        name=attribute.name,
        email=attribute.email,
        webhook_url=attribute.webhook_url,
        webhook_secret=attribute.webhook_secret,
    )


def _from_item(item: OrganizationItem) -> Organization:
    return Organization(
        id=item.id,
        name=item.name,
        kind=OrganizationKind(item.kind),
        created_at=item.created_at,
        email_domains=tuple(item.email_domains or ()),
        profile=OrganizationProfile(
            display_name=item.display_name,
            logo_url=item.logo_url,
            primary_color=item.primary_color,
            default_locale=item.default_locale,
            slug=item.slug,
            proposal_contact=_contact_from_attribute(item.proposal_contact),
            support_threshold=int(item.support_threshold or DEFAULT_SUPPORT_THRESHOLD),
        ),
    )


def _unchanged(organization: Organization) -> Any:
    """The condition that the stored organisation is still `organization`, field by field
    (a whole-item write must not undo a change it did not read)."""
    stored = _to_item(organization)
    condition = OrganizationItem.id.exists()
    for attribute in (
        OrganizationItem.name,
        OrganizationItem.kind,
        OrganizationItem.email_domains,
        OrganizationItem.display_name,
        OrganizationItem.logo_url,
        OrganizationItem.primary_color,
        OrganizationItem.default_locale,
        OrganizationItem.slug,
    ):
        value = getattr(stored, attribute.attr_name)
        absent = attribute.does_not_exist()
        if value is None:
            condition &= absent
        elif value in ([], DEFAULT_LOCALE):  # also what an item written without it means
            condition &= (attribute == value) | absent
        else:
            condition &= attribute == value
    return condition


class DynamoOrganizationRepository:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)

    def add(self, organization: Organization) -> None:
        slug = organization.profile.slug

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(
                    _to_item(organization), condition=OrganizationItem.id.does_not_exist()
                )
                if slug is not None:
                    self._claim(transaction, slug, organization.id)

        self._write(write, slug, organization_at=0, checks_read=False)

    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None:
        try:
            return _from_item(OrganizationItem.get(organization_id, consistent_read=consistent))
        except OrganizationItem.DoesNotExist:
            return None

    def get_by_slug(self, slug: str) -> Organization | None:
        try:
            claim = OrganizationSlugItem.get(slug)
        except OrganizationSlugItem.DoesNotExist:
            return None
        organization = self.get(claim.organization_id)
        # A claim whose organisation moved to another slug a moment ago is released in the
        # same transaction; this only guards against reading between two eventual reads.
        return organization if organization and organization.profile.slug == slug else None

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

    def replace(self, before: Organization, after: Organization) -> bool:
        old_slug, new_slug = before.profile.slug, after.profile.slug

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                # PynamoDB sends deletes before puts: the old claim's release (if any) comes
                # first, then this, then the new claim (puts keep their order).
                transaction.save(_to_item(after), condition=_unchanged(before))
                if new_slug != old_slug:
                    if new_slug is not None:
                        self._claim(transaction, new_slug, after.id)
                    if old_slug is not None:
                        transaction.delete(
                            OrganizationSlugItem(slug=old_slug),
                            condition=OrganizationSlugItem.organization_id == after.id,
                        )

        releases = new_slug != old_slug and old_slug is not None
        return self._write(
            write, new_slug if new_slug != old_slug else None, organization_at=int(releases)
        )

    @staticmethod
    def _claim(transaction: TransactWrite, slug: str, organization_id: str) -> None:
        transaction.save(
            OrganizationSlugItem(slug=slug, organization_id=organization_id),
            condition=OrganizationSlugItem.slug.does_not_exist(),
        )

    @staticmethod
    def _write(
        write: Callable[[], None],
        slug: str | None,
        *,
        organization_at: int,
        checks_read: bool = True,
    ) -> bool:
        """Run the transaction: False if the organisation's item (at `organization_at` among
        the transaction's items) failed its condition, when that is a check of what was read;
        SlugTakenError if the slug's claim (the item right after it) was refused."""
        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            claim_at = organization_at + 1
            if slug is not None and codes[claim_at : claim_at + 1] == [CONDITIONAL_CHECK_FAILED]:
                raise SlugTakenError(slug) from None
            if checks_read and codes[organization_at : organization_at + 1] == [
                CONDITIONAL_CHECK_FAILED
            ]:
                return False
            raise
        return True
