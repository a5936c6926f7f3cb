"""A real benchmark session on a local cluster: 8 of the bundled sample images, 1 worker, 1 repeat, the Spark job
warm (the warm driver) and cold (spark-submit) and the plain baseline, then its report; nothing left running.

(Named ``..._local`` because tests/unit/test_bench_session.py holds the unit tests: test files need unique names.)
"""

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17+"),
]
pytest.importorskip("torch", reason="the workloads extra (torch==2.13.0) is not installed")

SAMPLE = REPO / "clusterctl" / "data" / "sample" / "fruits-360-test"
PNG = b"\x89PNG\r\n\x1a\n"


def _processes_of(marker: bytes) -> list[int]:
    """Live processes whose environment mentions ``marker`` (the session's clusters live under the test's TMPDIR)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_tiny_session_on_a_local_cluster(tmp_path):
    tmp = tmp_path / "t"  # the session's temporary files (and so its cluster's workdir) go here
    tmp.mkdir()
    args = ("--data", str(SAMPLE), "--sizes", "8", "--workers", "1", "--repeats", "1", "--out", "sessions")
    try:
        proc = run_cli("bench", "session", "fruits", *args, "--json", cwd=tmp_path, env={"TMPDIR": str(tmp)})
        left = _processes_of(f"SPARK_CONF_DIR={tmp}".encode())
    finally:
        for pid in _processes_of(f"SPARK_CONF_DIR={tmp}".encode()):
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert left == [], "the session left processes of its cluster running"
    printed = json.loads(proc.stdout)
    session = tmp_path / printed["session"]
    text = session.read_text()
    doc = json.loads(text)
    for machine_path in (str(tmp_path), str(Path.home()), str(REPO)):
        assert machine_path not in text

    assert doc["command"] == (
        "clusterctl bench session fruits --data clusterctl/data/sample/fruits-360-test --sizes 8 --workers 1 "
        "--repeats 1 --out sessions"
    )
    assert doc["inputs"]["data"] == "clusterctl/data/sample/fruits-360-test" and doc["inputs"]["files"] == 320
    assert {r["mode"]: r["ran"] for r in doc["runs"]} == {"warm": "warm", "cold": "cold", "plain": "plain"}
    assert doc["warm_driver"] is True
    for run in doc["runs"]:
        assert run["images"] == 8 and run["timings"]["features_s"] > 0 and run["wall_s"] > 0
    # the plain baseline ran on the cluster's one worker machine, this one, as one process per executor core
    plain = next(r for r in doc["runs"] if r["mode"] == "plain")
    assert [(p["node"], p["images"]) for p in plain["processes"]] == [("this machine", 8)]
    machines = doc["clusters"][0]["worker_machines"]
    assert [(m["name"], m["cores"], m["cpus"]) for m in machines] == [("this machine", 1, os.cpu_count())]
    assert machines[0]["pyspark"] == doc["versions"]["pyspark"] and "version" in machines[0]["java"]
    assert not list(tmp.rglob("scratch")), "the worker machine's scratch folder was left behind"
    model = doc["versions"]["model"]
    assert model["name"] == "efficientnet_lite0" and len(model["weights_sha256"]) == 64
    assert doc["versions"]["spark"] and doc["versions"]["java"] >= 17 and doc["machine"]["cpus"] >= 1

    rows = {r["mode"]: r for r in doc["summary"]["rows"]}
    assert set(rows) == {"warm", "cold", "plain"} and rows["plain"]["ratio_to_plain"] == 1.0
    assert rows["cold"]["phases"]["outside_s"] > rows["warm"]["phases"]["outside_s"]  # no JVM start when warm
    assert all(r["usd_per_million_images"] > 0 and r["images_per_h_vcpu"] > 0 for r in rows.values())

    md = (tmp_path / printed["markdown"]).read_text()
    assert doc["command"] in md and "4,400 images/(h·vCPU)" in md
    for kind in ("time", "scaling", "phases"):
        assert (tmp_path / printed[f"{kind}_png"]).read_bytes().startswith(PNG)
