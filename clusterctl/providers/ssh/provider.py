"""Provider ssh: Hadoop/Spark on machines that already exist, reached over SSH (Ray's on-premises
"local" node provider; Flintrock's bootstrap). ``up`` installs and starts the daemons with the same
playbook as EC2; ``down`` stops them and leaves the machines, their software and HDFS data in place.
"""

from pathlib import Path
from typing import Any, ClassVar

from clusterctl.config.spec import ClusterSpec
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.nodeenv.cluster import lock_files
from clusterctl.progress import Reporter
from clusterctl.providers.base import ClusterStatus, DownResult, NodeCost, PlanResult, Properties, hourly_total
from clusterctl.providers.on_nodes import BOOTSTRAPPED, NodeCluster
from clusterctl.remote.hosts import Hosts, node_list
from clusterctl.workdir import Workdir


class SshProvider(NodeCluster):
    """Existing machines: the spec lists their addresses (``ssh.master``, ``ssh.core``, ``ssh.task``)."""

    name: ClassVar[str] = "ssh"

    def __init__(self, spec: ClusterSpec, workdir: Workdir) -> None:
        self.spec = spec
        self.workdir = workdir

    @staticmethod
    def default_spark_version() -> str:
        """The Spark that ``init`` writes: the nodes get the same pyspark as this driver's."""
        try:
            import pyspark
        except ImportError:
            return "4.0.1"
        return pyspark.__version__

    @staticmethod
    def core_count_spec(data: dict[str, Any], count: int) -> dict[str, Any]:
        """The first ``count`` of the spec's core addresses (the machines exist: there are no more to make)."""
        listed = list((data.get("ssh") or {}).get("core") or [])
        if count > len(listed):
            raise SpecError(
                f"ssh.core lists {len(listed)} machines: {count} core nodes need {count} addresses; "
                f"ask for at most {len(listed)} workers or list more machines"
            )
        data["ssh"]["core"] = listed[:count]
        data["node_groups"]["core"]["count"] = count
        return data

    def hosts(self) -> Hosts:
        """The spec's addresses; a node's private IP is its address unless ``ssh.private_ips`` says otherwise."""
        ssh = self.spec.ssh
        if ssh is None:  # the spec validator requires it for provider ssh
            raise ClusterctlError("ssh: provider ssh needs the nodes' addresses")

        def pair(address: str) -> tuple[str, str]:
            return address, ssh.private_ips.get(address, address)

        key = Path(ssh.identity_file).expanduser()
        return Hosts(
            nodes=node_list(pair(ssh.master), [pair(a) for a in ssh.core], [pair(a) for a in ssh.task]),
            user=ssh.user,
            identity_file=key,
            known_hosts=self.workdir.root / "ssh" / "known_hosts",
            port=ssh.port,
            jump=ssh.jump,
        )

    def extra_files(self, properties: Properties) -> dict[str, str]:
        """The nodes' lock (the playbook copies conf/ and installs the lock on the nodes)."""
        return lock_files(self.spec, brings_spark=False)

    def node_costs(self) -> list[NodeCost]:
        """Unknown: the machines are billed (or not) outside clusterctl."""
        return [NodeCost(role, g.instance_type, g.count, None) for role, g in self.spec.node_groups.items()]

    def data_uri(self, name: str) -> str:
        """In the cluster's HDFS."""
        return f"hdfs://master:8020/data/{name}"

    def plan(self, report: Reporter) -> PlanResult:
        """The nodes ``up`` would bootstrap and the daemons each gets (changes nothing)."""
        hosts = self.hosts()
        daemons = ["namenode"] + (["spark-master"] if self.spec.spark_manager == "standalone" else ["resourcemanager"])
        summary = {
            "add": {"bootstrapped nodes": len(hosts.nodes)},
            "change": {},
            "destroy": {},
            "warnings": [],
            "nodes": {n.name: n.address for n in hosts.nodes},
            "master daemons": daemons,
        }
        return PlanResult(summary=summary, hourly_usd=hourly_total(self.node_costs()), nodes=[])

    def up(self, report: Reporter, bootstrap: bool = True) -> ClusterStatus:
        """Bootstrap the machines (idempotent: a second run changes nothing) and pass the health gate."""
        if bootstrap:
            self.bootstrap(report)
        return self.status()

    def status(self) -> ClusterStatus:
        """The daemons as the master sees them; stopped before the first ``up`` or after ``down``."""
        if self.bootstrapped() is None:
            return ClusterStatus(self.spec.name, self.name, "stopped", notes=("not bootstrapped: run `clusterctl up`",))
        return self.daemon_status(self.spec.name, self.name)

    def down(self, report: Reporter, delete_bucket: bool = False) -> DownResult:
        """Stop every daemon on every node and verify; software and HDFS data stay on the machines."""
        stopped = self.stop_daemons(report)
        self.workdir.path(BOOTSTRAPPED).unlink(missing_ok=True)
        verified = (
            f"no clusterctl daemon running on the {len(self.hosts().nodes)} nodes",
            "installed software and HDFS data kept on the machines (the next `up` restarts the daemons)",
        )
        return DownResult(tuple(stopped), verified)
