"""The bootstrap playbook in ansible/: syntax, lint (offline), the daemon definitions and their rendering.

The rendering checks run the real role files through ansible-playbook on localhost (connection local,
nothing installed or started): the daemons role's host selection, the launcher, the systemd unit and the
process-mode script, for a master, a core and a task node.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ansible", reason="ansible-core is not installed (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
DAEMONS_ROLE = ANSIBLE / "roles" / "daemons"
BIN = Path(sys.executable).parent
HADOOP_336_SHA512 = (
    "de3eaca2e0517e4b569a88b63c89fae19cb8ac6c01ff990f1ff8f0cc0f3128c8e8a23db01577ca562a0e0bb1b4a3889f8c74384e609"
    "cd55e537aada3dcaa9f8a"
)
EXPECTED = {  # daemon -> (host groups, spark managers it runs under, main class)
    "namenode": ({"master"}, {"yarn", "standalone"}, "org.apache.hadoop.hdfs.server.namenode.NameNode"),
    "datanode": ({"core"}, {"yarn", "standalone"}, "org.apache.hadoop.hdfs.server.datanode.DataNode"),
    "resourcemanager": ({"master"}, {"yarn"}, "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager"),
    "nodemanager": ({"core", "task"}, {"yarn"}, "org.apache.hadoop.yarn.server.nodemanager.NodeManager"),
    "spark-history": ({"master"}, {"yarn"}, "org.apache.spark.deploy.history.HistoryServer"),
    "spark-master": ({"master"}, {"standalone"}, "org.apache.spark.deploy.master.Master"),
    "spark-worker": ({"core", "task"}, {"standalone"}, "org.apache.spark.deploy.worker.Worker"),
    "autostop": ({"master"}, {"yarn", "standalone"}, "autostop_agent.py"),  # when clusterctl_autostop is set
}
NODES = {
    "node-master": ("master", "198.18.0.2"),
    "node-core-1": ("core", "198.18.0.3"),
    "node-task-1": ("task", "198.18.0.4"),
}


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LINT_OFFLINE": "1",
    }


def _run(cmd: list[str], tmp_path: Path, cwd: Path = ROOT, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=_env(tmp_path), capture_output=True, text=True, timeout=timeout)


def _group_vars() -> dict:
    return yaml.safe_load((ANSIBLE / "group_vars" / "all.yml").read_text())


def test_syntax_check(tmp_path: Path) -> None:
    proc = _run(
        [_tool("ansible-playbook"), "--syntax-check", "-i", "ansible/inventory.example.yml", "ansible/site.yml"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_offline(tmp_path: Path) -> None:
    config = yaml.safe_load((ANSIBLE / ".ansible-lint").read_text())
    assert config["offline"] is True and config["profile"] == "production"
    assert not list(ANSIBLE.rglob("requirements.yml")), "no Galaxy requirements: the roles use ansible.builtin only"
    proc = _run([_tool("ansible-lint"), "--offline", "--nocolor"], tmp_path, cwd=ANSIBLE, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_builtin_modules() -> None:
    tasks = [*ANSIBLE.glob("roles/*/tasks/*.yml"), *ANSIBLE.glob("roles/*/handlers/*.yml"), ANSIBLE / "site.yml"]
    modules = set()
    for path in tasks:
        modules |= set(re.findall(r"^\s+-? ?(ansible\.\w+\.\w+):", path.read_text(), re.MULTILINE))
    assert modules and all(m.startswith("ansible.builtin.") for m in modules), modules


def test_daemon_definitions() -> None:
    daemons = {d["name"]: d for d in _group_vars()["clusterctl_daemons"]}
    assert set(daemons) == set(EXPECTED)
    for name, (groups, managers, main_class) in EXPECTED.items():
        assert set(daemons[name]["groups"]) == groups, name
        assert set(daemons[name]["managers"]) == managers, name
        assert main_class in str(daemons[name]["command"]), name
    hadoop_files = {"namenode": "hdfs-site.xml", "datanode": "hdfs-site.xml"}
    for name, rendered in hadoop_files.items():
        assert {"core-site.xml", rendered} <= set(daemons[name]["files"])
    for name in ("resourcemanager", "nodemanager"):
        assert {"core-site.xml", "yarn-site.xml"} <= set(daemons[name]["files"])
        assert "hdfs-site.xml" not in daemons[name]["files"]
    for name in ("spark-history", "spark-master", "spark-worker"):
        assert {"spark-defaults.conf", "spark-env.sh"} <= set(daemons[name]["files"])
        assert "yarn-site.xml" not in daemons[name]["files"]


def test_same_java17_flags_as_the_project_and_packages_only_from_the_lock() -> None:
    from clusterctl.providers.local.hdfs import JAVA17_FLAGS

    variables = _group_vars()
    assert tuple(variables["hadoop_java17_flags"]) == JAVA17_FLAGS
    # the venv gets the lock's pins and nothing else: no package list of its own to drift from pyproject
    assert variables["python_env_lock"] == "" and variables["python_env_wheelhouse"] == []
    tasks = (ROOT / "ansible" / "roles" / "python_env" / "tasks" / "main.yml").read_text()
    assert "'--require-hashes', '-r', clusterctl_root ~ '/nodes.lock'" in tasks and "'--no-index'" in tasks
    assert 'checksum: "sha256:{{ item.sha256 }}"' in tasks


def test_hadoop_download_is_checked_against_sha512() -> None:
    variables = _group_vars()
    assert variables["hadoop_version"] == "3.3.6" and variables["hadoop_sha512"] == HADOOP_336_SHA512
    assert (
        variables["hadoop_url"] == "{{ hadoop_mirror }}/hadoop-{{ hadoop_version }}/hadoop-{{ hadoop_version }}.tar.gz"
    )

    def tasks(items: list[dict]) -> list[dict]:
        return [t for item in items for t in (tasks(item["block"]) if "block" in item else [item])]

    hadoop = tasks(yaml.safe_load((ANSIBLE / "roles" / "hadoop" / "tasks" / "main.yml").read_text()))
    downloads = [t["ansible.builtin.get_url"] for t in hadoop if "ansible.builtin.get_url" in t]
    assert len(downloads) == 1
    assert downloads[0]["checksum"] == "sha512:{{ hadoop_sha512 }}"
    assert downloads[0]["url"] == "{{ hadoop_url }}"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The launchers, units and clusterctl-daemon of three nodes, per spark_manager: {manager: out dir}."""
    tmp = tmp_path_factory.mktemp("ansible-render")
    conf = tmp / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text("spark.master yarn\nspark.eventLog.dir hdfs:///spark-events\n")
    inventory = tmp / "inventory" / "hosts.yml"
    inventory.parent.mkdir()
    (inventory.parent / "group_vars").symlink_to(ANSIBLE / "group_vars")
    hosts = {
        group: {"hosts": {host: {"node_name": host.removeprefix("node-"), "node_ip": ip}}}
        for host, (group, ip) in NODES.items()
    }
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": hosts,
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                }
            }
        )
    )
    templates = DAEMONS_ROLE / "templates"
    playbook = [
        {
            "name": "Render the daemons of each node",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {"name": "Select", "ansible.builtin.include_role": {"name": "daemons", "tasks_from": "select.yml"}},
                {
                    "name": "Dump",
                    "ansible.builtin.copy": {
                        "dest": "{{ out }}/{{ inventory_hostname }}/daemons.json",
                        "content": "{{ {'names': daemons_host_names, 'daemons': clusterctl_daemons} | to_json }}",
                        "mode": "0644",
                    },
                },
                *(
                    {
                        "name": f"Render {what}",
                        "ansible.builtin.template": {
                            "src": str(templates / src),
                            "dest": "{{ out }}/{{ inventory_hostname }}/{{ daemon.name }}" + suffix,
                            "mode": "0755",
                        },
                        "loop": "{{ clusterctl_daemons }}",
                        "loop_control": {"loop_var": "daemon"},
                        "when": "daemon.name in daemons_host_names",
                    }
                    for what, src, suffix in (
                        ("launcher", "launcher.sh.j2", ""),
                        ("unit", "unit.service.j2", ".service"),
                    )
                ),
                {
                    "name": "Render clusterctl-daemon",
                    "ansible.builtin.template": {
                        "src": str(templates / "clusterctl-daemon.j2"),
                        "dest": "{{ out }}/{{ inventory_hostname }}/clusterctl-daemon",
                        "mode": "0755",
                    },
                },
            ],
        }
    ]
    (tmp / "render.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    outs = {}
    for manager in ("yarn", "standalone"):
        out = tmp / manager
        for host in NODES:
            (out / host).mkdir(parents=True)
        extra = {
            "out": str(out),
            "spark_manager": manager,
            "java_home": "/usr/lib/jvm/java-17",
            "clusterctl_conf_dir": str(conf),
            "clusterctl_root": str(out / "root"),
            "clusterctl_run_dir": str(out / "run"),
            "clusterctl_log_dir": str(out / "log"),
            "clusterctl_autostop": {"cluster": "demo", "idle_timeout_s": 3600},
        }
        proc = subprocess.run(
            [_tool("ansible-playbook"), "-i", str(inventory), str(tmp / "render.yml"), "-e", json.dumps(extra)],
            cwd=tmp,
            env={**_env(tmp), "ANSIBLE_ROLES_PATH": str(ANSIBLE / "roles")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outs[manager] = out
    return outs


@pytest.mark.parametrize("manager", ["yarn", "standalone"])
def test_each_node_gets_its_daemons(rendered: dict[str, Path], manager: str) -> None:
    for host, (group, _ip) in NODES.items():
        names = json.loads((rendered[manager] / host / "daemons.json").read_text())["names"]
        expected = {n for n, (groups, managers, _) in EXPECTED.items() if group in groups and manager in managers}
        assert set(names) == expected, (host, manager)


@pytest.mark.parametrize("manager", ["yarn", "standalone"])
def test_systemd_and_process_mode_run_the_same_command(rendered: dict[str, Path], manager: str) -> None:
    out = rendered[manager]
    launchers = out / "root" / "daemons"
    for host, (_group, ip) in NODES.items():
        dumped = json.loads((out / host / "daemons.json").read_text())
        definitions = {d["name"]: d for d in dumped["daemons"]}
        script = (out / host / "clusterctl-daemon").read_text()
        assert subprocess.run(["bash", "-n", str(out / host / "clusterctl-daemon")]).returncode == 0
        assert f"LAUNCHERS={launchers}\n" in script and "launcher=$LAUNCHERS/$name" in script
        assert 'setsid "$launcher"' in script
        for name in dumped["names"]:
            unit = (out / host / f"{name}.service").read_text()
            assert f"ExecStart={launchers / name}\n" in unit, (host, name)
            assert f"StandardOutput=append:{out / 'log'}/{name}.log" in unit
            launcher = out / host / name
            assert subprocess.run(["bash", "-n", str(launcher)]).returncode == 0
            lines = launcher.read_text().splitlines()
            execs = [line for line in lines if line.startswith("exec ")]
            assert len(execs) == 1
            command = definitions[name]["command"]
            assert shlex.split(execs[0])[1:] == [str(arg) for arg in command], (host, name)
            exports = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
            assert exports["CLUSTERCTL_DAEMON"] == name
            assert {k: str(v) for k, v in definitions[name]["environment"].items()}.items() <= exports.items()
            if name == "datanode":
                assert f"dfs.datanode.hostname={ip}" in command and f"dfs.datanode.address={ip}:9866" in command
                assert not any("127.0." in str(arg) for arg in command)
            if command[0].endswith("/bin/java"):
                cp = command[command.index("-cp") + 1].split(":")
                assert cp[0] == "/etc/hadoop/conf" and "/opt/hadoop/share/hadoop/hdfs" in cp
                assert {
                    f"/opt/hadoop/share/hadoop/{p}/{lib}*" for p in ("common", "hdfs", "yarn") for lib in ("", "lib/")
                } <= set(cp)
                assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in command


def test_process_mode_script_is_idempotent(rendered: dict[str, Path], tmp_path: Path) -> None:
    out = rendered["yarn"]
    script = out / "node-core-1" / "clusterctl-daemon"
    launchers = out / "root" / "daemons"
    launchers.mkdir(parents=True, exist_ok=True)
    fake = launchers / "fake"
    fake.write_text("#!/usr/bin/env bash\necho hello\nexec sleep 60\n")
    fake.chmod(0o755)
    env = {**os.environ, "CLUSTERCTL_START_WAIT": "0.3", "CLUSTERCTL_STOP_TIMEOUT": "5"}

    def daemon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=30)

    try:
        first = daemon("start", "fake")
        assert first.returncode == 0 and first.stdout.startswith("started fake"), first.stdout + first.stderr
        pid = int((out / "run" / "fake.pid").read_text())
        again = daemon("start", "fake")
        assert again.returncode == 0 and "already running" in again.stdout
        assert int((out / "run" / "fake.pid").read_text()) == pid
        assert daemon("status", "fake").returncode == 0
        assert os.getpgid(pid) == pid  # its own session and process group (setsid)
        assert "hello" in (out / "log" / "fake.log").read_text()
    finally:
        stopped = daemon("stop", "fake")
    assert stopped.returncode == 0 and stopped.stdout.startswith("stopped fake")
    assert daemon("status", "fake").returncode == 3
    assert daemon("stop", "fake").stdout.strip() == "fake not running"
    assert daemon("start", "../etc").returncode == 2
