"""The local burst's verdict and pool warnings (bench/report.py) and percentiles
(bench/local_burst.py)."""

from __future__ import annotations

import pytest

from bench.local_burst import LocalBurstResult, percentile
from bench.report import _burst_section, _local_burst


def burst(**changes: object) -> LocalBurstResult:
    fields: dict[str, object] = {
        "pledges": 5000,
        "errors": 0,
        "exact_count": True,
        "notifications_per_recipient": {"sponsor": 1, "beneficiary": 1},
        "throughput_per_s": 61.234,
        "p50_ms": 700.04,
        "p99_ms": 1500.26,
        "users": 50,
        "seconds": 81.66,
        "pool_warnings": 0,
        "stream_lag_ms": {
            "progress": {"p50": 180.44, "p99": 640.06, "max": 700.0},
            "areas": {"p50": 310.0, "p99": 1240.55, "max": 1300.0},
            "campaign": {"p50": 900.0, "p99": 1850.0, "max": 1900.0},
        },
        "lag_poll_seconds": 0.15,
        "lag_resolution_ms": {"progress": 231.04, "areas": 231.0, "campaign": 231.0},
        "lag_observations": {"progress": 350, "areas": 350, "campaign": 350},
        "lag_missing": {"progress": 0, "areas": 0, "campaign": 0},
        "lag_read_errors": {"progress": 0, "areas": 0, "campaign": 0},
    }
    fields.update(changes)
    return LocalBurstResult(**fields)  # type: ignore[arg-type]


def test_a_clean_burst_is_ok_and_rounded() -> None:
    data = _local_burst(burst())
    assert data is not None
    assert data["ok"] is True
    assert data["throughput_per_s"] == 61.2
    assert "| 5,000 | 0 | True | sponsor 1, beneficiary 1 |" in _burst_section(data)
    assert "| 1500.3 ms | 0 |" in _burst_section(data)
    assert "after the burst: 0 (target 0: met)." in _burst_section(data)


def test_pool_warnings_are_shown_against_their_target_of_none() -> None:
    data = _local_burst(burst(pool_warnings=7))
    assert data is not None
    assert data["pool_warnings"] == 7
    assert data["ok"] is True  # the verdict is about correctness; the warnings have their own
    section = _burst_section(data)
    assert "| 1500.3 ms | 7 |" in section
    assert "after the burst: 7 (target 0: **not met**)." in section


def test_a_burst_recorded_before_pool_warnings_were_counted_still_renders() -> None:
    data = _local_burst(burst())
    assert data is not None
    del data["pool_warnings"]
    section = _burst_section(data)
    assert "| 1500.3 ms | not counted |" in section
    assert "not counted in this run" in section


@pytest.mark.parametrize(
    "changes",
    [
        {"errors": 1},
        {"exact_count": False},
        {"notifications_per_recipient": {"sponsor": 2, "beneficiary": 1}},
        {"notifications_per_recipient": {"sponsor": 1, "beneficiary": 0}},
    ],
)
def test_errors_a_wrong_count_or_a_wrong_number_of_emails_is_not_ok(
    changes: dict[str, object],
) -> None:
    data = _local_burst(burst(**changes))
    assert data is not None
    assert data["ok"] is False
    assert "NOT OK" in _burst_section(data)


def test_a_skipped_burst_says_so() -> None:
    assert _local_burst(None) is None
    assert "Skipped" in _burst_section(None)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) == 0.0
