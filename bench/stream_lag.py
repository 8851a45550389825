"""The local burst's stream lag: how long after a pledge's 201 each public read counts it.

What each read shows, and so what its lag measures (none of the three is a cache's TTL):

- `progress`: `GET /challenges/{id}` → `progress.participants`. The pledge's transaction
  adds 1 to one of the challenge's counter shards, but the read does not sum the shards: it
  returns the totals stored on the challenge item, which the `aggregate_progress` trigger
  writes from the counters table's stream (one consistent sum of the shards per batch). The
  public read goes to the table (`get_visible` without `cached`), not to the pledge path's
  1 s in-memory challenge cache. So its lag is the counters stream's: the local poller's
  0.1 s idle wait, the trigger's work and the queue in front of it.
- `areas`: `GET /challenges/{id}/areas` → the listed areas' participants plus
  `hidden_participants` (the areas under 5, which are only summed): the exact total
  whatever the spread of the pledges. `count_areas` counts them from the pledges table's
  stream (batches of up to 1,000; the 1 s batching window of AWS is not applied locally).
  The route reads the challenge through the 1 s cache only to check it is visible; the
  counts come from the table.
- `campaign`: `GET /campaigns/{id}` → `totals.participants`, the campaign's counter shards
  summed at the read; `track_campaigns` writes them from the pledges table's stream.

The three reads are made one after the other by one thread, then it waits `interval`: a
read's resolution is that wait plus the three reads' time, reported as the median and the
longest gap between two of its observations (reads queue behind the burst's pledges, so the
gaps are longest during the burst). An observation's time is when its answer came, so a lag
can be overstated by up to that read's duration (reported too), never understated.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

READS = ("progress", "areas", "campaign")
POLL_SECONDS = 0.15  # the wait after each round of the three reads
READ_TIMEOUT_SECONDS = 10.0
WAIT_STEP_SECONDS = 0.1
ERROR_SAMPLES = 5


@dataclass(frozen=True)
class Observation:
    at: float  # time.time() when the answer came (comparable with locust's answer times)
    count: int
    took: float = 0.0  # seconds from the request to its answer: how much `at` may be late


@dataclass(frozen=True)
class Lags:
    seconds: list[float]  # one per pledge a read showed, in the order of their 201s
    missing: int  # pledges that no observation showed (the count never reached them)


def pledge_lags(created_at: Sequence[float], observations: Sequence[Observation]) -> Lags:
    """Each pledge's lag: the k-th 201 to be answered (1-based) counts as seen at the first
    observation made at or after its answer that shows a count of k or more.

    Which pledge a count includes cannot be read, so this holds the k-th answered pledge as
    the k-th counted; with counts that only grow (no withdrawals) the lag is then never
    negative and the k-th lag is how long a reader who saw the 201 waits to see k. An
    observation that does not show pledge k shows none of the later ones either (they were
    answered no earlier and need a higher count), so one pass over each list does.
    """
    answers = sorted(created_at)
    seen = sorted(observations, key=lambda observation: observation.at)
    lags: list[float] = []
    index = 0
    for k, answered in enumerate(answers, start=1):
        while index < len(seen) and (seen[index].at < answered or seen[index].count < k):
            index += 1
        if index == len(seen):
            return Lags(lags, len(answers) - k + 1)
        lags.append(seen[index].at - answered)
    return Lags(lags, 0)


def gaps(observations: Sequence[Observation]) -> list[float]:
    """The times between two consecutive observations of one read (its resolution)."""
    times = sorted(observation.at for observation in observations)
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def progress_count(body: dict[str, Any]) -> int:
    return int(body["progress"]["participants"])


def areas_count(body: dict[str, Any]) -> int:
    """Every participant the areas count: the listed areas and those hidden (under 5 each)."""
    listed = sum(int(area["participants"]) for area in body["areas"])
    return listed + int(body["hidden_participants"])


def campaign_count(body: dict[str, Any]) -> int:
    return int(body["totals"]["participants"])


COUNTS: dict[str, Callable[[dict[str, Any]], int]] = {
    "progress": progress_count,
    "areas": areas_count,
    "campaign": campaign_count,
}


class LagWatcher:
    """Reads the three counts over and over on its own thread and HTTP session while the
    burst runs (locust is a blocking subprocess in the bench's main thread)."""

    def __init__(
        self,
        base_url: str,
        challenge_id: str,
        campaign_id: str,
        *,
        interval: float = POLL_SECONDS,
    ) -> None:
        self.interval = interval
        self._urls = {
            "progress": f"{base_url}/challenges/{challenge_id}",
            "areas": f"{base_url}/challenges/{challenge_id}/areas",
            "campaign": f"{base_url}/campaigns/{campaign_id}",
        }
        self.observations: dict[str, list[Observation]] = {name: [] for name in READS}
        self.errors = {name: 0 for name in READS}  # reads that gave no count
        self.error_samples: list[str] = []
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """After the round under way (each read is bounded by its timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=len(READS) * READ_TIMEOUT_SECONDS + self.interval)
        self._session.close()

    def latest(self, name: str) -> int:
        """The read's last count (-1 before any)."""
        with self._lock:
            found = self.observations[name]
            return found[-1].count if found else -1

    def wait_until_counted(self, count: int, deadline: float) -> bool:
        """Until every read has shown `count`, or time.monotonic() passes `deadline`."""
        while True:
            if all(self.latest(name) >= count for name in READS):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(WAIT_STEP_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name in READS:
                self._observe(name)
            self._stop.wait(self.interval)

    def _observe(self, name: str) -> None:
        try:
            sent = time.perf_counter()
            response = self._session.get(self._urls[name], timeout=READ_TIMEOUT_SECONDS)
            at, took = time.time(), time.perf_counter() - sent
            if response.status_code != 200:
                raise ValueError(f"{response.status_code} {response.text[:200]}")
            count = COUNTS[name](response.json())
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            with self._lock:
                self.errors[name] += 1
                if len(self.error_samples) < ERROR_SAMPLES:
                    self.error_samples.append(f"{name}: {error!r}"[:300])
            return
        with self._lock:
            self.observations[name].append(Observation(at, count, took))
