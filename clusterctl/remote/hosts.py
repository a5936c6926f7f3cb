"""The nodes of a cluster as the controller reaches them, from whichever source a provider has
(terraform outputs on EC2, the spec's addresses on provider ssh)."""

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterctl.errors import ClusterctlError


@dataclass(frozen=True)
class Node:
    """One machine: ``name`` is what the rendered files call it (master, core-N, task-N)."""

    name: str
    role: str  # master | core | task
    address: str  # where the controller connects (the master's public IP; workers' private IPs)
    private_ip: str  # where the other nodes reach it (/etc/hosts maps ``name`` to it)


@dataclass(frozen=True)
class Hosts:
    """Every node, and how to log in: one user and key; workers through the master when ``jump``."""

    nodes: tuple[Node, ...]
    user: str
    identity_file: Path | None
    known_hosts: Path  # the cluster's own known_hosts (first contact records a key, a changed key is refused)
    port: int = 22
    jump: bool = False

    @property
    def master(self) -> Node:
        """The master node."""
        return next(n for n in self.nodes if n.role == "master")

    @property
    def workers(self) -> tuple[Node, ...]:
        """Core then task nodes."""
        return tuple(n for n in self.nodes if n.role != "master")

    def select(self, names: list[str] | None = None, workers: bool = False, every: bool = False) -> list[Node]:
        """Nodes by name (``master``, ``core-1``...), all workers, every node, or the master alone."""
        if names:
            known = {n.name: n for n in self.nodes}
            missing = [x for x in names if x not in known]
            if missing:
                raise ClusterctlError(f"no node {', '.join(missing)}; the nodes are {', '.join(known)}")
            return [known[x] for x in names]
        if every:
            return list(self.nodes)
        if workers:
            return list(self.workers)
        return [self.master]


def node_list(master: tuple[str, str], core: list[tuple[str, str]], task: list[tuple[str, str]]) -> tuple[Node, ...]:
    """Nodes named as the rendered files name them, from (address, private IP) pairs in role order."""
    nodes = [Node("master", "master", *master)]
    nodes += [Node(f"core-{i}", "core", *pair) for i, pair in enumerate(core, 1)]
    nodes += [Node(f"task-{i}", "task", *pair) for i, pair in enumerate(task, 1)]
    return tuple(nodes)


def nodes_from_outputs(outputs: dict[str, Any]) -> tuple[Node, ...]:
    """Nodes from the EC2 root module's ``terraform output -json`` values: the master by its public IP,
    workers by their private IPs (reached through the master)."""
    try:
        master = (outputs["master_public_ip"], outputs["master_private_ip"])
        core = [(ip, ip) for ip in outputs["core_private_ips"]]
        task = [(ip, ip) for ip in outputs.get("task_private_ips") or []]
    except KeyError as exc:
        raise ClusterctlError(
            f"terraform outputs lack {exc.args[0]}; the cluster is not (fully) up: run `clusterctl up`"
        ) from None
    if not master[0]:
        raise ClusterctlError("the master has no public IP yet; run `clusterctl up` again")
    return node_list(master, core, task)


def openssh_options(hosts: Hosts, through_master: bool) -> list[str]:
    """OpenSSH client options for a node: the cluster's known_hosts (accept-new), its key, and for a worker
    behind the master a ProxyCommand through it."""
    common = [
        "-o",
        f"UserKnownHostsFile={hosts.known_hosts}",
        "-o",
        "StrictHostKeyChecking=accept-new",
    ]
    if hosts.identity_file:
        common += ["-o", "IdentitiesOnly=yes", "-i", str(hosts.identity_file)]
    args = list(common)
    if through_master:
        # ProxyCommand, not ProxyJump: -o options are not handed on to a ProxyJump hop, so its known_hosts
        # and key would be the user's own.
        hop = ["ssh", *common, "-p", str(hosts.port), "-W", "%h:%p", f"{hosts.user}@{hosts.master.address}"]
        args += ["-o", f"ProxyCommand={shlex.join(hop)}"]
    return args


def ssh_argv(hosts: Hosts, node: Node, command: list[str] | None = None) -> list[str]:
    """The ``ssh`` command line that logs in to ``node`` (``clusterctl ssh``), optionally running ``command``."""
    through = hosts.jump and node.role != "master"
    argv = ["ssh", *openssh_options(hosts, through), "-p", str(hosts.port), f"{hosts.user}@{node.address}"]
    return argv + (["--", *command] if command else [])
