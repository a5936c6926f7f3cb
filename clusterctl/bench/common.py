"""Benchmarks recorded as JSON + markdown under benchmarks/ (same run, same machine, ratios compared)."""

import json
import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clusterctl.config.properties import HEAP_ONLY_MALLOC_ENV
from clusterctl.config.render import render
from clusterctl.config.spec import parse_spec
from clusterctl.demo import demo_spec
from clusterctl.errors import ClusterctlError
from clusterctl.jobs import resolve_job
from clusterctl.progress import Reporter, silent
from clusterctl.providers.local.javaenv import find_runtime
from clusterctl.providers.local.provider import LocalProvider
from clusterctl.workdir import Workdir

# A plain (non-Spark) process measured like an executor: one BLAS/OpenMP thread, heap-only malloc.
PLAIN_PROCESS_ENV = HEAP_ONLY_MALLOC_ENV | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


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
    provider = LocalProvider(spec, workdir)
    render(provider)
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
