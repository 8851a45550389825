"""Every AWS client in a container comes from one botocore session.

botocore loads service models and endpoint data per session; a session per client (the
default for PynamoDB's table connections and for `boto3.client`) repeats that work for each
of them, which `make bench` measured at about 700 ms and 70 MB of a cold start. Creating
clients from one session is not thread-safe in botocore, hence the lock.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config

_lock = threading.RLock()


def botocore_session() -> botocore.session.Session:
    with _lock:
        return _session()


@functools.cache
def _session() -> botocore.session.Session:
    import botocore.session

    return botocore.session.get_session()


def create_client(
    service: str, *, region: str, endpoint_url: str | None, config: Config | None = None
) -> Any:
    with _lock:
        return botocore_session().create_client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )
