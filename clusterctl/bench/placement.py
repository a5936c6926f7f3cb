"""Where a session's runs happen on a cluster of any provider: the Spark runs' inputs and outputs in the
cluster's storage (``ClusterStorage``), and the plain baseline on the cluster's own worker machines
(``PlainRunner``), so that both sides of every ratio use the same cores.
"""

import shutil
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from clusterctl.bench.common import PLAIN_PROCESS_ENV, last_json
from clusterctl.data.upload import Store, open_store, upload
from clusterctl.errors import ClusterctlError
from clusterctl.jobs import build_workloads_zip
from clusterctl.progress import Reporter, silent
from clusterctl.providers.base import Provider, WorkerShell
from clusterctl.workdir import Workdir

SIDE_BY_SIDE = "workloads.common.side_by_side"
# What a worker machine says about itself (the session records it beside this machine's facts): its size, and
# the Python, pyspark and Java its executors run with.
FACTS = """
import json, os, platform, shutil, subprocess
mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
try:
    import pyspark
    spark = pyspark.__version__
except ImportError:
    spark = None
java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
said = subprocess.run([java, "-version"], capture_output=True, text=True).stderr if java else ""
print(json.dumps({"cpus": os.cpu_count(), "memory_gib": round(mem / 1048576, 1), "python": platform.python_version(),
                  "pyspark": spark, "java": (said.splitlines() or [None])[0], "platform": platform.platform()}))
"""


class ClusterStorage:
    """The Spark runs' inputs and outputs on one cluster, for the time of the block.

    When the cluster reads this machine's files (its ``scratch_uri`` is a ``file://`` URI: provider local without
    HDFS) a subset is read where it is and outputs go to ``local_out``. Otherwise each subset is uploaded once to
    ``scratch_uri(label)/in/<name>`` with ``data upload``'s code (manifest, resume, verify), outputs go to
    ``scratch_uri(label)/out/<name>``, and the whole prefix is removed when the block ends.
    """

    def __init__(self, provider: Provider, workdir: Workdir, label: str, local_out: Path) -> None:
        self.provider, self.workdir, self.label, self.local_out = provider, workdir, label, local_out
        self.base = ""
        self.local = True
        self._direct, self._settings = "", dict[str, str]()  # the URI and client settings that reach the storage
        self._root: Store | None = None
        self._stack = ExitStack()

    def __enter__(self) -> "ClusterStorage":
        self.base = self.provider.scratch_uri(self.label).rstrip("/")
        self.local = urllib.parse.urlparse(self.base).scheme in ("", "file")
        if not self.local:  # undone in reverse: remove the prefix, close its store, close the access
            self._direct, self._settings = self._stack.enter_context(self.provider.storage_access(self.base))
            self._stack.callback(lambda: self._root.close() if self._root is not None else None)
            self._stack.callback(lambda: self._store("").remove())
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.__exit__(kind, exc, tb)

    def _store(self, rel: str) -> Store:
        """A store at ``rel`` below the prefix (the root one is kept open for removals)."""
        if not rel and self._root is not None:
            return self._root
        conf = self.workdir.conf if self.workdir.conf.is_dir() else None
        uri = f"{self._direct}/{rel}" if rel else self._direct
        store = open_store(uri, self.provider.spec.region, hadoop_conf=conf, hadoop_settings=self._settings or None)
        if not rel:
            self._root = store
        return store

    def input(self, name: str, folder: Path, report: Reporter = silent) -> str:
        """Where the jobs read the images of ``folder``: the folder itself, or its upload (verified)."""
        if self.local:
            return str(folder)
        store = self._store(f"in/{name}")
        try:
            report(f"  uploading {name} to {self.base}/in/{name}")
            result = upload(folder, store, report=report)
        finally:
            store.close()
        if why := result.incomplete():
            raise ClusterctlError(f"upload of subset {name} to {self.base}/in/{name} incomplete ({why})")
        return f"{self.base}/in/{name}"

    def output(self, name: str) -> str:
        """Where run ``name`` writes."""
        return str(self.local_out / name) if self.local else f"{self.base}/out/{name}"

    def drop(self, name: str) -> None:
        """Remove run ``name``'s output."""
        if self.local:
            shutil.rmtree(self.local_out / name, ignore_errors=True)
        else:
            self._store("").remove(f"out/{name}")


def deal(files: list[Path], shells: list[WorkerShell]) -> list[tuple[WorkerShell, list[list[Path]]]]:
    """``files`` (sorted first) dealt round-robin into one share per executor core, and each machine's cores'
    worth of consecutive shares: deterministic, disjoint, covering, as even as can be; empty shares dropped."""
    ordered = sorted(files)
    parts = sum(s.cores for s in shells)
    shares = [ordered[i::parts] for i in range(parts)]
    dealt, offset = [], 0
    for shell in shells:
        mine = [share for share in shares[offset : offset + shell.cores] if share]
        offset += shell.cores
        if mine:
            dealt.append((shell, mine))
    return dealt


class PlainRunner:
    """The plain baseline on the cluster's worker machines: one single-thread process per executor core, each
    on its share of a subset, every machine running its shares side by side (``workloads.common.side_by_side``)
    and all machines at once. The figure is the images over the slowest process's wall time."""

    def __init__(self, shells: list[WorkerShell], module: str, args: list[str], staging: Path) -> None:
        self.shells, self.module, self.args, self.staging = shells, module, args, staging
        self.placed: dict[str, list[tuple[WorkerShell, list[str]]]] = {}
        code = staging / "code"
        build_workloads_zip(code / "workloads.zip")
        for shell in shells:  # the workloads as the Spark jobs get them: one zip on PYTHONPATH
            shell.put_tree(code, f"{shell.scratch}/code")
        shutil.rmtree(code)

    def facts(self) -> list[dict[str, Any]]:
        """Each worker machine's name, executor cores, CPUs, memory, Python and platform."""
        found = []
        for shell in self.shells:
            outcome = shell.run([shell.python, "-c", FACTS], {})
            if outcome.exit_code != 0:
                raise ClusterctlError(f"{shell.name}: {shell.python} did not run: {outcome.stderr.strip()[-200:]}")
            found.append({"name": shell.name, "cores": shell.cores} | last_json(outcome.stdout))
        return found

    def place(self, key: str, files: list[Path], root: Path) -> None:
        """Put the shares of ``files`` (under ``root``) on their machines, at their paths relative to ``root``."""
        placed = []
        for n, (shell, shares) in enumerate(deal(files, self.shells)):
            local = self.staging / key / str(n)
            for i, share in enumerate(shares):
                for f in share:
                    target = local / f"part-{i}" / f.relative_to(root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, target)
            remote = f"{shell.scratch}/in/{key}"
            shell.put_tree(local, remote)
            shutil.rmtree(local)
            placed.append((shell, [f"{remote}/part-{i}" for i in range(len(shares))]))
        self.placed[key] = placed

    def run(self, key: str, name: str) -> dict[str, Any]:
        """One baseline run over subset ``key``; its output (``name``) removed afterwards."""

        def on(shell: WorkerShell, parts: list[str]) -> list[dict[str, Any]]:
            out = f"{shell.scratch}/out/{name}"
            argv = [shell.python, "-m", SIDE_BY_SIDE, "--module", self.module, "--output", out, *parts]
            env = PLAIN_PROCESS_ENV | {"PYTHONPATH": f"{shell.scratch}/code/workloads.zip"}
            outcome = shell.run([*argv, "--", *self.args], env)
            shell.run(["rm", "-rf", out], {})
            if outcome.exit_code != 0:
                tail = (outcome.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise ClusterctlError(f"plain run on {shell.name} failed (exit {outcome.exit_code}): {tail}")
            return [{"node": shell.name} | p for p in last_json(outcome.stdout)["processes"]]

        placed = self.placed[key]
        with ThreadPoolExecutor(len(placed)) as pool:
            processes = [p for found in pool.map(lambda sp: on(*sp), placed) for p in found]
        slowest = max(processes, key=lambda p: p["wall_s"])
        return {
            "wall_s": slowest["wall_s"],
            "ran": "plain",
            "images": sum(p["images"] for p in processes),
            "timings": slowest["timings"],
            "processes": processes,
        }

    def forget(self, key: str) -> None:
        """Remove subset ``key``'s shares from the machines."""
        for shell, _ in self.placed.pop(key, []):
            shell.run(["rm", "-rf", f"{shell.scratch}/in/{key}"], {})
