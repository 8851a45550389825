"""`python -m tests.e2e.held_start PORT RELEASE_FILE`: the local stack (empty tables), its start
held at the delivery of the stream records until RELEASE_FILE exists.

Run by `test_start_order.py`, which checks that the API says "starting" for as long as the
start is held, and ready only after it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.local import stack as stack_module

POLL_SECONDS = 0.02


def main(argv: Sequence[str]) -> int:
    port, release = argv[0], Path(argv[1])
    deliver = stack_module.drain_all

    def held(pollers: Any, *args: Any, **kwargs: Any) -> int:
        print("held: delivering the stream records waits", flush=True)
        while not release.exists():
            time.sleep(POLL_SECONDS)
        return deliver(pollers, *args, **kwargs)

    stack_module.drain_all = held
    return stack_module.main(["--port", port, "--no-demo"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
