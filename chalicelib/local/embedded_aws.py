"""moto's AWS server run in-process, one request at a time, plus a reader for the mail it sent."""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.message import EmailMessage
from email.parser import Parser
from email.utils import getaddresses, parseaddr
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer

MOTO_ACCOUNT_ID = "123456789012"

# moto keeps all its state in module-level dicts and is not thread-safe (concurrent UpdateItem
# calls were seen returning the same UPDATED_NEW value). Every access to moto in this process —
# server requests and the in-process readers below — goes through this one lock.
MOTO_LOCK = threading.RLock()

# A request that writes its body slower than this is dropped instead of tying up a thread.
_SOCKET_TIMEOUT_SECONDS = 30.0
# serve_forever checks for shutdown this often; it bounds how long stop() takes.
_SHUTDOWN_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class SentEmail:
    """A message moto's SES accepted, with bare e-mail addresses."""

    source: str
    to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    message_id: str = ""


class EmbeddedAws:
    """moto's server app on a threaded werkzeug server in this process, requests serialised.

    It shares state with `mock_aws` and with `sent_emails()` because all of them use moto's
    module-level backends. A request moto makes to itself over HTTP would wait on the lock
    forever; none of the services crowdact uses (DynamoDB, Streams, SES) does that.
    """

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", log_requests: bool = False):
        self._host = host
        self._port = port
        self._log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._app: SerialisedWsgiApp | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EmbeddedAws:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("EmbeddedAws is not running: call start() first")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def http_requests(self) -> int:
        """How many requests reached moto over HTTP since `start`."""
        return self._app.requests if self._app is not None else 0

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Bind the port (0 picks a free one) and serve; returns once requests are accepted."""
        if self._server is not None:
            raise RuntimeError("EmbeddedAws is already running")
        # Imported here so that chalicelib can be packaged for Lambda without moto or Flask.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from chalicelib.local import moto_fixes

        moto_fixes.apply()
        app = SerialisedWsgiApp(DomainDispatcherApplication(create_backend_app), MOTO_LOCK)
        server = make_server(
            self._host,
            self._port,
            app,
            threaded=True,
            request_handler=_request_handler_class(self._log_requests),
        )
        # The listening socket is bound and listening once make_server returns, so clients
        # that connect before serve_forever runs simply wait in the accept queue.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_SECONDS},
            name=f"embedded-aws-{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server = server
        self._app = app
        self._thread = thread

    def stop(self) -> None:
        """Stop accepting requests, close the socket and join the serving thread."""
        server, thread = self._server, self._thread
        self._server = None
        self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)


class SerialisedWsgiApp:
    """A WSGI app wrapper that runs each request, body production included, under one lock."""

    def __init__(self, app: WSGIApplication, lock: threading.RLock) -> None:
        self._app = app
        self._lock = lock
        self.requests = 0  # served so far (counted under the lock)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Read the request body before taking the lock so a slow client cannot stall everyone.
        _buffer_request_body(environ)
        with self._lock:
            self.requests += 1
            result = self._app(environ, start_response)
            try:
                # moto may build the body lazily while it is iterated: that is still moto code.
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


def _buffer_request_body(environ: WSGIEnvironment) -> None:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        data = stream.read()
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(data)


def _request_handler_class(log_requests: bool) -> type[Any]:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class _Handler(MotoRequestHandler):
        timeout = _SOCKET_TIMEOUT_SECONDS

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # One line per AWS call drowns the local stack's own log; opt in when debugging.
            if log_requests:
                super().log_request(code, size)

    return _Handler


def sent_emails(region: str, account_id: str = MOTO_ACCOUNT_ID) -> list[SentEmail]:
    """The messages moto's SES accepted in `region`, oldest first.

    Reads moto's in-memory backend, so it only sees mail sent in this same process (through
    EmbeddedAws or under `mock_aws`); another process should use `fetch_sent_emails`.
    moto keeps a single body for a simple message — the HTML part when one was sent, else the
    text part — so it is reported as `html` when it contains a tag, otherwise as `text`.
    """
    # moto internal API (ses_backends[...].sent_messages): confined to this function.
    from moto.ses.models import ses_backends

    with MOTO_LOCK:
        messages = list(ses_backends[account_id][region].sent_messages)
        return [_sent_email(vars(message)) for message in messages]


def fetch_sent_emails(endpoint_url: str, *, timeout: float = 10.0) -> list[SentEmail]:
    """The messages moto's SES accepted, read over HTTP from a moto server's `/moto-api/data.json`.

    That dump covers every account and region, lists simple messages before raw ones and then
    templated ones (not in sending order), and grows with everything moto tracks, so use it for
    a local stack in another process and `sent_emails` in-process.
    """
    if not endpoint_url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
    url = endpoint_url.rstrip("/") + "/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked above
        dump = json.load(response)
    ses_models: Mapping[str, list[Mapping[str, Any]]] = dump.get("ses", {})
    return [
        _sent_email(message)
        for kind in ("Message", "RawMessage", "TemplateMessage")
        for message in ses_models.get(kind, [])
    ]


def _sent_email(message: Mapping[str, Any]) -> SentEmail:
    """One SentEmail from the attributes of a moto Message, RawMessage or TemplateMessage."""
    raw_data = message.get("raw_data")
    if isinstance(raw_data, str):
        return _from_raw(message, raw_data)
    destinations = message.get("destinations") or {}
    body = message.get("body")
    is_html = isinstance(body, str) and _HTML_TAG.search(body) is not None
    return SentEmail(
        source=_address(message.get("source") or ""),
        to=_addresses(destinations.get("ToAddresses", [])),
        subject=message.get("subject") or "",
        text=None if is_html else body,
        html=body if is_html else None,
        cc=_addresses(destinations.get("CcAddresses", [])),
        bcc=_addresses(destinations.get("BccAddresses", [])),
        message_id=message.get("id") or "",
    )


_HTML_TAG = re.compile(r"<[a-zA-Z][a-zA-Z0-9-]*(\s[^<>]*)?/?>")


def _from_raw(message: Mapping[str, Any], raw_data: str) -> SentEmail:
    parsed = Parser(policy=policy.default).parsestr(raw_data)
    envelope = tuple(message.get("destinations") or ())
    to = _addresses(str(value) for value in parsed.get_all("to", []))
    return SentEmail(
        source=_address(message.get("source") or str(parsed.get("from", ""))),
        to=to or _addresses(envelope),
        subject=str(parsed.get("subject", "")),
        text=_body_part(parsed, "plain"),
        html=_body_part(parsed, "html"),
        cc=_addresses(str(value) for value in parsed.get_all("cc", [])),
        bcc=_addresses(str(value) for value in parsed.get_all("bcc", [])),
        message_id=message.get("id") or "",
    )


def _body_part(parsed: Any, subtype: str) -> str | None:
    if not isinstance(parsed, EmailMessage):
        return None
    part = parsed.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError, MessageError):
        # An unknown charset or a broken encoding should not hide the rest of the message.
        return None
    return content if isinstance(content, str) else None


def _addresses(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(address for _, address in getaddresses(list(values)) if address)


def _address(value: str) -> str:
    return parseaddr(value)[1] or value
