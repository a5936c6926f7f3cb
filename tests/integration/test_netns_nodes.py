"""Self-test of tests/support/netns_nodes.py: two fake machines (sshd in their own namespaces) reached over
SSH, kept apart from each other and from the host, and gone without a trace after stop()."""

import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.support.hadoop_home import fixture_hadoop_home
from tests.support.netns_nodes import (
    BRIDGE_IP,
    NodeSet,
    NodesFactory,
    hadoop_tarball,
    netns_nodes_factory,  # noqa: F401  (the fixture)
    serve_files,
    sha512_of,
    start_nodes,
)

pytestmark = pytest.mark.integration
NAMES = ("node-master", "node-core-1")


@pytest.fixture(scope="module")
def nodes(netns_nodes_factory: NodesFactory) -> NodeSet:  # noqa: F811  (the fixture imported above)
    return netns_nodes_factory(NAMES)


def test_ssh_from_the_host_with_the_client_key(nodes: NodeSet) -> None:
    argv = ["ssh", "-i", str(nodes.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    argv += ["-o", "BatchMode=yes", "root@198.18.0.11", "hostname"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "node-master"
    assert nodes.run("node-core-1", ["hostname"]).stdout.strip() == "node-core-1"
    master = nodes.node("node-master")
    assert (master.ip, nodes.bridge_ip) == ("198.18.0.11", BRIDGE_IP)
    assert master.netns in _netns_names()
    assert (master.root / "sshd.pid").read_text().strip() == str(master.pid)


# Where the playbook writes, and the node folder that holds each (/var/run is a symlink to /run).
PER_NODE = {"/opt": "opt", "/mnt": "mnt", "/var/log": "var-log", "/var/run": "run", "/tmp": "tmp", "/etc": "etc-upper"}


def test_writes_stay_on_their_node(nodes: NodeSet) -> None:
    marker = f"netns-nodes-selftest-{os.getpid()}"
    writes = " && ".join(f"mkdir -p {d}/{marker} && echo hi > {d}/{marker}/file" for d in PER_NODE)
    done = nodes.ssh("node-master", f"{writes} && echo '198.18.0.99 {marker}' >> /etc/hosts")
    assert done.returncode == 0, done.stderr
    master = nodes.node("node-master")
    for folder, sub in PER_NODE.items():
        assert nodes.ssh("node-master", f"cat {folder}/{marker}/file").stdout == "hi\n", folder
        assert (master.root / sub / marker / "file").read_text() == "hi\n", folder
        assert nodes.run("node-core-1", ["test", "-e", f"{folder}/{marker}"]).returncode == 1, folder
        assert not Path(folder, marker).exists(), folder
    assert marker in nodes.ssh("node-master", "cat /etc/hosts").stdout
    assert marker in (master.root / "etc-upper" / "hosts").read_text()
    assert marker not in nodes.run("node-core-1", ["cat", "/etc/hosts"]).stdout
    assert marker not in Path("/etc/hosts").read_text()


def test_worker_through_the_master_as_jump_host(nodes: NodeSet, tmp_path: Path) -> None:
    argv = ["ssh", "-F", str(nodes.ssh_config), "-J", "root@198.18.0.11", "root@198.18.0.12", "hostname"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "node-core-1"
    # scp speaks sftp (internal-sftp on the node), as Ansible's and Fabric's transfers do
    local = tmp_path / "through-the-jump"
    local.write_text("copied\n")
    argv = ["scp", "-F", str(nodes.ssh_config), "-J", "node-master", str(local), "node-core-1:/opt/"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    assert nodes.run("node-core-1", ["cat", "/opt/through-the-jump"]).stdout == "copied\n"


def test_node_downloads_from_the_bridge(nodes: NodeSet, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(300_000))
    with serve_files(nodes.bridge_ip, {"payload.bin": payload}) as url:
        assert url.startswith(f"http://{BRIDGE_IP}:")
        fetch = f"import urllib.request; urllib.request.urlretrieve('{url}/payload.bin', '/tmp/payload.bin')"
        done = nodes.ssh("node-master", f'python3 -c "{fetch}" && sha512sum /tmp/payload.bin')
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == sha512_of(payload)
        missing = nodes.ssh("node-master", f"python3 -c \"import urllib.request as u; u.urlopen('{url}/nope')\"")
        assert "404" in missing.stderr


def test_a_second_set_is_refused_while_the_first_runs(nodes: NodeSet, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"198\.18\.0\.0/24 is already in use"):
        start_nodes(["node-other"], tmp_path)
    assert nodes.ssh("node-master", "true").returncode == 0


def test_bad_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="repeat"):
        start_nodes(["a", "a"], tmp_path)
    with pytest.raises(ValueError, match="host names"):
        start_nodes(["Node_1"], tmp_path)


def test_hadoop_tarball_is_deterministic_and_cached(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "share" / "hadoop" / "common").mkdir(parents=True)
    (home / "share" / "hadoop" / "common" / "hadoop-common-2.7.3.jar").write_bytes(b"jar")
    (home / "etc" / "hadoop").mkdir(parents=True)
    (home / "etc" / "hadoop" / "README").write_text("conf\n")
    tarball = hadoop_tarball(home, tmp_path / "dist")
    assert tarball == tmp_path / "dist" / "hadoop-2.7.3.tar.gz"
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        assert {m.uname for m in tar.getmembers()} == {"root"}
    assert names == [
        "hadoop-2.7.3",
        "hadoop-2.7.3/etc",
        "hadoop-2.7.3/share",
        "hadoop-2.7.3/etc/hadoop",
        "hadoop-2.7.3/etc/hadoop/README",
        "hadoop-2.7.3/share/hadoop",
        "hadoop-2.7.3/share/hadoop/common",
        "hadoop-2.7.3/share/hadoop/common/hadoop-common-2.7.3.jar",
    ]
    built, digest = tarball.stat().st_mtime_ns, sha512_of(tarball)
    assert hadoop_tarball(home, tmp_path / "dist").stat().st_mtime_ns == built  # up to date: kept
    tarball.unlink()
    assert sha512_of(hadoop_tarball(home, tmp_path / "dist")) == digest  # same home, same bytes
    readme = home / "etc" / "hadoop" / "README"
    readme.write_text("changed\n")
    later = tarball.stat().st_mtime + 1  # newer than the tarball whatever the clock's granularity
    os.utime(readme, (later, later))
    assert sha512_of(hadoop_tarball(home, tmp_path / "dist")) != digest


def test_node_unpacks_the_fixture_hadoop_tarball(nodes: NodeSet, tmp_path: Path) -> None:
    tarball = hadoop_tarball(fixture_hadoop_home(), tmp_path)
    with serve_files(nodes.bridge_ip, {tarball.name: tarball}) as url:
        script = (
            f"cd /opt && python3 -c \"import urllib.request; urllib.request.urlretrieve('{url}/{tarball.name}',"
            f" '{tarball.name}')\" && sha512sum {tarball.name} && tar xzf {tarball.name}"
            " && ls hadoop-2.7.3/share/hadoop/hdfs"
        )
        done = nodes.ssh("node-core-1", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == sha512_of(tarball)
    assert "hadoop-hdfs-2.7.3.jar" in done.stdout


def test_stop_leaves_nothing(nodes: NodeSet) -> None:
    """Last in the module: stops the module's nodes."""
    started = nodes.ssh(
        "node-core-1", "setsid nohup sh -c 'echo $$ > /tmp/sleep.pid; exec sleep 1000' </dev/null >/dev/null 2>&1 &"
    )
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 10
    while not nodes.run("node-core-1", ["cat", "/tmp/sleep.pid"]).stdout.strip():
        assert time.monotonic() < deadline, "the background sleep did not start"
        time.sleep(0.05)
    sleeper = int(nodes.run("node-core-1", ["cat", "/tmp/sleep.pid"]).stdout)
    assert Path(f"/proc/{sleeper}/cmdline").read_bytes() == b"sleep\x001000\x00"
    sshd_pids = [node.pid for node in nodes.nodes]
    namespaces = [node.netns for node in nodes.nodes]
    links = [nodes.bridge, *(f"nnv{os.getpid()}-{i}" for i in (1, 2))]
    assert set(namespaces) <= _netns_names()
    assert set(links) <= _link_names()

    nodes.stop()

    for pid in [sleeper, *sshd_pids]:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), pid
    assert not set(namespaces) & _netns_names()
    assert not set(links) & _link_names()
    assert BRIDGE_IP not in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    nodes.stop()  # twice is fine


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _link_names() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":", 2)[1].strip().split("@")[0] for line in out.splitlines()}


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True
