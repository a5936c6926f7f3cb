"""EMR provider: Terraform (network, storage, emr-cluster modules); jobs run as EMR steps."""

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from clusterctl.config.properties import Ruled
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.nodeenv.cluster import source_lock
from clusterctl.progress import LineSink, Reporter
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws import emr_steps
from clusterctl.providers.aws.emr_config import EMR_PYTHON, bootstrap_script, emr_configurations, task_configurations
from clusterctl.providers.aws.terraformed import TerraformedProvider
from clusterctl.providers.base import ClusterStatus, Job, LogFile, Properties, RunResult, WorkerInfo, WorkerShell
from clusterctl.remote.hosts import Hosts


class EmrProvider(TerraformedProvider):
    """An EMR cluster with clusterctl's sizing as its configurations."""

    name: ClassVar[str] = "emr"
    CLUSTER_MODULE = "emr-cluster"
    OUTPUTS = ("cluster_id", "master_public_dns", "log_uri")
    DEPLOY_MODE = Ruled("cluster", "EMR steps run the driver in YARN")
    PYTHON = Ruled(EMR_PYTHON, "the bootstrap action's venv of the driver's Python version (EMR's python3 is 3.9)")
    # AmazonEMRServicePolicy_v2 launches only into subnets and security groups carrying this tag.
    LAUNCH_TAGS: ClassVar[dict[str, str]] = {"for-use-with-amazon-emr-managed-policies": "true"}
    BRINGS_SPARK: ClassVar[bool] = True
    STEP_POLL_S: ClassVar[float] = 10.0
    LOG_POLL_S: ClassVar[float] = 15.0
    STEP_LOG_WAIT_S: ClassVar[float] = 420.0  # EMR pushes step logs to S3 about every five minutes

    def cluster_inputs(self, properties: Properties) -> dict[str, Any]:
        """Release, security group, configurations from the properties (the task group's own when its type
        sizes differently), bootstrap action, idle timeout (0: EMR's auto-termination off)."""
        task = task_configurations(properties)
        lock_hash = source_lock(self.spec, self.BRINGS_SPARK).hash
        return {
            "release_label": self.spec.versions.emr_release,
            "additional_security_group_ids": ["${module.network.security_group_id}"],
            "additional_master_security_group_ids": ["${module.network.ssh_security_group_id}"],
            "configurations_json": json.dumps(emr_configurations(properties), sort_keys=True),
            "task_configurations_json": json.dumps(task, sort_keys=True) if task else None,
            "bootstrap_script": bootstrap_script(self.spec),
            # the wheelhouse folder of the workdir's lock, which `up` puts in the bucket before the cluster
            "bootstrap_args": [f"s3://${{module.storage.bucket_name}}/{self.wheelhouse_prefix()}/{lock_hash}/"],
            "idle_timeout_seconds": self.spec.idle_timeout_minutes * 60,
        }

    def environment_facts(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Also the EMR release (which fixes the image, Spark and Hadoop)."""
        return super().environment_facts(outputs) | {"emr_release": self.spec.versions.emr_release}

    def _cluster_id(self) -> str:
        cluster_id = self.outputs().get("cluster_id")
        if not cluster_id:
            raise ClusterctlError(f"cluster {self.spec.name} is not up; run `clusterctl up` first")
        return cluster_id

    def up(self, report: Reporter, bootstrap: bool = True) -> ClusterStatus:
        """Build the nodes' wheelhouse, create the bucket and put it there (the bootstrap action reads it as the
        nodes boot), apply the whole plan, and wait until EMR reports WAITING (EMR installs its nodes itself)."""
        bucket = self.apply(report, targets=["module.storage"])["bucket_name"]
        self.node_wheelhouse(bucket, report)
        cluster_id = self.apply(report)["cluster_id"]
        emr = aws.client("emr", self.spec.region)
        with aws.aws_errors(self.spec.region):
            emr_steps.wait_cluster(emr, cluster_id, report)
            timeline = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"].get("Timeline", {})
        if timeline.get("ReadyDateTime") and timeline.get("CreationDateTime"):
            # EMR's own clock: instances, bootstrap action (the wheelhouse install) and applications
            ready = (timeline["ReadyDateTime"] - timeline["CreationDateTime"]).total_seconds()
            self.workdir.record_environment({"bootstrap_seconds": round(ready, 1)})
        return self.status()

    def status(self) -> ClusterStatus:
        """EMR's state and instance groups."""
        outputs = self.outputs()
        if not outputs.get("cluster_id"):
            return ClusterStatus(self.spec.name, "emr", "stopped")
        emr = aws.client("emr", self.spec.region)
        with aws.aws_errors(self.spec.region):
            cluster = emr.describe_cluster(ClusterId=outputs["cluster_id"])["Cluster"]
            groups = emr.list_instance_groups(ClusterId=outputs["cluster_id"])["InstanceGroups"]
        workers = tuple(
            WorkerInfo(
                g["Id"],
                f"{g['InstanceGroupType'].lower()} x{g.get('RunningInstanceCount', 0)}",
                0,
                0,
                "ALIVE" if g["Status"]["State"] == "RUNNING" else g["Status"]["State"],
            )
            for g in groups
        )
        state = cluster["Status"]["State"]
        dns = cluster.get("MasterPublicDnsName")
        created = cluster["Status"].get("Timeline", {}).get("CreationDateTime")
        return ClusterStatus(
            self.spec.name,
            "emr",
            "running" if state in emr_steps.READY_STATES else state.lower(),
            master_url=f"emr://{outputs['cluster_id']}",
            web_ui=f"ssh -L 8088:localhost:8088 hadoop@{dns}" if dns else None,
            workers=workers,
            started_at=created.isoformat() if created else None,
        )

    def submit(self, job: Job, report: Reporter, on_output: LineSink) -> RunResult:
        """Upload the job, run it as a ``spark-submit --deploy-mode cluster`` step, wait for it, then for
        its logs in S3 (EMR writes them minutes after the step ends), and show the driver's output."""
        outputs = self.outputs()
        cluster_id = self._cluster_id()
        run_id = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}-{job.name}"
        run_dir = self.workdir.sub("runs") / run_id
        run_dir.mkdir()
        region = self.spec.region
        s3, emr = aws.client("s3", region), aws.client("emr", region)
        start = datetime.now(UTC)
        with aws.aws_errors(region):
            report(f"uploading {job.name} to s3://{outputs['bucket_name']}/{self.spec.bucket_prefix}/jobs/{run_id}/")
            main_uri, py_files = emr_steps.upload_job(s3, outputs["bucket_name"], self.spec.bucket_prefix, run_id, job)
            step_id = emr_steps.add_step(emr, cluster_id, job, main_uri, py_files)
            outcome = emr_steps.wait_step(emr, cluster_id, step_id, report, poll_s=self.STEP_POLL_S)
            (run_dir / "step.json").write_text(
                json.dumps(
                    {"cluster_id": cluster_id, "step_id": step_id, "state": outcome.state, "reason": outcome.reason}
                )
                + "\n"
            )
            logs = emr_steps.wait_step_logs(
                s3, outputs["log_uri"], cluster_id, step_id, report, self.STEP_LOG_WAIT_S, self.LOG_POLL_S
            )
        self._keep_logs(run_dir, logs)
        for line in (logs.stdout or "").splitlines():
            on_output(line)
        if logs.stdout is None:
            report(
                f"EMR has not written the driver's output to S3 yet; it lands in {logs.location} (and the "
                f"application's container logs beside it) within minutes: `clusterctl logs {run_id}` fetches it"
            )
        wall = (datetime.now(UTC) - start).total_seconds()
        code = 0 if outcome.state == "COMPLETED" else 1
        return RunResult(run_id, step_id, code, wall, run_dir / "stdout.txt", run_dir / "driver.log")

    @staticmethod
    def _keep_logs(run_dir: Path, logs: emr_steps.StepLogs) -> None:
        missing = f"(not written by EMR yet; it will be in {logs.location})\n"
        (run_dir / "driver.log").write_text(logs.stderr if logs.stderr is not None else missing)
        (run_dir / "stdout.txt").write_text(logs.stdout if logs.stdout is not None else "")
        (run_dir / "logs-complete").unlink(missing_ok=True)
        if logs.stdout is not None:
            (run_dir / "logs-complete").write_text(logs.location + "\n")

    def logs(self, run_id: str | None = None) -> list[LogFile]:
        """The step's logs, fetched again from S3 when ``submit`` left before EMR had written them."""
        runs = self.workdir.runs()
        run = self.workdir.path("runs") / run_id if run_id else (runs[-1] if runs else None)
        if run is None or not run.is_dir():
            raise ClusterctlError(f"no run {run_id or '(none yet)'} in {self.workdir.path('runs')}")
        step = run / "step.json"
        if step.is_file() and not (run / "logs-complete").exists():
            ids = json.loads(step.read_text())
            with aws.aws_errors(self.spec.region):
                self._keep_logs(
                    run,
                    emr_steps.read_step_logs(
                        aws.client("s3", self.spec.region), self.outputs()["log_uri"], ids["cluster_id"], ids["step_id"]
                    ),
                )
        return [LogFile("step stderr", run / "driver.log"), LogFile("driver stdout", run / "stdout.txt")]

    def hosts(self) -> Hosts:
        """EMR's nodes are EMR's: clusterctl does not log in to them."""
        raise ClusterctlError(
            "provider emr: clusterctl does not SSH to EMR nodes; use `aws emr ssh` or EMR's console, "
            "and `clusterctl logs` for the steps' logs"
        )

    def worker_shells(self) -> AbstractContextManager[list[WorkerShell]]:
        """None: a plain command on a worker would need SSH to EMR's nodes (raised at the call, before anything
        starts)."""
        raise SpecError(
            "provider emr: the plain baseline runs on the worker nodes over SSH, which clusterctl does not do on "
            "EMR; leave it out (--modes cold) or run the session on provider ec2 with the same instance types"
        )

    def web_uis(self) -> dict[str, int]:
        """YARN, Spark history and HDFS on EMR's master (reach them with EMR's own SSH tunnel)."""
        return {"yarn": 8088, "spark-history": 18080, "hdfs-namenode": 9870}
