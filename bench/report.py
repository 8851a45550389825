"""Turns a bench run into bench/results.json, a printed table and docs/performance.md."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import cost
from bench.cold_start import ColdStartResult
from bench.hot import PARTITION_RCU_PER_S, PARTITION_WCU_PER_S, HotResult, KeyShare
from bench.local_burst import LocalBurstResult
from bench.startup import COMMAND as STARTUP_COMMAND
from bench.startup import COUNT_WITHIN_SECONDS, StartupResult
from chalicelib.storage.pledges import PLEDGE_INDEX_BUCKETS

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results.json"
DOC = REPO_ROOT / "docs" / "performance.md"

TARGETS = {
    "hot_challenge_ceiling_pledges_per_s": (">=", 10_000.0),
    "hot_vs_naive": (">=", 20.0),
    "ddb_calls_per_pledge": ("<=", 2.0),
    "cold_start_import_ratio": ("<=", 1.5),
}
STARTUP_TARGET_SECONDS = 10.0  # `make run` to ready, median, with the demo


@dataclass(frozen=True)
class Run:
    command: str
    started_at: datetime
    seconds: float
    hot: HotResult
    cold: ColdStartResult
    cost: cost.CostBreakdown
    local_burst: LocalBurstResult | None = None  # None: skipped (--burst-pledges 0)
    startup: StartupResult | None = None  # None: not measured (a caller that skips it)


def _machine() -> dict[str, Any]:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            name: version(name) for name in ("chalice", "boto3", "moto", "pynamodb", "pydantic")
        },
    }


def _met(name: str, value: float) -> bool:
    op, bound = TARGETS[name]
    return value >= bound if op == ">=" else value <= bound


def _key(share: KeyShare) -> dict[str, Any]:
    return {
        "key": share.key,
        "units_per_pledge": round(share.per_pledge, 5),
        "ceiling_pledges_per_s": round(share.ceiling, 1),
    }


def _local_burst(burst: LocalBurstResult | None) -> dict[str, Any] | None:
    if burst is None:
        return None
    data = asdict(burst)
    for name in ("throughput_per_s", "p50_ms", "p99_ms", "seconds"):
        data[name] = round(data[name], 1)
    data["ok"] = (
        burst.errors == 0
        and burst.exact_count
        and all(count == 1 for count in burst.notifications_per_recipient.values())
    )
    return data


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _startup(startup: StartupResult | None) -> dict[str, Any] | None:
    """Every per-run figure, rounded to the millisecond; None (null) when not measured."""
    if startup is None:
        return None
    return {
        "command": STARTUP_COMMAND,
        "runs": startup.runs,
        "startup_s": round(startup.startup_s, 3),
        "ready_to_first_count_s": _seconds(startup.ready_to_first_count_s),
        "pledge_to_count_max_s": _seconds(startup.pledge_to_count_max_s),
        "all_within_2s": startup.all_within_2s,
        "ready_s": [round(s, 3) for s in startup.ready_s],
        "health_200_s": [round(s, 3) for s in startup.health_200_s],
        "pledge_to_count_s": [_seconds(s) for s in startup.pledge_to_count_s],
        "ready_to_count_s": [_seconds(s) for s in startup.ready_to_count_s],
        "pool_warnings": startup.pool_warnings,
        "steps": [{name: round(s, 3) for name, s in steps.items()} for steps in startup.steps],
        "median_steps": {name: round(s, 3) for name, s in startup.median_steps.items()},
        "outside_steps_s": _seconds(startup.outside_steps_s),
    }


def _startup_targets(startup: StartupResult | None) -> dict[str, dict[str, Any]]:
    """The start-up's two targets, next to the others; none when it was not measured."""
    if startup is None:
        return {}
    return {
        "startup_s": {
            "target": f"<= {STARTUP_TARGET_SECONDS:g}",
            "value": round(startup.startup_s, 3),
            "met": startup.startup_s <= STARTUP_TARGET_SECONDS,
        },
        "pledge_to_count_s": {
            "target": f"<= {COUNT_WITHIN_SECONDS:g} in every run",
            "value": _seconds(startup.pledge_to_count_max_s),
            "met": startup.all_within_2s,
        },
    }


def results(run: Run) -> dict[str, Any]:
    hot, cold, usd = run.hot, run.cold, run.cost
    sharded, naive, api = hot.sharded, hot.naive, hot.api_path
    ratio = sharded.ceiling / naive.ceiling
    startup = _startup(run.startup)
    headline: dict[str, float] = {
        "hot_challenge_ceiling_pledges_per_s": round(sharded.ceiling, 1),
        "naive_ceiling_pledges_per_s": round(naive.ceiling, 1),
        "hot_vs_naive": round(ratio, 2),
        "ddb_calls_per_pledge": round(api.calls_per_pledge, 3),
        "wcu_per_pledge": round((sharded.api_wcu + sharded.stream_wcu) / sharded.pledges, 4),
        "usd_per_million_pledges": round(usd.total, 2),
        "cold_start_import_ratio": round(cold.ratio, 2),
        "cold_start_peak_rss_mb": round(cold.app_peak_rss_mb, 1),
    }
    return {
        **headline,
        "hot_challenge_read_ceiling_pledges_per_s": round(
            hot.reads.hot_read_ceiling_pledges_per_s, 1
        ),
        "hot_challenge_ceiling_if_index_writes_doubled": round(
            sharded.hottest_if_index_writes_doubled.ceiling, 1
        ),
        "wcu_per_pledge_api": round(sharded.api_wcu / sharded.pledges, 4),
        "wcu_per_pledge_stream": round(sharded.stream_wcu / sharded.pledges, 4),
        "rcu_per_pledge": round(hot.reads.rcu_per_pledge, 4),
        "startup_s": None if startup is None else startup["startup_s"],
        "ready_to_first_count_s": None if startup is None else startup["ready_to_first_count_s"],
        "startup": startup,
        "local_burst": _local_burst(run.local_burst),
        "targets": {
            **{
                name: {
                    "target": f"{op} {bound:g}",
                    "value": headline[name],
                    "met": _met(name, headline[name]),
                }
                for name, (op, bound) in TARGETS.items()
            },
            **_startup_targets(run.startup),
        },
        "run": {
            "command": run.command,
            "started_at": run.started_at.isoformat(timespec="seconds"),
            "seconds": round(run.seconds, 1),
            "machine": _machine(),
        },
        "hot_challenge": {
            "counter_shards": hot.counter_shards,
            "partition_limits": {
                "wcu_per_s": PARTITION_WCU_PER_S,
                "rcu_per_s": PARTITION_RCU_PER_S,
            },
            "stream_batch_size": 100,
            "challenge_item_bytes": hot.challenge_item_bytes,
            "pledge_item_bytes": hot.pledge_item_bytes,
            "container_dynamodb_clients": hot.container_clients,
            "seconds": round(hot.seconds, 1),
            "variants": {
                variant.name: {
                    "counter_items": variant.counter_items,
                    "pledges": variant.pledges,
                    "seconds": round(variant.seconds, 1),
                    "ceiling_pledges_per_s": round(variant.ceiling, 1),
                    "hottest": _key(variant.hottest),
                    "hottest_api_path": _key(variant.hottest_api),
                    "hottest_stream_path": _key(variant.hottest_stream),
                    "hottest_read": _key(variant.hottest_read),
                    "hottest_if_index_writes_doubled": _key(
                        variant.hottest_if_index_writes_doubled
                    ),
                    "top_write_keys": [_key(k) for k in variant.top_keys],
                    "wcu_per_pledge_api": round(variant.api_wcu / variant.pledges, 4),
                    "wcu_per_pledge_stream": round(variant.stream_wcu / variant.pledges, 4),
                    "rcu_per_pledge_api": round(variant.api_rcu / variant.pledges, 4),
                    "rcu_per_pledge_stream": round(variant.stream_rcu / variant.pledges, 4),
                    "api_calls": variant.api_calls,
                    "stream_calls": variant.stream_calls,
                    "stream_invocations": variant.stream_invocations,
                    "stream_records": variant.stream_records,
                    "writes_recorded": variant.writes_recorded,
                    "transactional_writes": variant.transactional_writes,
                    "published_participants": variant.published_participants,
                }
                for variant in (sharded, naive)
            },
            "duplicates": asdict(hot.duplicates),
            "reads": asdict(hot.reads),
        },
        "api_path": {
            **asdict(api),
            "stream_compute_ms_per_invocation": round(hot.stream_compute_ms, 2),
            "stream_calls_per_invocation": {
                op: round(n, 3) for op, n in hot.stream_calls_per_invocation.items()
            },
        },
        "cost": {
            **usd.as_dict(),
            "prices_usd": cost.PRICES_USD,
            "price_source": cost.PRICE_SOURCE,
            "lambda_memory_mb": cost.LAMBDA_MEMORY_MB,
            "assumed_ddb_latency_ms": cost.ASSUMED_DDB_LATENCY_MS,
        },
        "cold_start": asdict(cold),
    }


def write_results(data: dict[str, Any]) -> Path:
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(temporary, RESULTS)
    return RESULTS


def table(data: dict[str, Any]) -> str:
    targets = data["targets"]
    rows = [
        ("hot_challenge_ceiling_pledges_per_s", "pledges/s"),
        ("naive_ceiling_pledges_per_s", "pledges/s"),
        ("hot_vs_naive", "×"),
        ("hot_challenge_read_ceiling_pledges_per_s", "pledges/s (3,000 RCU/s)"),
        ("ddb_calls_per_pledge", "calls, API path"),
        ("wcu_per_pledge", "WCU (API + stream)"),
        ("usd_per_million_pledges", f"USD, {cost.REGION}"),
        ("cold_start_import_ratio", "app.py / bare"),
        ("cold_start_peak_rss_mb", "MB after import"),
    ]
    lines = [f"{'metric':44} {'value':>12}  {'unit':26} target", "-" * 100]
    for name, unit in rows:
        value = data[name]
        target = targets.get(name)
        verdict = ""
        if target:
            verdict = f"{target['target']:>9}  {'met' if target['met'] else 'NOT MET'}"
        lines.append(f"{name:44} {value:>12,.6g}  {unit:26} {verdict}")
    lines.extend(_startup_lines(data))
    burst = data["local_burst"]
    if burst is None:
        lines.append(f"{'local_burst':44} {'skipped':>12}")
    else:
        lines.append(
            f"{'local_burst':44} {burst['pledges']:>12,}  pledges, {burst['users']} users"
            f"{'':13} {'ok' if burst['ok'] else 'NOT OK'}"
        )
        lines.append(
            f"{'':44} errors {burst['errors']}, exact count {burst['exact_count']}, "
            f"e-mails per recipient {burst['notifications_per_recipient']}, "
            f"{burst['throughput_per_s']:g}/s, p50 {burst['p50_ms']:g} ms, "
            f"p99 {burst['p99_ms']:g} ms, pool warnings {_pool_warnings(burst)}"
        )
    return "\n".join(lines)


def _verdict(target: dict[str, Any] | None) -> str:
    if target is None:
        return ""
    return f"{target['target']:>9}  {'met' if target['met'] else 'NOT MET'}"


def _startup_lines(data: dict[str, Any]) -> list[str]:
    """The printed table's start-up rows; one line saying so when the run has no start-up."""
    startup = data.get("startup")
    if startup is None:
        return [f"{'startup_s':44} {'not measured':>12}"]
    targets = data["targets"]
    first = startup["ready_to_first_count_s"]
    worst = startup["pledge_to_count_max_s"]
    return [
        f"{'startup_s':44} {startup['startup_s']:>12.2f}  "
        f"{'s, make run to ready (median)':26} {_verdict(targets.get('startup_s'))}",
        f"{'ready_to_first_count_s':44} {_optional(first, '{:>12.2f}', '{:>12}')}  "
        f"{'s; pledge→count max ' + _optional(worst, '{:.2f}', '{}'):26} "
        f"{_verdict(targets.get('pledge_to_count_s'))}",
    ]


def _optional(value: float | None, spec: str, missing: str) -> str:
    """A figure that may be missing (a pledge never counted): formatted, or "none"."""
    return missing.format("none") if value is None else spec.format(value)


def _pool_warnings(burst: dict[str, Any]) -> str:
    """Older results.json files predate the count."""
    count = burst.get("pool_warnings")
    return "not counted" if count is None else str(count)


def write_doc(data: dict[str, Any]) -> Path:
    temporary = DOC.with_suffix(".md.tmp")
    temporary.write_text(render_doc(data))
    os.replace(temporary, DOC)
    return DOC


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _keys_table(variant: dict[str, Any]) -> str:
    lines = [
        "| partition key: table[.index] [value] | WCU per pledge | reaches 1,000 WCU/s at |",
        "|---|---:|---:|",
    ]
    for key in variant["top_write_keys"]:
        lines.append(
            f"| `{key['key']}` | {key['units_per_pledge']:.4f} | "
            f"{_n(key['ceiling_pledges_per_s'])} pledges/s |"
        )
    return "\n".join(lines)


def _calls(calls: dict[str, float], digits: int = 2) -> str:
    return ", ".join(f"{op} {n:.{digits}f}" for op, n in calls.items())


def _blockers(data: dict[str, Any]) -> str:
    targets = data["targets"]
    found = []
    if not targets["hot_challenge_ceiling_pledges_per_s"]["met"]:
        found.append("the write ceiling of the hottest key")
    if (
        data["hot_challenge_read_ceiling_pledges_per_s"]
        < TARGETS["hot_challenge_ceiling_pledges_per_s"][1]
    ):
        found.append("the read of the challenge item on every pledge (not an issue metric)")
    if (
        data["hot_challenge_ceiling_if_index_writes_doubled"]
        < TARGETS["hot_challenge_ceiling_pledges_per_s"][1]
    ):
        found.append("the write ceiling, if AWS charged a transaction's index writes twice")
    if not targets["hot_vs_naive"]["met"]:
        found.append("the ratio to the naive baseline")
    if not targets["ddb_calls_per_pledge"]["met"]:
        found.append("the DynamoDB calls per pledge")
    if not targets["cold_start_import_ratio"]["met"]:
        found.append("the cold-start import ratio")
    found.extend(_startup_blockers(data.get("startup")))
    found.extend(_burst_blockers(data["local_burst"]))
    if not found:
        return "Nothing measured here blocks them."
    return "Blocking, or at risk in AWS: " + "; ".join(found) + "."


def _burst_blockers(burst: dict[str, Any] | None) -> list[str]:
    if burst is None:
        return ["the local burst, which this run skipped"]
    found = []
    if not burst["ok"]:
        found.append("the local burst (errors, an inexact count or a wrong number of e-mails)")
    if burst.get("pool_warnings"):  # absent from results written before it was counted
        found.append('the local burst\'s "Connection pool is full" warnings')
    return found


def _startup_blockers(startup: dict[str, Any] | None) -> list[str]:
    if startup is None:
        return ["the start-up of `make run`, which this run did not measure"]
    found = []
    if startup["startup_s"] > STARTUP_TARGET_SECONDS:
        found.append("the start-up time of `make run`")
    if not startup["all_within_2s"]:
        found.append("a pledge counted more than 2 s after its 201 right after the start")
    if any(startup["pool_warnings"]):
        found.append('the "Connection pool is full" warnings during the start-up')
    return found


def _values(data: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, formatted (short names keep the template readable)."""
    run, hot, api = data["run"], data["hot_challenge"], data["api_path"]
    usd, cold, targets = data["cost"], data["cold_start"], data["targets"]
    sh, nv = hot["variants"]["sharded"], hot["variants"]["naive"]
    reads = hot["reads"]
    machine, prices = run["machine"], usd["prices_usd"]
    shards = hot["counter_shards"]

    def met(name: str) -> str:
        return "met" if targets[name]["met"] else "**not met**"

    dup = hot["duplicates"]
    return {
        "command": run["command"],
        "date": run["started_at"],
        "run_s": _n(run["seconds"]),
        "cpus": machine["cpus"],
        "cpu": machine["cpu"],
        "python": machine["python"],
        "versions": ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
        "hot": _n(data["hot_challenge_ceiling_pledges_per_s"]),
        "hot_met": met("hot_challenge_ceiling_pledges_per_s"),
        "naive": _n(data["naive_ceiling_pledges_per_s"]),
        "ratio": f"{data['hot_vs_naive']:.1f}",
        "ratio_met": met("hot_vs_naive"),
        "read": _n(data["hot_challenge_read_ceiling_pledges_per_s"]),
        "doubled": _n(data["hot_challenge_ceiling_if_index_writes_doubled"]),
        "doubled_key": sh["hottest_if_index_writes_doubled"]["key"],
        "calls": f"{data['ddb_calls_per_pledge']:g}",
        "calls_met": met("ddb_calls_per_pledge"),
        "wcu": f"{data['wcu_per_pledge']:g}",
        "wcu_api": f"{data['wcu_per_pledge_api']:g}",
        "wcu_stream": f"{data['wcu_per_pledge_stream']:g}",
        "usd": f"{data['usd_per_million_pledges']:.2f}",
        "region": usd["region"],
        "cold": f"{data['cold_start_import_ratio']:.2f}",
        "cold_met": met("cold_start_import_ratio"),
        "rss": f"{data['cold_start_peak_rss_mb']:.1f}",
        "pledges": _n(sh["pledges"]),
        "naive_pledges": _n(nv["pledges"]),
        "published": f"{sh['published_participants']:,} and {nv['published_participants']:,}",
        "writes": f"{sh['writes_recorded']:,}",
        "tx_writes": f"{sh['transactional_writes']:,}",
        "pledge_bytes": hot["pledge_item_bytes"],
        "challenge_bytes": hot["challenge_item_bytes"],
        "shards": shards,
        "clients": hot["container_dynamodb_clients"],
        "shard_avg": f"{2 / shards:.4f}",
        "buckets": PLEDGE_INDEX_BUCKETS,
        "bucket_avg": f"{1 / PLEDGE_INDEX_BUCKETS:.4f}",
        "bucket_limit": _n(1000 * PLEDGE_INDEX_BUCKETS),
        "per_shard_tps": _n(data["hot_challenge_ceiling_pledges_per_s"] / shards),
        "sh_s": f"{sh['seconds']:.0f}",
        "sh_ms": f"{1000 * sh['seconds'] / sh['pledges']:.1f}",
        "sh_key": sh["hottest"]["key"],
        "sh_units": f"{sh['hottest']['units_per_pledge']:.4f}",
        "nv_s": f"{nv['seconds']:.0f}",
        "nv_key": nv["hottest"]["key"],
        "nv_units": f"{nv['hottest']['units_per_pledge']:.4f}",
        "sh_api_key": sh["hottest_api_path"]["key"],
        "sh_api_ceiling": _n(sh["hottest_api_path"]["ceiling_pledges_per_s"]),
        "sh_stream_key": sh["hottest_stream_path"]["key"],
        "sh_stream_units": f"{sh['hottest_stream_path']['units_per_pledge']:.4f}",
        "sh_stream_ceiling": _n(sh["hottest_stream_path"]["ceiling_pledges_per_s"]),
        "sh_keys": _keys_table(sh),
        "nv_keys": _keys_table(nv),
        "sh_rcu_api": f"{sh['rcu_per_pledge_api']:g}",
        "sh_rcu_stream": f"{sh['rcu_per_pledge_stream']:g}",
        "sh_stream_calls": _calls(sh["stream_calls"], 0),
        "sh_invocations": f"{sh['stream_invocations']:,}",
        "sh_records": f"{sh['stream_records']:,}",
        "read_key": reads["hottest_read"]["key"],
        "read_units": f"{reads['hottest_read']['per_pledge']:.4f}",
        "cache_ttl": f"{reads['cache_ttl_s']:g}",
        "gets": reads["challenge_gets"],
        "interval": f"{reads['refresh_interval_s']:.2f}",
        "api_latency": f"{reads['assumed_api_latency_ms']:g}",
        "containers": _n(reads["containers_at_goal"]),
        "reads_at_goal": _n(reads["challenge_reads_per_s_at_goal"]),
        "stream_rcu": f"{reads['stream_rcu_per_pledge_on_challenge']:.4f}",
        "rcu_measured": f"{reads['rcu_per_pledge_measured']:.4f}",
        "dup_n": dup["pledges"],
        "dup_created": dup["created"],
        "dup_calls": f"{dup['calls_per_pledge']:g}",
        "dup_ok": "unchanged" if dup["count_unchanged"] else "**changed**",
        "hot_s": f"{hot['seconds']:.0f}",
        "warmup": api["warmup"],
        "sample": api["pledges"],
        "api_calls": _calls(api["calls_by_operation"], 2),
        "statuses": ", ".join(f"{k}: {v}" for k, v in api["statuses"].items()),
        "stream_calls": _calls(api["stream_calls_per_invocation"], 2),
        "wall_ms": f"{api['wall_ms']:.1f}",
        "backend_ms": f"{api['backend_ms']:.1f}",
        "compute_ms": f"{api['compute_ms']:.1f}",
        "p_rest": prices["api_gateway_rest_per_million_requests"],
        "p_req": prices["lambda_per_million_requests"],
        "p_gbs": prices["lambda_per_gb_second"],
        "p_wru": prices["dynamodb_per_million_write_request_units"],
        "p_rru": prices["dynamodb_per_million_read_request_units"],
        "price_source": usd["price_source"],
        "s": f"{usd['stream_invocations_per_pledge']:.4f}",
        "d_api": f"{usd['api_lambda_ms']:.1f}",
        "d_stream": f"{usd['stream_lambda_ms']:.1f}",
        "full_vcpu": cost.LAMBDA_FULL_VCPU_MB,
        "memory": usd["lambda_memory_mb"],
        "latency": ", ".join(f"{k} {v:g}" for k, v in usd["assumed_ddb_latency_ms"].items()),
        "wru": f"{usd['wru_per_pledge']:.4f}",
        "rru": f"{usd['rru_per_pledge']:.4f}",
        "c_rest": f"{usd['api_gateway']:.2f}",
        "c_req": f"{usd['lambda_requests']:.2f}",
        "c_dur": f"{usd['lambda_duration']:.2f}",
        "c_wru": f"{usd['dynamodb_writes']:.2f}",
        "c_rru": f"{usd['dynamodb_reads']:.2f}",
        "c_total": f"{usd['total']:.2f}",
        "runs": cold["runs"],
        "app_ms": f"{cold['app_import_ms']:.0f}",
        "bare_ms": f"{cold['bare_import_ms']:.0f}",
        "cold_min": f"{cold['ratio_of_minimums']:.2f}",
        "app_rss": f"{cold['app_peak_rss_mb']:.1f}",
        "bare_rss": f"{cold['bare_peak_rss_mb']:.1f}",
        "app_samples": ", ".join(f"{x:.0f}" for x in cold["app_import_samples_ms"]),
        "bare_samples": ", ".join(f"{x:.0f}" for x in cold["bare_import_samples_ms"]),
        "routes_ms": f"{cold['app_routes_import_ms']:.0f}",
        "routes_rss": f"{cold['app_peak_rss_after_routes_mb']:.0f}",
        "build_ms": f"{cold['app_container_build_ms']:.0f}",
        "build_rss": f"{cold['app_peak_rss_after_container_mb']:.0f}",
        "path_ms": f"{cold['api_cold_path_ms']:.0f}",
        "path_ratio": f"{cold['api_cold_path_ratio']:.2f}",
        "imports": "\n".join(
            f"| `{name}` | {app_ms:.1f} | {bare_ms:.1f} |"
            for name, app_ms, bare_ms in cold["top_imports_ms"]
        ),
        "blockers": _blockers(data),
        "burst": _burst_section(data["local_burst"]),
        "burst_row": _burst_row(data["local_burst"]),
        "startup_rows": _startup_rows(data.get("startup")),
        "startup": _startup_section(data.get("startup")),
        "startup_command": STARTUP_COMMAND,
    }


def _burst_row(burst: dict[str, Any] | None) -> str:
    target = "≥ 5,000 pledges, 0 errors, exact count, 1 e-mail per recipient"
    if burst is None:
        return f"skipped | {target}: **not run**"
    sent = ", ".join(str(n) for n in burst["notifications_per_recipient"].values())
    figures = (
        f"{burst['pledges']:,} pledges, {burst['errors']} errors, exact count "
        f"{burst['exact_count']}, e-mails per recipient {sent}"
    )
    met = burst["ok"] and burst["pledges"] >= 5000
    return f"{figures} | {target}: {'met' if met else '**not met**'}"


def _burst_section(burst: dict[str, Any] | None) -> str:
    if burst is None:
        return "Skipped in this run (`--burst-pledges 0`): no figures."
    sent = ", ".join(f"{role} {n}" for role, n in burst["notifications_per_recipient"].items())
    warnings = burst.get("pool_warnings")
    pool = (
        "not counted in this run"
        if warnings is None
        else f"{warnings} (target 0: {_met_md(warnings == 0)})"
    )
    return (
        "| pledges | errors | exact count | reached e-mails | throughput | p50 | p99 "
        "| pool warnings (target 0) |\n"
        "|---:|---:|---|---|---:|---:|---:|---:|\n"
        f"| {burst['pledges']:,} | {burst['errors']} | {burst['exact_count']} | {sent} | "
        f"{burst['throughput_per_s']:g}/s | {burst['p50_ms']:g} ms | {burst['p99_ms']:g} ms | "
        f"{_pool_warnings(burst)} |\n\n"
        f"{burst['users']} locust users, {burst['seconds']:g} s from the first pledge sent to "
        f"the last answered. Verdict: **{'ok' if burst['ok'] else 'NOT OK'}**. urllib3's "
        f'"Connection pool is full" lines in the stack\'s output after the burst: {pool}.'
    )


def _met_md(met: bool) -> str:
    return "met" if met else "**not met**"


def _s(value: float | None, digits: int = 2) -> str:
    """Seconds for the doc; a missing figure (a pledge never counted) says so."""
    return "never (30 s)" if value is None else f"{value:.{digits}f} s"


def _startup_rows(startup: dict[str, Any] | None) -> str:
    """The Results table's two start-up rows (metric | value | target)."""
    if startup is None:
        return (
            "| `startup_s` (`make run` to ready) | not measured | ≤ 10: **not run** |\n"
            "| `ready_to_first_count_s`; pledge counted within 2 s of its 201 | not measured | "
            "≤ 2 s in every run: **not run** |"
        )
    within = _met_md(startup["all_within_2s"])
    return (
        f"| `startup_s` (`make run` to `ready:`, with the demo, median of {startup['runs']}) | "
        f"{_s(startup['startup_s'])} | "
        f"≤ 10: {_met_md(startup['startup_s'] <= STARTUP_TARGET_SECONDS)} |\n"
        f"| `ready_to_first_count_s` (median); pledge counted within 2 s of its 201 (slowest "
        f"{_s(startup['pledge_to_count_max_s'])}) | {_s(startup['ready_to_first_count_s'])} | "
        f"≤ 2 s in every run: {within} |"
    )


def _startup_runs_table(startup: dict[str, Any]) -> str:
    lines = [
        "| run | ready | first /health 200 | pledge → counted | ready → counted | pool warnings |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    columns = zip(
        startup["ready_s"],
        startup["health_200_s"],
        startup["pledge_to_count_s"],
        startup["ready_to_count_s"],
        startup["pool_warnings"],
        strict=True,
    )
    for index, (ready, health, pledge, counted, warnings) in enumerate(columns, start=1):
        lines.append(
            f"| {index} | {_s(ready)} | {_s(health)} | {_s(pledge)} | {_s(counted)} | {warnings} |"
        )
    return "\n".join(lines)


def _steps_table(startup: dict[str, Any]) -> str:
    steps: dict[str, float] = startup["median_steps"]
    if not steps:
        return "The stack logged no `started in` line: no breakdown of its start."
    lines = ["| step | median |", "|---|---:|"]
    lines.extend(f"| {name} | {_s(seconds)} |" for name, seconds in steps.items())
    outside = startup.get("outside_steps_s")
    if outside is not None:
        lines.append(
            f"| before and after the steps: make, Python's start, `import app`, the banner "
            f"(ready − the steps' sum) | {_s(outside)} |"
        )
    return "\n".join(lines)


def _startup_section(startup: dict[str, Any] | None) -> str:
    """The start-up section's figures (the template says what is measured and how)."""
    if startup is None:
        return "Not measured in this run: no figures."
    target = _met_md(startup["startup_s"] <= STARTUP_TARGET_SECONDS)
    return (
        f"{startup['runs']} runs:\n\n"
        f"{_startup_runs_table(startup)}\n\n"
        f"Medians: ready {_s(startup['startup_s'])} (≤ 10 s: {target}); ready → counted "
        f"{_s(startup['ready_to_first_count_s'])}.\nSlowest pledge → counted "
        f"{_s(startup['pledge_to_count_max_s'])} (≤ 2 s in every run: "
        f"{_met_md(startup['all_within_2s'])}).\n\n"
        "Where the start goes: the stack's own `started in` log line, each step's median over "
        "the runs.\n\n"
        f"{_steps_table(startup)}"
    )


def render_doc(data: dict[str, Any]) -> str:
    return _TEMPLATE.format_map(_values(data))


_TEMPLATE = """\
# Performance

Generated by `make bench` (`{command}`) on {date}; the whole run took {run_s} s.
Machine: {cpus} cores ({cpu}), Python {python}; {versions}. This file and
`bench/results.json` are rewritten by every run: edit `bench/report.py`, not this file.

## Results

| metric | value | target |
|---|---:|---|
| `hot_challenge_ceiling_pledges_per_s` | {hot} | ≥ 10,000: {hot_met} |
| `naive_ceiling_pledges_per_s` | {naive} | – |
| sharded / naive | {ratio}× | ≥ 20×: {ratio_met} |
| `hot_challenge_read_ceiling_pledges_per_s` (extra) | {read} | see below |
| `ddb_calls_per_pledge` | {calls} | ≤ 2: {calls_met} |
| `wcu_per_pledge` (API {wcu_api} + stream {wcu_stream}) | {wcu} | – |
| `usd_per_million_pledges` ({region}, on demand) | {usd} | – |
| `cold_start_import_ratio` | {cold} | ≤ 1.5: {cold_met} |
| `cold_start_peak_rss_mb` (after `import app`) | {rss} | – |
{startup_rows}
| `local_burst` | {burst_row} |

## Start-up (`make run` to ready, with the demo)

`bench/startup.py` starts the stack as a user does, several times one after the other
(`--startup-runs`, at least 3), each on free ports: `{startup_command}` from the
repository, with `AWS_PORT=<free port>` in the environment and the demo loaded (the default),
its output read line by line as it comes. Times run from just before the process is started
(`time.monotonic()`), so they include make, Python's start and `import app`. *Ready*: the
`ready: ` line read. *First /health 200*: `GET /health` every 50 ms, a refused connection or
the 503 `starting` counting as not yet. Right after ready, a live challenge is created as
admin, a new participant pledges once, and `GET /challenges/{{id}}` is read every 20 ms until
`progress.participants` is 1: *pledge → counted* runs from the pledge's 201 to that read (the
contract: within 2 s), *ready → counted* from ready to it (no count within 30 s fails the
run). *Pool warnings*: urllib3's "Connection pool is full" lines in the whole output. Each
run ends with SIGINT to the process group, as Ctrl-C would (SIGKILL after 15 s).

{startup}

### Where the start-up time went, and what changed (measured 2026-12-02)

Measured before changing anything (commit c578ad6, `make run` with the demo, this machine):
`ready` was printed after 3.9 s, but a pledge made at once was counted 13.7 s after the start,
9.5 s after its 201. The demo's 1,459 stream records (375 on the pledges stream, 709 on the
counters stream) were only read from TRIM_HORIZON once the API was answering, and every new
pledge queued behind them. Timed in process: embedded AWS 0.2 s, tables 0.6 s, demo 3.0 s
(408 AWS calls), the stream backlog 8.0 s (953 calls, of which `track_campaigns` 5.7 s).

Where it went, by cause:
- **Loopback HTTP to moto**: 3.6 ms per `PutItem`/`GetItem` through moto's server against
  1.0 ms in process (500 calls each, one run). moto's server also listed and stat'ed its own
  package folder on every request (`list_of_moto_modules`).
- **moto's response serializer**: 1.3 s of an 8 s start; 21 ms for one `GetRecords` of 100
  records, more than the DynamoDB work itself.
- **A lazy PynamoDB client**: a connection built its client on first use from a botocore
  session of the thread using it, so the campaign trigger's and an empty stack's first
  writes went over HTTP with a urllib3 pool each (the source of the "pool is full" warnings).
- **One poller for four triggers**: in a 96-pledge burst the campaign trigger took 1.6 s for
  17 records while the counts and areas waited.

What changed: the demo's records are delivered through the real triggers before ready; the
stack's own AWS calls go to moto in process (docs/decisions.md 66); moto answers data calls
with a JSON dump (67); PynamoDB clients are built at once from the container's session; one
poller per trigger (68); the campaign trigger reads each campaign once per container (70).
A start that took 13.8 s to deliver the demo in one run took 7.9 s with moto called in
process through its WSGI app, 6.4 s through its request dispatcher, and about 6 s with the
rest (the machine's speed drifts by up to 1.7x over a day: compare figures of one run).
The step figures above come from the stack's own `started in` line.

## Local burst (locust against the local stack)

`bench/local_burst.py` starts the real local stack (`python -m chalicelib.local --no-demo`,
the process `make run` starts: the Chalice app on a threaded HTTP server, moto in process as
AWS, one stream poller per trigger), creates a live challenge whose target is half the
burst, and runs `locust --headless` (`bench/locustfile.py`) in its own process: every user
pledges back to back, each pledge by a new participant with its own HS256 token and
`Idempotency-Key`, until the quota is used. Then it waits for the stream triggers, reads the
published count, the delivery log (`GET /admin/challenges/{{id}}/notifications`) and the
e-mails moto's SES received, and checks that they agree: exact count = published
participants equal the 201 answers; one `challenge.reached` e-mail per recipient, in the log
and in SES.

{burst}

The throughput and latencies are those of moto and one Python process on this
machine, not of AWS: they say the stack stays correct under concurrent load, not how fast
production is (the capacity figures below are for that).

## Hot challenge: write capacity per partition key

**What runs.** One process, moto's `mock_aws` (with `chalicelib.local.moto_fixes`), the
container from `chalicelib.wiring.build_container`, the tables from
`chalicelib.local.stack.prepare_aws`. A live challenge is created through `ChallengeService`
and {pledges} distinct participants pledge through `PledgeService.pledge`, the route's
service call: the challenge from the container's cache (a `GetItem` about once per TTL),
then one `TransactWriteItems` (pledge put and counter shard update). Every pledge carries a
location in one ~5 km area, the worst case for area counting. Every 100 pledges the local
`StreamPoller` runs every stream trigger of `app.py` (`aggregate_progress`,
`notify_milestones`, `track_campaigns`, `count_areas`) with its deployed batch size:
`aggregate_progress` (batch 100) gets one full batch of records written after the previous
invocation, the steady state of a busy trigger, in which the aggregator rewrites the
challenge's totals once per batch; `count_areas` gets the same 100 records (its deployed
batch of up to 1,000 would make its area writes rarer still). The same
run then does the same for the naive baseline (`bench/naive.py`: the same pledge item and
transaction, one counter item per challenge) on a second challenge created with one counter
item: {naive_pledges} pledges. The target is the number of pledges, so each challenge is
reached once (milestone transaction, two e-mails through moto's SES); the published counts
are checked: {published}.

**What is recorded.** Hooks on every botocore DynamoDB client PynamoDB builds
(`before-parameter-build`, `before-send`, `after-call`) note each call, each item written
(table, key, size of the item before and after, read from moto's state, transactional or
not) and its units; {writes} writes for the sharded design, {tx_writes} of them inside
transactions. A standard write costs 1 WCU per started KB of the larger image; inside
`TransactWriteItems` every item costs twice that. Each global secondary index entry added,
changed or removed costs one standard write on the *index's* partition key
(`pledges.by_challenge` is keyed `<challenge_id>#<bucket 0–15>`, `challenges.by_status` by
status): DynamoDB propagates transactions to indexes as ordinary writes. Reads: 0.5 RCU per
4 KB eventually consistent, 1 strongly consistent. Items are small: a pledge is
{pledge_bytes} B, the challenge {challenge_bytes} B.

**Ceiling.** For each partition key, WCU per pledge = its WCU over the run / pledges. The
hottest key over *all* writes (API path and stream handler) reaches a partition's 1,000
WCU/s first, at `1000 / (WCU per pledge on it)` pledges/s: that is the ceiling. The
aggregator's share is explicit: with batches of 100 records it writes the challenge item
(and its `by_status` entry) once per 100 pledges, so at R pledges/s the challenge key takes
R/100 WCU/s. Batches are smaller only while the trigger keeps up, that is at low rates.
One assumption matters: index writes caused by a transaction are counted as standard writes.
AWS documents the 2× for the items a transaction writes, and that indexes are updated
asynchronously after the write (eventually consistent, with their own partitions and limits:
the "GSI back-pressure" page). Were index writes charged twice too, the hottest key would be
`{doubled_key}` and the ceiling {doubled} pledges/s, below 10,000.

| design | pledges | wall time | hottest key, all writes | WCU/pledge on it | ceiling |
|---|---:|---:|---|---:|---:|
| sharded ({shards} shards) | {pledges} | {sh_s} s | `{sh_key}` | {sh_units} | **{hot}/s** |
| naive (1 counter item) | {naive_pledges} | {nv_s} s | `{nv_key}` | {nv_units} | **{naive}/s** |

Sharded design, hottest keys over all writes (API path alone: hottest `{sh_api_key}`,
{sh_api_ceiling} pledges/s; stream handler alone: hottest `{sh_stream_key}`,
{sh_stream_units} WCU per pledge, {sh_stream_ceiling} pledges/s):

{sh_keys}

Naive design:

{nv_keys}

Per pledge, sharded: {wcu_api} WCU on the API path (pledge put 2 + counter shard 2 +
`by_challenge` index entry 1) and {wcu_stream} WCU in the stream handlers (almost all of it
`count_areas`' receipt, 2 WCU per pledge on a key of its own: the record's sequence number;
the area item takes one write per batch); {sh_rcu_api} RCU
on the API path and {sh_rcu_stream} RCU in the stream handlers. Stream handler calls over the
run: {sh_stream_calls}, in {sh_invocations} `aggregate_progress` invocations ({sh_records}
records).

**Reads.** The pledge path reads the challenge through a per-container cache (TTL
{cache_ttl} s, `CROWDACT_CHALLENGE_CACHE_TTL_SECONDS`): in this run, one container, it read
the challenge item {gets} times for {pledges} pledges, at most once per {interval} s. In AWS
each container does the same, and at R pledges/s about R × {api_latency} ms containers are
busy (Little's law, assuming {api_latency} ms per pledge request), so the challenge item takes
about R × {api_latency} ms / {interval} s reads/s from the pledge path ({containers} containers and
{reads_at_goal} reads/s at 10,000 pledges/s), plus the stream triggers' reads
({stream_rcu} RCU per pledge measured). The hottest key for reads is then `{read_key}` at
{read_units} RCU per pledge, which reaches a partition's 3,000 RCU/s at **{read}
pledges/s** (modelled from those measured figures; {rcu_measured} RCU per pledge were
measured in this single container).

**Checks.** {dup_n} repeated pledges by existing participants created {dup_created} pledges,
made {dup_calls} calls each (cancelled transaction, consistent read; the challenge comes
from the cache) and left the
published count {dup_ok}.

**Making 20,000 pledges affordable on moto.** moto backs a transaction up by deep-copying
every table it touches, so the n-th pledge copied n pledge items: profiled at about 45 µs per
stored item and transaction, 20,000 pledges would take about 2.5 hours.
`chalicelib.local.moto_fixes` (also used by the local stack and the tests) backs up just the
items the transaction names — the only ones it can change — and restores them on
cancellation: requests, answers and stored state are unchanged, and the
duplicate check above exercises the rollback. One challenge, one set of tables, no reset
between batches: {sh_ms} ms per pledge (moto, the recorder and the stream triggers
together), {hot_s} s for the whole hot-challenge part.

## DynamoDB calls per pledge (API path)

{warmup} warm-up pledges, then {sample} measured ones, each a `POST /challenges/{{id}}/pledges`
with its own HS256 token and a body with coordinates, through the Chalice app
(`chalice.test.Client`: the API Gateway event, the middleware, the route) in the same warm
container: **{calls}** synchronous DynamoDB calls per pledge ({api_calls}); statuses
{statuses}. The stream handler adds {stream_calls} calls per invocation, asynchronously, once
per batch of 100. Time per pledge here: {wall_ms} ms, of which {backend_ms} ms inside moto
and {compute_ms} ms of the app's own work (token, validation, botocore serialisation).

## Cost per million pledges ({region}, on demand)

Prices used (USD, first tier, no free tier, x86 Lambda): API Gateway REST ${p_rest} per
million requests; Lambda ${p_req} per million requests and ${p_gbs} per GB-s; DynamoDB
on-demand ${p_wru} per million WRU and ${p_rru} per million RRU. Source: {price_source}.

Formula, per million pledges: `REST price + (1 + s) × Lambda request price + 10⁶ × 0.5 GB
× (d_api + s × d_stream) / 1000 × GB-s price + WRU/pledge × WRU price + RRU/pledge × RRU
price`, with s = {s} stream invocations per pledge (measured: one per batch), d_api = {d_api}
ms and d_stream = {d_stream} ms billed per invocation (the app's measured CPU time ×
{full_vcpu}/{memory}, a 512 MB function's CPU share, plus assumed in-region DynamoDB
latencies in ms per call — {latency} — which moto cannot tell), WRU/pledge = {wru} and
RRU/pledge = {rru} (measured, indexes and stream handlers included).

| part | USD per million pledges |
|---|---:|
| API Gateway REST | {c_rest} |
| Lambda requests | {c_req} |
| Lambda duration | {c_dur} |
| DynamoDB writes | {c_wru} |
| DynamoDB reads | {c_rru} |
| **total** | **{c_total}** |

Left out: stream reads (free for Lambda triggers), storage, data transfer, CloudWatch Logs
(which can rival the rest at one log line per request) and the free tiers.

## Cold start

{runs} fresh `python -c` processes each (cwd the repository, `CROWDACT_STAGE=local`),
alternating, after one unmeasured run of each; `time.perf_counter()` around the import only;
peak RSS is the process's high-water mark `VmHWM` from `/proc/self/status`
(`resource.getrusage` elsewhere), because on Linux `ru_maxrss` survives `exec` and reports
the larger forked parent, this bench. Medians: `import app` {app_ms} ms, `bench/bare_app.py`
(`from chalice import Chalice; import boto3; app = Chalice(app_name="bare")`) {bare_ms} ms:
**ratio {cold}**; peak RSS {app_rss} MB against {bare_rss} MB. Samples in ms: app
{app_samples}; bare {bare_samples}. Other work on the machine spreads the samples; the ratio
of the fastest runs, less sensitive to it, is {cold_min}.

`app.py` registers every route and trigger from a table (`chalicelib/api/routes.py`) and
imports no application code: a route's module, and with it pydantic, PynamoDB, PyJWT and
Powertools, is imported by the first request that reaches it, and a stream trigger imports
its handler when first invoked. Chalice deploys the API and each trigger as separate Lambda
functions, so the triggers never load the HTTP layer and `/health` loads nothing heavy; the
ratio above is what each of them starts from.

Not in the ratio but part of the same cold start, so stated here: the API function's first
requests import the route modules ({routes_ms} ms for all of them, peak RSS {routes_rss} MB)
and build the container ({build_ms} ms, peak RSS {build_rss} MB; every AWS client comes from
one botocore session). The whole path, `import app` + every route module + the container,
took {path_ms} ms: **{path_ratio}×** the bare app's import, which builds no client.

Where that time goes (`python -X importtime` over `import app` and every route module, self
time summed per package, median of 3 runs each, slower than the timed runs because of the
tracing; crowdact's own modules listed by module, their time being their bodies: pydantic
model building, route registration):

| package | ms under `import app` + route modules | ms under the bare app |
|---|---:|---:|
{imports}

## What blocks the targets, and what would fix it

{blockers}

- **Hot-challenge write ceiling** ({hot} pledges/s, {hot_met}; {ratio}× the naive {naive}:
  {ratio_met}). Two families of keys share the load: the {shards} counter shards take 2 WCU
  per pledge in 1/{shards} of the pledges each ({shard_avg} on average) and the {buckets}
  `pledges.by_challenge` buckets take 1 WCU in 1/{buckets} ({bucket_avg}); the hottest of
  either sits a few percent above average because the hash is not perfectly even over a
  finite set of participants. So raising `CROWDACT_COUNTER_SHARDS` alone stops helping near
  {bucket_limit} pledges/s: `PLEDGE_INDEX_BUCKETS` would have to grow with it (and readers
  of the index query more buckets). Not measurable on moto and likely to bite first:
  transaction conflicts. At the ceiling each shard takes about {per_shard_tps}
  transactions/s; DynamoDB cancels concurrent transactions on one item with
  `TransactionConflict` (moto never does), and the retries cost capacity and latency. The
  ceiling is an upper bound on writes; only a load test in AWS shows the conflict rate. More
  shards reduce it linearly.
- **The challenge read** ({read} pledges/s, modelled). With the per-container cache the
  challenge item is read about once per TTL per container instead of once per pledge. The
  price, recorded in docs/decisions.md: on other containers an admin's close shows up to one
  TTL late, and pledges accepted meanwhile are real and counted. Dates are exact (checked
  against the clock). The model's weak point is the container count: if AWS ran many more
  containers than Little's law suggests (cold bursts), each would read the challenge once on
  its first pledge.
- **DynamoDB calls per pledge** ({calls}, {calls_met}): one `TransactWriteItems` (the
  challenge comes from the container's cache); an already-pledged participant costs
  {dup_calls}.
- **Cold start** (ratio {cold}, {cold_met}). The entry module imports Chalice and the route
  table only. What the API's first requests still load ({routes_ms} ms): pydantic and
  crowdact's schema modules, whose models are built at import; `cryptography`, which PyJWT
  imports when it is installed (RS256 needs it in AWS); `email_validator`, for the admin
  schemas' e-mail fields; PynamoDB. Next steps if the first request matters more than it does
  today: pydantic's `defer_build=True`, and the admin schemas out of the participant path.
- **Container build** ({build_ms} ms, peak RSS {build_rss} MB): {clients} DynamoDB clients,
  all from one botocore session (`chalicelib/aws_clients.py`), so the service model and the
  endpoint rules are loaded once.

## Reproduce

```sh
make bench                       # = .venv/bin/python -m bench
.venv/bin/python -m bench --help # start-up runs, pledges, stream cadence, API sample, ...
.venv/bin/python -m bench.startup --runs 5   # the start-up of make run alone (JSON)
.venv/bin/python -m bench.local_burst --pledges 5000 --users 50   # the burst alone (JSON)
```
"""
