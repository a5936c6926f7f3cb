"""Benchmarks recorded as JSON + markdown under benchmarks/ (same run, same machine, ratios compared)."""

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clusterctl.demo import demo_spec
from clusterctl.errors import ClusterctlError
from clusterctl.javaenv import find_runtime
from clusterctl.jobs import resolve_job
from clusterctl.progress import Reporter, silent
from clusterctl.providers.local import LocalProvider
from clusterctl.render import render
from clusterctl.settings import HEAP_ONLY_MALLOC_ENV
from clusterctl.spec import parse_spec
from clusterctl.state import Workdir

# A plain (non-Spark) process measured like an executor: one BLAS/OpenMP thread, heap-only malloc.
PLAIN_PROCESS_ENV = HEAP_ONLY_MALLOC_ENV | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
MODES = ("default", "tuned")  # tuned = tuning.fast_jvm_start (C1-only JIT for daemons and drivers)


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    runtime = find_runtime()
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "java": runtime.java_major,
        "spark": runtime.spark_version,
        "platform": platform.platform(),
    }


def write_results(out_dir: Path, name: str, doc: dict[str, Any], markdown: str) -> dict[str, Any]:
    """Write ``name``.json and ``name``.md into ``out_dir``; the document plus the markdown's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    md = out_dir / f"{name}.md"
    md.write_text(markdown)
    return doc | {"markdown": str(md)}


def busy_cpu_s() -> float:
    """CPU-seconds the whole machine has spent busy (all cores, /proc/stat) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measured(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s result plus the machine's busy CPU-seconds while it ran."""
    before = busy_cpu_s()
    result = run()
    return result | {"cpu_s": round(busy_cpu_s() - before, 1)}


def last_json(text: str) -> dict[str, Any]:
    """The last line of ``text`` that is a JSON object: the summary a workload prints."""
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    if not lines:
        raise ClusterctlError("benchmark run printed no JSON summary")
    return json.loads(lines[-1])


@contextmanager
def bench_cluster(name: str, workers: int, home: Path, report: Reporter) -> Iterator[tuple[LocalProvider, Workdir]]:
    """A fresh local cluster (``workers`` x 1 core) for a benchmark: up on entry, always down on exit."""
    spec = parse_spec(demo_spec(workers, name=name), "bench spec")
    workdir = Workdir.for_cluster(spec.name, home)
    render(spec, workdir)
    provider = LocalProvider(spec, workdir)
    try:
        provider.up(report)
        yield provider, workdir
    finally:
        provider.down(silent)


def submit_workload(provider: LocalProvider, workdir: Workdir, name: str, *args: str) -> dict[str, Any]:
    """Run bundled workload ``name``: its spark-submit wall seconds (JVM start included) and printed summary."""
    result = provider.submit(resolve_job(name, args, workdir.root), silent, silent)
    if result.exit_code != 0:
        raise ClusterctlError(f"{name} failed; see {result.driver_log}")
    return {"wall_s": round(result.wall_seconds, 3), "summary": last_json(result.stdout.read_text())}


def _one_round(mode: str, workers: int, home: Path, report: Reporter) -> dict[str, float]:
    data = demo_spec(workers, name=f"bench-{mode}")
    data["tuning"] = {"fast_jvm_start": mode == "tuned"}
    spec = parse_spec(data, "bench spec")
    workdir = Workdir.for_cluster(spec.name, home)
    render(spec, workdir)
    provider = LocalProvider(spec, workdir)
    try:
        start = time.monotonic()
        provider.up(silent)
        up_s = time.monotonic() - start
        job = resolve_job("pi", ("--samples", "20000", "--partitions", str(2 * workers)), workdir.root)
        result = provider.submit(job, silent, silent)
        if result.exit_code != 0:
            raise ClusterctlError(f"benchmark job failed; see {result.driver_log}")
    finally:
        provider.down(silent)
    report(f"{mode}: up {up_s:.1f}s, submit {result.wall_seconds:.1f}s")
    return {"up_s": round(up_s, 3), "submit_s": round(result.wall_seconds, 3)}


def _markdown(doc: dict[str, Any]) -> str:
    m, s = doc["machine"], doc["summary"]
    lines = [
        "# Local cluster start-up: default JVM flags vs tuned (C1-only JIT)",
        "",
        f"Measured {doc['date']} on {m['cpus']} CPUs / {m['memory_gib']} GiB, Java {m['java']}, "
        f"Spark {m['spark']}, Python {m['python']}; {doc['workers']} workers, {doc['repeats']} interleaved repeats.",
        f"Reproduce: `clusterctl bench startup --repeats {doc['repeats']} --workers {doc['workers']}`.",
        "",
        "| metric | default (median) | tuned (median) | tuned / default |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("up_s", "`up` until all workers registered (s)"),
        ("submit_s", "trivial job, spark-submit wall time (s)"),
    ):
        lines.append(f"| {label} | {s['default'][key]:.2f} | {s['tuned'][key]:.2f} | {s['ratio'][key]:.2f} |")
    lines += ["", "Every repeat (s):", "", "| repeat | mode | up | submit |", "|---|---|---|---|"]
    for row in doc["runs"]:
        lines.append(f"| {row['repeat']} | {row['mode']} | {row['up_s']:.2f} | {row['submit_s']:.2f} |")
    lines += [
        "",
        "tuned = `tuning.fast_jvm_start: true` (the default): `-XX:TieredStopAtLevel=1` for the driver "
        "and spark-class's launcher JVM, plus `-XX:+UseSerialGC` for the master/worker daemons.",
        "",
    ]
    return "\n".join(lines)


def run_startup_bench(repeats: int, workers: int, out_dir: Path, report: Reporter) -> dict[str, Any]:
    """Time local ``up`` and a trivial spark-submit, default vs tuned JVM flags, interleaved.

    Writes ``startup.json`` and ``startup.md`` into ``out_dir`` and returns the JSON document
    (plus the markdown path under ``"markdown"``).
    """
    runs = []
    with tempfile.TemporaryDirectory(prefix="clusterctl-bench-") as tmp:
        for repeat in range(1, repeats + 1):
            order = MODES if repeat % 2 else tuple(reversed(MODES))  # alternate who goes first
            for mode in order:
                report(f"repeat {repeat}/{repeats}: {mode}", repeat - 1, repeats)
                runs.append({"repeat": repeat, "mode": mode, **_one_round(mode, workers, Path(tmp), report)})
    summary: dict[str, Any] = {
        mode: {key: statistics.median(r[key] for r in runs if r["mode"] == mode) for key in ("up_s", "submit_s")}
        for mode in MODES
    }
    summary["ratio"] = {key: summary["tuned"][key] / summary["default"][key] for key in ("up_s", "submit_s")}
    doc = {
        "benchmark": "startup",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "workers": workers,
        "repeats": repeats,
        "runs": runs,
        "summary": summary,
    }
    return write_results(out_dir, "startup", doc, _markdown(doc))
