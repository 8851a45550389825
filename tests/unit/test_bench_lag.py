"""The local burst's stream lag arithmetic (bench/stream_lag.py, bench/local_burst.py) on
synthetic answer times and observations: no stack, no clock."""

from __future__ import annotations

import pytest

from bench.local_burst import stream_lag
from bench.stream_lag import (
    Observation,
    areas_count,
    campaign_count,
    gaps,
    pledge_lags,
    progress_count,
)


def seen(*pairs: tuple[float, int]) -> list[Observation]:
    return [Observation(at, count) for at, count in pairs]


def test_the_kth_answer_is_seen_at_the_first_later_observation_showing_k() -> None:
    lags = pledge_lags([10.0, 10.5, 11.0], seen((10.2, 1), (10.6, 1), (10.9, 3), (11.3, 3)))
    assert lags.missing == 0
    # 1st: 10.2 shows 1; 2nd (10.5): 10.6 shows only 1, 10.9 shows 3; 3rd (11.0): 11.3.
    assert lags.seconds == pytest.approx([0.2, 0.4, 0.3])


def test_answers_are_taken_in_time_order_whatever_order_they_come_in() -> None:
    lags = pledge_lags([11.0, 10.0], seen((10.6, 1), (10.1, 0), (11.5, 2)))
    assert lags.seconds == pytest.approx([0.6, 0.5])


def test_an_observation_before_the_answer_does_not_count_even_with_the_count() -> None:
    # Counted before the client had its 201 (the stream was quicker than the answer): the
    # reader who saw the 201 first sees it at the next read, so no lag is negative.
    lags = pledge_lags([10.0], seen((9.9, 1), (10.3, 1)))
    assert lags.seconds == pytest.approx([0.3])


def test_answers_never_shown_are_missing_not_dropped() -> None:
    lags = pledge_lags([10.0, 10.1, 10.2, 10.3], seen((10.5, 2), (12.0, 2)))
    assert lags.seconds == pytest.approx([0.5, 0.4])
    assert lags.missing == 2


def test_no_observation_leaves_every_answer_missing() -> None:
    assert pledge_lags([1.0, 2.0], []).missing == 2
    assert pledge_lags([], seen((1.0, 5))).seconds == []


def test_the_gaps_between_observations_are_the_resolution() -> None:
    assert gaps(seen((1.0, 0), (1.5, 0), (1.2, 0))) == pytest.approx([0.2, 0.3])
    assert gaps(seen((1.0, 0))) == []


def test_each_read_gets_its_percentiles_resolution_and_missing() -> None:
    answers = [float(k) for k in range(1, 101)]  # one 201 a second, 100 of them
    # progress shows each pledge 0.25 s after its answer (each read taking 0.1 s, the last
    # one 0.2 s); areas stops at 98.
    progress = [Observation(k + 0.25, k, 0.1) for k in range(1, 100)]
    progress.append(Observation(100.25, 100, 0.2))
    areas = seen(*((k + 0.5, min(k, 98)) for k in range(1, 101)))
    lag = stream_lag(answers, {"progress": progress, "areas": areas})
    assert lag.ms["progress"] == pytest.approx({"p50": 250.0, "p99": 250.0, "max": 250.0})
    assert lag.ms["areas"]["p99"] == pytest.approx(500.0)
    assert lag.missing == {"progress": 0, "areas": 2}
    assert lag.observations == {"progress": 100, "areas": 100}
    assert lag.resolution_ms["progress"] == pytest.approx({"p50": 1000.0, "max": 1000.0})
    assert lag.read_ms["progress"] == pytest.approx({"p50": 100.0, "p99": 100.0})
    assert lag.read_ms["areas"] == {"p50": 0.0, "p99": 0.0}


def test_a_read_that_shows_nothing_has_zero_figures_and_everything_missing() -> None:
    lag = stream_lag([1.0, 2.0], {"campaign": []})
    assert lag.ms["campaign"] == {"p50": 0.0, "p99": 0.0, "max": 0.0}
    assert lag.missing["campaign"] == 2
    assert lag.resolution_ms["campaign"] == {"p50": 0.0, "max": 0.0}


def test_the_counts_read_from_each_answer() -> None:
    assert progress_count({"progress": {"participants": 57, "quantity": 0}}) == 57
    assert campaign_count({"totals": {"participants": 12, "pledges": 14}}) == 12
    # The areas under 5 are not listed but summed: they count too.
    body = {"areas": [{"area": "u09wj", "participants": 1490}], "hidden_participants": 3}
    assert areas_count(body) == 1493
    assert areas_count({"areas": [], "hidden_participants": 4}) == 4
