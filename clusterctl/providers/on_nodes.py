"""What the providers that install their own nodes share (ec2, ssh): the bootstrap over SSH, the health
gate, and the verbs that act on the nodes (status of the daemons, submit, logs, remote commands).

A subclass says where its nodes are (``hosts()``) and how it creates and removes them. Everything
here speaks to the nodes through ``clusterctl.remote``: Fabric for commands and files, ansible-playbook
for the bootstrap.
"""

import json
import shlex
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from clusterctl.config.catalog import load_catalog
from clusterctl.config.properties import NodeLayout, Ruled
from clusterctl.config.sizing import compute_sizing
from clusterctl.config.spec import ClusterSpec
from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.cluster import LOCK_DIR, NODES_LOCK, mirror_files, pip_source_args, workdir_lock
from clusterctl.progress import LineSink, Reporter
from clusterctl.providers.base import AppInfo, ClusterStatus, Job, LogFile, RunResult, WorkerInfo, WorkerShell
from clusterctl.remote import autostop_agent, health
from clusterctl.remote.bootstrap import BootstrapResult, run_playbook
from clusterctl.remote.connection import Remote
from clusterctl.remote.hosts import Hosts
from clusterctl.remote.shell import NodeShell
from clusterctl.workdir import Workdir

NODE_ROOT = "/mnt/clusterctl"  # on the nodes: the data volume (ansible: clusterctl_data_root)
NODE_CONF_DIR = "/etc/hadoop/conf"
REMOTE_RUNS = ".clusterctl/runs"  # below the SSH user's home on the master
AUTOSTOP_AGENT = Path(autostop_agent.__file__)  # copied alone to the master by the bootstrap (stdlib + boto3)
AUTOSTOP_POLL_S = 60
BOOTSTRAPPED = "ansible/bootstrapped.json"  # in the workdir: the last successful bootstrap
SPARK_MASTER_PORT = 7077


def named_nodes_layout(
    spec: ClusterSpec,
    scheduler: Literal["standalone", "yarn"],
    spark_master: Ruled,
    deploy_mode: Ruled,
    python: Ruled,
    instance_profile_s3a: bool,
) -> NodeLayout:
    """The layout of a cluster on real nodes (ec2, ssh, emr): hosts named by role (``/etc/hosts`` maps them),
    the data volume at ``NODE_ROOT``, HDFS on the master with one DataNode per core node."""
    groups = spec.node_groups
    workers = [f"core-{i}" for i in range(1, groups.core.count + 1)]
    if groups.task:
        workers += [f"task-{i}" for i in range(1, groups.task.count + 1)]
    return NodeLayout(
        scheduler=scheduler,
        master_host="master",
        worker_hosts=tuple(workers),
        datanodes=groups.core.count,  # task nodes only compute
        root=NODE_ROOT,
        conf_dir=NODE_CONF_DIR,
        default_fs=Ruled("hdfs://master:8020", "NameNode on the master"),
        spark_master=spark_master,
        deploy_mode=deploy_mode,
        python=python,
        event_log_dir=Ruled("hdfs:///spark-events", "event logs beside the cluster"),
        instance_profile_s3a=instance_profile_s3a,
    )


class NodeCluster:
    """Hadoop/Spark on machines clusterctl installs over SSH with ``ansible/site.yml``."""

    name: ClassVar[str]
    INSTANCE_PROFILE_S3A: ClassVar[bool] = False  # s3a authenticates with the nodes' instance profile
    AUTOSTOP: ClassVar[bool] = False  # the master may terminate the cluster's instances (its own IAM role)
    spec: ClusterSpec
    workdir: Workdir

    # -- what a subclass provides ----------------------------------------------------------------
    def hosts(self) -> Hosts:
        """The nodes and how to log in to them."""
        raise NotImplementedError

    # -- layout ------------------------------------------------------------------------------------
    def node_layout(self) -> NodeLayout:
        """Nodes named master, core-N, task-N; YARN or a Spark standalone master there, as ``spark.manager``
        says; the driver on the master (submit runs spark-submit there over SSH)."""
        standalone = self.spec.spark_manager == "standalone"
        return named_nodes_layout(
            self.spec,
            scheduler="standalone" if standalone else "yarn",
            spark_master=(
                Ruled(f"spark://master:{SPARK_MASTER_PORT}", "spark.manager standalone: the master node's Spark master")
                if standalone
                else Ruled("yarn", "Spark on YARN")
            ),
            deploy_mode=Ruled("client", "driver on the master node (submit runs spark-submit there over SSH)"),
            python=Ruled(health.NODE_PYTHON, "the nodes' workload virtualenv (ansible role python_env)"),
            instance_profile_s3a=self.INSTANCE_PROFILE_S3A,
        )

    # -- bootstrap -------------------------------------------------------------------------------
    def bootstrap_vars(self, node_env: dict[str, Any] | None = None) -> dict[str, Any]:
        """The playbook's per-cluster variables (``ansible/group_vars/all.yml`` documents each), with
        ``node_env`` (where the nodes get the locked packages: ``node_env_vars``) before the spec's own."""
        spec = self.spec
        pins = load_catalog().hadoop_sha512
        variables: dict[str, Any] = {
            "clusterctl_conf_dir": str(self.workdir.conf),
            "python_version": spec.versions.python,
            "spark_manager": spec.spark_manager,
            "hadoop_version": spec.versions.hadoop,
            "hadoop_sha512": spec.bootstrap.hadoop_sha512 or pins[spec.versions.hadoop],
            "hadoop_mirror": spec.bootstrap.hadoop_mirror,
            "python_env_lock": str(self.workdir.root / LOCK_DIR / NODES_LOCK),
            "python_env_pip_args": [*pip_source_args(spec.node_env), *spec.bootstrap.pip_args],
            "clusterctl_autostop": self.autostop_settings(),
            "clusterctl_autostop_agent_src": str(AUTOSTOP_AGENT),
        }
        return variables | (node_env or {}) | spec.bootstrap.ansible_vars

    def node_env_vars(self, report: Reporter) -> dict[str, Any]:
        """Where the nodes get the lock's files: a mirror of its wheelhouse (``node_env.wheelhouse_url``), else
        pip fetches them from the index, hash-checked (a subclass with a bucket puts the wheelhouse there)."""
        url = self.spec.node_env.wheelhouse_url
        if url is None:
            return {}
        return {"python_env_wheelhouse": mirror_files(workdir_lock(self.workdir.root), url)}

    def autostop_settings(self) -> dict[str, Any]:
        """The configuration of the master's autostop agent (``clusterctl/remote/autostop_agent.py``), or {}
        for none: when neither ``idle_timeout_minutes`` nor ``max_lifetime_hours`` asks for it, and on nodes
        that cannot end themselves (``AUTOSTOP`` false: provider ssh has no cloud API and its machines are
        not clusterctl's to terminate)."""
        spec = self.spec
        lifetime_s = spec.max_lifetime_hours * 3600 if spec.max_lifetime_hours else None
        if not self.AUTOSTOP or (spec.idle_timeout_minutes == 0 and lifetime_s is None):
            return {}
        port = self.web_uis()["spark-master" if spec.spark_manager == "standalone" else "yarn"]
        return {
            "cluster": spec.name,
            "region": spec.region,
            "idle_timeout_s": spec.idle_timeout_minutes * 60,
            "max_lifetime_s": lifetime_s,
            "manager": spec.spark_manager,
            "manager_url": f"http://master:{port}",
            "poll_s": AUTOSTOP_POLL_S,
        }

    def bootstrap(self, report: Reporter) -> BootstrapResult:
        """Wait for SSH on every node, run the playbook, then the health gate; record the run."""
        hosts = self.hosts()
        with Remote(hosts) as remote:
            health.wait_for_ssh(remote, report)
            variables = self.bootstrap_vars(self.node_env_vars(report))
            result = run_playbook(hosts, variables, self.workdir.root, report)
            checks = health.gate(remote, self.spec.spark_manager, report)
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds")} | result.to_dict() | {"health": checks}
        path = self.workdir.root / BOOTSTRAPPED
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        self.workdir.record_environment(
            {"node_lock": workdir_lock(self.workdir.root).hash, "bootstrap_seconds": round(result.seconds, 1)}
        )
        return result

    def bootstrapped(self) -> dict[str, Any] | None:
        """The record of the last successful bootstrap, or None."""
        path = self.workdir.path(BOOTSTRAPPED)
        return json.loads(path.read_text()) if path.is_file() else None

    # -- status ------------------------------------------------------------------------------------
    def daemon_status(self, name: str, provider: str) -> ClusterStatus:
        """Live DataNodes and NodeManagers (or Spark workers) as the master's daemons report them."""
        hosts = self.hosts()
        manager = self.spec.spark_manager
        with Remote(hosts) as remote:
            seen = health.observe(remote, manager)
        workers = []
        for node in hosts.workers:
            daemons = seen.worker_daemons(node, manager)
            state = "ALIVE" if daemons and all(daemons.values()) else "DEAD"
            workers.append(
                WorkerInfo(
                    node.name,
                    f"{node.name} {node.private_ip}",
                    seen.cores.get(node.private_ip, 0),
                    seen.memory_mb.get(node.private_ip, 0),
                    state,
                )
            )
        healthy = all(w.state == "ALIVE" for w in workers) and seen.namenode_up
        master = hosts.master
        return ClusterStatus(
            name,
            provider,
            "running" if healthy else "degraded",
            master_url=f"spark://master:{SPARK_MASTER_PORT}" if manager == "standalone" else "yarn",
            web_ui=f"clusterctl ui -f <spec>  (SSH forwards to {master.address})",
            workers=tuple(workers),
            apps=tuple(AppInfo(a["id"], a["name"], a["state"], a.get("cores", 0)) for a in seen.apps),
            notes=tuple(seen.notes),
            storage={
                "uri": "hdfs://master:8020",
                "state": "running" if seen.namenode_up else "down",
                "live_datanodes": len(seen.datanodes),
                "datanodes": sorted(seen.datanodes),
            },
        )

    # -- jobs --------------------------------------------------------------------------------------
    def submit(self, job: Job, report: Reporter, on_output: LineSink) -> RunResult:
        """Copy the job to the master and run ``spark-submit`` there over SSH; its stdout streams back."""
        if self.bootstrapped() is None:
            raise ClusterctlError(f"cluster {self.spec.name} is not bootstrapped; run `clusterctl up` first")
        run_id = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}-{job.name}"
        run_dir = self.workdir.sub("runs") / run_id
        run_dir.mkdir()
        hosts = self.hosts()
        master = hosts.master
        with Remote(hosts) as remote:
            home = remote.run(master, "pwd").stdout.strip()
            remote_dir = f"{home}/{REMOTE_RUNS}/{run_id}"
            remote.run(master, f"mkdir -p {shlex.quote(remote_dir)}")
            report(f"copying {job.name} to the master")
            for path in (job.main, *job.py_files):
                remote.put(master, path, f"{remote_dir}/{path.name}")
            argv = ["spark-submit", "--name", job.name]
            if job.py_files:
                argv += ["--py-files", ",".join(f"{remote_dir}/{p.name}" for p in job.py_files)]
            for key, value in sorted(job.conf.items()):
                argv += ["--conf", f"{key}={value}"]
            argv += [f"{remote_dir}/{job.main.name}", *job.args]
            command = f"cd {shlex.quote(remote_dir)} && {shlex.join(argv)}"
            (run_dir / "command.json").write_text(
                json.dumps({"node": master.name, "cwd": remote_dir, "argv": argv}, indent=2) + "\n"
            )
            stdout_path, log_path = run_dir / "stdout.txt", run_dir / "driver.log"
            report(f"submitting {job.name} ({run_id}) on {master.name}")
            start = time.monotonic()
            with stdout_path.open("w") as out, log_path.open("w") as log:

                def on_stdout(line: str) -> None:
                    out.write(line + "\n")
                    out.flush()
                    on_output(line)

                def on_stderr(line: str) -> None:
                    log.write(line + "\n")
                    log.flush()

                outcome = remote.run(master, command, on_stdout=on_stdout, on_stderr=on_stderr)
        wall = time.monotonic() - start
        result = RunResult(run_id, health.app_id(log_path.read_text()), outcome.exit_code, wall, stdout_path, log_path)
        (run_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
        return result

    def logs(self, run_id: str | None = None) -> list[LogFile]:
        """The run's driver log and stdout, its executors' logs fetched from the nodes (YARN: ``yarn logs``),
        and the daemons' logs."""
        runs = self.workdir.runs()
        if run_id is not None and not (self.workdir.path("runs") / run_id).is_dir():
            known = ", ".join(p.name for p in runs[-5:]) or "none yet"
            raise ClusterctlError(f"no run {run_id!r} in {self.workdir.path('runs')}; recent runs: {known}")
        run = self.workdir.path("runs") / run_id if run_id else (runs[-1] if runs else None)
        found: list[LogFile] = []
        app = None
        if run is not None:
            found += [LogFile("driver", run / "driver.log"), LogFile("stdout", run / "stdout.txt")]
            app = (
                health.app_id((run / "driver.log").read_text(errors="replace"))
                if (run / "driver.log").exists()
                else None
            )
        if self.bootstrapped() is None:  # nothing runs on the nodes: what the runs left here is all there is
            if run is None:
                raise ClusterctlError(
                    f"cluster {self.spec.name} is not up and has no runs; start it with `clusterctl up`"
                )
            return found
        fetched = self.workdir.sub("logs") / "nodes"
        hosts = self.hosts()
        with Remote(hosts) as remote:
            if app and run is not None:
                for label, text in health.executor_logs(remote, self.spec.spark_manager, app):
                    path = run / f"{label.replace(' ', '-')}.log"
                    path.write_text(text)
                    found.append(LogFile(label, path))
            for node in hosts.nodes:
                for daemon, text in health.daemon_logs(remote, node):
                    path = fetched / f"{node.name}-{daemon}.log"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
                    found.append(LogFile(f"daemon {daemon} on {node.name}", path))
        return found

    def stop_daemons(self, report: Reporter) -> list[str]:
        """Stop every clusterctl daemon on every node (workers first) and check none is left running."""
        hosts = self.hosts()
        stopped: list[str] = []
        with Remote(hosts) as remote:
            for node in (*hosts.workers, hosts.master):
                report(f"stopping the daemons on {node.name}")
                stopped += [f"{d} on {node.name}" for d in health.stop_daemons(remote, node)]
            running = {n.name: health.running_daemons(remote, n) for n in hosts.nodes}
        left = {k: v for k, v in running.items() if v}
        if left:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in left.items())
            raise ClusterctlError(
                f"daemons still running after stop: {listed}; see `clusterctl logs` and stop them by hand"
            )
        return stopped

    def scratch_uri(self, name: str) -> str:
        """In the cluster's HDFS (reached through the master: ``storage_access``)."""
        return f"hdfs://master:8020/scratch/{name}"

    def storage_access(self, uri: str) -> AbstractContextManager[tuple[str, dict[str, str]]]:
        """``hdfs://`` of this cluster through a SOCKS tunnel via the master (the NameNode and DataNodes listen
        on private addresses); anything else as it is."""
        if urllib.parse.urlparse(uri).scheme != "hdfs":
            return nullcontext((uri, {}))
        return self._hdfs_tunnel(uri)

    @contextmanager
    def _hdfs_tunnel(self, uri: str) -> Iterator[tuple[str, dict[str, str]]]:
        hosts = self.hosts()
        parsed = urllib.parse.urlparse(uri)
        if parsed.hostname not in (None, "master", hosts.master.private_ip):
            raise ClusterctlError(f"--to {uri}: the cluster's HDFS is hdfs://master:8020 (or hdfs:///PATH)")
        # the master's name resolves on the nodes only: the client asks for its private address instead
        direct = f"hdfs://{hosts.master.private_ip}:{parsed.port or 8020}{parsed.path}"
        with Remote(hosts) as remote, remote.socks(hosts.master) as port:
            yield (
                direct,
                {
                    "fs.defaultFS": f"hdfs://{hosts.master.private_ip}:{parsed.port or 8020}",
                    "hadoop.socks.server": f"127.0.0.1:{port}",
                    "hadoop.rpc.socket.factory.class.default": "org.apache.hadoop.net.SocksSocketFactory",
                },
            )

    def worker_shells(self) -> AbstractContextManager[list[WorkerShell]]:
        """Every core and task node over SSH, with the executor cores the sizing gives its group, the workload
        virtualenv's Python, and a scratch folder below the login user's home (named for the node: two nodes
        may share a home over NFS), removed at the end."""
        return self._node_shells()

    @contextmanager
    def _node_shells(self) -> Iterator[list[WorkerShell]]:
        hosts = self.hosts()
        sizing = compute_sizing(self.spec)
        cores = {role: sizing.executor_cores.value * n.value for role, n in sizing.executors_per_node.items()}
        with Remote(hosts) as remote:
            shells = []
            for node in hosts.workers:  # one after another: each opens its connection here, not in a thread
                home = remote.run(node, "pwd").stdout.strip()
                scratch = f"{home}/.clusterctl/scratch/{node.name}"
                shells.append(NodeShell(remote, node, cores[node.role], health.NODE_PYTHON, scratch))
            try:
                yield list(shells)
            finally:
                for shell in shells:
                    remote.run(shell.node, f"rm -rf {shlex.quote(shell.scratch)}")

    def web_uis(self) -> dict[str, int]:
        """The master's web UIs (name -> port) that ``clusterctl ui`` forwards."""
        uis = {"hdfs-namenode": 9870}
        if self.spec.spark_manager == "standalone":
            uis["spark-master"] = 8080
        else:
            uis |= {"yarn": 8088, "spark-history": 18080}
        return uis
