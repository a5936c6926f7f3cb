"""The local demo: a real 2-worker Spark cluster, the fruits pipeline on a seeded subset, then teardown."""

import json
import tempfile
from pathlib import Path
from typing import Any

from clusterctl.config.render import render
from clusterctl.config.spec import parse_spec
from clusterctl.data.subset import class_images, make_subset
from clusterctl.errors import ClusterctlError
from clusterctl.jobs import resolve_job
from clusterctl.progress import LineSink, Reporter
from clusterctl.providers.local.processes import free_port
from clusterctl.providers.local.provider import LocalProvider
from clusterctl.workdir import Workdir, clusters_home

DEMO_WORKLOAD = "fruits"
DEMO_SUBSET = {"classes": 32, "per_class": 10, "seed": 1}  # seed 001's 320-image shape


def demo_spec(workers: int, name: str = "demo") -> dict[str, Any]:
    """A local spec with ``workers`` 1-core/2-GiB workers on free ports."""
    return {
        "name": name,
        "provider": "local",
        "node_groups": {
            "master": {"instance_type": "local", "cores": 1, "memory_gib": 2},
            "core": {"instance_type": "local", "count": workers, "cores": 1, "memory_gib": 2},
        },
        "local": {"master_port": free_port(), "webui_port": free_port()},
    }


def run_demo(
    data: Path, output: Path, workers: int, keep: bool, report: Reporter, on_output: LineSink
) -> dict[str, Any]:
    """Up → fruits pipeline on a seeded 32-class x 10-image subset of ``data`` → its summary → down.

    Results (parquet, fitted pipeline, summary.json, plots) go to ``output``; the cluster is
    stopped afterwards unless ``keep``.
    """
    class_images(data)  # a bad --data fails before anything starts
    spec = parse_spec(demo_spec(workers), "demo spec")
    workdir = Workdir.for_cluster(spec.name, clusters_home())
    provider = LocalProvider(spec, workdir)
    render(provider)
    provider.down(report)  # a demo left running by a crash is replaced, not duplicated
    try:
        status = provider.up(report)
        with tempfile.TemporaryDirectory(prefix="clusterctl-demo-") as tmp:
            subset = make_subset(data, Path(tmp) / "subset", **DEMO_SUBSET)
            report(f"subset: {sum(1 for _ in subset.rglob('*.*'))} images of {data} in {subset}")
            job = resolve_job(DEMO_WORKLOAD, ("--input", str(subset), "--output", str(output.resolve())), workdir.root)
            result = provider.submit(job, report, on_output)
        lines = [ln for ln in result.stdout.read_text().splitlines() if ln.startswith("{")]
        if result.exit_code != 0 or not lines:
            raise ClusterctlError(f"demo job failed (exit {result.exit_code}); see {result.driver_log}")
        return {
            "data": str(data.resolve()),
            "cluster": status.to_dict(),
            "run": result.to_dict(),
            "summary": json.loads(lines[-1]),
            "summary_file": str(output.resolve() / "summary.json"),
        }
    finally:
        if not keep:
            provider.down(report)
