"""The local provider with `local.hdfs: true`: a real HDFS beside the Spark cluster, data uploaded to it by
`data upload`, read by `submit fruits --input hdfs://...`, reported by `status`, stopped by `down`."""

import json

import pytest
import yaml

from clusterctl.data.sets import SAMPLE_FRUITS
from clusterctl.data.subset import make_subset
from clusterctl.data.upload import HdfsStore
from clusterctl.providers.local.processes import find_processes, free_port, port_in_use
from tests.conftest import local_spec, run_cli
from tests.support.hadoop_home import fixture_hadoop_home

pytestmark = pytest.mark.integration


def test_upload_to_the_local_hdfs_and_run_fruits_on_it(tmp_path):
    home = fixture_hadoop_home()
    images = make_subset(SAMPLE_FRUITS, tmp_path / "Fruits", classes=4, per_class=4, seed=2)
    namenode = free_port()
    spec = local_spec(
        local={
            "master_port": free_port(),
            "webui_port": free_port(),
            "hdfs": True,
            "hadoop_home": str(home),
            "namenode_port": namenode,
        }
    )
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(spec))
    workdir = tmp_path / ".clusterctl" / "tc"
    try:
        up = run_cli("up", "--json", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        storage = json.loads(up.stdout)["storage"]
        assert storage["state"] == "running" and storage["live_datanodes"] == 1
        assert storage["uri"] == f"hdfs://127.0.0.1:{namenode}"
        core_site = (workdir / "conf" / "core-site.xml").read_text()
        assert f"<value>hdfs://127.0.0.1:{namenode}</value>" in core_site  # jobs default to the local HDFS

        first = run_cli("data", "upload", str(images), "--json", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        uri = f"hdfs://127.0.0.1:{namenode}/data/Fruits"
        assert report["destination"] == uri and report["uploaded"] == 16 and report["verify"]["ok"]
        again = json.loads(run_cli("data", "upload", str(images), "--json", cwd=tmp_path).stdout)
        assert (again["uploaded"], again["skipped"]) == (0, 16)  # sizes and the user.sha256 attributes match

        out = tmp_path / "out"
        job = run_cli("submit", "fruits", "--", "--input", uri, "--output", str(out), "--k", "4", cwd=tmp_path)
        assert job.returncode == 0, job.stderr[-3000:]
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["images"], summary["classes"], summary["failed"]) == (16, 4, 0)
        assert f"read {uri}" in " ".join(job.stderr.split())

        status = run_cli("status", "--json", cwd=tmp_path)
        assert json.loads(status.stdout)["storage"]["files"] >= 16
    finally:
        down = run_cli("down", "--json", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert any("hdfs namenode" in s for s in json.loads(down.stdout)["stopped"])
    assert find_processes(f"CLUSTERCTL_HDFS_ROOT={workdir.resolve()}") == []
    assert not port_in_use(namenode)


def test_a_bench_session_reads_its_subsets_from_the_clusters_hdfs_and_removes_them(tmp_path):
    """The session's storage path for clusters that do not read this machine's files (ec2, ssh: the same code):
    each subset uploaded to the cluster's HDFS, the Spark runs reading and writing there, all of it removed."""
    home = fixture_hadoop_home()
    make_subset(SAMPLE_FRUITS, tmp_path / "Fruits", classes=3, per_class=4, seed=3)
    namenode = free_port()
    local = {"master_port": free_port(), "webui_port": free_port(), "hdfs": True, "hadoop_home": str(home)}
    spec = local_spec(local=local | {"namenode_port": namenode})
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(spec))
    args = ("--sizes", "6", "--workers", "1", "--repeats", "1", "--modes", "cold,plain", "--out", "sessions")
    try:
        proc = run_cli(
            "bench", "session", "fruits", "--data", "Fruits", "-f", "cluster.yaml", *args, "--json", cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        doc = json.loads(next((tmp_path / "sessions").glob("fruits-*.json")).read_text())
        assert {r["mode"]: r["images"] for r in doc["runs"]} == {"cold": 6, "plain": 6}
        assert doc["command"].endswith("--modes cold,plain --spec cluster.yaml --out sessions")
        # the job read the upload and wrote beside it: its summary names both
        (stdout,) = (tmp_path / ".clusterctl" / "tc" / "runs").glob("*-fruits/stdout.txt")
        summary = json.loads(stdout.read_text().strip().splitlines()[-1])
        prefix = f"hdfs://127.0.0.1:{namenode}/scratch/bench-fruits-"
        assert summary["input"].startswith(prefix) and summary["input"].endswith("/in/6")
        assert summary["output"].startswith(prefix) and summary["output"].endswith("/out/1-6-1-cold")
        # the session's cluster is down; up again, its HDFS holds nothing of the session
        up = run_cli("up", "--json", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        store = HdfsStore(f"hdfs://127.0.0.1:{namenode}/scratch")
        try:
            assert store.listing() == {}
        finally:
            store.close()
    finally:
        down = run_cli("down", "--json", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
