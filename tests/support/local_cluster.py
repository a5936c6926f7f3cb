"""A real local Spark standalone cluster for integration tests, driven through the clusterctl CLI."""

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from clusterctl.providers.local.processes import find_processes
from tests.conftest import free_port, local_spec, run_cli


class Cluster:
    """The test cluster: its directory, spec and CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.master_port, self.webui_port = free_port(), free_port()
        data = local_spec(workers=2, local={"master_port": self.master_port, "webui_port": self.webui_port})
        data["name"] = "itest"
        (root / "cluster.yaml").write_text(yaml.safe_dump(data))
        self.workdir = root / ".clusterctl" / "itest"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = run_cli(*args, cwd=self.root)
        if check:
            assert proc.returncode == 0, f"clusterctl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json").stdout)

    def master_json(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.webui_port}/json/", timeout=5) as resp:
            return json.loads(resp.read())

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text()) for p in (self.workdir / "pids").glob("*.pid")}

    @property
    def marker(self) -> str:
        return f"SPARK_CONF_DIR={self.workdir / 'conf'}"


def started_cluster(root: Path, before_up: Callable[[Cluster], None] | None = None) -> Iterator[Cluster]:
    """Up a 2-worker cluster in ``root`` for a module-scoped fixture; always torn down (by pid if need be).

    ``before_up(cluster)`` may change the spec file first."""
    c = Cluster(root)
    if before_up is not None:
        before_up(c)
    c.cli("up")
    yield c
    run_cli("down", cwd=c.root)
    for pid in find_processes(c.marker):  # never leave JVMs behind, whatever failed
        os.killpg(pid, signal.SIGKILL)
