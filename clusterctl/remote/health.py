"""Is the cluster working? Asked of the master's own daemons over SSH: the NameNode's JMX for live
DataNodes, the ResourceManager's REST API for RUNNING NodeManagers, the Spark master's JSON for its
workers; then a smoke job. Also the daemons' logs and their stop, through the service manager the
bootstrap installed (systemd units or ``clusterctl-daemon``).
"""

import json
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from clusterctl.errors import ClusterctlError
from clusterctl.progress import Reporter
from clusterctl.remote.connection import Remote
from clusterctl.remote.hosts import Node

SSH_TIMEOUT_S = 600.0  # a new EC2 instance boots and starts sshd in 1-2 minutes
HEALTH_TIMEOUT_S = 300.0
NODE_PYTHON = "/opt/clusterctl/venv/bin/python"
CLUSTERCTL_ROOT = "/opt/clusterctl"
LOG_DIR = "/var/log/clusterctl"
WORKER_DIR = "/mnt/clusterctl/work"  # SPARK_WORKER_DIR of the rendered spark-env.sh (standalone)
LOG_LINES = 200

# Runs on the master with the workloads' Python: one JSON document with what each daemon reports.
_PROBE = r"""
import json, urllib.request
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
out = {"namenode": get("http://master:9870/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo")}
if MANAGER == "yarn":
    out["yarn"] = get("http://master:8088/ws/v1/cluster/nodes")
else:
    out["spark"] = get("http://master:8080/json/")
print(json.dumps(out))
"""

# The smoke job: Monte-Carlo pi (what SparkPi computes) in PySpark, so the executors' Python runs too.
_SMOKE = r"""
import random, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("clusterctl-smoke").getOrCreate()
n = 20000
def inside(_):
    x, y = random.random(), random.random()
    return 1 if x * x + y * y <= 1 else 0
count = spark.sparkContext.parallelize(range(n), 4).map(inside).sum()
print(f"Pi is roughly {4.0 * count / n:.3f}")
spark.stop()
"""


@dataclass
class Observation:
    """What the master's daemons say, by worker private IP."""

    namenode_up: bool = False
    datanodes: set[str] = field(default_factory=set)  # IPs of live DataNodes
    nodemanagers: set[str] = field(default_factory=set)  # IPs of RUNNING NodeManagers
    spark_workers: set[str] = field(default_factory=set)  # IPs of ALIVE Spark workers
    cores: dict[str, int] = field(default_factory=dict)
    memory_mb: dict[str, int] = field(default_factory=dict)
    apps: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def worker_daemons(self, node: Node, manager: str) -> dict[str, bool]:
        """Each daemon ``node`` should run, and whether the master sees it live."""
        daemons = {"datanode": node.private_ip in self.datanodes} if node.role == "core" else {}
        if manager == "yarn":
            daemons["nodemanager"] = node.private_ip in self.nodemanagers
        else:
            daemons["spark-worker"] = node.private_ip in self.spark_workers
        return daemons


def _ip(address: str) -> str:
    """``10.0.1.11:9866`` -> ``10.0.1.11``."""
    return address.rsplit(":", 1)[0]


def observe(remote: Remote, manager: str) -> Observation:
    """Ask the master's NameNode and ResourceManager (or Spark master) which workers are live."""
    master = remote.hosts.master
    script = f"MANAGER = {manager!r}\n{_PROBE}"
    outcome = remote.run(master, f"{NODE_PYTHON} -c {shlex.quote(script)}", timeout=60)
    seen = Observation()
    try:
        data = json.loads(outcome.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        seen.notes.append(f"could not query the master's daemons: {outcome.stderr.strip()[-300:] or 'no output'}")
        return seen
    beans = data["namenode"].get("beans") or []
    if beans:
        seen.namenode_up = True
        live = json.loads(beans[0].get("LiveNodes") or "{}")
        seen.datanodes = {_ip(n.get("xferaddr", "")) for n in live.values()}
    else:
        seen.notes.append(f"NameNode: {data['namenode'].get('error', 'no answer')}")
    if "yarn" in data:
        nodes = ((data["yarn"].get("nodes") or {}).get("node")) or []
        for n in nodes:
            if n.get("state") == "RUNNING":
                ip = n.get("nodeHostName", "")
                seen.nodemanagers.add(ip)
                seen.cores[ip] = int(n.get("availableVirtualCores", 0)) + int(n.get("usedVirtualCores", 0))
                seen.memory_mb[ip] = int(n.get("availMemoryMB", 0)) + int(n.get("usedMemoryMB", 0))
        if "error" in data["yarn"]:
            seen.notes.append(f"ResourceManager: {data['yarn']['error']}")
    if "spark" in data:
        for w in data["spark"].get("workers") or []:
            if w.get("state") == "ALIVE":
                seen.spark_workers.add(w["host"])
                seen.cores[w["host"]] = int(w.get("cores", 0))
                seen.memory_mb[w["host"]] = int(w.get("memory", 0))
        seen.apps = [
            {"id": a["id"], "name": a["name"], "state": a["state"], "cores": a.get("cores", 0)}
            for a in data["spark"].get("activeapps") or []
        ]
        if "error" in data["spark"]:
            seen.notes.append(f"Spark master: {data['spark']['error']}")
    return seen


def wait_for_ssh(remote: Remote, report: Reporter, timeout: float = SSH_TIMEOUT_S) -> None:
    """Connect to every node, retrying while they boot; the last error after ``timeout``."""
    nodes = remote.hosts.nodes
    deadline = time.monotonic() + timeout
    for done, node in enumerate(nodes):
        report("waiting for SSH on the nodes", done, len(nodes))
        while True:
            try:
                remote.connection(node)
                break
            except ClusterctlError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(5)
    report("waiting for SSH on the nodes", len(nodes), len(nodes))


def gate(remote: Remote, manager: str, report: Reporter, timeout: float = HEALTH_TIMEOUT_S) -> dict[str, Any]:
    """Wait until every core node's DataNode is live and every worker's NodeManager (YARN) or Spark worker
    (standalone) is registered, then run the smoke job. One line naming the node, the daemon and its log's
    tail when something does not come up."""
    hosts = remote.hosts
    expected = {n.name: n for n in hosts.workers}
    deadline = time.monotonic() + timeout
    while True:
        seen = observe(remote, manager)
        missing = [
            (node, daemon)
            for node in expected.values()
            for daemon, live in seen.worker_daemons(node, manager).items()
            if not live
        ]
        if not seen.namenode_up:
            missing.insert(0, (hosts.master, "namenode"))
        wanted = sum(len(seen.worker_daemons(n, manager)) for n in expected.values()) + 1
        report("waiting for the daemons to register with the master", wanted - len(missing), wanted)
        if not missing:
            break
        if time.monotonic() > deadline:
            node, daemon = missing[0]
            tail = log_tail(remote, node, daemon, 5)
            raise ClusterctlError(
                f"{node.name} ({node.private_ip}): {daemon} not live after {timeout:.0f} s; "
                f"{LOG_DIR}/{daemon}.log ends: {tail}"
            )
        time.sleep(3)
    report("running the smoke job (Monte-Carlo pi) on the cluster")
    # spark-submit takes a Python app by its .py name: the job goes to a temporary file on the master
    command = (
        f"f=$(mktemp --suffix .py) && cat > \"$f\" <<'EOF'\n{_SMOKE}EOF\n"
        'spark-submit --name clusterctl-smoke "$f"; rc=$?; rm -f "$f"; exit $rc'
    )
    outcome = remote.run(hosts.master, command, timeout=600)
    if outcome.exit_code != 0 or "Pi is roughly" not in outcome.stdout:
        errors = [ln for ln in outcome.stderr.splitlines() if "Error" in ln or "Exception" in ln]
        raise ClusterctlError(
            f"the smoke job failed on {hosts.master.name} (exit {outcome.exit_code}): "
            f"{(errors or outcome.stderr.splitlines() or ['no output'])[-1].strip()[:400]}; "
            "see `clusterctl logs` for the daemons' logs"
        )
    return {
        "datanodes_live": len(seen.datanodes),
        "workers_live": len(seen.nodemanagers if manager == "yarn" else seen.spark_workers),
        "smoke": outcome.stdout.strip().splitlines()[-1],
    }


def _sudo(remote: Remote, command: str) -> str:
    return command if remote.hosts.user == "root" else f"sudo -n {command}"


def log_tail(remote: Remote, node: Node, daemon: str, lines: int) -> str:
    """The last ``lines`` lines of a daemon's log on ``node``, joined with `` | ``."""
    path = shlex.quote(f"{LOG_DIR}/{daemon}.log")
    text = remote.run(node, _sudo(remote, f"tail -n {lines} {path}")).stdout
    return " | ".join(line.strip() for line in text.splitlines() if line.strip()) or "(no log)"


def daemon_logs(remote: Remote, node: Node, lines: int = LOG_LINES) -> Iterator[tuple[str, str]]:
    """(daemon, last lines of its log) for each daemon log on ``node``."""
    listing = remote.run(node, f"ls {LOG_DIR}/*.log 2>/dev/null").stdout.split()
    for path in listing:
        name = path.rsplit("/", 1)[-1].removesuffix(".log")
        yield name, remote.run(node, _sudo(remote, f"tail -n {lines} {shlex.quote(path)}")).stdout


def executor_logs(remote: Remote, manager: str, app: str) -> Iterator[tuple[str, str]]:
    """(label, text) of each executor log of application ``app``: ``yarn logs`` on YARN, the workers'
    work dirs on standalone."""
    if manager == "yarn":
        out = remote.run(remote.hosts.master, f"yarn logs -applicationId {shlex.quote(app)}", timeout=300)
        yield "yarn logs", out.stdout + out.stderr
        return
    for node in remote.hosts.workers:
        folder = f"{WORKER_DIR}/{app}"
        listing = remote.run(node, f"ls -d {shlex.quote(folder)}/*/ 2>/dev/null").stdout.split()
        for executor in listing:
            ident = executor.rstrip("/").rsplit("/", 1)[-1]
            for stream in ("stderr", "stdout"):
                text = remote.run(node, f"tail -n {LOG_LINES} {shlex.quote(executor + stream)} 2>/dev/null").stdout
                yield f"executor {ident} {stream} on {node.name}", text


_EACH_DAEMON = (
    'for launcher in {root}/daemons/*; do [ -e "$launcher" ] || continue; n=${{launcher##*/}}; '
    "if [ -f /etc/systemd/system/clusterctl-$n.service ] && command -v systemctl >/dev/null; then {systemd}; "
    "else {process}; fi; done"
)


def running_daemons(remote: Remote, node: Node) -> list[str]:
    """The clusterctl daemons running on ``node``."""
    script = _EACH_DAEMON.format(
        root=CLUSTERCTL_ROOT,
        systemd="systemctl is-active --quiet clusterctl-$n && echo $n",
        process=f"{CLUSTERCTL_ROOT}/bin/clusterctl-daemon status $n >/dev/null 2>&1 && echo $n",
    )
    return remote.run(node, _sudo(remote, f"sh -c {shlex.quote(script)}")).stdout.split()


def stop_daemons(remote: Remote, node: Node) -> list[str]:
    """Stop every clusterctl daemon running on ``node``; the names of those stopped."""
    running = running_daemons(remote, node)
    for name in running:
        script = _EACH_DAEMON.format(
            root=CLUSTERCTL_ROOT,
            systemd=f"[ $n = {name} ] && systemctl stop clusterctl-$n",
            process=f"[ $n = {name} ] && {CLUSTERCTL_ROOT}/bin/clusterctl-daemon stop $n",
        )
        remote.run(node, _sudo(remote, f"sh -c {shlex.quote(script)}"), timeout=120)
    return running


_APP_PATTERNS = (
    re.compile(r"Connected to Spark cluster with app ID (\S+)"),
    re.compile(r"Submitted application (application_\d+_\d+)"),
)


def app_id(driver_log: str) -> str | None:
    """The application id a driver's log names (standalone ``app-...`` or YARN ``application_...``)."""
    for pattern in _APP_PATTERNS:
        found = pattern.search(driver_log)
        if found:
            return found.group(1)
    return None
