"""Benchmarks recorded as JSON + markdown under benchmarks/ (same run, same machine, ratios compared)."""

import copy
import json
import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from clusterctl.config.properties import HEAP_ONLY_MALLOC_ENV
from clusterctl.config.render import render
from clusterctl.config.spec import parse_spec
from clusterctl.demo import demo_spec
from clusterctl.errors import ClusterctlError
from clusterctl.jobs import resolve_job
from clusterctl.progress import Reporter, silent
from clusterctl.providers import PROVIDERS, get_provider, provider_class
from clusterctl.providers.base import Provider, set_core_count
from clusterctl.providers.local.javaenv import find_runtime
from clusterctl.providers.local.provider import LocalProvider
from clusterctl.workdir import Workdir

P = TypeVar("P", bound=Provider)

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


def bench_spec(workers: int, name: str, base: dict[str, Any] | None = None, warm: bool = False) -> dict[str, Any]:
    """The spec of a benchmark cluster with ``workers`` core nodes: ``base`` (a spec as a dict) with its core
    count set, or by default a local one of 1-core workers on free ports; ``warm``: with a warm driver."""
    data = copy.deepcopy(base) if base is not None else demo_spec(workers, name=name)
    kind = data.get("provider", "local")
    resize = provider_class(kind).core_count_spec if kind in PROVIDERS else set_core_count  # else: spec check says
    data = resize(data, workers)
    if warm:
        data["spark"] = dict(data.get("spark") or {}) | {"warm_driver": True}
    return data


@contextmanager
def running(provider: P, report: Reporter) -> Iterator[P]:
    """``provider``'s cluster rendered and up for the block; always down afterwards."""
    render(provider)
    try:
        provider.up(report)
        yield provider
    finally:
        provider.down(silent)


@contextmanager
def spec_cluster(data: dict[str, Any], home: Path, report: Reporter) -> Iterator[tuple[Provider, Workdir]]:
    """A fresh cluster of spec ``data`` (any provider), its workdir under ``home``: up on entry, down on exit."""
    spec = parse_spec(data, "bench spec")
    workdir = Workdir.for_cluster(spec.name, home)
    with running(get_provider(spec, workdir), report) as provider:
        yield provider, workdir


@contextmanager
def bench_cluster(
    name: str, workers: int, home: Path, report: Reporter, warm: bool = False
) -> Iterator[tuple[LocalProvider, Workdir]]:
    """A fresh local cluster (``workers`` x 1 core) for a benchmark: up on entry, always down on exit.

    ``warm``: with a warm driver (``spark.warm_driver``), which bundled workloads run in unless submitted cold."""
    spec = parse_spec(bench_spec(workers, name, warm=warm), "bench spec")
    workdir = Workdir.for_cluster(spec.name, home)
    with running(LocalProvider(spec, workdir), report) as provider:
        yield provider, workdir


def submit_workload(provider: Provider, workdir: Workdir, name: str, *args: str, cold: bool = False) -> dict[str, Any]:
    """Run bundled workload ``name``: its wall seconds, how it ran (``warm`` in the cluster's warm driver, or
    ``cold``: spark-submit, JVM start included) and its printed summary. ``cold`` skips a warm driver."""
    job = replace(resolve_job(name, args, workdir.root), cold=cold)
    result = provider.submit(job, silent, silent)
    if result.exit_code != 0:
        raise ClusterctlError(f"{name} failed; see {result.driver_log}")
    return {
        "wall_s": round(result.wall_seconds, 3),
        "ran": result.mode,
        "summary": last_json(result.stdout.read_text()),
    }
