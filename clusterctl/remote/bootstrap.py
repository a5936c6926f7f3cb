"""The node bootstrap: ``ansible-playbook ansible/site.yml`` over SSH with an inventory written from the
cluster's hosts, its progress reported task by task, its outcome read from the play recap.

The inventory and variables go into ``<workdir>/ansible/`` and the whole output into
``<workdir>/logs/bootstrap.log``, so a failed bootstrap can be read and re-run as it ran.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterctl.errors import ClusterctlError
from clusterctl.progress import Reporter
from clusterctl.remote.hosts import Hosts, Node, openssh_options
from clusterctl.resources import ansible_dir

_TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+?)\] \*")
_RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)"
)
_FAILED = re.compile(r"^fatal: \[(?P<host>[^\]]+)\]: (?P<kind>FAILED|UNREACHABLE)! => (?P<body>\{.*\})\s*$")


@dataclass(frozen=True)
class BootstrapResult:
    """A finished playbook run: the recap of each node, how long it took and where its output is."""

    seconds: float
    recap: dict[str, dict[str, int]]  # node name -> ok, changed, unreachable, failed
    log: Path
    tasks: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        """Tasks that changed something, over every node (0 on a second run of an unchanged cluster)."""
        return sum(r["changed"] for r in self.recap.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"seconds": round(self.seconds, 1), "recap": self.recap, "changed": self.changed, "log": str(self.log)}


def inventory_name(node: Node) -> str:
    """Inventory host names differ from the group names (``master`` is both a node and a group)."""
    return f"node-{node.name}"


def inventory(hosts: Hosts) -> dict[str, Any]:
    """The Ansible inventory of ``hosts``: groups master/core/task, ``node_name``/``node_ip`` per host."""

    def entry(node: Node) -> dict[str, Any]:
        through = hosts.jump and node.role != "master"
        return {
            "ansible_host": node.address,
            "ansible_port": hosts.port,
            "ansible_user": hosts.user,
            "ansible_ssh_common_args": shlex.join(openssh_options(hosts, through)),
            "node_name": node.name,
            "node_ip": node.private_ip,
        }

    groups: dict[str, Any] = {}
    for role in ("master", "core", "task"):
        members = {inventory_name(n): entry(n) for n in hosts.nodes if n.role == role}
        groups[role] = {"hosts": members} if members else {}
    return {"all": {"children": {"cluster": {"children": groups}}}}


def ansible_playbook() -> str:
    """The ``ansible-playbook`` of clusterctl's own environment (ansible-core is a dependency)."""
    beside = Path(sys.executable).with_name("ansible-playbook")
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise ClusterctlError("ansible-playbook not found; reinstall clusterctl (it depends on ansible-core)")
    return found


def run_playbook(hosts: Hosts, variables: dict[str, Any], workdir: Path, report: Reporter) -> BootstrapResult:
    """Run ``site.yml`` on every node; raise a one-line error naming the node, the task and its message."""
    folder = workdir / "ansible"
    folder.mkdir(parents=True, exist_ok=True)
    inv, extra = folder / "inventory.yml", folder / "vars.json"
    inv.write_text(yaml.safe_dump(inventory(hosts), sort_keys=False))
    extra.write_text(json.dumps(variables, indent=2, sort_keys=True) + "\n")
    log = workdir / "logs" / "bootstrap.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    playbooks = ansible_dir()
    cmd = [ansible_playbook(), "-i", str(inv), "-e", f"@{extra}", str(playbooks / "site.yml")]
    env = os.environ | {
        "ANSIBLE_CONFIG": str(playbooks / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CALLBACK_FORMAT_PRETTY": "0",  # one line per failure, parsed below
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PYTHONUNBUFFERED": "1",
    }
    names = {inventory_name(n): n.name for n in hosts.nodes}
    recap: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    tasks, in_recap = 0, False
    start = time.monotonic()
    report(f"bootstrapping {len(hosts.nodes)} nodes (ansible; log {log})")
    with log.open("w") as out:
        out.write(f"$ {shlex.join(cmd)}\n")
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            out.flush()
            line = line.rstrip("\n")
            task = _TASK.match(line)
            if task:
                tasks += 1
                report(f"bootstrap: {task.group('name')}", tasks, None)
            elif line.startswith("PLAY RECAP"):
                in_recap = True
            elif in_recap and (m := _RECAP.match(line)):
                recap[names.get(m["host"], m["host"])] = {
                    k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")
                }
            elif m := _FAILED.match(line):
                failures.append(_failure(names.get(m["host"], m["host"]), m["kind"], m["body"]))
        code = proc.wait()
    result = BootstrapResult(time.monotonic() - start, recap, log, tasks, failures)
    if code != 0 or any(r["failed"] or r["unreachable"] for r in recap.values()):
        # the last failure is the one that stopped the play (a rescue block reports the first one again, explained)
        first = failures[-1] if failures else f"ansible-playbook exited with {code}"
        raise ClusterctlError(f"bootstrap failed: {first}; full output: {log}; fix it and run `clusterctl up` again")
    return result


def _failure(node: str, kind: str, body: str) -> str:
    """``core-1: <message>`` from the JSON that follows ``fatal: [...]: FAILED! =>``."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"{node}: {kind.lower()}: {body[:300]}"
    msg = data.get("msg") or data.get("stderr") or data.get("module_stderr") or body
    modules = [m for m in (data.get("failed_modules") or {}).values() if isinstance(m, dict)]
    if modules:  # fact gathering: the module's own error says more than "modules failed to execute"
        msg = modules[0].get("module_stderr") or modules[0].get("msg") or msg
    if isinstance(data.get("results"), list):  # a loop: the first failed item's message
        items = [r for r in data["results"] if isinstance(r, dict) and r.get("failed")]
        if items:
            msg = items[0].get("msg") or items[0].get("stderr") or msg
    text = " ".join(str(msg).split())
    return f"{node}: {'unreachable: ' if kind == 'UNREACHABLE' else ''}{text[:700]}"
