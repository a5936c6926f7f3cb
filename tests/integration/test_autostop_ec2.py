"""Autostop against a moto server on 127.0.0.1: the agent terminates an idle (or too old) cluster's
instances through the EC2 API, workers first and the master last, leaves a busy cluster and every other
cluster alone; and `clusterctl down` afterwards still removes everything terraform made.

The activity probe talks HTTP to a stand-in ResourceManager on 127.0.0.1; time is an injected clock.
The order of the terminate calls is recorded by a botocore event hook on the agent's own client.
"""

import json
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from clusterctl.config.spec import load_spec
from clusterctl.providers import get_provider
from clusterctl.providers.aws import client as aws
from clusterctl.remote import autostop_agent as agent
from clusterctl.remote.autostop_agent import KEEP, STOP_IDLE, STOP_LIFETIME, Agent, Config, terminate_cluster
from clusterctl.workdir import Workdir
from tests.conftest import run_cli
from tests.integration.test_aws_terraform import (  # noqa: F401  (mirror, moto_env, terraform_bin: fixtures)
    REGION,
    _boto,
    _example,
    _moto_ami,
    mirror,
    moto_env,
    terraform_bin,
)
from tests.support.cluster_manager import YARN_APPS, cluster_manager, yarn_apps
from tests.support.moto_endpoint import moto_endpoint

pytestmark = pytest.mark.integration

IDLE_S = 600
POLL_S = 60
GONE = {"shutting-down", "terminated"}


class Clock:
    """Seconds since the epoch that move only when the agent sleeps."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server, and this process's AWS settings pointing at it (the agent reads the same variables)."""
    with moto_endpoint() as url:
        for key, value in {
            aws.ENDPOINT_ENV: url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_MAX_ATTEMPTS": "2",
        }.items():
            monkeypatch.setenv(key, value)
        yield url


@pytest.fixture
def manager() -> Iterator[tuple[str, Any]]:
    """A stand-in YARN ResourceManager on 127.0.0.1 (no applications until a test says so)."""
    with cluster_manager() as (url, answers):
        answers.answers[YARN_APPS] = yarn_apps()
        yield url, answers


def _ec2() -> Any:
    return boto3.session.Session(region_name=REGION).client("ec2", endpoint_url=aws.endpoint())


def _launch(ec2: Any, cluster: str, workers: int = 2) -> dict[str, str]:
    """A master and ``workers`` core nodes tagged as clusterctl tags them: role -> instance id (core-N)."""
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = {}
    for name in ["master", *(f"core-{i}" for i in range(1, workers + 1))]:
        tags = {aws.CLUSTER_TAG: cluster, aws.ROLE_TAG: name.split("-")[0], "Name": f"{cluster}-{name}"}
        (inst,) = ec2.run_instances(
            ImageId=ami,
            InstanceType="m5.xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["Instances"]
        ids[name] = inst["InstanceId"]
    return ids


def _states(ec2: Any, ids: list[str]) -> dict[str, str]:
    return {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }


class TerminateCalls:
    """Records each TerminateInstances call the agent's client makes: the clock, the ids, and the states of
    the cluster's other instances at that moment (asked through a client of its own)."""

    def __init__(self, client: Any, clock: Clock, ids: dict[str, str]) -> None:
        self.calls: list[tuple[float, list[str], dict[str, str]]] = []
        self.clock, self.ids, self.observer = clock, ids, _ec2()
        client.meta.events.register("before-parameter-build.ec2.TerminateInstances", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        asked = sorted(params["InstanceIds"])
        others = [i for i in self.ids.values() if i not in asked]
        self.calls.append((self.clock(), asked, _states(self.observer, others) if others else {}))


def _config(url: str, cluster: str, idle_timeout_s: int = IDLE_S, max_lifetime_s: int | None = None) -> Config:
    return Config.from_dict(
        {
            "cluster": cluster,
            "region": REGION,
            "idle_timeout_s": idle_timeout_s,
            "max_lifetime_s": max_lifetime_s,
            "manager": "yarn",
            "manager_url": url,
            "poll_s": POLL_S,
        }
    )


def test_idle_cluster_ends_workers_first_master_last_and_others_stay(moto, manager):
    ec2 = _ec2()
    ids = _launch(ec2, "idle")
    other = _launch(ec2, "other", workers=1)
    clock = Clock()
    client = agent.ec2_client(REGION)  # what the agent's main() makes: CLUSTERCTL_AWS_ENDPOINT honoured
    calls = TerminateCalls(client, clock, ids)
    started = clock()
    watcher = Agent(_config(manager[0], "idle"), client, ids["master"], started, clock=clock, sleep=clock.sleep)

    assert watcher.run() == STOP_IDLE
    assert [asked for _, asked, _ in calls.calls] == [sorted([ids["core-1"], ids["core-2"]]), [ids["master"]]]
    first_at, _, _ = calls.calls[0]
    assert IDLE_S <= first_at - started < IDLE_S + POLL_S  # not before the timeout, at the first check after it
    _, _, workers_then = calls.calls[1]
    assert set(workers_then.values()) <= GONE, "the master went before its workers were going"
    assert set(_states(ec2, list(ids.values())).values()) <= GONE
    assert set(_states(ec2, list(other.values())).values()) == {"running"}, "another cluster was touched"
    assert len(manager[1].requests) == IDLE_S // POLL_S + 1  # it did ask the manager at every check


def test_busy_cluster_is_left_alone(moto, manager):
    url, answers = manager
    answers.answers[YARN_APPS] = yarn_apps("RUNNING")
    ec2 = _ec2()
    ids = _launch(ec2, "busy")
    clock = Clock()
    client = agent.ec2_client(REGION)
    calls = TerminateCalls(client, clock, ids)
    watcher = Agent(_config(url, "busy"), client, ids["master"], clock(), clock=clock, sleep=clock.sleep)

    decisions = set()
    for _ in range(3 * IDLE_S // POLL_S):  # three idle timeouts' worth of checks
        clock.sleep(POLL_S)
        decisions.add(watcher.check())
    assert decisions == {KEEP} and calls.calls == []
    assert set(_states(ec2, list(ids.values())).values()) == {"running"}

    answers.answers[YARN_APPS] = yarn_apps()  # the job ends: stopped one idle timeout later
    assert watcher.run() == STOP_IDLE
    assert len(calls.calls) == 2


def test_max_lifetime_wins_over_activity(moto, manager):
    url, answers = manager
    answers.answers[YARN_APPS] = yarn_apps("RUNNING", "ACCEPTED")
    ec2 = _ec2()
    ids = _launch(ec2, "old")
    clock = Clock()
    client = agent.ec2_client(REGION)
    calls = TerminateCalls(client, clock, ids)
    started = clock() - 3000  # launched 50 minutes before the agent started (the bootstrap took a while)
    watcher = Agent(_config(url, "old", max_lifetime_s=3600), client, ids["master"], started, clock, sleep=clock.sleep)

    assert watcher.run() == STOP_LIFETIME
    assert 3600 <= calls.calls[0][0] - started < 3600 + POLL_S
    assert [asked for _, asked, _ in calls.calls][-1] == [ids["master"]]
    assert set(_states(ec2, list(ids.values())).values()) <= GONE


def test_autostop_off_never_stops(moto, manager, tmp_path, capsys):
    ec2 = _ec2()
    ids = _launch(ec2, "kept")
    off = _config(manager[0], "kept", idle_timeout_s=0)
    assert not off.enabled
    path = tmp_path / "autostop.json"
    path.write_text(json.dumps(asdict(off)))
    assert agent.main(["--config", str(path), "--instance-id", ids["master"]]) == 0
    assert "autostop is off" in capsys.readouterr().out
    clock = Clock()
    watcher = Agent(off, agent.ec2_client(REGION), ids["master"], clock(), clock=clock, sleep=clock.sleep)
    for _ in range(10):
        clock.sleep(24 * 3600)
        assert watcher.check() == KEEP
    assert set(_states(ec2, list(ids.values())).values()) == {"running"}


def test_main_finds_the_launch_time_and_ends_an_old_cluster(moto, tmp_path, capsys):
    """The entry point as the daemon runs it (only IMDS replaced by --instance-id): an unreachable manager
    counts as busy, and a 1-second lifetime, counted from the master's launch in EC2, ends the cluster."""
    ec2 = _ec2()
    ids = _launch(ec2, "brief", workers=1)
    config = replace(_config("http://127.0.0.1:9", "brief", idle_timeout_s=0, max_lifetime_s=1), poll_s=0.2)
    path = tmp_path / "autostop.json"
    path.write_text(json.dumps(asdict(config)))
    assert agent.main(["--config", str(path), "--instance-id", ids["master"]]) == 0
    out = capsys.readouterr().out
    assert "not answering: counted as busy" in out and "terminating (stop-lifetime)" in out
    assert set(_states(ec2, list(ids.values())).values()) <= GONE


def test_down_after_autostop_cleans_up_everything(moto_env, tmp_path):  # noqa: F811 (the imported fixture)
    """terraform + moto: `up --no-bootstrap`, the agent's actor ends the instances, `down` removes the rest."""
    spec_path = _example("ec2", tmp_path, name="astop", region=REGION, ami_id=_moto_ami(moto_env[aws.ENDPOINT_ENV]))
    proc = run_cli("up", "--json", "--no-bootstrap", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    ec2, iam = _boto("ec2", moto_env), _boto("iam", moto_env)
    provider = get_provider(load_spec(spec_path), Workdir.for_cluster("astop", Path(moto_env["CLUSTERCTL_HOME"])))
    instance_ids = provider.outputs()["instance_ids"]  # type: ignore[attr-defined]
    (master,) = instance_ids["master"]
    workers = instance_ids["core"] + instance_ids["task"]

    # only the master's role may terminate, and only this cluster's instances; both keep the bucket prefix
    profiles = {
        i["InstanceId"]: i["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
        for r in ec2.describe_instances(InstanceIds=[master, *workers])["Reservations"]
        for i in r["Instances"]
    }
    assert profiles.pop(master) == "astop-master" and set(profiles.values()) == {"astop-node"}
    policies = {
        role: {
            name: json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        }
        for role in ("astop-master", "astop-node")
    }
    assert set(policies["astop-node"]) == {"astop-node-bucket-prefix"}
    assert set(policies["astop-master"]) == {"astop-master-bucket-prefix", "astop-autostop"}
    autostop = json.loads(policies["astop-master"]["astop-autostop"])
    terminate = next(s for s in autostop["Statement"] if "ec2:TerminateInstances" in json.dumps(s["Action"]))
    assert terminate["Condition"] == {"StringEquals": {"aws:ResourceTag/clusterctl:cluster": "astop"}}
    assert "ec2:TerminateInstances" not in json.dumps(policies["astop-node"])

    with pytest.MonkeyPatch.context() as env:
        for key, value in moto_env.items():
            env.setenv(key, value)
        calls = terminate_cluster(agent.ec2_client(REGION), "astop", master, poll_s=0)
    assert calls == [sorted(workers), [master]]
    proc = run_cli("status", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["state"] == "degraded" and any("autostop?" in n and "clusterctl down" in n for n in status["notes"])

    proc = run_cli("down", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    down = json.loads(proc.stdout)
    assert any("no instance" in v for v in down["verified"])
    tagged = [{"Name": f"tag:{aws.CLUSTER_TAG}", "Values": ["astop"]}]
    left = [i["State"]["Name"] for r in ec2.describe_instances(Filters=tagged)["Reservations"] for i in r["Instances"]]
    assert left and set(left) == {"terminated"}
    assert not ec2.describe_vpcs(Filters=tagged)["Vpcs"]
    assert not ec2.describe_volumes(Filters=tagged)["Volumes"]
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("astop-")]
    assert not [
        p for p in iam.list_instance_profiles()["InstanceProfiles"] if p["InstanceProfileName"].startswith("astop-")
    ]
