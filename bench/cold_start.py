"""Cold start: import time and peak RSS of app.py against a bare Chalice app, in fresh processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
START, END = "bench-import-start", "bench-import-end"
ROUTES_END = "bench-routes-end"

# Runs in a fresh interpreter: time.perf_counter() around the import only (interpreter start
# excluded), then peak RSS; for app.py also what the API's first requests load after it (every
# route's module: app.py imports them lazily) and the container they build. Peak RSS
# is the address space's high-water mark (VmHWM): on Linux, getrusage's ru_maxrss survives
# exec and so reports the forked parent's size when that is larger (the bench's is).
_CHILD = """
import json, resource, sys, time
{setup}
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write("{start}\\n"); sys.stderr.flush()
t0 = time.perf_counter()
import {module}
t1 = time.perf_counter()
sys.stderr.write("{end}\\n"); sys.stderr.flush()
out = {{"import_s": t1 - t0, "rss_kb": peak_kb()}}
if {build}:
    from chalicelib.api.routes import ROUTES
    t2 = time.perf_counter()
    for route in ROUTES:
        route.handler()
    t3 = time.perf_counter()
    sys.stderr.write("{routes_end}\\n"); sys.stderr.flush()
    out["routes_s"] = t3 - t2
    out["rss_routes_kb"] = peak_kb()
    from chalicelib.wiring import get_container
    t4 = time.perf_counter()
    get_container()
    out["build_s"] = time.perf_counter() - t4
    out["rss_built_kb"] = peak_kb()
print(json.dumps(out))
"""
_CHILD_ENV = {
    "CROWDACT_STAGE": "local",
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_REGION": "eu-west-3",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",  # no call is made: clients are only built
}


@dataclass(frozen=True)
class Subject:
    name: str
    module: str
    setup: str = ""
    build: bool = False

    def code(self) -> str:
        return _CHILD.format(
            setup=self.setup,
            start=START,
            end=END,
            routes_end=ROUTES_END,
            module=self.module,
            build=self.build,
        )


APP = Subject("app.py", "app", build=True)
BARE = Subject("bench/bare_app.py", "bare_app", setup="sys.path.insert(0, 'bench')")


@dataclass
class Samples:
    import_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    routes_s: list[float] = field(default_factory=list)
    rss_routes_mb: list[float] = field(default_factory=list)
    build_s: list[float] = field(default_factory=list)
    rss_built_mb: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ColdStartResult:
    runs: int
    app_import_ms: float
    bare_import_ms: float
    ratio: float
    ratio_of_minimums: float  # less sensitive to other load on the machine
    app_peak_rss_mb: float
    bare_peak_rss_mb: float
    # Not in the ratio: what the API's first requests add (app.py defers it to them).
    app_routes_import_ms: float
    app_peak_rss_after_routes_mb: float
    app_container_build_ms: float
    app_peak_rss_after_container_mb: float
    api_cold_path_ms: float  # import app + every route module + the container
    api_cold_path_ratio: float  # that over the bare app's import
    app_import_samples_ms: list[float]
    bare_import_samples_ms: list[float]
    # package, self ms under app (its import and every route module), under bare
    top_imports_ms: list[tuple[str, float, float]]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROWDACT_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.update(_CHILD_ENV)
    return env


def _run(subject: Subject, *, importtime: bool = False) -> tuple[dict[str, float], str]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", subject.code()]
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        command, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{subject.name} failed to import:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, done.stderr


def _self_time_by_package(stderr: str, stop: str) -> dict[str, float]:
    """Sum `-X importtime` self times (µs) per top-level package, from the timed import to
    the `stop` marker."""
    inside = False
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if line == START:
            inside = True
        elif line == stop:
            break
        elif inside and line.startswith("import time:") and "|" in line:
            fields = line.removeprefix("import time:").split("|")
            if not fields[0].strip().isdigit():
                continue  # the header line
            totals[_package(fields[2].strip())] += int(fields[0]) / 1000
    return totals


def _package(module: str) -> str:
    """Third-party code by distribution (top-level package); crowdact's own by module."""
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[0] == "chalicelib" else parts[0]


def _median_by_package(samples: list[dict[str, float]]) -> dict[str, float]:
    names = {name for sample in samples for name in sample}
    return {n: statistics.median(s.get(n, 0.0) for s in samples) for n in names}


def measure(runs: int, progress: Callable[[str], None]) -> ColdStartResult:
    """`runs` fresh processes per subject, alternating, after one unmeasured run of each (it
    leaves the bytecode caches written, as they are in a deployed package)."""
    progress(f"cold start: {runs} fresh processes each for app.py and bench/bare_app.py")
    _run(APP)
    _run(BARE)
    samples = {APP.name: Samples(), BARE.name: Samples()}
    for _ in range(runs):
        for subject in (APP, BARE):
            result, _stderr = _run(subject)
            sample = samples[subject.name]
            sample.import_s.append(result["import_s"])
            sample.rss_mb.append(result["rss_kb"] / 1024)
            if subject.build:
                sample.routes_s.append(result["routes_s"])
                sample.rss_routes_mb.append(result["rss_routes_kb"] / 1024)
                sample.build_s.append(result["build_s"])
                sample.rss_built_mb.append(result["rss_built_kb"] / 1024)
    progress("cold start: 3 more of each under -X importtime")
    by_package = {
        subject.name: _median_by_package(
            [
                _self_time_by_package(
                    _run(subject, importtime=True)[1], ROUTES_END if subject.build else END
                )
                for _ in range(3)
            ]
        )
        for subject in (APP, BARE)
    }
    app_packages, bare_packages = by_package[APP.name], by_package[BARE.name]
    top = sorted(app_packages.items(), key=lambda item: item[1], reverse=True)[:12]
    app, bare = samples[APP.name], samples[BARE.name]
    app_ms = 1000 * statistics.median(app.import_s)
    bare_ms = 1000 * statistics.median(bare.import_s)
    cold_path_ms = 1000 * statistics.median(
        i + r + b for i, r, b in zip(app.import_s, app.routes_s, app.build_s, strict=True)
    )
    return ColdStartResult(
        runs=runs,
        app_import_ms=app_ms,
        bare_import_ms=bare_ms,
        ratio=app_ms / bare_ms,
        ratio_of_minimums=min(app.import_s) / min(bare.import_s),
        app_peak_rss_mb=statistics.median(app.rss_mb),
        bare_peak_rss_mb=statistics.median(bare.rss_mb),
        app_routes_import_ms=1000 * statistics.median(app.routes_s),
        app_peak_rss_after_routes_mb=statistics.median(app.rss_routes_mb),
        app_container_build_ms=1000 * statistics.median(app.build_s),
        app_peak_rss_after_container_mb=statistics.median(app.rss_built_mb),
        api_cold_path_ms=cold_path_ms,
        api_cold_path_ratio=cold_path_ms / bare_ms,
        app_import_samples_ms=[round(1000 * s, 1) for s in app.import_s],
        bare_import_samples_ms=[round(1000 * s, 1) for s in bare.import_s],
        top_imports_ms=[(name, ms, bare_packages.get(name, 0.0)) for name, ms in top],
    )
