"""The local server admits at most N requests into the app, the others in arrival order."""

from __future__ import annotations

import threading
import time

from chalicelib.local.http_server import FifoAdmission

WAIT_SECONDS = 10.0


def test_waiters_are_admitted_in_their_order_of_arrival_one_slot_at_a_time() -> None:
    admission = FifoAdmission(1)
    admitted: list[int] = []
    inside = threading.Lock()
    queued = [threading.Event() for _ in range(5)]

    def request(number: int) -> None:
        queued[number].set()
        with admission:
            assert inside.acquire(blocking=False), "two requests inside one slot"
            admitted.append(number)
            inside.release()

    admission.__enter__()  # the slot is taken: every request below waits
    threads = []
    for number in range(5):
        thread = threading.Thread(target=request, args=(number,))
        thread.start()
        assert queued[number].wait(WAIT_SECONDS)
        # Queued once it waits on its turn (inside __enter__), before the next one starts.
        deadline = time.monotonic() + WAIT_SECONDS
        while admission.waiting < number + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert admission.waiting == number + 1
        threads.append(thread)
    admission.__exit__(None, None, None)
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert admitted == [0, 1, 2, 3, 4]


def test_free_slots_admit_at_once_and_come_back_when_released() -> None:
    admission = FifoAdmission(2)
    admission.__enter__()
    admission.__enter__()
    entered = threading.Event()

    def third() -> None:
        with admission:
            entered.set()

    thread = threading.Thread(target=third)
    thread.start()
    assert not entered.wait(0.05)
    admission.__exit__(None, None, None)
    assert entered.wait(WAIT_SECONDS)
    thread.join(WAIT_SECONDS)
    admission.__exit__(None, None, None)
    with admission, admission:
        pass  # both slots free again
