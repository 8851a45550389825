"""The PynamoDB connection a repository builds once, from the container's botocore session."""

from __future__ import annotations

from pynamodb.connection import Connection

from chalicelib.settings import Settings
from chalicelib.storage.tables import with_container_session


def connection(settings: Settings) -> Connection:
    # One per repository: a Connection builds its botocore client once, and that is costly.
    return with_container_session(
        Connection(region=settings.region, host=settings.aws_endpoint_url)
    )
