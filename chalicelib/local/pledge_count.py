"""Count the pledges made so far now, as `count_areas` does from the pledges stream.

The demo loader and tests that need a count before the stack's own pollers have run use it.
Its receipts make each record count once, whether this or the stack's poller reads it first.
"""

from __future__ import annotations

from typing import Any

from chalicelib import streams
from chalicelib.local.stream_poller import StreamBinding, StreamPoller
from chalicelib.storage.tables import PledgeItem, stream_arn
from chalicelib.wiring import Container


def count_pledges_now(container: Container) -> None:
    """Read the whole pledges stream through `count_areas` (the records already counted are
    dropped by their receipts)."""
    from chalicelib.local.stack import streams_client  # the stack imports the demo

    def count(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return streams.count_areas(event, context, container)

    binding = StreamBinding("count_areas", stream_arn(PledgeItem), count, batch_size=1000)
    StreamPoller(streams_client(container.settings), [binding]).drain()
