"""A real single-node HDFS on 127.0.0.1 (Hadoop 2.7.3 daemons of the fixture HADOOP_HOME), used through
the Hadoop 3 client that pyspark ships (FsShell) and through a pyspark local-mode session."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pytest

from clusterctl.data.fetch import fetch, load_datasets
from clusterctl.data.sets import SAMPLE_FRUITS
from clusterctl.errors import ClusterctlError
from clusterctl.providers.local.hdfs import LocalHdfs, find_hadoop_home
from clusterctl.providers.local.javaenv import find_runtime
from clusterctl.providers.local.processes import find_processes, is_alive, port_in_use
from tests.conftest import REPO, free_port
from tests.support.files_server import Files
from tests.support.hadoop_home import fixture_hadoop_home

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17+"),
]
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
SPARK_READ = """
import hashlib, json, sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").appName("hdfs-read").config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
df = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").option("pathGlobFilter", "*.jpg")
      .load(sys.argv[1]))
files = {r.path: hashlib.sha256(r.content).hexdigest() for r in df.select("path", "content").collect()}
print(json.dumps({"count": df.count(), "files": files}))
spark.stop()
"""


class Client:
    """``java org.apache.hadoop.fs.FsShell -fs hdfs://...`` with pyspark's Hadoop 3 client jars."""

    def __init__(self, hdfs: LocalHdfs, conf: Path) -> None:
        import pyspark

        self.hdfs = hdfs
        # FsShell runs its Configuration in non-quiet mode: it insists on a core-site.xml on the classpath.
        conf.mkdir(exist_ok=True)
        (conf / "core-site.xml").write_text('<?xml version="1.0"?>\n<configuration/>\n')
        jars = Path(pyspark.__file__).resolve().parent / "jars"
        self.classpath = f"{conf}{os.pathsep}{jars}/*"

    def __call__(self, *args: str) -> str:
        cmd = [str(find_runtime().java), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", self.classpath]
        cmd.append("org.apache.hadoop.fs.FsShell")
        cmd += ["-fs", self.hdfs.uri, "-D", "dfs.replication=1", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, f"FsShell {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
        return proc.stdout


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory):
    home = fixture_hadoop_home()
    root = tmp_path_factory.mktemp("hdfs")
    node = LocalHdfs(home, root, free_port())
    node.configure()
    assert node.format_once() is True
    node.start()
    node.wait_healthy(timeout=120)
    yield node
    try:
        node.stop()
    finally:
        for pid in find_processes(node.marker):  # never leave JVMs behind, whatever failed
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def local_files(tmp_path_factory) -> Path:
    """``upload/small.txt`` and ``upload/photos/<class>/*.jpg``: six real Fruits-360 JPEGs (spaces in names)."""
    root = tmp_path_factory.mktemp("upload-src") / "upload"
    (root / "photos").mkdir(parents=True)
    (root / "small.txt").write_bytes(b"hello hdfs\n" * 3)
    classes = sorted(p for p in SAMPLE_FRUITS.iterdir() if p.is_dir())[:2]
    for folder in classes:
        (root / "photos" / folder.name).mkdir()
        for jpg in sorted(folder.glob("*.jpg"))[:3]:
            shutil.copyfile(jpg, root / "photos" / folder.name / jpg.name)
    return root


@pytest.fixture(scope="module")
def client(hdfs, tmp_path_factory) -> Client:
    return Client(hdfs, tmp_path_factory.mktemp("client-conf"))


@pytest.fixture(scope="module")
def uploaded(client, local_files) -> dict[str, str]:
    """Put the local tree as /data; return its files (relative path -> sha256)."""
    client("-put", str(local_files), "/data")
    return _digests(local_files)


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _listening(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.add(addr)
    return found


def test_healthy_with_one_live_datanode_on_loopback_only(hdfs):
    status = hdfs.status()
    assert status["state"] == "running" and status["live_datanodes"] == 1
    assert status["uri"] == hdfs.uri == f"hdfs://127.0.0.1:{hdfs.namenode_port}"
    assert status["capacity_bytes"] > 0 and status["hadoop_version"] == "2.7.3"
    assert all(status["pids"].values())
    ports = hdfs.ports()
    assert set(ports) == {
        "dfs.namenode.rpc-address",
        "dfs.namenode.http-address",
        "dfs.datanode.address",
        "dfs.datanode.http.address",
        "dfs.datanode.ipc.address",
    }
    for key, port in ports.items():
        assert _listening(port) and _listening(port) <= LOOPBACK, (key, port, _listening(port))
    for name in ("core-site.xml", "hdfs-site.xml", "log4j.properties"):
        assert (hdfs.conf_dir / name).is_file()
    assert "dfs.webhdfs.enabled</name>\n    <value>false" in (hdfs.conf_dir / "hdfs-site.xml").read_text()


def test_hadoop3_client_writes_lists_and_reads_back(hdfs, client, uploaded, tmp_path):
    listed = {}
    for line in client("-ls", "-R", "/data").splitlines():
        fields = line.split(maxsplit=7)
        if len(fields) == 8 and fields[0].startswith("-"):
            listed[fields[7].removeprefix("/data/")] = int(fields[4])
    assert set(listed) == set(uploaded)
    assert sum(1 for name in listed if name.endswith(".jpg")) == 6
    client("-get", "/data", str(tmp_path / "back"))
    assert _digests(tmp_path / "back") == uploaded
    assert client("-cat", "/data/small.txt") == "hello hdfs\n" * 3
    assert hdfs.status()["files"] >= len(uploaded)


def test_spark_reads_the_jpegs_from_hdfs(hdfs, uploaded, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_", "HADOOP_"))}
    env["PYSPARK_PYTHON"] = sys.executable
    proc = subprocess.run(
        [sys.executable, "-c", SPARK_READ, f"{hdfs.uri}/data/photos"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["count"] == 6
    prefix = f"{hdfs.uri}/data/"
    read = {urllib.parse.unquote(path.removeprefix(prefix)): digest for path, digest in result["files"].items()}
    assert all(path.startswith(prefix) for path in result["files"])
    assert read == {name: digest for name, digest in uploaded.items() if name.endswith(".jpg")}


def test_restart_keeps_the_data_and_never_reformats(hdfs, client, uploaded):
    version = hdfs.data_root / "name" / "current" / "VERSION"
    before = version.read_text()
    stopped = hdfs.stop()
    assert [s.split(" (")[0] for s in stopped] == ["hdfs datanode", "hdfs namenode"]
    assert hdfs.format_once() is False
    assert version.read_text() == before
    hdfs.configure()  # idempotent: the same ports again while they are free
    hdfs.start()
    status = hdfs.wait_healthy(timeout=120)
    assert status["live_datanodes"] == 1
    assert client("-cat", "/data/small.txt") == "hello hdfs\n" * 3
    assert _namespace(version.read_text()) == _namespace(before)


def _namespace(version: str) -> dict[str, str]:
    """The identity lines of a NameNode's VERSION file (its '#' date line changes on every start)."""
    fields = dict(line.split("=", 1) for line in version.splitlines() if "=" in line and not line.startswith("#"))
    assert {"namespaceID", "clusterID", "blockpoolID"} <= set(fields)
    return {key: fields[key] for key in ("namespaceID", "clusterID", "blockpoolID")}


def test_stop_leaves_no_process_and_frees_every_port(hdfs):
    pids = hdfs.status()["pids"]
    ports = hdfs.ports()
    assert hdfs.stop()
    assert find_processes(hdfs.marker) == []
    assert all(pids.values()) and not any(is_alive(pid) for pid in pids.values())
    assert not [p for p in ports.values() if port_in_use(p)]
    assert not list((hdfs.root / "pids").glob("hdfs-*.pid"))
    assert hdfs.stop() == []
    assert hdfs.status()["state"] == "stopped"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", hdfs.namenode_port))
        squatter.listen()
        with pytest.raises(ClusterctlError) as err:
            hdfs.start()
    assert f"port {hdfs.namenode_port}" in str(err.value) and "in use" in str(err.value)
    assert "\n" not in str(err.value)
    assert find_processes(hdfs.marker) == []


def test_find_hadoop_home_errors_are_one_line_and_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ClusterctlError) as err:
        find_hadoop_home(tmp_path / "no-such-hadoop")
    assert "\n" not in str(err.value) and "HADOOP_HOME" in str(err.value) and "not a directory" in str(err.value)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("HADOOP_HOME", str(tmp_path / "empty"))
    with pytest.raises(ClusterctlError) as err:
        find_hadoop_home(None)
    assert "\n" not in str(err.value) and "hadoop-hdfs-<version>.jar" in str(err.value)
    assert "clusterctl data fetch hadoop" in str(err.value)
    monkeypatch.delenv("HADOOP_HOME")
    monkeypatch.setenv("CLUSTERCTL_DATA", str(tmp_path / "data"))  # nothing fetched there
    with pytest.raises(ClusterctlError, match="none is set or fetched: run `clusterctl data fetch hadoop`"):
        find_hadoop_home(None)


def test_a_daemon_that_cannot_start_is_reported_in_one_line_with_its_log(tmp_path):
    home = tmp_path / "hadoop"  # names right, contents empty: the JVM cannot find the NameNode class
    for folder, jar in (("hdfs", "hadoop-hdfs-3.4.1.jar"), ("common", "hadoop-common-3.4.1.jar")):
        (home / "share" / "hadoop" / folder).mkdir(parents=True)
        (home / "share" / "hadoop" / folder / jar).write_bytes(b"")
    node = LocalHdfs(find_hadoop_home(home), tmp_path / "root", free_port())
    node.configure()
    with pytest.raises(ClusterctlError) as err:
        node.format_once()
    assert "\n" not in str(err.value) and "formatting HDFS failed" in str(err.value)
    assert "org.apache.hadoop.hdfs.server.namenode.NameNode" in str(err.value)
    (node.data_root / "formatted").write_text("pretend\n")
    node.start()
    with pytest.raises(ClusterctlError) as err:
        node.wait_healthy(timeout=60)
    message = str(err.value)
    assert "\n" not in message and "exited during start-up" in message
    # both daemons die the same way; whichever is seen first is named, with the JVM's own words from its log
    named = "namenode" if "hdfs-namenode.out" in message else "datanode"
    assert f"hdfs-{named}.out ends with:" in message
    assert f"org.apache.hadoop.hdfs.server.{named}" in message.split("ends with:", 1)[1]
    node.stop()  # the DataNode may still be on its way out
    assert find_processes(node.marker) == []
    with pytest.raises(ClusterctlError, match="containing ','"):
        LocalHdfs(home, tmp_path / "a,b", free_port()).configure()


def test_fetched_hadoop_release_is_what_hdfs_runs_by_default(server, tmp_path, monkeypatch):
    """`data fetch hadoop` from a mirror URL: Apache's pinned sha512 rejects any other tarball; a release
    that passes its check is unpacked as DEST/hadoop, and HDFS starts from it with no HADOOP_HOME set."""
    release = load_datasets()["hadoop"].files[0]
    tarball = tmp_path / release.name
    with tarfile.open(tarball, "w") as tf:  # the fixture distribution under a release's top folder
        tf.add(fixture_hadoop_home(), arcname=next(iter(release.take)))
    Files.files[release.name] = tarball.read_bytes()
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    monkeypatch.setenv("CLUSTERCTL_DATA", str(tmp_path / "data"))

    cli = [sys.executable, "-m", "clusterctl", "data", "fetch", "hadoop", "--mirror", server]
    proc = subprocess.run(cli, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode != 0 and not (tmp_path / "data" / "hadoop").exists()
    line = proc.stderr.strip().splitlines()[-1]  # after the progress lines
    assert line.startswith("error: ") and f"{release.name} from {server}/{release.name}: sha512" in line, line
    assert "is not the published de3eaca2" in line

    checked = replace(release, sha512=hashlib.sha512(Files.files[release.name]).hexdigest())
    done = fetch(replace(load_datasets()["hadoop"], files=(checked,)), tmp_path / "data", mirror=server)
    assert done["path"] == str(tmp_path / "data" / "hadoop") and done["files"][0]["sha512"] == checked.sha512
    home = find_hadoop_home(None)
    assert home == (tmp_path / "data" / "hadoop").resolve()
    node = LocalHdfs(home, tmp_path / "root", free_port())
    node.configure()
    node.format_once()
    node.start()
    try:
        status = node.wait_healthy(timeout=120)
        assert status["live_datanodes"] == 1, status
    finally:
        node.stop()
    assert find_processes(node.marker) == []
