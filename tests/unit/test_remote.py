"""The remote layer without machines: the inventory and ssh command lines, the health gate's reading of
the master's daemons (YARN and standalone) and its one-line failure, the bootstrap's variables and its
reading of ansible's output."""

import json
import shlex
from pathlib import Path

import pytest

from clusterctl.config.catalog import load_catalog
from clusterctl.config.spec import parse_spec
from clusterctl.errors import ClusterctlError
from clusterctl.providers import get_provider
from clusterctl.remote import health
from clusterctl.remote.bootstrap import _RECAP, _failure, inventory
from clusterctl.remote.connection import Outcome
from clusterctl.remote.hosts import Hosts, node_list, nodes_from_outputs, ssh_argv
from clusterctl.workdir import Workdir
from tests.conftest import aws_spec

OUTPUTS = {
    "master_public_ip": "203.0.113.10",
    "master_private_ip": "10.0.1.10",
    "core_private_ips": ["10.0.1.11", "10.0.1.12"],
    "task_private_ips": ["10.0.1.21"],
}


def _hosts(tmp_path: Path, jump: bool = True) -> Hosts:
    return Hosts(nodes_from_outputs(OUTPUTS), "admin", tmp_path / "key", tmp_path / "known_hosts", 22, jump)


def test_inventory_reaches_workers_through_the_master_with_the_clusters_known_hosts(tmp_path):
    groups = inventory(_hosts(tmp_path))["all"]["children"]["cluster"]["children"]
    assert list(groups["core"]["hosts"]) == ["node-core-1", "node-core-2"]
    master = groups["master"]["hosts"]["node-master"]
    assert (master["ansible_host"], master["node_ip"], master["node_name"]) == ("203.0.113.10", "10.0.1.10", "master")
    task = groups["task"]["hosts"]["node-task-1"]
    assert (task["ansible_host"], task["node_ip"]) == ("10.0.1.21", "10.0.1.21")
    args = shlex.split(task["ansible_ssh_common_args"])
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in args and "StrictHostKeyChecking=accept-new" in args
    proxy = next(a for a in args if a.startswith("ProxyCommand="))
    hop = shlex.split(proxy.removeprefix("ProxyCommand="))
    # the hop itself uses the same known_hosts and key (ProxyJump would not hand them on)
    assert hop[-3:] == ["-W", "%h:%p", "admin@203.0.113.10"] and str(tmp_path / "key") in hop
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in hop
    assert not any(a.startswith("ProxyCommand") for a in shlex.split(master["ansible_ssh_common_args"]))
    assert (
        "ProxyCommand"
        not in inventory(_hosts(tmp_path, jump=False))["all"]["children"]["cluster"]["children"]["core"]["hosts"][
            "node-core-1"
        ]["ansible_ssh_common_args"]
    )


def test_ssh_argv_and_node_selection(tmp_path):
    hosts = _hosts(tmp_path)
    argv = ssh_argv(hosts, hosts.select(["core-2"])[0], ["df", "-h"])
    assert argv[0] == "ssh" and argv[-4:] == ["admin@10.0.1.12", "--", "df", "-h"]
    assert [n.name for n in hosts.select(workers=True)] == ["core-1", "core-2", "task-1"]
    assert [n.name for n in hosts.select()] == ["master"]
    with pytest.raises(ClusterctlError, match="no node core-9; the nodes are master, core-1"):
        hosts.select(["core-9"])
    with pytest.raises(ClusterctlError, match="clusterctl up"):
        nodes_from_outputs({"master_public_ip": "203.0.113.10"})


class FakeRemote:
    """Answers the health probe with canned daemon documents and records every command."""

    def __init__(self, hosts: Hosts, probe: dict, smoke: str = "Pi is roughly 3.142") -> None:
        self.hosts, self.probe, self.smoke = hosts, probe, smoke
        self.commands: list[tuple[str, str]] = []

    def run(self, node, command, on_stdout=None, on_stderr=None, timeout=None) -> Outcome:
        self.commands.append((node.name, command))
        if "urllib.request" in command:
            return Outcome(node.name, 0, json.dumps(self.probe) + "\n", "")
        if command.startswith("tail -n") or command.startswith("sudo -n tail -n"):
            return Outcome(node.name, 0, "INFO starting\nERROR Incompatible clusterIDs in /mnt/clusterctl/hdfs\n", "")
        if "spark-submit" in command:
            return Outcome(node.name, 0, self.smoke + "\n", "")
        return Outcome(node.name, 0, "", "")


def _namenode(*ips: str) -> dict:
    live = {f"{ip}:9866": {"xferaddr": f"{ip}:9866"} for ip in ips}
    return {"beans": [{"LiveNodes": json.dumps(live)}]}


def _yarn(*ips: str) -> dict:
    return {
        "nodes": {
            "node": [
                {"nodeHostName": ip, "state": "RUNNING", "availableVirtualCores": 4, "availMemoryMB": 12288}
                for ip in ips
            ]
        }
    }


def test_the_yarn_gate_asks_the_namenode_and_resourcemanager_then_runs_the_smoke_job(tmp_path):
    hosts = _hosts(tmp_path)
    remote = FakeRemote(
        hosts, {"namenode": _namenode("10.0.1.11", "10.0.1.12"), "yarn": _yarn("10.0.1.11", "10.0.1.12", "10.0.1.21")}
    )
    result = health.gate(remote, "yarn", lambda *a, **k: None, timeout=0)  # type: ignore[arg-type]
    assert result == {"datanodes_live": 2, "workers_live": 3, "smoke": "Pi is roughly 3.142"}
    probe = remote.commands[0][1]
    assert remote.commands[0][0] == "master" and probe.startswith(health.NODE_PYTHON)
    assert "http://master:8088/ws/v1/cluster/nodes" in probe and "name=NameNodeInfo" in probe
    smoke = remote.commands[-1]
    assert smoke[0] == "master" and "spark-submit --name clusterctl-smoke" in smoke[1]


def test_a_missing_daemon_fails_the_gate_in_one_line_with_its_log(tmp_path):
    hosts = _hosts(tmp_path)
    remote = FakeRemote(
        hosts, {"namenode": _namenode("10.0.1.11"), "yarn": _yarn("10.0.1.11", "10.0.1.12", "10.0.1.21")}
    )
    with pytest.raises(ClusterctlError) as err:
        health.gate(remote, "yarn", lambda *a, **k: None, timeout=0)  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("core-2 (10.0.1.12): datanode not live after 0 s;")
    assert "/var/log/clusterctl/datanode.log ends: INFO starting | ERROR Incompatible clusterIDs" in message
    assert ("core-2", "sudo -n tail -n 5 /var/log/clusterctl/datanode.log") in remote.commands  # not root: sudo


def test_standalone_workers_and_a_failed_smoke_job(tmp_path):
    hosts = _hosts(tmp_path)
    spark = {
        "workers": [{"host": ip, "state": "ALIVE", "cores": 2, "memory": 3072} for ip in ("10.0.1.11", "10.0.1.12")]
    }
    seen = health.observe(
        FakeRemote(hosts, {"namenode": _namenode("10.0.1.11", "10.0.1.12"), "spark": spark}), "standalone"
    )  # type: ignore[arg-type]
    core1, task1 = hosts.select(["core-1", "task-1"])
    assert seen.worker_daemons(core1, "standalone") == {"datanode": True, "spark-worker": True}
    assert seen.worker_daemons(task1, "standalone") == {"spark-worker": False}  # task nodes run no DataNode
    assert seen.cores["10.0.1.11"] == 2 and seen.memory_mb["10.0.1.12"] == 3072
    two = Hosts(
        node_list(("203.0.113.10", "10.0.1.10"), [("10.0.1.11", "10.0.1.11")], []), "root", None, tmp_path / "kh"
    )
    remote = FakeRemote(two, {"namenode": _namenode("10.0.1.11"), "spark": spark}, smoke="")
    with pytest.raises(ClusterctlError, match=r"^the smoke job failed on master \(exit 0\)"):
        health.gate(remote, "standalone", lambda *a, **k: None, timeout=0)  # type: ignore[arg-type]


def test_app_ids_of_both_managers():
    assert health.app_id("x INFO Connected to Spark cluster with app ID app-20261203-0001\n") == "app-20261203-0001"
    assert health.app_id("INFO Client: Submitted application application_1764000000000_0007") == (
        "application_1764000000000_0007"
    )
    assert health.app_id("nothing") is None


def test_ansible_output_is_read_into_one_line_per_failure():
    recap = _RECAP.match("node-core-1                : ok=43   changed=2    unreachable=0    failed=1    skipped=7")
    assert recap and (recap["changed"], recap["failed"]) == ("2", "1")
    body = json.dumps(
        {
            "failed_modules": {"ansible.legacy.setup": {"module_stderr": "pyenv: python3.13: not found\n"}},
            "msg": "The following modules failed to execute: ansible.legacy.setup.",
        }
    )
    assert _failure("core-1", "FAILED", body) == "core-1: pyenv: python3.13: not found"
    looped = json.dumps(
        {"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "msg": "disk full"}]}
    )
    assert _failure("master", "FAILED", looped) == "master: disk full"
    assert _failure("task-1", "UNREACHABLE", json.dumps({"msg": "timed out"})) == "task-1: unreachable: timed out"


def test_bootstrap_variables_come_from_the_spec_and_the_pins(tmp_path):
    spec = parse_spec(
        aws_spec(versions={"spark": "4.0.1"}, bootstrap={"hadoop_mirror": "https://mirror.example/hadoop/"})
    )
    variables = get_provider(spec, Workdir(tmp_path / "wd")).bootstrap_vars()  # type: ignore[attr-defined]
    assert (
        variables["hadoop_version"] == "3.3.6" and variables["hadoop_sha512"] == load_catalog().hadoop_sha512["3.3.6"]
    )
    assert variables["hadoop_mirror"] == "https://mirror.example/hadoop"
    assert variables["spark_manager"] == "yarn" and variables["python_version"] == "3.11"
    assert variables["clusterctl_conf_dir"] == str(tmp_path / "wd" / "conf")
    assert variables["python_env_lock"] == str(tmp_path / "wd" / "nodeenv" / "nodes.lock")
    # no wheelhouse handed over: the nodes fetch the locked files from PyPI and PyTorch's CPU index
    assert variables["python_env_pip_args"] == ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    assert "python_env_wheelhouse" not in variables
    custom = parse_spec(
        aws_spec(spark={"manager": "standalone"}, bootstrap={"ansible_vars": {"service_manager": "process"}})
    )
    variables = get_provider(custom, Workdir(tmp_path / "c")).bootstrap_vars()  # type: ignore[attr-defined]
    assert variables["spark_manager"] == "standalone" and variables["service_manager"] == "process"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"versions": {"hadoop": "3.4.1"}},
            "versions.hadoop: clusterctl has no published SHA-512 pinned for Hadoop 3.4.1",
        ),
        ({"provider": "ssh"}, "ssh: provider ssh needs the nodes' addresses"),
        (
            {"provider": "ssh", "ssh": {"master": "10.0.0.1", "core": ["10.0.0.2"]}},
            "ssh.core: 1 addresses for node_groups.core of 2",
        ),
        (
            {"provider": "ssh", "ssh": {"master": "10.0.0.1", "core": ["10.0.0.1", "10.0.0.2"]}},
            "every node needs its own address",
        ),
        (
            {"ssh": {"master": "10.0.0.1", "core": ["10.0.0.2", "10.0.0.3"]}},
            "ssh: only provider ssh takes node addresses",
        ),
        (
            {"bootstrap": {"hadoop_mirror": "ftp.example.org"}},
            "bootstrap.hadoop_mirror: 'ftp.example.org' is not a URL",
        ),
    ],
)
def test_node_settings_are_validated_before_anything_runs(extra, message):
    from clusterctl.errors import SpecError

    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_spec(aws_spec(**extra))
