"""Local provider: a real Spark standalone cluster (master + N workers as JVMs) on 127.0.0.1.

Daemons are started with pyspark's ``bin/spark-class`` directly, not ``sbin/spark-daemon.sh``:
the latter sleeps 2 s per daemon and pyspark ships no start-master.sh anyway. Each daemon leads
its own process group, so stopping it also stops the executor JVMs (and their Python workers)
it forked. Pid files live in the workdir; a pid file whose process is gone, or belongs to
someone else, is stale and removed.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from clusterctl.config.properties import NodeLayout, Ruled
from clusterctl.config.sizing import compute_sizing
from clusterctl.config.spec import ClusterSpec
from clusterctl.errors import ClusterctlError
from clusterctl.jobs import build_workloads_zip
from clusterctl.progress import LineSink, Reporter
from clusterctl.providers.base import (
    AppInfo,
    ClusterStatus,
    DownResult,
    Job,
    LogFile,
    NodeCost,
    PlanResult,
    Properties,
    RunResult,
    WorkerInfo,
    WorkerShell,
    hourly_total,
    set_core_count,
)
from clusterctl.providers.local.hdfs import LocalHdfs, find_hadoop_home
from clusterctl.providers.local.javaenv import Runtime, find_runtime
from clusterctl.providers.local.processes import (
    busy_ports,
    find_processes,
    listener_pid,
    log_tail,
    owned_pid,
    port_in_use,
    stop_group,
)
from clusterctl.providers.local.shell import ThisMachine
from clusterctl.providers.local.warm import NAME as WARM
from clusterctl.providers.local.warm import WarmDriver, runs_warm
from clusterctl.remote.hosts import Hosts
from clusterctl.workdir import Workdir

DEFAULT_SPARK = "4.0.1"  # what `init` writes when pyspark is not installed yet
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
REGISTER_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class _Daemon:
    name: str
    cls: str
    args: tuple[str, ...]


class LocalProvider:
    """Spark standalone on this machine, driven by the rendered files in the cluster's workdir."""

    name: ClassVar[str] = "local"

    def __init__(self, spec: ClusterSpec, workdir: Workdir, runtime: Runtime | None = None) -> None:
        self.spec = spec
        self.workdir = workdir
        self._runtime = runtime

    # -- paths and environment -------------------------------------------------------------
    @property
    def runtime(self) -> Runtime:
        """Java + pyspark, checked on first use (so render/explain need neither)."""
        if self._runtime is None:
            self._runtime = find_runtime()
        return self._runtime

    @property
    def master_url(self) -> str:
        """``spark://127.0.0.1:<master_port>``."""
        return f"spark://127.0.0.1:{self.spec.local.master_port}"

    @property
    def web_ui(self) -> str:
        """The master's web UI (loopback only)."""
        return f"http://127.0.0.1:{self.spec.local.webui_port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("SPARK_ENV_LOADED", "SPARK_HOME", "PYSPARK_SUBMIT_ARGS", "PYSPARK_DRIVER_PYTHON"):
            env.pop(var, None)
        env.update(
            SPARK_HOME=str(self.runtime.spark_home),
            SPARK_CONF_DIR=str(self.workdir.conf),
            JAVA_HOME=str(self.runtime.java_home),
            SPARK_NO_DAEMONIZE="1",
        )
        return env

    def _daemons(self) -> list[_Daemon]:
        master = _Daemon(
            "master",
            MASTER_CLASS,
            (
                "--host",
                "127.0.0.1",
                "--port",
                str(self.spec.local.master_port),
                "--webui-port",
                str(self.spec.local.webui_port),
            ),
        )
        workers = [
            _Daemon(
                f"worker-{i}",
                WORKER_CLASS,
                ("--host", "127.0.0.1", "--port", "0", "--webui-port", "0", self.master_url),
            )
            for i in range(1, self.spec.node_groups.core.count + 1)
        ]
        return [master, *workers]

    def _pid_file(self, daemon: _Daemon) -> Path:
        return self.workdir.path("pids") / f"{daemon.name}.pid"

    def _running(self, daemon: _Daemon) -> int | None:
        return owned_pid(self._pid_file(daemon), self._marker) if self._pid_file(daemon).exists() else None

    @property
    def _marker(self) -> str:
        # Every process of this cluster (daemons, executors, Python workers) inherits it.
        return f"SPARK_CONF_DIR={self.workdir.conf}"

    # -- what differs about this provider --------------------------------------------------
    @staticmethod
    def default_spark_version() -> str:
        """The installed pyspark's version: the local cluster runs it."""
        try:
            import pyspark
        except ImportError:
            return DEFAULT_SPARK
        return pyspark.__version__

    def node_layout(self) -> NodeLayout:
        """Everything on 127.0.0.1, every directory inside the workdir, this Python on the executors."""
        root = str(self.workdir.root.resolve())
        fs = (
            Ruled(self.hdfs_uri, "local.hdfs: the NameNode beside the cluster")
            if self.spec.local.hdfs
            else Ruled("file:///", "local provider: no HDFS; data are read from local paths")
        )
        return NodeLayout(
            scheduler="standalone",
            master_host="127.0.0.1",
            worker_hosts=("127.0.0.1",) * self.spec.node_groups.core.count,
            datanodes=1,
            root=root,
            conf_dir=f"{root}/conf",
            default_fs=fs,
            spark_master=Ruled(self.master_url, "local standalone master"),
            deploy_mode=Ruled("client", "driver runs where clusterctl submits"),
            python=Ruled(sys.executable, "this Python (same as the driver's)"),
            event_log_dir=Ruled(f"file://{root}/events", "event logs beside the cluster"),
            bind_address=Ruled("127.0.0.1", "daemons and web UIs listen on loopback only"),
        )

    def extra_files(self, properties: Properties) -> dict[str, str]:
        """Nothing beyond conf/: the daemons read the rendered files directly."""
        return {}

    def node_costs(self) -> list[NodeCost]:
        """This machine costs nothing extra."""
        return [NodeCost(role, "local", g.count, 0.0) for role, g in self.spec.node_groups.items()]

    def data_uri(self, name: str) -> str:
        """On the local HDFS when there is one, else a folder in the workdir (the workers read the driver's files)."""
        if self.spec.local.hdfs:
            return f"{self.hdfs_uri}/data/{name}"
        return (self.workdir.root / "data" / name).as_uri()

    def scratch_uri(self, name: str) -> str:
        """On the local HDFS when there is one, else a folder of the workdir (read in place)."""
        if self.spec.local.hdfs:
            return f"{self.hdfs_uri}/scratch/{name}"
        return (self.workdir.root / "data" / "scratch" / name).as_uri()

    @property
    def hdfs_uri(self) -> str:
        """``hdfs://127.0.0.1:<local.namenode_port>``."""
        return f"hdfs://127.0.0.1:{self.spec.local.namenode_port}"

    def hdfs(self) -> LocalHdfs:
        """The local HDFS beside the cluster (``local.hdfs``), from ``local.hadoop_home`` or ``$HADOOP_HOME``."""
        home = find_hadoop_home(Path(self.spec.local.hadoop_home).expanduser() if self.spec.local.hadoop_home else None)
        return LocalHdfs(home, self.workdir.root, self.spec.local.namenode_port, self.runtime.java_home)

    # -- master REST ---------------------------------------------------------------------------
    def _master_json(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.web_ui}/json/", timeout=5) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    # -- verbs -----------------------------------------------------------------------------
    def up(self, report: Reporter, bootstrap: bool = True) -> ClusterStatus:
        """Start the master and workers that are not running; wait until all workers registered.

        Nothing to install here: ``bootstrap`` makes no difference."""
        if not self.workdir.conf.joinpath("spark-defaults.conf").exists():
            raise ClusterctlError(f"{self.workdir.conf}: not rendered; run `clusterctl render` first")
        self._check_version()
        for sub in ("events", "tmp/spark", "tmp/hadoop", "work", "logs", "pids", "runs"):
            self.workdir.sub(sub)
        daemons = self._daemons()
        master, workers = daemons[0], daemons[1:]
        if self._running(master) is None:
            for daemon in workers:  # workers of a dead master would never re-register cleanly
                if (pid := self._running(daemon)) is not None:
                    stop_group(pid)
                    self._pid_file(daemon).unlink(missing_ok=True)
            self._check_ports()
            report("starting Spark master")
            self._start(master)
            self._wait(lambda: self._master_json() is not None, f"master web UI at {self.web_ui}", master)
        missing = [d for d in workers if self._running(d) is None]
        for daemon in missing:
            report(f"starting {daemon.name}")
            self._start(daemon)
        expected = len(workers)

        def registered() -> bool:
            state = self._master_json() or {}
            alive = sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")
            report("waiting for workers to register", alive, expected)
            return alive >= expected

        self._wait(registered, f"{expected} workers to register", *missing)
        if self.spec.local.hdfs:
            # After Spark: the DataNode's internal web server binds a random port, which must not be
            # one of the Spark master's fixed ports before the master has it.
            hdfs = self.hdfs()
            hdfs.configure()
            if hdfs.format_once():
                report("formatted a new HDFS namespace")
            report(f"starting HDFS at {hdfs.uri}")
            hdfs.start()
            hdfs.wait_healthy()
        if self.spec.spark.warm_driver:
            self._warm_up(report)
        return self.status()

    @property
    def warm(self) -> WarmDriver:
        """The cluster's warm driver (running or not)."""
        return WarmDriver(self.workdir, self._env, lambda: self.runtime.spark_submit)

    def _warm_up(self, report: Reporter) -> dict[str, Any]:
        zipped = build_workloads_zip(self.workdir.root / "workloads.zip")
        return self.warm.ensure(zipped, self.spec.node_groups.core.count, report)

    def _check_version(self) -> None:
        wanted = self.spec.spark_version
        have = self.runtime.spark_version
        if wanted and wanted != have:
            raise ClusterctlError(
                f"versions.spark is {wanted} but the installed pyspark is {have}: set versions.spark: {have} "
                f"or pip install pyspark=={wanted}"
            )

    def _check_ports(self) -> None:
        for field, port in (
            ("local.master_port", self.spec.local.master_port),
            ("local.webui_port", self.spec.local.webui_port),
        ):
            if port_in_use(port):
                pid = listener_pid(port)
                who = f" by pid {pid}" if pid else ""
                raise ClusterctlError(
                    f"port {port} ({field}) is in use{who}; stop that process or set {field} in the spec"
                )

    def _start(self, daemon: _Daemon) -> int:
        log = self.workdir.sub("logs") / f"{daemon.name}.out"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [str(self.runtime.spark_class), daemon.cls, *daemon.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.workdir.root,
                start_new_session=True,
            )
        self._pid_file(daemon).write_text(f"{proc.pid}\n")
        return proc.pid

    def _wait(self, ready, what: str, *daemons: _Daemon) -> None:
        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready():
                return
            for daemon in daemons:
                if self._running(daemon) is None:
                    raise ClusterctlError(
                        f"{daemon.name} exited during start-up; its log {self._log_of(daemon)} ends with: "
                        f"{log_tail(self._log_of(daemon), 3)}"
                    )
            time.sleep(0.2)
        logs = self.workdir.path("logs")
        raise ClusterctlError(f"timed out after {REGISTER_TIMEOUT_S:.0f}s waiting for {what}; see {logs}")

    def _log_of(self, daemon: _Daemon) -> Path:
        return self.workdir.path("logs") / f"{daemon.name}.out"

    def status(self) -> ClusterStatus:
        """Workers, cores, memory and applications as the master reports them."""
        daemons = self._daemons()
        running = {d.name: self._running(d) for d in daemons}
        state = self._master_json() if running["master"] else None
        storage = self._hdfs_status()
        if state is None:
            alive = [name for name, pid in running.items() if pid]
            orphans = (f"running without a master: {', '.join(alive)}",) if alive else ()
            return ClusterStatus(self.spec.name, "local", "stopped", notes=orphans, storage=storage)
        workers = tuple(
            WorkerInfo(w["id"], f"{w['host']}:{w['port']}", w["cores"], w["memory"], w["state"])
            for w in state.get("workers", [])
            if w.get("state") == "ALIVE"
        )
        apps = tuple(
            AppInfo(a["id"], a["name"], a["state"], a.get("cores", 0))
            for a in state.get("activeapps", []) + state.get("completedapps", [])
        )
        expected = self.spec.node_groups.core.count
        healthy = len(workers) == expected and all(running.values())
        notes: tuple[str, ...] = (
            () if healthy else (f"{len(workers)} of {expected} workers alive; run `clusterctl up` to restart them",)
        )
        if storage is not None and storage["state"] != "running":
            healthy = False
            notes += (f"HDFS {storage['state']}: run `clusterctl up` to start it",)
        services = {WARM: warm} if (warm := self.warm.info()) is not None else {}
        if self.spec.spark.warm_driver and not services:
            notes += ("warm driver not running: the next `clusterctl submit` of a bundled job starts it",)
        started = datetime.fromtimestamp(self._pid_file(daemons[0]).stat().st_mtime, UTC).isoformat(timespec="seconds")
        return ClusterStatus(
            self.spec.name,
            "local",
            "running" if healthy else "degraded",
            master_url=state.get("url", self.master_url),
            web_ui=self.web_ui,
            workers=workers,
            apps=apps,
            notes=notes,
            started_at=started,
            storage=storage,
            services=services,
        )

    def _hdfs_status(self) -> dict[str, Any] | None:
        """The local HDFS's status when the spec asks for one (its error when it cannot be found)."""
        if not self.spec.local.hdfs:
            return None
        try:
            return self.hdfs().status()
        except ClusterctlError as exc:
            return {"state": "unknown", "uri": self.hdfs_uri, "error": str(exc)}

    def submit(self, job: Job, report: Reporter, on_output: LineSink) -> RunResult:
        """spark-submit ``job`` against the master with the rendered spark-defaults; wait for it."""
        if self._running(self._daemons()[0]) is None:
            raise ClusterctlError(f"cluster {self.spec.name} is not running; start it with `clusterctl up`")
        run_id = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}-{job.name}"
        run_dir = self.workdir.sub("runs") / run_id
        run_dir.mkdir()
        if self.spec.spark.warm_driver and not job.cold and runs_warm(job) and not job.conf:
            return self._submit_warm(job, run_id, run_dir, report, on_output)
        if self.warm.pid() is not None:
            report("stopping the warm driver: it holds the executor cores this job needs (a warm submit restarts it)")
            self.warm.stop()
        cmd = [
            str(self.runtime.spark_submit),
            "--properties-file",
            str(self.workdir.conf / "spark-defaults.conf"),
            "--name",
            job.name,
        ]
        if job.py_files:
            cmd += ["--py-files", ",".join(str(p) for p in job.py_files)]
        # The driver runs in the caller's directory, so relative --input/--output mean what the user
        # typed; anything Spark itself would drop into the working directory goes to the run's directory.
        conf = {"spark.sql.warehouse.dir": (run_dir / "spark-warehouse").as_uri()} | job.conf
        for key, value in sorted(conf.items()):
            cmd += ["--conf", f"{key}={value}"]
        cmd += [str(job.main), *job.args]
        (run_dir / "command.json").write_text(json.dumps({"argv": cmd}, indent=2) + "\n")
        stdout_path, log_path = run_dir / "stdout.txt", run_dir / "driver.log"
        report(f"submitting {job.name} ({run_id})")
        start = time.monotonic()
        with stdout_path.open("w") as out, log_path.open("w") as log:
            # Its own process group, so an interrupted submit can stop the driver and the Python it forked.
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                env=self._env(),
                cwd=Path.cwd(),
                start_new_session=True,
            )
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    out.write(line)
                    out.flush()
                    on_output(line.rstrip("\n"))
                code = proc.wait()
            except BaseException:
                stop_group(proc.pid)
                raise
        wall = time.monotonic() - start
        result = RunResult(run_id, _app_id(log_path), code, wall, stdout_path, log_path)
        (run_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
        return result

    def _submit_warm(self, job: Job, run_id: str, run_dir: Path, report: Reporter, on_output: LineSink) -> RunResult:
        """Run bundled ``job`` in the warm driver (started first if need be); the wall time is the job's only."""
        info = self._warm_up(report)
        (run_dir / "command.json").write_text(
            json.dumps({"warm_driver": info["pid"], "job": job.name, "args": list(job.args)}, indent=2) + "\n"
        )
        report(f"submitting {job.name} ({run_id}) to the warm driver")
        start = time.monotonic()
        code = self.warm.run(job, run_dir, on_output)
        wall = time.monotonic() - start
        result = RunResult(run_id, info["app_id"], code, wall, run_dir / "stdout.txt", run_dir / "driver.log", "warm")
        (run_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
        return result

    def logs(self, run_id: str | None = None) -> list[LogFile]:
        """The run's driver log and stdout, its executors' logs, then the daemons' logs."""
        runs = self.workdir.runs()
        found: list[LogFile] = []
        if run_id is not None and not (self.workdir.path("runs") / run_id).is_dir():
            known = ", ".join(p.name for p in runs[-5:]) or "none yet"
            raise ClusterctlError(f"no run {run_id!r} in {self.workdir.path('runs')}; recent runs: {known}")
        run = self.workdir.path("runs") / run_id if run_id else (runs[-1] if runs else None)
        if run is not None:
            found += [LogFile("driver", run / "driver.log"), LogFile("stdout", run / "stdout.txt")]
            app = _app_id(run / "driver.log")
            app_dir = self.workdir.path("work") / app if app else None
            if app_dir and app_dir.is_dir():
                for executor in sorted(app_dir.iterdir(), key=lambda p: p.name):
                    for stream in ("stderr", "stdout"):
                        if (executor / stream).exists():
                            found.append(LogFile(f"executor {executor.name} {stream}", executor / stream))
        found += [LogFile(f"daemon {p.stem}", p) for p in sorted(self.workdir.path("logs").glob("*.out"))]
        if self.warm.log.exists():
            found.append(LogFile(WARM, self.warm.log))
        return found

    def hosts(self) -> Hosts:
        """None to log in to: the local cluster's processes run on this machine."""
        raise ClusterctlError(
            f"cluster {self.spec.name} runs on this machine (provider local): there is no node to SSH to; "
            "its logs are in `clusterctl logs`"
        )

    def storage_access(self, uri: str) -> AbstractContextManager[tuple[str, dict[str, str]]]:
        """Reached from here as it is."""
        return nullcontext((uri, {}))

    @staticmethod
    def core_count_spec(data: dict[str, Any], count: int) -> dict[str, Any]:
        """``data`` with ``count`` core nodes."""
        return set_core_count(data, count)

    def worker_shells(self) -> AbstractContextManager[list[WorkerShell]]:
        """This machine, with every executor core of the cluster; its scratch folder in the workdir."""
        return self._this_machine()

    @contextmanager
    def _this_machine(self) -> Iterator[list[WorkerShell]]:
        scratch = self.workdir.sub("scratch")
        try:
            yield [ThisMachine(compute_sizing(self.spec).total_executor_cores, scratch)]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def web_uis(self) -> dict[str, int]:
        """The Spark master's UI (and the NameNode's with ``local.hdfs``), on 127.0.0.1 already."""
        return {"spark-master": self.spec.local.webui_port}

    def plan(self, report: Reporter) -> PlanResult:
        """The processes ``up`` starts; the local provider costs nothing."""
        workers = self.spec.node_groups.core
        return PlanResult(
            summary={
                "add": {"spark-master": 1, "spark-worker": workers.count},
                "change": {},
                "destroy": {},
                "warnings": [],
            },
            hourly_usd=hourly_total(self.node_costs()),
            nodes=[asdict(c) for c in self.node_costs()],
        )

    def down(self, report: Reporter, delete_bucket: bool = False) -> DownResult:
        """Stop workers then master by pid, then verify no process of ours remains and ports are free."""
        stopped = []
        if (warm := self.warm.stop()) is not None:  # first: it is an application of the master's
            report(f"stopped {warm}")
            stopped.append(warm)
        for daemon in reversed(self._daemons()):
            pid = self._running(daemon)
            if pid is not None:
                report(f"stopping {daemon.name} (pid {pid})")
                stop_group(pid)
                stopped.append(f"{daemon.name} (pid {pid})")
            self._pid_file(daemon).unlink(missing_ok=True)
        marker = self._marker
        for pid in find_processes(marker):  # e.g. a worker whose pid file was deleted by hand
            report(f"stopping leftover process {pid}")
            stop_group(pid)
            stopped.append(f"leftover (pid {pid})")
        if self.spec.local.hdfs:
            # by pid files and marker only: stopping needs no Hadoop distribution (HADOOP_HOME may be gone)
            home = Path(self.spec.local.hadoop_home or os.environ.get("HADOOP_HOME") or ".")
            report("stopping HDFS")
            stopped += LocalHdfs(home, self.workdir.root, self.spec.local.namenode_port).stop()
        leftovers = find_processes(marker)
        busy = busy_ports([self.spec.local.master_port, self.spec.local.webui_port])
        if leftovers or busy:
            raise ClusterctlError(
                f"teardown incomplete: processes {leftovers} still running, ports {busy} still in use; "
                "stop them by hand (kill PID) and run `clusterctl down` again"
            )
        verified = (
            f"no process of {self.spec.name} left",
            f"ports {self.spec.local.master_port} and {self.spec.local.webui_port} free",
        )
        return DownResult(tuple(stopped), verified)


def _app_id(driver_log: Path) -> str | None:
    marker = "Connected to Spark cluster with app ID "
    try:
        for line in driver_log.read_text(errors="replace").splitlines():
            if marker in line:
                return line.split(marker, 1)[1].split()[0]
    except OSError:
        return None
    return None
