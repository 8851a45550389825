"""The local stack: embedded AWS (moto), the real Chalice app over HTTP, and the stream poller."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from types import FrameType, ModuleType
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from chalice.app import Chalice
from chalice.config import Config as ChaliceConfig
from chalice.local import (
    ChaliceRequestHandler,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.schedule_runner import ScheduleRunner, schedule_bindings, schedule_interval
from chalicelib.local.stream_poller import StreamBinding, StreamPoller
from chalicelib.local.tokens import mint_local_token
from chalicelib.observability import local_log_handler
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, Settings
from chalicelib.storage.tables import (
    ChallengeEventItem,
    CounterShardItem,
    PledgeItem,
    create_tables,
    stream_arn,
)
from chalicelib.wiring import Container, build_container, set_container

logger = logging.getLogger("crowdact.local")

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any credentials; nothing leaves the machine
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_REGION": "eu-west-3",
    "CROWDACT_STAGE": "local",
}
STREAM_POLL_INTERVAL = 0.1
# How long stopping the stack waits for a schedule run under way to finish.
SCHEDULE_STOP_TIMEOUT = 10.0


def prepare_aws(settings: Settings) -> None:
    """Create the tables and verify the sender, as the infrastructure does in AWS."""
    create_tables()
    ses = boto3.client("ses", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    ses.verify_email_identity(EmailAddress=parseaddr(settings.mail_from)[1])


def streams_client(settings: Settings) -> Any:
    return boto3.client(
        "dynamodbstreams",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        # botocore would otherwise route stream calls to an account endpoint moto ignores.
        config=BotoConfig(account_id_endpoint_mode="disabled"),
    )


def stream_bindings(app_module: ModuleType) -> list[StreamBinding]:
    """The same handler functions Lambda calls, on the same streams, with the same batch sizes."""
    return [
        StreamBinding("aggregate_progress", stream_arn(CounterShardItem),
                      app_module.aggregate_progress, batch_size=100),
        StreamBinding("notify_milestones", stream_arn(ChallengeEventItem),
                      app_module.notify_milestones, batch_size=1),
        StreamBinding("track_campaigns", stream_arn(PledgeItem),
                      app_module.track_campaigns, batch_size=100),
        StreamBinding("count_areas", stream_arn(PledgeItem),
                      app_module.count_areas, batch_size=1000),
    ]  # fmt: skip


class LocalRequestHandler(ChaliceRequestHandler):
    """Like API Gateway with crowdact's gateway responses: unknown routes are 404 problem+json."""

    # Headers and body leave in separate writes; without TCP_NODELAY each response waits
    # ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if error.CODE == 403:
            body = json.dumps({
                "type": "https://crowdact.org/problems/not-found",
                "title": "Not found",
                "status": 404,
                "detail": f"no route matches {self.command} {self.path.split('?')[0]}",
            })  # fmt: skip
            self._send_http_response(404, {"Content-Type": "application/problem+json"}, body)
            return
        super()._send_error_response(error)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a `do_<METHOD>` (TRACE, QUERY, …) with an HTML
        # 501; the app answers it like any undeclared method: 405 problem+json, or 404.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


class BurstReadyHTTPServer(ThreadedHTTPServer):
    """Chalice's threaded server with a listen queue for bursts (socketserver's default is 5,
    and the kernel resets connections beyond it)."""

    request_queue_size = 128


class PerThreadChalice(LocalChalice):
    """`chalice local`'s app class, which keeps the current request per thread (a Lambda
    container serves one request at a time; this server serves many at once), with the Lambda
    context per thread as well."""

    @property
    def lambda_context(self) -> Any:
        return getattr(self._THREAD_LOCAL, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._THREAD_LOCAL.lambda_context = value


def serve_on_threads(app: Chalice) -> None:
    """What `chalice local` does to the app before serving it (`create_local_server`)."""
    if not isinstance(app, PerThreadChalice):
        app.__class__ = type("ThreadedLocalChalice", (PerThreadChalice, type(app)), {})


@dataclass
class LocalStack:
    aws: EmbeddedAws
    container: Container
    server: LocalDevServer
    poller: StreamPoller
    stop_event: threading.Event
    scheduler: threading.Thread | None = None

    def stop(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server.server_close()
        if self.scheduler is not None:
            # Let a run under way finish before its embedded AWS goes away.
            self.scheduler.join(timeout=SCHEDULE_STOP_TIMEOUT)
        self.aws.stop()


def start_stack(port: int, aws_port: int, *, demo: bool, host: str = "127.0.0.1") -> LocalStack:
    for name, value in LOCAL_ENV.items():
        os.environ.setdefault(name, value)
    interval = schedule_interval()  # a bad value stops the start here, before anything runs
    aws = EmbeddedAws(port=aws_port)
    aws.start()
    os.environ["CROWDACT_AWS_ENDPOINT_URL"] = aws.endpoint_url
    settings = Settings.from_env()
    container = build_container(settings)
    set_container(container)
    prepare_aws(settings)
    if demo:
        from chalicelib.local.demo import load_demo

        load_demo(container)
    import app as app_module

    poller = StreamPoller(streams_client(settings), stream_bindings(app_module))
    stop_event = threading.Event()
    threading.Thread(
        target=poller.run,
        args=(stop_event, STREAM_POLL_INTERVAL),
        name="stream-poller",
        daemon=True,
    ).start()
    # What EventBridge does in AWS: every @app.schedule of the app, run every few seconds.
    runner = ScheduleRunner(
        schedule_bindings(app_module.app), interval=interval, region=settings.region
    )
    scheduler = threading.Thread(
        target=runner.run, args=(stop_event,), name="schedules", daemon=True
    )
    scheduler.start()
    logger.info("schedules %s run every %gs", ", ".join(runner.names), interval)
    config = ChaliceConfig.create(chalice_stage="local", app_name="crowdact", lambda_timeout=30)
    serve_on_threads(app_module.app)
    server = LocalDevServer(
        app_module.app, config, host, port,
        handler_cls=LocalRequestHandler, server_cls=BurstReadyHTTPServer,
    )  # fmt: skip
    return LocalStack(aws, container, server, poller, stop_event, scheduler)


def _banner(stack: LocalStack, port: int) -> str:
    secret = stack.container.settings.jwt.hs256_secret or LOCAL_JWT_SECRET_DEFAULT
    admin = mint_local_token(secret, "local-admin", groups=["admin"], name="Local admin")
    participant = mint_local_token(secret, "local-participant", name="Léa")
    employee = mint_local_token(secret, "humanis-employee", org_id="org_humanis", name="Sam")
    # A GRDF employee known by a verified e-mail in GRDF's domain, not by an org claim.
    grdf = mint_local_token(
        secret, "grdf-employee", name="Inès", email="ines@grdf.example", email_verified=True
    )
    api = f"http://127.0.0.1:{port}"
    return "\n".join([
        "",
        "crowdact local stack",
        f"  API:               {api}   (try: curl {api}/challenges)",
        f"  embedded AWS:      {stack.aws.endpoint_url}   (aws --endpoint-url "
        f"{stack.aws.endpoint_url} dynamodb list-tables)",
        f"  admin token:       {admin}",
        f"  participant token: {participant}",
        f"  Humanis employee:  {employee}",
        f"  GRDF employee:     {grdf}",
        "  Ctrl-C stops everything.",
        "",
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("AWS_PORT", "0")),
        help="port of the embedded AWS endpoint (0: any free port)",
    )
    parser.add_argument("--no-demo", action="store_true", help="start with empty tables")
    args = parser.parse_args(argv)
    # Readable lines, with e-mails, tokens and secrets redacted as in AWS.
    logging.basicConfig(level=logging.INFO, handlers=[local_log_handler()])
    for noisy in ("botocore", "werkzeug", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stack = start_stack(args.port, args.aws_port, demo=not args.no_demo)

    def _stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run on another thread.
        threading.Thread(target=stack.stop, daemon=True).start()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(_banner(stack, args.port), flush=True)
    print(f"ready: http://127.0.0.1:{args.port}", flush=True)
    stack.server.server.serve_forever()
    stack.stop_event.set()
    print("crowdact local stack stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
