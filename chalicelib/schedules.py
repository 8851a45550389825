"""Scheduled handlers (EventBridge rules in AWS, a timer thread in the local stack)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib.observability import set_correlation_id
from chalicelib.services.deadlines import DeadlineRunError
from chalicelib.wiring import Container

logger = logging.getLogger(__name__)

# Stop starting new challenges this close to the Lambda timeout; the next run goes on.
RESERVED_MILLIS = 10_000


def _running_out(context: Any) -> Callable[[], bool]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return lambda: False
    return lambda: int(remaining()) < RESERVED_MILLIS


def end_due_challenges(event: dict[str, Any], context: Any, container: Container) -> dict[str, Any]:
    """Turn live challenges past their deadline into `ended` (each with one `challenge.ended`).

    A challenge that could not be ended fails the invocation after the others were done, so
    the function's error alarm tells; the next run (a minute later) tries it again.
    """
    set_correlation_id(getattr(context, "aws_request_id", None))
    should_stop = _running_out(context)
    try:
        run = container.deadlines.end_due(should_stop=should_stop)
        # Beneficiary votes past their own closes_at (those of challenges that reached or
        # ended are closed by the notifier).
        votes = container.votes.close_due(should_stop=should_stop)
    finally:
        container.metrics.flush()
    if votes.closed or votes.failed:
        logger.info("votes: %d closed, %d failed", len(votes.closed), len(votes.failed))
    run.failed.extend(votes.failed)
    if run.ended or run.failed or run.unvisited:
        logger.info(
            "deadlines: %d ended, %d skipped, %d failed, %d left for the next run",
            len(run.ended), len(run.skipped), len(run.failed), run.unvisited,
        )  # fmt: skip
    if run.failed:
        raise DeadlineRunError(f"could not end {', '.join(run.failed)}")
    return {
        "ended": run.ended,
        "skipped": run.skipped,
        "unvisited": run.unvisited,
        "votes_closed": votes.closed,
    }
