"""AWS side against moto (in-process): errors, tagged-resource discovery, sweep, EMR steps, cost, plan summary."""

import gzip
import hashlib
import http.server
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends

from clusterctl.config.spec import parse_spec
from clusterctl.cost import cost_report
from clusterctl.errors import ClusterctlError
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws import emr_steps
from clusterctl.providers.aws.pricing import node_costs
from clusterctl.providers.aws.sweep import sweep
from clusterctl.providers.aws.terraform import _first_error, summarize_plan
from clusterctl.providers.base import ClusterStatus, Job, NodeCost
from tests.conftest import aws_spec, run_cli

REGION = "eu-west-3"


@pytest.fixture
def moto_aws(monkeypatch):
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv(aws.ENDPOINT_ENV, raising=False)
    with mock_aws():
        yield


def _instances(name: str, ttl: str, count: int = 2) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    resp = ec2.run_instances(
        ImageId=image,
        MinCount=count,
        MaxCount=count,
        InstanceType="m5.xlarge",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": aws.CLUSTER_TAG, "Value": name}, {"Key": aws.TTL_TAG, "Value": ttl}],
            }
        ],
    )
    return [i["InstanceId"] for i in resp["Instances"]]


def _iso(delta_hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=delta_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("An error occurred (InvalidClientTokenId) when calling GetCallerIdentity", "aws configure"),
        ("NoCredentialsError: Unable to locate credentials", "AWS_PROFILE"),
        ("Error: creating EC2 Instance: VcpuLimitExceeded: You have requested more vCPU", "Service Quotas"),
        ("InstanceLimitExceeded: Your quota allows for 0 more running instance(s)", "fewer/smaller nodes"),
        ("Could not connect to the endpoint URL: https://ec2.mars-1.amazonaws.com", "check `region` in the spec"),
        ("InsufficientInstanceCapacity: We currently do not have sufficient m5.24xlarge", "another instance type"),
        ("UnauthorizedOperation: You are not authorized to perform: ec2:RunInstances", "for ec2:RunInstances"),
    ],
)
def test_known_aws_errors_become_one_line_fixes(text, expected):
    msg = aws.explain_aws_error(text, REGION)
    assert msg and expected in msg and "\n" not in msg


def test_aws_errors_context_translates_client_errors():
    err = ClientError({"Error": {"Code": "ExpiredToken", "Message": "The security token expired"}}, "GetCallerIdentity")
    with pytest.raises(ClusterctlError, match=r"credentials \(ExpiredToken\).*aws sso login"), aws.aws_errors(REGION):
        raise err
    other = ClientError({"Error": {"Code": "Weird", "Message": "odd"}}, "DescribeThing")
    with pytest.raises(ClusterctlError, match=r"AWS error: .*Weird"), aws.aws_errors(REGION):
        raise other


def test_terraform_first_error_is_one_line():
    stderr = (
        "╷\n│ Error: creating EC2 Instance: operation error EC2: RunInstances, api error VcpuLimitExceeded: "
        "You have requested more vCPU capacity\n│ \n│   with module.cluster.aws_instance.core[0],\n╵\n"
    )
    line = _first_error(stderr)
    assert line.startswith("Error: creating EC2 Instance") and "VcpuLimitExceeded" in line and "\n" not in line


def test_find_resources_and_sweep_honours_ttl(moto_aws, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERCTL_HOME", str(tmp_path))
    expired = _instances("old", _iso(-1))
    fresh = _instances("new", _iso(+5))
    found = aws.find_cluster_resources(REGION)
    assert {r.id for r in found if r.kind == "instance"} == set(expired + fresh)
    assert all(r.expired() for r in found if r.cluster == "old")
    assert not any(r.expired() for r in found if r.cluster == "new")

    listed = sweep(REGION, None, destroy=False, report=lambda *a: None)
    assert list(listed["clusters"]) == ["old"]
    ec2 = boto3.client("ec2", region_name=REGION)
    assert {
        i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=expired)["Reservations"] for i in r["Instances"]
    } == {"running"}  # listing changed nothing

    done = sweep(REGION, None, destroy=True, report=lambda *a: None)
    assert done["clusters"]["old"]["action"].startswith("terminated")
    states = {
        i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    }
    assert all(states[i] in ("shutting-down", "terminated") for i in expired)
    assert all(states[i] == "running" for i in fresh)
    assert aws.find_cluster_resources(REGION, "old") == []


def test_orphan_check_finds_leftover_instance(moto_aws, tmp_path):
    from clusterctl.providers.aws.ec2 import Ec2Provider
    from clusterctl.workdir import Workdir

    leftover = _instances("orphaned", _iso(+1), count=1)[0]
    spec = parse_spec(aws_spec() | {"name": "orphaned"})
    provider = Ec2Provider(spec, Workdir(tmp_path / "orphaned"))
    expected = rf"orphans still tagged clusterctl:cluster=orphaned: instance {leftover}"
    with pytest.raises(ClusterctlError, match=expected):
        provider.down(lambda *a: None)
    boto3.client("ec2", region_name=REGION).terminate_instances(InstanceIds=[leftover])
    result = provider.down(lambda *a: None)  # nothing in state, nothing left: clean
    assert result.stopped == () and "no instance" in result.verified[0]


def _emr_cluster(name: str = "emrc") -> str:
    emr = boto3.client("emr", region_name=REGION)
    return emr.run_job_flow(
        Name=name,
        ReleaseLabel="emr-7.13.0",
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "SlaveInstanceType": "m5.xlarge",
            "InstanceCount": 3,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        Tags=[{"Key": aws.CLUSTER_TAG, "Value": name}, {"Key": aws.TTL_TAG, "Value": _iso(-2)}],
    )["JobFlowId"]


def test_emr_step_submit_poll_and_logs(moto_aws, tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": REGION})
    emr = boto3.client("emr", region_name=REGION)
    cluster_id = _emr_cluster()
    assert emr_steps.wait_cluster(emr, cluster_id, lambda *a: None, sleep=lambda s: None) == "WAITING"

    main, zipped = tmp_path / "job.py", tmp_path / "workloads.zip"
    main.write_text("print('hi')\n")
    zipped.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    job = Job(main=main, args=("--input", "s3://bkt/in/"), name="census", py_files=(zipped,))
    main_uri, py_files = emr_steps.upload_job(s3, "bkt", "clusterctl/emrc", "run1", job)
    assert main_uri == "s3://bkt/clusterctl/emrc/jobs/run1/job.py"
    uploaded = s3.get_object(Bucket="bkt", Key="clusterctl/emrc/jobs/run1/workloads.zip")["Body"].read()
    assert uploaded == zipped.read_bytes()
    step_id = emr_steps.add_step(emr, cluster_id, job, main_uri, py_files)
    step = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
    assert step["Config"]["Args"] == [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--name",
        "census",
        "--py-files",
        "s3://bkt/clusterctl/emrc/jobs/run1/workloads.zip",
        main_uri,
        "--input",
        "s3://bkt/in/",
    ]
    assert step["ActionOnFailure"] == "CONTINUE"

    backend_step = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps[0]
    polls = []

    def finish_after_two(seconds):  # EMR finishing the step while we poll
        polls.append(seconds)
        if len(polls) == 2:
            backend_step.state = "FAILED"

    seen = []
    outcome = emr_steps.wait_step(
        emr, cluster_id, step_id, lambda m, *a: seen.append(m), poll_s=1, sleep=finish_after_two
    )
    assert outcome.state == "FAILED" and len(polls) == 2 and f"step {step_id}: RUNNING" in seen

    log_uri = "s3://bkt/clusterctl/emrc/logs/emr/"
    assert emr_steps.read_step_logs(s3, log_uri, cluster_id, step_id) == emr_steps.StepLogs(
        f"{log_uri}{cluster_id}/steps/{step_id}/", None, None
    )
    stderr = "INFO Client: Submitted application application_1700000000000_0007\nTraceback: boom\n"
    s3.put_object(
        Bucket="bkt",
        Key=f"clusterctl/emrc/logs/emr/{cluster_id}/steps/{step_id}/stderr.gz",
        Body=gzip.compress(stderr.encode()),
    )
    assert emr_steps.read_step_logs(s3, log_uri, cluster_id, step_id).stderr == stderr
    container = f"clusterctl/emrc/logs/emr/{cluster_id}/containers/application_1700000000000_0007"
    s3.put_object(
        Bucket="bkt",
        Key=f"{container}/container_1700000000000_0007_01_000001/stdout.gz",
        Body=gzip.compress(b'{"images": 3}\n'),
    )
    s3.put_object(
        Bucket="bkt",
        Key=f"{container}/container_1700000000000_0007_01_000002/stdout.gz",
        Body=gzip.compress(b"executor noise\n"),
    )
    assert emr_steps.fetch_driver_stdout(s3, log_uri, cluster_id, stderr) == '{"images": 3}\n'
    assert emr_steps.read_step_logs(s3, log_uri, cluster_id, step_id).stdout == '{"images": 3}\n'

    timed_out = emr.add_job_flow_steps(
        JobFlowId=cluster_id,
        Steps=[
            {
                "Name": "slow",
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]},
            }
        ],
    )["StepIds"][0]
    expected = r"still (PENDING|RUNNING) after 0s; cancel it with `aws emr cancel-steps"
    with pytest.raises(ClusterctlError, match=expected):
        emr_steps.wait_step(emr, cluster_id, timed_out, lambda *a: None, timeout_s=0, sleep=lambda s: None)


def test_emr_cluster_failure_reason_is_reported(moto_aws):
    emr = boto3.client("emr", region_name=REGION)
    cluster_id = _emr_cluster("broken")
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
    with pytest.raises(ClusterctlError, match=rf"EMR cluster {cluster_id} TERMINAT"):
        emr_steps.wait_cluster(emr, cluster_id, lambda *a: None, sleep=lambda s: None)


def test_sweep_terminates_expired_emr_cluster(moto_aws, monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERCTL_HOME", str(tmp_path))
    cluster_id = _emr_cluster("stale")
    result = sweep(REGION, None, destroy=True, report=lambda *a: None)
    assert cluster_id in result["clusters"]["stale"]["action"]
    state = boto3.client("emr", region_name=REGION).describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
    assert state["State"].startswith("TERMINAT")


def test_plan_summary_counts_and_flags_risks():
    plan = {
        "resource_changes": [
            {
                "address": "module.cluster.aws_instance.core[0]",
                "type": "aws_instance",
                "change": {
                    "actions": ["create"],
                    "after": {
                        "metadata_options": [{"http_tokens": "optional"}],
                        "root_block_device": [{"encrypted": False}],
                    },
                },
            },
            {
                "address": "module.cluster.aws_instance.core[1]",
                "type": "aws_instance",
                "change": {"actions": ["create"], "after": {"metadata_options": [{"http_tokens": "required"}]}},
            },
            {
                "address": "module.network.aws_vpc_security_group_ingress_rule.ssh[0]",
                "type": "aws_vpc_security_group_ingress_rule",
                "change": {"actions": ["create"], "after": {"cidr_ipv4": "0.0.0.0/0", "from_port": 22}},
            },
            {"address": "aws_s3_bucket.b", "type": "aws_s3_bucket", "change": {"actions": ["update"], "after": {}}},
            {"address": "aws_vpc.v", "type": "aws_vpc", "change": {"actions": ["delete", "create"], "after": {}}},
        ]
    }
    summary = summarize_plan(plan)
    assert summary.add == {"aws_instance": 2, "aws_vpc_security_group_ingress_rule": 1, "aws_vpc": 1}
    assert summary.change == {"aws_s3_bucket": 1} and summary.destroy == {"aws_vpc": 1}
    assert any("IMDSv1 allowed" in w and "core[0]" in w for w in summary.warnings)
    assert any("unencrypted volume" in w for w in summary.warnings)
    assert any("port 22 open to the whole internet" in w for w in summary.warnings)
    assert not any("core[1]" in w for w in summary.warnings)


def test_cost_report(tmp_path):
    spec = parse_spec(aws_spec(core="m5.2xlarge", count=3, master="m5.xlarge", region="us-east-1"))
    (tmp_path / "fruits.json").write_text(
        json.dumps({"date": "2026-11-25T00:00:00+00:00", "summary": {"images_per_s_per_core": 20.0}})
    )
    (tmp_path / "older.json").write_text(json.dumps({"date": "2025-01-01", "summary": {"images_per_s_per_core": 1}}))
    started = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    status = ClusterStatus("tc", "ec2", "running", started_at=started.isoformat())
    costs = node_costs(spec)
    report = cost_report(spec, costs, status, tmp_path, now=started + timedelta(hours=2))
    assert costs[-1] == NodeCost("network", "public IPv4 address", 4, 0.005)  # one per node
    hourly = 0.192 + 3 * 0.384 + 4 * 0.005  # us-east-1 on-demand m5.xlarge + 3 x m5.2xlarge + 4 addresses
    assert report["usd_per_hour"] == pytest.approx(hourly)
    assert report["hours_running"] == 2.0 and report["usd_so_far"] == pytest.approx(round(2 * hourly, 2))
    cores = 3 * 8  # executors fill every core of the core nodes
    assert report["usd_per_million_images"] == pytest.approx(round(hourly * 1e6 / (20 * cores) / 3600, 2))
    assert "fruits.json" in report["throughput_source"]
    stopped = cost_report(spec, costs, ClusterStatus("tc", "ec2", "stopped"), tmp_path / "none")
    assert stopped["usd_per_hour"] == 0.0 and stopped["usd_per_million_images"] is None


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self):  # also serves checkip: answers with an address
        type(self).hits.append(self.path)
        body = b"198.51.100.23\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def counting_server():
    _CountingHandler.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _CountingHandler.hits
    server.shutdown()
    server.server_close()


def test_caller_cidr_from_local_checkip(counting_server):
    url, hits = counting_server
    assert aws.caller_cidr(url) == "198.51.100.23/32"
    assert hits == ["/"]
    with pytest.raises(ClusterctlError, match=r"set network\.ssh_cidrs in the spec"):
        aws.caller_cidr("http://127.0.0.1:1/")


def test_invalid_spec_makes_no_aws_call(counting_server, tmp_path):
    url, hits = counting_server
    env = {aws.ENDPOINT_ENV: url, aws.CHECKIP_ENV: url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    bad = aws_spec(network={"ssh_cidrs": ["0.0.0.0/0"]})
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(bad))
    for command in ("plan", "up", "down", "status", "cost"):
        proc = run_cli(command, cwd=tmp_path, env=env)
        assert proc.returncode == 2 and "opens SSH to the whole internet" in proc.stderr, proc.stderr
    assert hits == []
    assert not (tmp_path / ".clusterctl").exists()
    assert not Path(tmp_path / "terraform.tfstate").exists()


def _emr_provider(tmp_path: Path, cluster_id: str):
    """An EmrProvider whose terraform outputs are those of ``cluster_id`` in moto (no terraform run)."""
    from clusterctl.providers import get_provider
    from clusterctl.workdir import Workdir

    spec = parse_spec(aws_spec(name="emrc", provider="emr", versions={"emr_release": "emr-7.13.0"}))
    provider = get_provider(spec, Workdir(tmp_path / "wd"))
    outputs = {"cluster_id": cluster_id, "bucket_name": "bkt", "log_uri": "s3://bkt/clusterctl/emrc/logs/emr/"}
    provider.outputs = lambda: outputs  # type: ignore[method-assign]
    provider.STEP_POLL_S, provider.LOG_POLL_S = 0.05, 0.05
    return provider


def _job(tmp_path: Path) -> Job:
    main = tmp_path / "job.py"
    main.write_text("print('hi')\n")
    return Job(main=main, args=(), name="census", py_files=())


def test_emr_submit_waits_for_the_step_logs_that_emr_writes_later(moto_aws, tmp_path):
    """The step succeeds; EMR writes its stderr and then the driver's stdout to S3 a while later: submit
    shows the driver's output once it is there, and `logs` has it."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": REGION})
    cluster_id = _emr_cluster("emrc")
    provider = _emr_provider(tmp_path, cluster_id)
    provider.STEP_LOG_WAIT_S = 60.0
    backend = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id]
    base = f"clusterctl/emrc/logs/emr/{cluster_id}"
    messages: list[str] = []
    waits_seen = threading.Event()

    def report(message, *args):
        messages.append(message)
        if backend.steps and backend.steps[0].state != "COMPLETED":
            backend.steps[0].state = "COMPLETED"  # EMR finishes the step while submit polls
        if "waiting for EMR to write the step's logs" in message and not waits_seen.is_set():
            waits_seen.set()
            threading.Timer(0.3, write_logs).start()

    def write_logs():  # minutes later on EMR: stderr naming the application, then the driver's stdout
        step_id = backend.steps[0].id
        s3.put_object(
            Bucket="bkt",
            Key=f"{base}/steps/{step_id}/stderr.gz",
            Body=gzip.compress(b"Submitted application application_1700000000000_0003\n"),
        )
        s3.put_object(
            Bucket="bkt",
            Key=f"{base}/containers/application_1700000000000_0003/container_1700000000000_0003_01_000001/stdout.gz",
            Body=gzip.compress(b'{"images": 320}\n'),
        )

    lines: list[str] = []
    result = provider.submit(_job(tmp_path), report, lines.append)
    assert result.exit_code == 0 and lines == ['{"images": 320}']
    assert waits_seen.is_set(), "the logs were not there at once: submit must have waited for them"
    assert result.stdout.read_text() == '{"images": 320}\n'
    assert "application_1700000000000_0003" in result.driver_log.read_text()
    logs = {f.label: f.path.read_text() for f in provider.logs(result.run_id)}
    assert logs["driver stdout"] == '{"images": 320}\n'


def test_emr_submit_says_where_the_logs_will_be_when_they_never_come(moto_aws, tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": REGION})
    cluster_id = _emr_cluster("emrc")
    provider = _emr_provider(tmp_path, cluster_id)
    provider.STEP_LOG_WAIT_S = 0.3
    backend = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id]

    messages: list[str] = []

    def report(message, *args):
        messages.append(message)
        if backend.steps:
            backend.steps[0].state = "COMPLETED"

    lines: list[str] = []
    result = provider.submit(_job(tmp_path), report, lines.append)
    step_id = backend.steps[0].id
    where = f"s3://bkt/clusterctl/emrc/logs/emr/{cluster_id}/steps/{step_id}/"
    assert result.exit_code == 0 and lines == []
    assert any(where in m and f"clusterctl logs {result.run_id}" in m for m in messages), messages
    assert where in result.driver_log.read_text()
    # EMR writes them later: `logs` fetches them then
    base = f"clusterctl/emrc/logs/emr/{cluster_id}"
    s3.put_object(Bucket="bkt", Key=f"{base}/steps/{step_id}/stderr.gz", Body=gzip.compress(b"no app here\n"))
    s3.put_object(Bucket="bkt", Key=f"{base}/steps/{step_id}/stdout.gz", Body=gzip.compress(b"late output\n"))
    logs = {f.label: f.path.read_text() for f in provider.logs(result.run_id)}
    assert logs == {"step stderr": "no app here\n", "driver stdout": "late output\n"}


def test_ec2_nodes_get_the_wheelhouse_from_the_bucket_by_presigned_urls_kept_out_of_the_output(
    moto_aws, tmp_path, monkeypatch
):
    from clusterctl.providers import get_provider
    from clusterctl.workdir import Workdir
    from tests.conftest import render_spec
    from tests.support.wheels import tiny_wheelhouse

    lock, house = tiny_wheelhouse(tmp_path / "nodeenv")
    monkeypatch.setenv("CLUSTERCTL_WHEELHOUSE", str(house.parent))
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": REGION})
    spec = parse_spec(aws_spec(name="whc", region=REGION, node_env={"lock": str(lock)}))
    workdir = Workdir(tmp_path / "wd")
    render_spec(spec, workdir)
    provider = get_provider(spec, workdir)
    provider.outputs = lambda: {"bucket_name": "bkt"}  # type: ignore[method-assign]
    variables = provider.bootstrap_vars(provider.node_env_vars(lambda *a: None))  # type: ignore[attr-defined]
    assert variables["python_env_wheelhouse_secret"] is True  # the playbook's no_log
    (entry,) = variables["python_env_wheelhouse"]
    wheel = next(house.glob("*.whl"))
    key = f"clusterctl/whc/nodeenv/{house.name}/{wheel.name}"
    assert entry["file"] == wheel.name and entry["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert entry["url"].startswith(f"https://bkt.s3.{REGION}.amazonaws.com/{key}?")  # regional, virtual-hosted
    assert "X-Amz-Expires=7200" in entry["url"] and "X-Amz-Signature=" in entry["url"]
    assert s3.get_object(Bucket="bkt", Key=key)["Body"].read() == wheel.read_bytes()
    assert variables["python_env_lock"] == str(workdir.root / "nodeenv" / "nodes.lock")
