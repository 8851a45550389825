"""One HTTP request to a server under test on 127.0.0.1, its answer decoded."""

from __future__ import annotations

import http.client
import json
from typing import Any

TIMEOUT_SECONDS = 10  # only keeps a broken server from hanging the run


def request(
    port: int, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, the JSON body or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        received = {k.lower(): v for k, v in response.getheaders()}
        return response.status, received, json.loads(raw) if raw else None
    finally:
        connection.close()
