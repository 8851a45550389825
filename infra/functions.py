"""The Lambda functions the Chalice app defines, read from the app itself.

New functions must not deploy half-configured: a stream trigger is found with the table it
reads (from its stream ARN), a schedule with its expression, and every function must have an
entry in `infra.access.FUNCTION_ACCESS`, or the synth fails.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from chalice.app import Chalice, DynamoDBEventConfig, ScheduledEventConfig
from chalice.utils import to_cfn_resource_name

API_HANDLER = "api_handler"
# app.py's placeholder (`table/<base name>/stream/local`) or a real stream ARN of any stage.
_STREAM_TABLE = re.compile(r":table/(?:crowdact-[a-z0-9]+-)?(?P<table>[A-Za-z0-9_.-]+)/stream/")


@dataclass(frozen=True)
class ChaliceFunction:
    name: str  # Chalice's function name: the decorated handler's, or api_handler
    stream_table: str | None = None  # the base name of the table whose stream triggers it
    schedule: str | None = None  # its EventBridge schedule expression (`@app.schedule`)

    @property
    def cfn_name(self) -> str:
        """Chalice's logical id for the function (its API handler's is special-cased)."""
        return "APIHandler" if self.name == API_HANDLER else to_cfn_resource_name(self.name)

    @property
    def event_name(self) -> str:
        """Chalice's name for the function's stream event (chalice.package)."""
        return to_cfn_resource_name(f"{self.name}-dynamodb-event-source")


def load_app(source_dir: Path) -> Chalice:
    """The Chalice app object, imported as `chalice package` imports it (module `app`)."""
    if str(source_dir) not in sys.path:
        sys.path.insert(0, str(source_dir))
    saved = os.environ.copy()
    try:
        app: Chalice = importlib.import_module("app").app
    finally:
        # Creating a Chalice app sets AWS_EXECUTION_ENV, as it would in a Lambda.
        os.environ.clear()
        os.environ.update(saved)
    return app


def app_functions(app: Chalice) -> tuple[ChaliceFunction, ...]:
    functions: list[ChaliceFunction] = []
    if app.routes:
        functions.append(ChaliceFunction(API_HANDLER))
    for source in app.event_sources:
        if isinstance(source, DynamoDBEventConfig):
            functions.append(ChaliceFunction(source.name, stream_table(source.stream_arn)))
        elif isinstance(source, ScheduledEventConfig):
            # Chalice emits the rule itself (a `Schedule` event of the SAM function).
            expression = source.schedule_expression
            functions.append(
                ChaliceFunction(
                    source.name,
                    schedule=expression if isinstance(expression, str) else expression.to_string(),
                )
            )
        else:
            raise NotImplementedError(
                f"{type(source).__name__} {source.name!r}: infra/ does not deploy this kind of "
                "event source yet (see infra/README.md)"
            )
    if app.pure_lambda_functions or app.websocket_handlers:
        raise NotImplementedError("infra/ does not deploy pure Lambda functions or websockets yet")
    return tuple(functions)


def stream_table(stream_arn: str) -> str:
    match = _STREAM_TABLE.search(stream_arn)
    if match is None:
        raise ValueError(f"cannot tell which table the stream {stream_arn!r} belongs to")
    return match.group("table")
