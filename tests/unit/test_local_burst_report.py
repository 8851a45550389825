"""The local burst's verdict, pool warnings and stream lag (bench/report.py) and percentiles
(bench/local_burst.py)."""

from __future__ import annotations

import pytest

from bench.local_burst import LocalBurstResult, percentile
from bench.report import _burst_blockers, _burst_section, _lag_row, _local_burst, table


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
            "areas": {"p50": 310.0, "p99": 1240.7, "max": 1300.0},
            "campaign": {"p50": 900.0, "p99": 1850.0, "max": 1900.0},
        },
        "lag_poll_seconds": 0.15,
        "lag_resolution_ms": {
            read: {"p50": 231.04, "max": 1480.0} for read in ("progress", "areas", "campaign")
        },
        "lag_read_ms": {
            read: {"p50": 40.0, "p99": 950.2} for read in ("progress", "areas", "campaign")
        },
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


def test_the_stream_lag_is_rounded_and_shown_per_read_against_2_s() -> None:
    data = _local_burst(burst())
    assert data is not None
    assert data["stream_lag_ms"]["progress"] == {"p50": 180.4, "p99": 640.1, "max": 700.0}
    assert data["lag_resolution_ms"]["progress"] == {"p50": 231.0, "max": 1480.0}
    assert data["stream_lag_met"] is True
    section = _burst_section(data)
    assert "waits 0.15 s after each round of the three reads): met." in section
    assert (
        "| 180 ms | 640 ms: met | 700 ms | 0 | 350 | 231 / 1,480 ms | 40 / 950 ms | 0 |" in section
    )
    assert _lag_row(data) == "640 / 1,241 / 1,850 ms, 0 missing | ≤ 2 s each, none missing: met"
    assert _burst_blockers(data) == []


def test_a_p99_over_2_s_is_not_met_and_blocks_without_spoiling_the_verdict() -> None:
    slow = {"p50": 900.0, "p99": 2400.0, "max": 3000.0}
    lags = {"progress": {"p50": 1.0, "p99": 2.0, "max": 3.0}, "areas": slow, "campaign": slow}
    data = _local_burst(burst(stream_lag_ms=lags))
    assert data is not None
    assert data["ok"] is True  # correct, only late
    assert data["stream_lag_met"] is False
    assert "| 2,400 ms: **not met** |" in _burst_section(data)
    assert _lag_row(data).endswith("**not met**")
    assert _burst_blockers(data) == [
        "the local burst's stream lag p99 > 2 s (areas 2.4 s, campaign 2.4 s)"
    ]
    assert "NOT MET" in table_of(data)


def test_pledges_never_shown_are_reported_and_block() -> None:
    missing = {"progress": 0, "areas": 0, "campaign": 12}
    data = _local_burst(burst(lag_missing=missing))
    assert data is not None
    assert data["stream_lag_met"] is False
    assert "| 1,850 ms: met | 1,900 ms | 12 |" in _burst_section(data)
    assert "12 missing" in _lag_row(data)
    assert _burst_blockers(data) == [
        "pledges of the local burst that a read never showed (campaign 12)"
    ]


def test_a_burst_recorded_before_the_stream_lag_was_measured_still_renders() -> None:
    data = _local_burst(burst())
    assert data is not None
    for name in [name for name in data if name.startswith(("stream_lag", "lag_"))]:
        del data[name]
    assert "Stream lag: not measured in this run." in _burst_section(data)
    assert _lag_row(data).startswith("not measured |")
    assert "stream lag, which this run did not measure" in _burst_blockers(data)[0]
    assert "stream lag not measured" in table_of(data)


def table_of(burst_data: dict[str, object]) -> str:
    """The printed table's burst lines alone (table() needs only these keys for them)."""
    return table({"targets": {}, "local_burst": burst_data})


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) == 0.0


def test_the_burst_is_shown_against_issue_15s_targets_with_the_cpu_per_pledge() -> None:
    slow = _local_burst(burst(stack_cpu_ms_per_pledge=8.0))
    assert slow is not None
    section = _burst_section(slow)
    assert "throughput ≥ 250/s: 61.2/s (**not met**)" in section
    assert "p99 ≤ 500 ms: 1500.3 ms (**not met**)" in section
    assert "stream lag p99 ≤ 2 s: 1,850 ms at worst (met)" in section
    assert "**8 ms of CPU per pledge**" in section
    assert "about 125 pledges/s at most; 250/s needs 4 ms." in section
    fast = _local_burst(burst(throughput_per_s=260.0, p99_ms=480.0))
    assert fast is not None
    section = _burst_section(fast)
    assert "260/s (met)" in section
    assert "480 ms (met)" in section
    assert "CPU time per pledge was not measured" in section
