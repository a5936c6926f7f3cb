"""The local cluster's warm driver (``spark.warm_driver``): started, asked to run jobs, stopped, by pid.

The driver itself is ``workloads/common/warm_driver.py`` under spark-submit with the cluster's rendered
spark-defaults. It holds the cluster's executor cores while it runs, so a job that cannot run in it (a
user's own file, ``submit --cold``) stops it first; the next warm submit starts it again.
"""

import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clusterctl.errors import ClusterctlError
from clusterctl.progress import LineSink, Reporter
from clusterctl.providers.base import Job
from clusterctl.providers.local.processes import log_tail, owned_pid, running_with, stop_group
from clusterctl.resources import workloads_dir
from clusterctl.workdir import Workdir
from workloads.jobs import JOBS, job_file

START_TIMEOUT_S = 300.0
EXECUTORS_END_S = 30.0
NAME = "warm-driver"


def runs_warm(job: Job) -> bool:
    """Whether ``job`` is a bundled workload (the warm driver runs only those, by module)."""
    return job.name in JOBS and job.main == job_file(job.name)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class WarmDriver:
    """One cluster's warm driver: its files live in ``workdir/warm``; its socket in a private temp folder."""

    def __init__(self, workdir: Workdir, env: Callable[[], dict[str, str]], spark_submit: Callable[[], Path]) -> None:
        self.workdir = workdir
        self._env = env
        self._spark_submit = spark_submit
        self.dir = workdir.root / "warm"
        self.pid_file = self.dir / "driver.pid"
        self.state_file = self.dir / "state.json"
        self.log = self.dir / "driver.log"
        # Unix socket paths are limited to 107 bytes; a workdir can be deeper than that.
        key = hashlib.sha256(str(workdir.root.resolve()).encode()).hexdigest()[:16]
        self.socket = Path(tempfile.gettempdir()) / f"clusterctl-{os.getuid()}" / f"{key}.sock"

    @property
    def marker(self) -> str:
        """The environment entry every process of this cluster carries (the pid check's proof of ownership)."""
        return f"SPARK_CONF_DIR={self.workdir.conf}"

    def pid(self) -> int | None:
        """The running driver's pid, or None (a stale pid file is removed)."""
        if not self.pid_file.exists():
            return None
        return owned_pid(self.pid_file, self.marker)

    def info(self) -> dict[str, Any] | None:
        """What ``status`` shows: pid, app id, executors, Python workers, jobs run; None when not running."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {"state": "starting", "pid": pid, "log": str(self.log)}
        return {"state": "running", "pid": pid, "log": str(self.log)} | {
            key: state[key]
            for key in ("app_id", "executors", "python_workers", "rehearsal_seconds", "ready_seconds", "digest")
        }

    def ensure(self, zip_path: Path, executors: int, report: Reporter) -> dict[str, Any]:
        """Start the driver unless one serving this ``zip_path``'s workloads is running; its info."""
        digest = _digest(zip_path)
        info = self.info()
        if info is not None and info.get("digest") != digest and info["state"] == "running":
            report("the workloads changed since the warm driver started: restarting it")
            self.stop()
            info = None
        if info is None:
            info = self._start(zip_path, digest, executors, report)
        elif info["state"] == "starting":
            info = self._wait_ready(report)
        return info

    def _start(self, zip_path: Path, digest: str, executors: int, report: Reporter) -> dict[str, Any]:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.state_file.unlink(missing_ok=True)
        run_dir = self.workdir.sub("runs")
        cmd = [
            str(self._spark_submit()),
            "--properties-file",
            str(self.workdir.conf / "spark-defaults.conf"),
            "--name",
            "clusterctl-warm-driver",
            "--conf",
            "spark.python.daemon.module=workloads.common.warm_daemon",
            "--py-files",
            str(zip_path),
            "--conf",
            f"spark.sql.warehouse.dir={(run_dir / 'spark-warehouse').as_uri()}",
            str(workloads_dir() / "common" / "warm_driver.py"),
            "--socket",
            str(self.socket),
            "--state",
            str(self.state_file),
            "--executors",
            str(executors),
        ]
        report("starting the warm driver (once: later jobs skip the JVM, interpreter and model start)")
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.dir,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        (self.dir / "digest").write_text(digest + "\n")
        return self._wait_ready(report)

    def _wait_ready(self, report: Reporter) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise ClusterctlError(
                    f"the warm driver exited during start-up; its log {self.log} ends with: {log_tail(self.log)}; "
                    "fix that, or submit with --cold"
                )
            if self.state_file.exists():
                state = json.loads(self.state_file.read_text())
                state["digest"] = (self.dir / "digest").read_text().strip()
                self.state_file.write_text(json.dumps(state) + "\n")
                report(f"warm driver ready in {state['ready_seconds']:.1f}s (app {state['app_id']})")
                info = self.info()
                assert info is not None
                return info
            time.sleep(0.2)
        self.stop()
        raise ClusterctlError(
            f"the warm driver was not ready after {START_TIMEOUT_S:.0f}s; see {self.log}, or submit with --cold"
        )

    def run(self, job: Job, run_dir: Path, on_output: LineSink) -> int:
        """Run bundled ``job`` in the driver; stream its output lines; its exit code."""
        request = {"job": job.name, "args": list(job.args), "run_dir": str(run_dir), "cwd": str(Path.cwd())}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            try:
                conn.connect(str(self.socket))
            except OSError as exc:
                raise ClusterctlError(
                    f"warm driver socket {self.socket}: {exc.strerror}; run `clusterctl up` to restart it, "
                    "or submit with --cold"
                ) from None
            conn.sendall((json.dumps(request) + "\n").encode())
            for line in conn.makefile("r"):
                message = json.loads(line)
                if "out" in message:
                    on_output(message["out"])
                elif "exit" in message:
                    return int(message["exit"])
        raise ClusterctlError(
            f"the warm driver exited during {job.name}; its log {self.log} ends with: {log_tail(self.log)}; "
            "submit again (it restarts) or with --cold"
        )

    def stop(self) -> str | None:
        """Stop the driver and wait for its executors to end (the workers kill them once the master hears
        the application ended), so that the cores are free for the next job; what was stopped, or None."""
        pid = self.pid()
        app = (self.info() or {}).get("app_id")
        if pid is not None:
            stop_group(pid)
        deadline = time.monotonic() + EXECUTORS_END_S
        while app and running_with(self.marker, app) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        return f"{NAME} (pid {pid})" if pid is not None else None
