"""The local demo: a real 2-worker Spark cluster, one image workload over a folder, then teardown."""

import json
import tempfile
from pathlib import Path
from typing import Any

from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.jobs import resolve_job
from clusterctl.progress import Reporter
from clusterctl.providers.local import LocalProvider
from clusterctl.render import render
from clusterctl.spec import parse_spec
from clusterctl.state import Workdir, clusters_home

DEFAULT_DATA = Path("../shared/data/fruits-360/Test")
DEMO_WORKLOAD = "census"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def run_demo(data: Path, workers: int, keep: bool, report: Reporter, on_output: Reporter) -> dict[str, Any]:
    """Up → submit the image workload over ``data`` → collect its JSON summary → down (unless ``keep``)."""
    if not data.is_dir():
        raise SpecError(f"--data {data}: no such directory; pass --data DIR with one sub-folder of images per class")
    spec = parse_spec(demo_spec(workers), "demo spec")
    workdir = Workdir.for_cluster(spec.name, clusters_home())
    render(spec, workdir)
    provider = LocalProvider(spec, workdir)
    provider.down(report)  # a demo left running by a crash is replaced, not duplicated
    try:
        status = provider.up(report)
        with tempfile.TemporaryDirectory(prefix="clusterctl-demo-") as tmp:
            job = resolve_job(DEMO_WORKLOAD, ("--input", str(data.resolve()), "--output", f"{tmp}/census"),
                              workdir.root)
            result = provider.submit(job, report, on_output)
        lines = [ln for ln in result.stdout.read_text().splitlines() if ln.startswith("{")]
        if result.exit_code != 0 or not lines:
            raise ClusterctlError(f"demo job failed (exit {result.exit_code}); see {result.driver_log}")
        return {"cluster": status.to_dict(), "run": result.to_dict(), "summary": json.loads(lines[-1])}
    finally:
        if not keep:
            provider.down(report)
