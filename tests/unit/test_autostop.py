"""Autostop, without AWS: the agent's decision, its activity probe against a real HTTP server on 127.0.0.1,
its configuration and entry point, the spec field, what the providers pass to the bootstrap, and the
Ansible tasks that install (and retire) the agent on the master."""

import ast
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusterctl.config.spec import parse_spec
from clusterctl.errors import SpecError
from clusterctl.providers import get_provider
from clusterctl.remote import autostop_agent as agent
from clusterctl.remote.autostop_agent import KEEP, STOP_IDLE, STOP_LIFETIME, Agent, Config, active_apps, decide
from clusterctl.workdir import Workdir
from tests.conftest import REPO, aws_spec, local_spec
from tests.support.cluster_manager import SPARK_MASTER, YARN_APPS, cluster_manager, yarn_apps

HOUR = 3600
CONFIG = {
    "cluster": "demo",
    "region": "eu-west-3",
    "idle_timeout_s": 600,
    "max_lifetime_s": None,
    "manager": "yarn",
    "manager_url": "http://127.0.0.1:1",
    "poll_s": 60,
}


class Clock:
    """Seconds since the epoch that move only when told (``sleep`` advances them)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class NoEc2:
    """An EC2 client that must not be used: any call fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the agent called EC2 ({name}) although the cluster should be kept")


# ---------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    ("now", "last_active", "idle", "lifetime", "expected"),
    [
        (100, 100, 600, None, KEEP),  # just busy
        (699, 100, 600, None, KEEP),  # idle 599 s of 600
        (700, 100, 600, None, STOP_IDLE),  # idle exactly the timeout
        (10 * HOUR, 0, 0, None, KEEP),  # idle timeout 0 and no lifetime: never
        (HOUR - 1, HOUR - 1, 0, HOUR, KEEP),  # busy, 1 s before the lifetime
        (HOUR, HOUR, 600, HOUR, STOP_LIFETIME),  # busy, at the lifetime: the lifetime wins
        (HOUR, 0, 600, HOUR, STOP_LIFETIME),  # idle and too old: reported as the lifetime
        (5 * HOUR, 5 * HOUR, 0, 8 * HOUR, KEEP),  # lifetime only, not reached
    ],
)
def test_decide(now, last_active, idle, lifetime, expected):
    assert decide(now, 0, last_active, idle, lifetime) == expected


# ---------------------------------------------------------------- the activity probe


def test_yarn_probe_counts_applications_running_or_about_to_run():
    with cluster_manager() as (url, manager):
        manager.answers[YARN_APPS] = yarn_apps()
        assert active_apps("yarn", url) == 0
        manager.answers[YARN_APPS] = yarn_apps("RUNNING")
        assert active_apps("yarn", url + "/") == 1
        manager.answers[YARN_APPS] = yarn_apps("ACCEPTED", "RUNNING", "SUBMITTED")
        assert active_apps("yarn", url) == 3
    # the ResourceManager filters by state: finished applications are never counted
    assert manager.requests[0] == f"{YARN_APPS}?states=NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING"


def test_standalone_probe_counts_active_applications_and_drivers():
    with cluster_manager() as (url, manager):
        manager.answers[SPARK_MASTER] = {"status": "ALIVE", "activeapps": [], "completedapps": [{"id": "app-1"}]}
        assert active_apps("standalone", url) == 0
        manager.answers[SPARK_MASTER] = {"activeapps": [{"id": "app-2"}], "activedrivers": [{"id": "driver-1"}]}
        assert active_apps("standalone", url) == 2


def test_a_manager_that_cannot_say_is_unknown_not_idle():
    with cluster_manager() as (url, manager):
        assert active_apps("yarn", url) is None  # 404
        manager.answers[YARN_APPS] = b"<html>starting</html>"
        assert active_apps("yarn", url) is None
        manager.answers[YARN_APPS] = {"RemoteException": {"message": "standby"}}
        assert active_apps("yarn", url) is None
        manager.answers[SPARK_MASTER] = ["not", "an", "object"]
        assert active_apps("standalone", url) is None
    assert active_apps("yarn", url, timeout=2) is None  # nothing listens any more


def test_agent_counts_an_unanswering_manager_as_busy_and_restarts_the_idle_clock(caplog):
    clock = Clock()
    answers: list[int | None] = [0, None, 0]
    config = Config.from_dict(CONFIG)
    keeper = Agent(config, NoEc2(), "i-master", started_at=clock(), clock=clock, probe=lambda m, u: answers.pop(0))
    caplog.set_level(logging.INFO, logger="clusterctl.autostop")
    clock.sleep(500)
    assert keeper.check() == KEEP  # idle 500 s of 600
    clock.sleep(300)
    assert keeper.check() == KEEP  # not answering: busy, the idle clock starts again
    assert "not answering: counted as busy" in caplog.text
    clock.sleep(599)
    assert keeper.check() == KEEP
    # a new agent (restart) starts its idle clock at its start, not at the cluster's
    restarted = Agent(config, NoEc2(), "i-master", started_at=clock() - 10 * HOUR, clock=clock, probe=lambda m, u: 0)
    clock.sleep(599)
    assert restarted.check() == KEEP


# ---------------------------------------------------------------- configuration and entry point


def test_config_validation():
    config = Config.from_dict(CONFIG)
    assert config.enabled and config.poll_s == 60
    assert not Config.from_dict(CONFIG | {"idle_timeout_s": 0}).enabled
    assert Config.from_dict(CONFIG | {"idle_timeout_s": 0, "max_lifetime_s": HOUR}).enabled
    for bad, words in (
        (CONFIG | {"idle": 1}, "unknown keys ['idle']"),
        ({k: v for k, v in CONFIG.items() if k != "region"}, "region"),
        (CONFIG | {"manager": "mesos"}, "yarn or standalone"),
        (CONFIG | {"max_lifetime_s": 0}, "max_lifetime_s > 0"),
        (CONFIG | {"idle_timeout_s": "600"}, "idle_timeout_s: a number of seconds"),
        ([CONFIG], "not a JSON object"),
    ):
        with pytest.raises(ValueError, match=re.escape(words)):
            Config.from_dict(bad)


def test_main_exits_when_autostop_is_off_and_on_a_bad_configuration(tmp_path, capsys):
    path = tmp_path / "autostop.json"
    path.write_text(json.dumps(CONFIG | {"idle_timeout_s": 0}))
    assert agent.main(["--config", str(path), "--instance-id", "i-none"]) == 0  # no IMDS, no EC2: nothing asked
    assert "autostop is off for demo" in capsys.readouterr().out
    path.write_text("{")
    assert agent.main(["--config", str(path)]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "bad configuration" in out[0] and "clusterctl up" in out[0]


def test_agent_imports_only_the_standard_library_and_boto3():
    """It runs on the master alone, where clusterctl is not installed."""
    tree = ast.parse(Path(agent.__file__).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    roots = {m.split(".")[0] for m in modules}
    assert roots - set(sys.stdlib_module_names) == {"boto3", "botocore"}, roots


# ---------------------------------------------------------------- the spec and the providers


def test_max_lifetime_hours_in_the_spec():
    assert parse_spec(aws_spec()).max_lifetime_hours is None
    assert parse_spec(aws_spec(max_lifetime_hours=8)).max_lifetime_hours == 8
    for data, message in (
        (
            aws_spec(max_lifetime_hours=0),
            "cluster.yaml: max_lifetime_hours: 0 is below 1 hour; set at least 1, or remove the key for no hard limit",
        ),
        (
            local_spec(max_lifetime_hours=2),
            "cluster.yaml: max_lifetime_hours: only provider ec2 enforces it (its master's autostop agent); remove it",
        ),
    ):
        with pytest.raises(SpecError) as info:
            parse_spec(data, "cluster.yaml")
        assert str(info.value) == message
    template = (REPO / "templates" / "spec" / "cluster.yaml.j2").read_text()
    assert "# max_lifetime_hours:" in template


def test_ec2_passes_the_agent_its_configuration(tmp_path):
    def settings(**extra) -> dict:
        provider = get_provider(parse_spec(aws_spec(**extra)), Workdir(tmp_path / "wd"))
        variables = provider.bootstrap_vars()  # type: ignore[attr-defined]
        assert Path(variables["clusterctl_autostop_agent_src"]).read_text() == Path(agent.__file__).read_text()
        return variables["clusterctl_autostop"]

    assert settings() == {
        "cluster": "tc",
        "region": "eu-west-3",
        "idle_timeout_s": 3600,  # the spec's default 60 minutes
        "max_lifetime_s": None,
        "manager": "yarn",
        "manager_url": "http://master:8088",
        "poll_s": 60,
    }
    standalone = settings(idle_timeout_minutes=15, max_lifetime_hours=4, spark={"manager": "standalone"})
    assert standalone["manager_url"] == "http://master:8080" and standalone["manager"] == "standalone"
    assert (standalone["idle_timeout_s"], standalone["max_lifetime_s"]) == (900, 4 * HOUR)
    assert settings(idle_timeout_minutes=0) == {}  # nothing to enforce: no agent
    assert settings(idle_timeout_minutes=0, max_lifetime_hours=1)["max_lifetime_s"] == HOUR
    Config.from_dict(settings())  # what the bootstrap writes is what the agent reads


def test_ssh_machines_get_no_agent(tmp_path):
    spec = parse_spec(
        aws_spec(provider="ssh", ssh={"master": "10.0.0.1", "core": ["10.0.0.2", "10.0.0.3"]}, idle_timeout_minutes=30)
    )
    assert get_provider(spec, Workdir(tmp_path / "wd")).bootstrap_vars()["clusterctl_autostop"] == {}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the Ansible tasks on the master

ANSIBLE = REPO / "ansible"


def _playbook(tmp: Path, extra: dict) -> subprocess.CompletedProcess[str]:
    playbook = [
        {
            "name": "Autostop tasks of the daemons role",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {"name": "Select", "ansible.builtin.include_role": {"name": "daemons", "tasks_from": "select.yml"}},
                {"name": "Autostop", "ansible.builtin.include_role": {"name": "daemons", "tasks_from": "autostop.yml"}},
            ],
        }
    ]
    (tmp / "play.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    binary = shutil.which("ansible-playbook", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert binary, "ansible-playbook is not installed: pip install -e '.[dev]'"
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ANSIBLE / "roles"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [binary, "-i", str(tmp / "inventory" / "hosts.yml"), str(tmp / "play.yml"), "-e", json.dumps(extra)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ansible_installs_the_agent_on_the_master_and_retires_it_when_off(tmp_path):
    pytest.importorskip("ansible", reason="ansible-core is not installed (pip install -e '.[dev]')")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text("spark.eventLog.dir hdfs:///spark-events\n")
    root, core_root = tmp_path / "root", tmp_path / "core-root"  # each node's clusterctl_root
    inventory = tmp_path / "inventory" / "hosts.yml"
    inventory.parent.mkdir()
    (inventory.parent / "group_vars").symlink_to(ANSIBLE / "group_vars")
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "master": {"hosts": {"node-master": {"node_name": "master", "clusterctl_root": str(root)}}},
                        "core": {"hosts": {"node-core-1": {"node_name": "core-1", "clusterctl_root": str(core_root)}}},
                    },
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                }
            }
        )
    )
    for folder in (root, core_root):
        (folder / "bin").mkdir(parents=True)
        (folder / "daemons").mkdir()
    calls = tmp_path / "clusterctl-daemon.calls"
    stub = root / "bin" / "clusterctl-daemon"  # records what the play asks of the process service manager
    stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    stub.chmod(0o755)
    settings = get_provider(parse_spec(aws_spec(max_lifetime_hours=2)), Workdir(tmp_path / "wd")).bootstrap_vars()  # type: ignore[attr-defined]
    extra = {
        "clusterctl_conf_dir": str(conf),
        "java_home": "/usr/lib/jvm/java-17",
        "service_manager": "process",
        "clusterctl_become": False,
        "spark_manager": "yarn",
        "clusterctl_autostop": settings["clusterctl_autostop"],
        "clusterctl_autostop_agent_src": settings["clusterctl_autostop_agent_src"],
        "daemons_started": ["autostop"],  # as if this run had started it: the handlers restart nothing here
    }

    first = _playbook(tmp_path, extra)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (root / "autostop_agent.py").read_text() == Path(agent.__file__).read_text()
    written = json.loads((root / "autostop.json").read_text())
    assert written == settings["clusterctl_autostop"] and Config.from_dict(written).max_lifetime_s == 2 * HOUR
    assert list(core_root.rglob("*autostop*")) == []  # the master only
    again = _playbook(tmp_path, extra)
    assert again.returncode == 0 and "changed=0" in again.stdout.split("PLAY RECAP", 1)[1], again.stdout

    # autostop turned off: the agent an earlier run installed is stopped and its files removed
    (root / "daemons" / "autostop").write_text("#!/bin/sh\n")
    off = _playbook(tmp_path, extra | {"clusterctl_autostop": {}})
    assert off.returncode == 0, off.stdout + off.stderr
    assert calls.read_text() == "stop autostop\n"
    assert not [
        p for p in (root / "daemons" / "autostop", root / "autostop_agent.py", root / "autostop.json") if p.exists()
    ]
    quiet = _playbook(tmp_path, extra | {"clusterctl_autostop": {}})
    assert quiet.returncode == 0 and "changed=0" in quiet.stdout.split("PLAY RECAP", 1)[1], quiet.stdout
    assert calls.read_text() == "stop autostop\n"  # nothing left to stop
