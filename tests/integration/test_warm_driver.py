"""The warm driver (``spark.warm_driver``) on a real 2-worker local cluster: started by ``up``, shown by
``status``, running bundled jobs with no new application and no model load, stopped by ``--cold`` and ``down``."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from clusterctl.data.sets import SAMPLE_FRUITS
from clusterctl.providers.local.processes import find_processes, is_alive
from clusterctl.providers.local.warm import WarmDriver
from clusterctl.workdir import Workdir
from tests.support.local_cluster import Cluster, started_cluster

CLI = [sys.executable, "-m", "clusterctl"]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17+"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm-cluster")
    spec_file = root / "cluster.yaml"

    def warm(c: Cluster) -> None:
        data = yaml.safe_load(spec_file.read_text()) | {"spark": {"warm_driver": True}}
        spec_file.write_text(yaml.safe_dump(data))

    yield from started_cluster(root, before_up=warm)


def submit(cluster: Cluster, *args: str, check: bool = True) -> dict:
    proc = cluster.cli("submit", "--json", *args, check=check)
    return json.loads(proc.stdout) | {"returncode": proc.returncode, "stderr": proc.stderr}


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def test_up_starts_the_warm_driver_and_status_shows_it(cluster):
    status = cluster.status()
    warm = status["services"]["warm-driver"]
    assert status["state"] == "running" and warm["state"] == "running" and is_alive(warm["pid"])
    assert warm["executors"] == 2 and len(warm["python_workers"]) >= 1
    apps = {a["id"]: a for a in cluster.master_json()["activeapps"]}
    assert apps[warm["app_id"]]["name"] == "clusterctl-warm-driver"


def test_bundled_jobs_run_in_the_warm_driver_without_a_new_application(cluster):
    app = cluster.status()["services"]["warm-driver"]["app_id"]
    apps_before = len(cluster.master_json()["activeapps"]) + len(cluster.master_json()["completedapps"])
    runs = [submit(cluster, "pi", "--", "--samples", "20000", "--partitions", "2") for _ in range(2)]
    for run in runs:
        assert run["mode"] == "warm" and run["exit_code"] == 0 and run["app_id"] == app
        assert abs(last_json(run["stdout_text"])["pi"] - 3.14) < 0.1
    state = cluster.master_json()
    assert len(state["activeapps"]) + len(state["completedapps"]) == apps_before  # no driver was started


def test_the_fruits_job_finds_its_model_already_loaded_in_the_python_workers(cluster, tmp_path):
    images = tmp_path / "in"
    for label in sorted(p.name for p in SAMPLE_FRUITS.iterdir() if p.is_dir())[:3]:
        shutil.copytree(SAMPLE_FRUITS / label, images / label)
    # a relative --output means the caller's directory (the warm driver's own is the workdir), as when cold
    proc = cluster.cli("submit", "--json", "fruits", "--", "--input", str(images), "--output", "warm-out", "--k", "5")
    run = json.loads(proc.stdout)
    summary = last_json(run["stdout_text"])
    assert run["mode"] == "warm"
    assert summary["images"] == sum(1 for p in images.rglob("*") if p.is_file())
    # torch and the model were loaded by each executor's Python daemon before it forked the workers
    assert summary["features_core_seconds"]["load"] == 0.0
    assert json.loads((cluster.root / "warm-out" / "summary.json").read_text())["images"] == summary["images"]


def test_a_failing_job_returns_its_error_and_the_driver_serves_the_next_one(cluster, tmp_path):
    warm = cluster.status()["services"]["warm-driver"]
    bad = submit(
        cluster, "fruits", "--", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o"), check=False
    )
    assert bad["returncode"] != 0 and bad["exit_code"] == 2
    assert "fruits_features: --input" in bad["stdout_text"].strip().splitlines()[-1]
    usage = submit(cluster, "pi", "--", "--samples", "many", check=False)
    assert usage["exit_code"] == 2 and "invalid int value" in usage["stdout_text"]
    again = submit(cluster, "pi", "--", "--samples", "2000", "--partitions", "2")
    assert again["exit_code"] == 0 and again["app_id"] == warm["app_id"]
    assert cluster.status()["services"]["warm-driver"]["pid"] == warm["pid"]


def test_an_interrupted_submit_cancels_its_job_in_the_warm_driver(cluster):
    log = cluster.workdir / "warm" / "driver.log"
    before = log.read_text(errors="replace").count("cancel")
    proc = subprocess.Popen(
        [*CLI, "submit", "pi", "--", "--samples", "400000000"],
        cwd=cluster.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(a for a in _running_jobs(cluster)):
        time.sleep(0.2)
    assert _running_jobs(cluster), "the pi job never started"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _running_jobs(cluster):
        time.sleep(0.5)
    assert not _running_jobs(cluster), "the interrupted job kept running in the warm driver"
    assert log.read_text(errors="replace").count("cancel") > before
    assert submit(cluster, "pi", "--", "--samples", "2000")["exit_code"] == 0


def _running_jobs(cluster: Cluster) -> list[dict]:
    """Running Spark jobs of the warm driver, from its application UI's REST API."""
    import urllib.request

    app = cluster.status()["services"]["warm-driver"]["app_id"]
    for port in range(4040, 4060):
        try:
            url = f"http://127.0.0.1:{port}/api/v1/applications/{app}/jobs?status=running"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            continue
    return []


def test_cold_submit_stops_the_warm_driver_and_a_warm_submit_starts_it_again(cluster):
    old = cluster.status()["services"]["warm-driver"]
    cold = submit(cluster, "--cold", "pi", "--", "--samples", "2000")
    assert cold["mode"] == "cold" and cold["exit_code"] == 0 and cold["app_id"] != old["app_id"]
    assert not is_alive(old["pid"])
    status = cluster.status()
    assert "warm-driver" not in status["services"]
    assert any("warm driver not running" in note for note in status["notes"])
    warm = submit(cluster, "pi", "--", "--samples", "2000")
    assert warm["mode"] == "warm" and warm["app_id"] not in (old["app_id"], cold["app_id"])
    assert cluster.status()["services"]["warm-driver"]["app_id"] == warm["app_id"]


def test_down_stops_the_warm_driver_and_leaves_no_process(cluster):
    pid = cluster.status()["services"]["warm-driver"]["pid"]
    proc = cluster.cli("down")
    assert "warm-driver (pid" in proc.stdout + proc.stderr
    assert not is_alive(pid) and find_processes(cluster.marker) == []
    warm = WarmDriver(Workdir(cluster.workdir), dict, Path)
    assert not warm.socket.exists() and not warm.pid_file.exists()
