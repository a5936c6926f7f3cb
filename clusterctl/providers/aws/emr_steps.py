"""EMR steps: upload a job to S3, add it as a spark-submit step, poll it, fetch its logs from S3."""

import gzip
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusterctl.errors import ClusterctlError
from clusterctl.progress import Reporter
from clusterctl.providers.base import Job

READY_STATES = ("WAITING", "RUNNING")
FAILED_CLUSTER_STATES = ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")
FINAL_STEP_STATES = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended."""

    step_id: str
    state: str
    reason: str | None


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key)."""
    match = re.match(r"^s3a?://([^/]+)/?(.*)$", uri)
    if not match:
        raise ClusterctlError(f"{uri}: not an s3:// URI")
    return match.group(1), match.group(2)


def upload_job(s3: Any, bucket: str, prefix: str, run_id: str, job: Job) -> tuple[str, list[str]]:
    """Put the main file and py-files under ``s3://bucket/prefix/jobs/run_id/``; return their URIs."""
    base = f"{prefix}/jobs/{run_id}"
    uris = []
    for path in (job.main, *job.py_files):
        key = f"{base}/{path.name}"
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ServerSideEncryption": "aws:kms"})
        uris.append(f"s3://{bucket}/{key}")
    return uris[0], uris[1:]


def step_args(job: Job, main_uri: str, py_files: list[str]) -> list[str]:
    """The ``command-runner.jar`` arguments: spark-submit in cluster deploy mode."""
    args = ["spark-submit", "--deploy-mode", "cluster", "--name", job.name]
    if py_files:
        args += ["--py-files", ",".join(py_files)]
    for key, value in sorted(job.conf.items()):
        args += ["--conf", f"{key}={value}"]
    return [*args, main_uri, *job.args]


def add_step(emr: Any, cluster_id: str, job: Job, main_uri: str, py_files: list[str]) -> str:
    """Add the job as one step (the cluster keeps running if it fails); return the step id."""
    resp = emr.add_job_flow_steps(
        JobFlowId=cluster_id,
        Steps=[
            {
                "Name": job.name,
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": step_args(job, main_uri, py_files)},
            }
        ],
    )
    return resp["StepIds"][0]


def wait_step(
    emr: Any,
    cluster_id: str,
    step_id: str,
    report: Reporter,
    poll_s: float = 10.0,
    timeout_s: float = 24 * 3600,
    sleep: Callable[[float], None] = time.sleep,
) -> StepOutcome:
    """Poll the step until it ends, reporting its state."""
    deadline = time.monotonic() + timeout_s
    while True:
        step = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
        state = step["Status"]["State"]
        report(f"step {step_id}: {state}")
        if state in FINAL_STEP_STATES:
            reason = step["Status"].get("FailureDetails", {}).get("Reason") or step["Status"].get(
                "StateChangeReason", {}
            ).get("Message")
            return StepOutcome(step_id, state, reason)
        if time.monotonic() > deadline:
            raise ClusterctlError(
                f"step {step_id} still {state} after {timeout_s:.0f}s; cancel it with "
                f"`aws emr cancel-steps --cluster-id {cluster_id} --step-ids {step_id}`"
            )
        sleep(poll_s)


def wait_cluster(
    emr: Any,
    cluster_id: str,
    report: Reporter,
    poll_s: float = 15.0,
    timeout_s: float = 3600,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait until the cluster is WAITING/RUNNING; raise with EMR's reason if it terminates instead."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
        state = status["State"]
        report(f"EMR cluster {cluster_id}: {state}")
        if state in READY_STATES:
            return state
        if state in FAILED_CLUSTER_STATES:
            reason = status.get("StateChangeReason", {}).get("Message", "no reason given")
            raise ClusterctlError(
                f"EMR cluster {cluster_id} {state}: {reason}; fix the cause and run "
                "`clusterctl up` again (or `clusterctl down`)"
            )
        if time.monotonic() > deadline:
            raise ClusterctlError(f"EMR cluster {cluster_id} still {state} after {timeout_s:.0f}s")
        sleep(poll_s)


@dataclass(frozen=True)
class StepLogs:
    """What EMR has written to S3 about a step: its ``stderr`` (spark-submit's, naming the YARN
    application) and the driver's stdout (cluster deploy mode: the application's first container)."""

    location: str  # where EMR writes them: s3://bucket/prefix/<cluster>/steps/<step>/
    stderr: str | None
    stdout: str | None


def step_log_location(log_uri: str, cluster_id: str, step_id: str) -> str:
    """``s3://…/<cluster>/steps/<step>/``: where EMR pushes a step's logs."""
    return f"{log_uri.rstrip('/')}/{cluster_id}/steps/{step_id}/"


def _read_gz(s3: Any, bucket: str, key: str) -> str | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return gzip.decompress(body).decode(errors="replace")


def read_step_logs(s3: Any, log_uri: str, cluster_id: str, step_id: str) -> StepLogs:
    """The step's logs as far as EMR has written them (None where not yet)."""
    location = step_log_location(log_uri, cluster_id, step_id)
    bucket, prefix = split_s3(location)
    stderr = _read_gz(s3, bucket, f"{prefix}stderr.gz")
    stdout = fetch_driver_stdout(s3, log_uri, cluster_id, stderr) if stderr else None
    if stderr and stdout is None and not re.search(r"application_\d+_\d+", stderr):
        stdout = _read_gz(s3, bucket, f"{prefix}stdout.gz")  # no YARN application: spark-submit's own
    return StepLogs(location, stderr, stdout)


def wait_step_logs(
    s3: Any,
    log_uri: str,
    cluster_id: str,
    step_id: str,
    report: Reporter,
    wait_s: float,
    poll_s: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> StepLogs:
    """Poll S3 until the driver's stdout is there, or ``wait_s`` passed: EMR pushes step and container
    logs about every five minutes, so right after a step ends they are usually missing."""
    deadline = time.monotonic() + wait_s
    while True:
        logs = read_step_logs(s3, log_uri, cluster_id, step_id)
        left = deadline - time.monotonic()
        if logs.stdout is not None or left <= 0:
            return logs
        report(f"waiting for EMR to write the step's logs to {logs.location} ({left:.0f} s more at most)")
        sleep(min(poll_s, max(left, 0.0)))


def fetch_driver_stdout(s3: Any, log_uri: str, cluster_id: str, step_stderr: str | None) -> str | None:
    """The driver's stdout (cluster deploy mode: the YARN application's first container) from S3 logs."""
    match = re.search(r"(application_\d+_\d+)", step_stderr or "")
    if not match:
        return None
    bucket, prefix = split_s3(log_uri)
    base = f"{prefix.rstrip('/')}/{cluster_id}/containers/{match.group(1)}/".lstrip("/")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=base).get("Contents", [])
    keys = sorted(o["Key"] for o in listing if re.search(r"_0+1/stdout\.gz$", o["Key"]))
    if not keys:
        return None
    return gzip.decompress(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()).decode(errors="replace")
