"""The check every webhook URL an admin gives goes through (a challenge's sponsor, an
organisation's proposal contact): outside the local stage, https on a public address."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import ApiRequest
from chalicelib.api.schemas.challenges import SponsorIn
from chalicelib.domain.errors import InvalidRequestError


def check_webhook_url(
    request: ApiRequest[Any, Any], party: SponsorIn | None, field: str = "sponsor"
) -> None:
    """A 400 naming `body.<field>.webhook_url` unless the URL may be called (no SSRF)."""
    if party is None or party.webhook_url is None:
        return
    from chalicelib.notify.webhook import check_url
    from chalicelib.services.ports import WebhookError
    from chalicelib.settings import LOCAL_STAGE

    try:
        check_url(
            str(party.webhook_url),
            allow_private=request.container.settings.stage == LOCAL_STAGE,
        )
    except WebhookError as error:
        raise InvalidRequestError(
            "this webhook URL cannot be used",
            [{"loc": ["body", field, "webhook_url"], "msg": str(error)}],
        ) from error
