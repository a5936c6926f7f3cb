"""A real 2-worker Spark standalone cluster on 127.0.0.1, driven through the clusterctl CLI."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from clusterctl.data.sets import SAMPLE_FRUITS
from clusterctl.providers.local.processes import find_processes, is_alive, port_in_use
from tests.conftest import free_port, local_spec, run_cli
from tests.support.local_cluster import started_cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17+"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from started_cluster(tmp_path_factory.mktemp("local-cluster"))


def make_images(root: Path) -> dict[str, int]:
    """Three classes of small real JPEG/PNG files, plus one corrupt .jpg and a non-image file."""
    counts = {"Apple Golden 2": 4, "Banana": 3, "Kiwi": 5}
    for i, (label, n) in enumerate(counts.items()):
        folder = root / label
        folder.mkdir(parents=True)
        for j in range(n):
            img = Image.new("RGB", (40 + i, 30 + j), (50 * i, 20 * j, 90))
            img.save(folder / (f"{j}.png" if j == 0 else f"{j}.jpg"))
    (root / "Kiwi" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (root / "Kiwi" / "notes.txt").write_text("not an image, filtered out by the glob")
    counts["Kiwi"] += 1
    return counts


def test_up_registers_all_workers(cluster):
    status = cluster.status()
    assert status["state"] == "running"
    assert status["alive_workers"] == 2
    assert status["master_url"] == f"spark://127.0.0.1:{cluster.master_port}"
    state = cluster.master_json()
    alive = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 2
    assert all(w["cores"] == 1 and w["memory"] == 2048 and w["host"] == "127.0.0.1" for w in alive)
    pids = cluster.pids()
    assert set(pids) == {"master", "worker-1", "worker-2"} and all(is_alive(p) for p in pids.values())


def test_master_and_web_ui_listen_on_loopback_only(cluster):
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, port = fields[1].rsplit(":", 1)
            if fields[3] == "0A":
                listening.setdefault(int(port, 16), set()).add(addr)
    for port in (cluster.master_port, cluster.webui_port):
        assert listening.get(port) and listening[port] <= loopback, (port, listening.get(port))


def test_up_twice_is_a_noop(cluster):
    before_pids, before_ids = cluster.pids(), {w["id"] for w in cluster.master_json()["workers"]}
    proc = cluster.cli("up", "--json")
    assert json.loads(proc.stdout)["alive_workers"] == 2
    assert cluster.pids() == before_pids
    assert {w["id"] for w in cluster.master_json()["workers"]} == before_ids
    assert "starting" not in proc.stderr


def test_submit_bundled_workload(cluster):
    proc = cluster.cli("submit", "pi", "--", "--samples", "400000", "--partitions", "4")
    result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert abs(result["pi"] - 3.14159) < 0.02 and result["samples"] == 400000
    apps = cluster.master_json()["completedapps"]
    assert any(a["name"] == "pi" and a["state"] == "FINISHED" for a in apps)


def test_census_counts_real_decodes_and_reports_corrupt_files(cluster, tmp_path):
    counts = make_images(tmp_path / "imgs")
    out = tmp_path / "out"
    proc = cluster.cli("submit", "census", "--json", "--", "--input", str(tmp_path / "imgs"), "--output", str(out))
    run = json.loads(proc.stdout)
    summary = json.loads([ln for ln in run["stdout_text"].splitlines() if ln.startswith("{")][-1])
    assert summary["images"] == sum(counts.values())
    assert summary["labels"] == 3 and summary["failed"] == 1
    assert ["Apple Golden 2", 4] in summary["largest_labels"]  # label from the folder, spaces kept
    assert run["app_id"].startswith("app-") and run["exit_code"] == 0
    import pyarrow.parquet as pq

    table = pq.read_table(out).to_pydict()
    row = table["label"].index("Apple Golden 2")
    assert table["images"][row] == 4 and table["mean_width"][row] == 40


def test_relative_paths_are_the_callers(cluster):
    counts = make_images(cluster.root / "rel-imgs")
    proc = cluster.cli("submit", "census", "--", "--input", "rel-imgs", "--output", "rel-out")
    summary = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert summary["images"] == sum(counts.values())
    assert (cluster.root / "rel-out" / "_SUCCESS").is_file()
    assert not any(cluster.root.glob("spark-warehouse")) and not any(cluster.root.glob("derby.log"))


def test_logs_show_driver_and_executors(cluster):
    files = json.loads(cluster.cli("logs", "--json").stdout)
    labels = {f["label"] for f in files}
    assert {"driver", "stdout", "daemon master", "daemon worker-1"} <= labels
    executor_logs = [Path(f["path"]) for f in files if f["label"].startswith("executor") and "stderr" in f["label"]]
    assert executor_logs and all(p.exists() for p in executor_logs)
    assert any("CoarseGrainedExecutorBackend" in p.read_text() for p in executor_logs)
    driver = next(Path(f["path"]) for f in files if f["label"] == "driver")
    assert "Connected to Spark cluster with app ID" in driver.read_text()
    human = cluster.cli("logs", "-n", "5")
    assert "driver" in human.stdout
    bad = cluster.cli("logs", "--run", "nope", check=False)
    assert bad.returncode == 1 and "no run 'nope'" in bad.stderr


def test_census_on_real_fruits(cluster, shared_data, tmp_path):
    src = shared_data / "fruits-360" / "Test"
    classes = sorted(p for p in src.iterdir() if p.is_dir())[:3]
    expected = {}
    for cls in classes:
        files = sorted(cls.glob("*.jpg"))[:8]
        (tmp_path / "fruits" / cls.name).mkdir(parents=True)
        for f in files:
            shutil.copy(f, tmp_path / "fruits" / cls.name / f.name)
        expected[cls.name] = len(files)
    proc = cluster.cli("submit", "census", "--", "--input", str(tmp_path / "fruits"))
    summary = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert summary["images"] == sum(expected.values()) and summary["failed"] == 0
    assert summary["labels"] == len(classes)


def test_failing_job_reports_driver_log(cluster, tmp_path):
    job = tmp_path / "boom.py"
    job.write_text(
        "from pyspark.sql import SparkSession\nSparkSession.builder.getOrCreate()\n"
        "raise SystemExit('kaboom: bad input')\n"
    )
    proc = cluster.cli("submit", str(job), check=False)
    assert proc.returncode == 1
    assert "job boom failed" in proc.stderr and "driver log" in proc.stderr
    assert "kaboom: bad input" in proc.stdout + proc.stderr


def test_crashed_worker_is_detected_and_restarted(cluster):
    pids = cluster.pids()
    os.killpg(pids["worker-1"], signal.SIGKILL)
    deadline = time.time() + 10
    while is_alive(pids["worker-1"]) and time.time() < deadline:
        time.sleep(0.1)
    status = cluster.status()
    assert status["state"] == "degraded" and status["notes"]
    assert not (cluster.workdir / "pids" / "worker-1.pid").exists()  # stale pid file cleaned
    cluster.cli("up")
    after = cluster.pids()
    assert after["worker-2"] == pids["worker-2"] and after["master"] == pids["master"]
    assert after["worker-1"] != pids["worker-1"]
    assert cluster.status()["alive_workers"] == 2


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        data = local_spec(local={"master_port": port, "webui_port": free_port()})
        data["name"] = "busy"
        (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(data))
        proc = run_cli("up", cwd=tmp_path)
    assert proc.returncode == 1
    assert f"port {port} (local.master_port) is in use by pid {os.getpid()}" in proc.stderr
    assert "set local.master_port in the spec" in proc.stderr
    assert not list((tmp_path / ".clusterctl" / "busy" / "pids").glob("*.pid"))


def test_version_mismatch_and_missing_java(tmp_path):
    data = local_spec(versions={"spark": "4.0.1"}, local={"master_port": free_port(), "webui_port": free_port()})
    data["name"] = "vers"
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(data))
    import pyspark

    if pyspark.__version__ != "4.0.1":
        proc = run_cli("up", cwd=tmp_path)
        assert proc.returncode == 1
        assert f"versions.spark is 4.0.1 but the installed pyspark is {pyspark.__version__}" in proc.stderr
    env = {"PATH": "/nonexistent", "JAVA_HOME": ""}
    proc = run_cli("up", cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "Java 17+ not found" in proc.stderr


def test_down_stops_everything_and_is_idempotent(cluster, tmp_path):
    # An unrelated live process whose pid lands in a pid file must be treated as stale, not killed.
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        proc = cluster.cli("down", "--json")
        result = json.loads(proc.stdout)
        assert len(result["stopped"]) == 3
        assert find_processes(cluster.marker) == []
        assert not port_in_use(cluster.master_port) and not port_in_use(cluster.webui_port)
        again = json.loads(cluster.cli("down", "--json").stdout)
        assert again["stopped"] == []
        assert cluster.status()["state"] == "stopped"
        submit = cluster.cli("submit", "pi", check=False)
        assert submit.returncode == 1 and "is not running; start it with `clusterctl up`" in submit.stderr

        (cluster.workdir / "pids" / "worker-1.pid").write_text(f"{bystander.pid}\n")
        cluster.cli("up")
        assert cluster.status()["alive_workers"] == 2
        cluster.cli("down")
        assert bystander.poll() is None  # untouched
        assert find_processes(cluster.marker) == []
    finally:
        bystander.kill()


def test_demo_runs_end_to_end_and_cleans_up(tmp_path):
    counts = make_images(tmp_path / "imgs")
    proc = run_cli("demo", "--data", str(tmp_path / "imgs"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    summary = outcome["summary"]
    decodable = sum(counts.values()) - 1  # Kiwi/broken.jpg
    assert (summary["files"], summary["images"], summary["failed"]) == (sum(counts.values()), decodable, 1)
    assert summary["classes"] == len(counts) and summary["k"] == decodable  # k=300 capped at the image count
    assert any("capped" in w for w in summary["warnings"])
    saved = json.loads(Path(outcome["summary_file"]).read_text())
    assert saved["failures"][0]["path"].endswith("Kiwi/broken.jpg")
    assert all(Path(p).is_file() for p in summary["plots"].values())
    assert outcome["cluster"]["alive_workers"] == 2
    assert find_processes(f"SPARK_CONF_DIR={tmp_path / '.clusterctl' / 'demo' / 'conf'}") == []
    missing = run_cli("demo", "--data", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "--data" in missing.stderr


def test_sigterm_mid_job_stops_the_driver_and_the_cluster(tmp_path):
    make_images(tmp_path / "imgs")
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterctl", "demo", "--data", str(tmp_path / "imgs")],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    workdir = tmp_path / ".clusterctl" / "demo"
    try:
        deadline = time.monotonic() + 180
        while not list(workdir.glob("runs/*/command.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        assert list(workdir.glob("runs/*/command.json")), "the demo never submitted its job"
        time.sleep(3)  # the driver JVM is up and talking to the master
        assert len(find_processes(f"SPARK_CONF_DIR={workdir / 'conf'}")) > 3  # daemons + driver
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert find_processes(f"SPARK_CONF_DIR={workdir / 'conf'}") == []
    assert list(workdir.glob("pids/*.pid")) == []


def test_demo_with_no_arguments_runs_on_the_bundled_sample_without_shared_data(tmp_path):
    # A fresh machine: no ../shared beside the working directory, no fetched data, no network needed.
    assert not (tmp_path.parent / "shared").exists()
    env = {"CLUSTERCTL_DATA": str(tmp_path / "no-fetched-data")}
    proc = run_cli("demo", "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["data"] == str(SAMPLE_FRUITS)
    summary = outcome["summary"]
    assert (summary["images"], summary["classes"], summary["failed"]) == (320, 32, 0)
    assert Path(outcome["summary_file"]).is_file()
    assert find_processes(f"SPARK_CONF_DIR={tmp_path / '.clusterctl' / 'demo' / 'conf'}") == []
