"""The local stack's own AWS calls answered by moto in this process, without a socket.

The local stack serves moto over HTTP (`EmbeddedAws`) for everything outside the process: the
aws CLI, the tests, the bench. Its own calls, from the API's request threads, the stream
triggers and the schedules, used to take the same loopback HTTP path: a socket, werkzeug and
Flask around every call: 3.6 ms for a `GetItem` over loopback, 1 ms in process.

`InProcessAws` is a botocore `before-send` handler, the hook `mock_aws` uses. A request bound
for the embedded endpoint goes to moto's own request dispatcher (`BotocoreStubber`), under the
same lock as the HTTP server. botocore still validates, serialises and signs each request and
parses its answer, and moto answers with the same backends and response classes; only the
transport changes. A request this handler does not know how to answer goes over HTTP as before.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import botocore.session
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse

logger = logging.getLogger(__name__)

# botocore's service id, as its event names spell it, to the host moto's URL patterns match.
# These are the services the stack calls; any other still reaches moto, over HTTP.
AWS_HOSTS = {
    "dynamodb": "dynamodb",
    "dynamodb-streams": "streams.dynamodb",
    "ses": "email",
}
_EVENT = "before-send"


class InProcessAws:
    """Answers requests to `endpoint_url` from moto in this process (see the module's doc)."""

    def __init__(self, endpoint_url: str, lock: AbstractContextManager[Any]) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        endpoint = urlsplit(endpoint_url)
        self._origin = (endpoint.scheme, endpoint.netloc)
        self._lock = lock
        self._dispatcher = BotocoreStubber()
        self._sessions: list[botocore.session.Session] = []
        self._counts_lock = threading.Lock()
        self.answered = 0  # requests moto answered in process
        self.passed_on = 0  # requests for the endpoint left to go over HTTP

    def install(self, session: botocore.session.Session) -> None:
        """Answer the requests of every client that `session` creates from now on."""
        session.register(_EVENT, self, unique_id=self._unique_id)
        self._sessions.append(session)

    def uninstall(self) -> None:
        """Leave the sessions' future clients alone (clients already made keep the handler)."""
        for session in self._sessions:
            session.unregister(_EVENT, unique_id=self._unique_id)
        self._sessions.clear()

    @property
    def _unique_id(self) -> str:
        return f"crowdact-in-process-aws-{id(self)}"

    def __call__(
        self, request: AWSPreparedRequest, event_name: str = "", **kwargs: Any
    ) -> AWSResponse | None:
        url = urlsplit(request.url)
        if (url.scheme, url.netloc) != self._origin:
            return None
        aws_request = self._as_aws_request(request, event_name, url.path, url.query)
        answer = None
        if aws_request is not None:
            with self._lock:
                try:
                    answer = self._dispatcher.process_request(aws_request)
                except Exception as error:
                    # moto answers its own errors (HTTPException); anything else is a fault
                    # in moto, which its server turns into a 500: so does this, and botocore
                    # retries it and raises a ClientError, as it would with AWS.
                    logger.exception("moto failed on %s", event_name)
                    answer = _internal_failure(error)
        with self._counts_lock:
            if answer is None:
                self.passed_on += 1
            else:
                self.answered += 1
        if answer is None:
            return None
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        status, headers, body = answer
        return AWSResponse(request.url, status, headers, MockRawResponse(body))

    @staticmethod
    def _as_aws_request(
        request: AWSPreparedRequest, event_name: str, path: str, query: str
    ) -> AWSPreparedRequest | None:
        """The same request addressed to the AWS host moto recognises, or None.

        A copy: botocore sends the very same request object again on a retry, and it must
        still name the embedded endpoint then, not a real AWS host.
        """
        from botocore.awsrequest import AWSPreparedRequest

        parts = event_name.split(".")
        host = AWS_HOSTS.get(parts[1]) if len(parts) > 2 else None
        region = _signing_region(request.headers.get("Authorization"))
        if host is None or region is None:
            return None
        url = f"https://{host}.{region}.amazonaws.com{path or '/'}" + (f"?{query}" if query else "")
        return AWSPreparedRequest(
            method=request.method,
            url=url,
            headers=request.headers,
            body=request.body,
            stream_output=request.stream_output,
        )


def _internal_failure(error: Exception) -> tuple[int, dict[str, str], str]:
    body = json.dumps({"__type": "InternalFailure", "message": f"moto: {error!r}"})
    return 500, {"Content-Type": "application/x-amz-json-1.0"}, body


def _signing_region(authorization: str | bytes | None) -> str | None:
    """The region of a SigV4 `Authorization` header's credential scope."""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("ascii", errors="replace")
    if not authorization or "Credential=" not in authorization:
        return None
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    # <access key>/<date>/<region>/<service>/aws4_request
    return scope[2] if len(scope) == 5 and scope[2] else None
