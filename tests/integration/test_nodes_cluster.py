"""Provider ssh end to end on three real "machines": each node a real sshd in its own network, mount and
UTS namespace (tests/support/netns_nodes.py), so the real playbook writes its real paths per node.

`clusterctl up` bootstraps them over SSH from a generated inventory (workers through the master, as on
EC2) with a Hadoop tarball served from the test's bridge address and checked against its SHA-512; the
NameNode, two DataNodes, a Spark standalone master and two workers run as the bootstrap started them.
The Hadoop release is the fixture distribution (Hadoop 2.7.3's HDFS from the pyspark 2.4.8 sdist, laid
out as a release), so its settings differ from Hadoop 3's where said.
"""

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyspark
import pytest
import yaml

import clusterctl
from clusterctl.nodeenv.lock import read_lock
from tests.conftest import run_cli
from tests.support.hadoop_home import fixture_hadoop_home
from tests.support.netns_nodes import (
    BRIDGE_IP,
    NodeSet,
    hadoop_tarball,
    netns_nodes_factory,  # noqa: F401  (the fixture)
    node_ip,
    preflight,
    serve_files,
    sha512_of,
)
from tests.support.wheels import tiny_wheelhouse

pytestmark = pytest.mark.timeout(1800)

NAMES = ("master", "core-1", "core-2", "task-1")
HADOOP = "2.7.3"


def _spec(key: Path, mirror: str, sha512: str, lock: Path) -> dict:
    return {
        "name": "nodes",
        "provider": "ssh",
        "node_groups": {
            "master": {"instance_type": "local", "cores": 1, "memory_gib": 2},
            "core": {"instance_type": "local", "count": 2, "cores": 1, "memory_gib": 2},
            # another shape than the core nodes': its NodeManager gets its own yarn-site.xml
            "task": {"instance_type": "local", "count": 1, "cores": 2, "memory_gib": 3},
        },
        "spark": {"manager": "standalone"},
        "ssh": {
            "master": node_ip(1),
            "core": [node_ip(2), node_ip(3)],
            "task": [node_ip(4)],
            "user": "root",
            "identity_file": str(key),
            "jump": True,
        },
        "bootstrap": {
            "hadoop_mirror": mirror,
            "ansible_vars": {
                # the fixture release, which no spec's versions.hadoop accepts
                "hadoop_version": HADOOP,
                "hadoop_sha512": sha512,
                # the namespaces have no systemd, no apt, and the test connects as root
                "service_manager": "process",
                "clusterctl_install_packages": False,
                "clusterctl_become": False,
                "clusterctl_daemon_user": "root",
                # the venv borrows this interpreter's packages (pyspark, torch...) instead of installing them
                "python_env_python": os.path.realpath(sys.executable),
                "python_env_system_site_packages": True,
                # /root is shared with this machine, whose login PATH starts with pyenv shims
                "ansible_python_interpreter": "/usr/bin/python3",
                "hadoop_heap": {
                    "namenode": "256m",
                    "datanode": "256m",
                    "resourcemanager": "256m",
                    "nodemanager": "256m",
                },
            },
        },
        # the nodes' lock: one wheel, served with its wheelhouse from the bridge (the venv installs it offline)
        "node_env": {"lock": str(lock), "wheelhouse_url": f"{mirror}/wheelhouse"},
        "overrides": {
            # Hadoop 2.7.3: WebHDFS needs jersey 1, absent from the fixture; its NameNode UI port is not 3.x's 9870
            "hdfs": {"dfs.webhdfs.enabled": False, "dfs.namenode.http-address": "0.0.0.0:9870"},
        },
    }


class Cluster:
    """The started nodes, the spec file and how to run clusterctl on it."""

    def __init__(self, nodes: NodeSet, spec_path: Path, home: Path) -> None:
        self.nodes, self.spec_path, self.home = nodes, spec_path, home
        self.env = {"CLUSTERCTL_HOME": str(home)}
        self.workdir = home / "nodes"

    def cli(self, command: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """``clusterctl COMMAND -f SPEC ARGS`` (the spec before a job's or a command's own arguments)."""
        spec = ("-f", str(self.spec_path))
        return run_cli(*command.split(), *spec, *args, cwd=self.spec_path.parent, env=self.env, timeout=timeout)

    def on(self, name: str, *argv: str) -> str:
        proc = self.nodes.run(name, list(argv))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture(scope="module")
def cluster(netns_nodes_factory, tmp_path_factory):  # noqa: F811
    reason = preflight()
    if reason:
        pytest.skip(reason)
    home = fixture_hadoop_home()
    base = tmp_path_factory.mktemp("nodes-cluster")
    tarball = hadoop_tarball(home, base / "mirror", HADOOP)
    lock, wheelhouse = tiny_wheelhouse(base / "nodeenv")
    served = {f"hadoop-{HADOOP}/hadoop-{HADOOP}.tar.gz": tarball}
    served |= {f"wheelhouse/{wheel.name}": wheel for wheel in wheelhouse.glob("*.whl")}
    nodes = netns_nodes_factory(NAMES)
    with serve_files(BRIDGE_IP, served) as mirror:
        spec = _spec(nodes.key, mirror, "0" * 128, lock)
        spec_path = base / "cluster.yaml"
        spec_path.write_text(yaml.safe_dump(spec))
        c = Cluster(nodes, spec_path, base / ".clusterctl")
        c.bad_checksum = c.cli("up", "--json")  # type: ignore[attr-defined]
        spec["bootstrap"]["ansible_vars"]["hadoop_sha512"] = sha512_of(tarball)
        spec_path.write_text(yaml.safe_dump(spec))
        c.first = c.cli("up", "--json")  # type: ignore[attr-defined]
        assert c.first.returncode == 0, c.first.stderr[-3000:]
        yield c
        c.cli("down", "--json")


def test_a_wrong_checksum_stops_the_bootstrap_before_anything_is_installed(cluster):
    proc = cluster.bad_checksum
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "bootstrap failed" in last and "checksum" in last.lower() and "hadoop_sha512" in last, last
    # the good run came after: the bad one had left no half-installed release behind it to reuse
    assert "unpack" not in last.lower()


def test_up_bootstraps_three_nodes_and_the_master_sees_two_datanodes_and_two_workers(cluster):
    status = json.loads(cluster.first.stdout)
    assert status["state"] == "running", status
    assert status["storage"]["live_datanodes"] == 2
    assert sorted(status["storage"]["datanodes"]) == [node_ip(2), node_ip(3)]  # their own addresses
    assert [(w["id"], w["state"]) for w in status["workers"]] == [
        ("core-1", "ALIVE"),
        ("core-2", "ALIVE"),
        ("task-1", "ALIVE"),  # a Spark worker, no DataNode
    ]
    record = json.loads((cluster.workdir / "ansible" / "bootstrapped.json").read_text())
    assert record["health"]["smoke"].startswith("Pi is roughly 3.1")
    assert record["changed"] > 0
    environment = json.loads((cluster.workdir / "environment.json").read_text())
    lock_hash = read_lock(cluster.workdir / "nodeenv" / "nodes.lock").hash
    assert environment["node_lock"] == lock_hash and environment["bootstrap_seconds"] > 0


def test_every_node_installs_the_locked_wheel_from_the_wheelhouse_with_no_index(cluster):
    for name in NAMES:
        said = cluster.on(name, "/opt/clusterctl/venv/bin/python", "-c", "import demo_pure; print(demo_pure.WHERE)")
        assert said.strip() == "the tiny wheelhouse of demo-pure", name
        assert cluster.on(name, "ls", "/opt/clusterctl/wheelhouse").split() == ["demo_pure-1.0-py3-none-any.whl"]
        assert (
            cluster.on(name, "cat", "/opt/clusterctl/nodes.lock")
            == (cluster.workdir / "nodeenv" / "nodes.lock").read_text()
        )


def test_the_rendered_files_are_on_every_node_and_each_node_knows_the_others(cluster):
    conf = cluster.workdir / "conf"
    assert (conf / "yarn-site.task.xml").read_text() != (conf / "yarn-site.xml").read_text()
    for name in NAMES:
        for fname in ("core-site.xml", "hdfs-site.xml", "yarn-site.xml"):
            rendered = "yarn-site.task.xml" if (name, fname) == ("task-1", "yarn-site.xml") else fname
            assert cluster.on(name, "cat", f"/etc/hadoop/conf/{fname}") == (conf / rendered).read_text(), (name, fname)
        for fname in ("spark-defaults.conf", "spark-env.sh"):
            assert cluster.on(name, "cat", f"/etc/spark/conf/{fname}") == (conf / fname).read_text(), (name, fname)
        hosts = cluster.on(name, "cat", "/etc/hosts")
        for i, other in enumerate(NAMES, 1):
            assert f"{node_ip(i)} {other}" in hosts
        assert f"127.0.1.1 {name}" not in hosts
    assert "namenode" in cluster.on("master", "ls", "/var/run/clusterctl")  # pid files per node
    assert "datanode.pid" not in cluster.on("master", "ls", "/var/run/clusterctl")


def test_a_second_up_changes_nothing_and_never_formats_again(cluster):
    version = "/mnt/clusterctl/hdfs/namenode/current/VERSION"
    before = cluster.on("master", "cat", version)
    proc = cluster.cli("up", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((cluster.workdir / "ansible" / "bootstrapped.json").read_text())
    assert record["changed"] == 0, record["recap"]
    assert cluster.on("master", "cat", version) == before  # same namespaceID and clusterID
    assert json.loads(proc.stdout)["storage"]["live_datanodes"] == 2


JOB = """
import json, socket, sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
out = sys.argv[1]
rows = spark.range(0, 1000, numPartitions=8).selectExpr("id", "id * id AS square")
def where(_):
    time.sleep(0.3)  # long enough for every executor to get some of the tasks
    return socket.gethostname()
rows.write.mode("overwrite").parquet(out)
back = spark.read.parquet(out)
hosts = spark.sparkContext.parallelize(range(24), 24).map(where).distinct().collect()
print(json.dumps({"rows": back.count(), "sum": back.groupBy().sum("square").first()[0],
                  "fs": spark.sparkContext._jsc.hadoopConfiguration().get("fs.defaultFS"), "hosts": sorted(hosts)}))
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


def test_submit_runs_on_the_nodes_reads_and_writes_hdfs_and_returns_the_exit_code(cluster, tmp_path):
    job = tmp_path / "hdfs_roundtrip.py"
    job.write_text(JOB)
    proc = cluster.cli("submit", "--json", str(job), "--", "hdfs:///user/root/roundtrip")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    said = json.loads(result["stdout_text"].strip().splitlines()[-1])
    assert said == {
        "rows": 1000,
        "sum": sum(i * i for i in range(1000)),
        "fs": "hdfs://master:8020",
        "hosts": ["core-1", "core-2", "task-1"],  # the executors ran on the workers
    }
    assert result["exit_code"] == 0 and result["app_id"].startswith("app-")

    failing = cluster.cli("submit", "--json", str(job), "--", "hdfs:///user/root/roundtrip2", "3")
    assert failing.returncode != 0
    assert json.loads(failing.stdout)["exit_code"] == 3
    assert "failed (exit 3)" in failing.stderr


def test_logs_bring_back_the_driver_executors_and_daemons(cluster):
    proc = cluster.cli("logs", "--json")
    assert proc.returncode == 0, proc.stderr
    labels = {f["label"]: Path(f["path"]) for f in json.loads(proc.stdout)}
    assert "Connected to Spark cluster" in labels["driver"].read_text()
    executors = [label for label in labels if label.startswith("executor ") and label.endswith("stderr on core-1")]
    assert executors and any(labels[x].read_text() for x in executors)
    assert "daemon namenode on master" in labels and "daemon datanode on core-2" in labels
    assert "daemon spark-worker on core-1" in labels


def test_data_upload_reaches_the_private_hdfs_through_the_master_and_jobs_read_it(cluster, tmp_path):
    sample = Path(clusterctl.__file__).parent / "data" / "sample" / "fruits-360-test"
    images = tmp_path / "fruits"
    for label in sorted(p.name for p in sample.iterdir() if p.is_dir())[:3]:
        shutil.copytree(sample / label, images / label)
    count = sum(1 for _ in images.rglob("*.jpg"))
    proc = cluster.cli("data upload", str(images), "--to", "hdfs:///data/fruits", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = json.loads(proc.stdout)
    assert (first["uploaded"], first["skipped"], first["verify"]["ok"]) == (count, 0, True)
    again = json.loads(cluster.cli("data upload", str(images), "--to", "hdfs:///data/fruits", "--json").stdout)
    assert (again["uploaded"], again["skipped"]) == (0, count)  # a re-run sends nothing (sha256 attributes)

    proc = cluster.cli("submit", "--json", "census", "--", "--input", "hdfs:///data/fruits")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(json.loads(proc.stdout)["stdout_text"].strip().splitlines()[-1])
    assert (summary["images"], summary["labels"], summary["failed"]) == (count, 3, 0)
    assert summary["bytes"] == sum(f.stat().st_size for f in images.rglob("*.jpg"))


def test_exec_put_and_get_reach_every_node(cluster, tmp_path):
    proc = cluster.cli("exec", "--all", "--json", "--", "hostname")
    assert proc.returncode == 0, proc.stderr
    assert [(r["node"], r["stdout"].strip()) for r in json.loads(proc.stdout)] == [(n, n) for n in NAMES]

    # `clusterctl ssh` is OpenSSH itself: through the master to a worker, with the cluster's known_hosts
    proc = cluster.cli("ssh", "core-2", "--", "hostname")
    assert proc.returncode == 0 and proc.stdout.strip() == "core-2", proc.stderr
    known = (cluster.workdir / "ssh" / "known_hosts").read_text()
    assert all(node_ip(i) in known for i in range(1, len(NAMES) + 1))

    failing = cluster.cli("exec", "--workers", "--", "exit 4")
    assert failing.returncode == 4 and "core-1 (4)" in failing.stderr

    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(200_000))
    # /tmp is each node's own (the nodes share this machine's /root)
    assert cluster.cli("put", "--all", str(payload), "/tmp/payload.bin").returncode == 0
    for name in NAMES:
        assert cluster.on(name, "sha256sum", "/tmp/payload.bin").split()[0] == _sha256(payload)
    back = tmp_path / "back"
    back.mkdir()
    cluster.on("core-2", "sh", "-c", "echo core-2 >> /tmp/payload.bin")
    proc = cluster.cli("get", "--node", "core-2", "/tmp/payload.bin", str(back))
    assert proc.returncode == 0, proc.stderr
    assert (back / "payload.bin").read_bytes() == payload.read_bytes() + b"core-2\n"
    for name in NAMES:
        cluster.on(name, "rm", "/tmp/payload.bin")


def _commands_in(netns: str) -> set[str]:
    """The command names of the processes living in a node's network namespace."""
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=True).stdout.split()
    names = set()
    for pid in pids:
        with contextlib.suppress(OSError):  # gone meanwhile
            names.add(Path(f"/proc/{pid}/comm").read_text().strip())
    return names


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ui_forwards_the_masters_web_uis_over_ssh(cluster):
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterctl", "ui", "--json", "-f", str(cluster.spec_path)],
        cwd=cluster.spec_path.parent,
        env={**os.environ, **cluster.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        assert set(urls) == {"spark-master", "hdfs-namenode"}
        assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
        with urllib.request.urlopen(f"{urls['spark-master']}/json/", timeout=20) as resp:
            master = json.loads(resp.read())
        alive = sorted(w["host"] for w in master["workers"] if w["state"] == "ALIVE")
        assert alive == [node_ip(2), node_ip(3), node_ip(4)]
        query = "/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"
        with urllib.request.urlopen(urls["hdfs-namenode"] + query, timeout=20) as resp:
            assert len(json.loads(json.loads(resp.read())["beans"][0]["LiveNodes"])) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_down_stops_every_daemon_and_status_says_stopped(cluster):
    proc = cluster.cli("down", "--json")
    assert proc.returncode == 0, proc.stderr
    stopped = json.loads(proc.stdout)["stopped"]
    assert {"namenode on master", "spark-master on master", "datanode on core-1", "spark-worker on task-1"} <= set(
        stopped
    )
    for node in cluster.nodes.nodes:
        assert "java" not in _commands_in(node.netns), node.name
    status = cluster.cli("status", "--json")
    assert json.loads(status.stdout)["state"] == "stopped"


def test_a_bench_session_runs_spark_from_the_clusters_hdfs_and_plain_on_the_worker_nodes(cluster, tmp_path):
    """After `down`: the session brings the cluster up again, puts its subset in the cluster's HDFS, runs the
    Spark job there and the plain baseline on the three worker nodes (one process per executor core), and
    leaves nothing behind: no scratch folder on a node, no daemon running."""
    sample = Path(clusterctl.__file__).parent / "data" / "sample" / "fruits-360-test"
    args = ["--data", str(sample), "--sizes", "8", "--workers", "2", "--repeats", "1", "--modes", "cold,plain"]
    proc = cluster.cli("bench session", "fruits", *args, "--out", str(tmp_path / "sessions"), "--json", timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(next((tmp_path / "sessions").glob("fruits-*.json")).read_text())
    assert {r["mode"]: r["images"] for r in doc["runs"]} == {"cold": 8, "plain": 8}
    # one executor core per node: the task node's 2 vCPUs hold one core-sized container in its 3 GiB
    assert doc["clusters"][0]["executor_vcpus"] == 3
    machines = doc["clusters"][0]["worker_machines"]
    assert [(m["name"], m["cores"]) for m in machines] == [("core-1", 1), ("core-2", 1), ("task-1", 1)]
    for m in machines:  # the nodes' venv runs this interpreter's packages (the fixture's python_env settings)
        assert (m["python"], m["pyspark"]) == (platform.python_version(), pyspark.__version__) and m["cpus"] >= 1
        assert "version" in m["java"], m
    plain = next(r for r in doc["runs"] if r["mode"] == "plain")
    assert [(p["node"], p["images"]) for p in plain["processes"]] == [("core-1", 3), ("core-2", 3), ("task-1", 2)]
    # the Spark job read the subset from the cluster's HDFS and wrote beside it
    (stdout,) = (cluster.workdir / "runs").glob("*-fruits/stdout.txt")
    summary = json.loads(stdout.read_text().strip().splitlines()[-1])
    assert summary["input"].startswith("hdfs://master:8020/scratch/bench-fruits-") and summary["images"] == 8
    for node in cluster.nodes.nodes:
        assert "java" not in _commands_in(node.netns), node.name
        left = cluster.nodes.run(node.name, ["sh", "-c", f"ls -d ~/.clusterctl/scratch/{node.name} 2>/dev/null"])
        assert left.stdout == "", node.name
