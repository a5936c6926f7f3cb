"""EC2 provider: Terraform (network, storage, ec2-cluster modules), wait for the instances, then the node
bootstrap over SSH (ansible/site.yml) and its health gate; jobs run with spark-submit on the master."""

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from clusterctl.config.catalog import load_catalog
from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.cluster import presigned_files
from clusterctl.progress import Reporter
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws.terraformed import TerraformedProvider
from clusterctl.providers.base import ClusterStatus, DownResult, Properties, WorkerInfo
from clusterctl.providers.on_nodes import BOOTSTRAPPED, NodeCluster
from clusterctl.remote.hosts import Hosts, nodes_from_outputs

RUNNING_TIMEOUT_S = 900.0
SSH_USER = "admin"  # the Debian AMI's login user


class Ec2Provider(NodeCluster, TerraformedProvider):
    """m4/m5 instances in their own VPC; Hadoop/YARN/Spark installed by the node bootstrap."""

    name: ClassVar[str] = "ec2"
    CLUSTER_MODULE = "ec2-cluster"
    OUTPUTS = (
        "master_public_ip",
        "master_private_ip",
        "core_private_ips",
        "task_private_ips",
        "instance_ids",
        "ami_id",
    )
    INSTANCE_PROFILE_S3A = True
    AUTOSTOP = True  # the master's role may terminate the instances tagged with the cluster (ec2-cluster module)

    def hosts(self) -> Hosts:
        """From terraform's outputs: the master by its public IP, the workers through it; Debian's ``admin``
        user with the private half of ``network.ssh_public_key``."""
        key = Path(self.spec.network.ssh_public_key).expanduser()
        return Hosts(
            nodes=nodes_from_outputs(self.outputs()),
            user=SSH_USER,
            identity_file=key.with_suffix("") if key.suffix == ".pub" else key,
            known_hosts=self.workdir.root / "ssh" / "known_hosts",
            jump=True,
        )

    def cluster_inputs(self, properties: Properties) -> dict[str, Any]:
        """The security groups (SSH on the master only), and the AMI when the spec pins one."""
        inputs: dict[str, Any] = {
            "security_group_ids": ["${module.network.security_group_id}"],
            "master_security_group_ids": ["${module.network.ssh_security_group_id}"],
        }
        if self.spec.ami_id:
            inputs["ami_id"] = self.spec.ami_id
        return inputs

    def node_env_vars(self, report: Reporter) -> dict[str, Any]:
        """The wheelhouse of the workdir's lock, put in the cluster's bucket; the nodes fetch its files over
        HTTPS (S3 through the gateway endpoint) with presigned URLs, which the playbook keeps out of its output."""
        wheelhouse, published = self.node_wheelhouse(self.outputs()["bucket_name"], report)
        return {
            "python_env_wheelhouse": presigned_files(published, wheelhouse, self.spec.region),
            "python_env_wheelhouse_secret": True,
        }

    def environment_facts(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Also the AMI the nodes run (looked up at plan time unless the spec pins one)."""
        return super().environment_facts(outputs) | {"ami_id": outputs.get("ami_id")}

    def up(self, report: Reporter, bootstrap: bool = True) -> ClusterStatus:
        """Apply the plan, wait until every instance runs, then bootstrap the nodes and pass the health gate
        (``bootstrap=False``: the instances only; a later ``up`` bootstraps them)."""
        outputs = self.apply(report)
        ids = [i for group in outputs.get("instance_ids", {}).values() for i in group]
        ec2 = aws.client("ec2", self.spec.region)
        deadline = time.monotonic() + RUNNING_TIMEOUT_S
        with aws.aws_errors(self.spec.region):
            while True:
                states = [
                    inst["State"]["Name"]
                    for res in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                    for inst in res["Instances"]
                ]
                running = states.count("running")
                report("waiting for instances to run", running, len(ids))
                if running == len(ids):
                    break
                if any(s in ("terminated", "shutting-down") for s in states):
                    raise ClusterctlError(
                        "an instance terminated during start-up (spot reclaimed?); run "
                        "`clusterctl up` again or `clusterctl down`"
                    )
                if time.monotonic() > deadline:
                    raise ClusterctlError(f"instances not running after {RUNNING_TIMEOUT_S:.0f}s; see the EC2 console")
                time.sleep(5)
        if bootstrap:
            self.bootstrap(report)
        return self.status()

    def status(self) -> ClusterStatus:
        """Instances by role, as EC2 reports them."""
        outputs = self.outputs()
        if not outputs:
            return ClusterStatus(self.spec.name, "ec2", "stopped")
        ids = [i for group in outputs.get("instance_ids", {}).values() for i in group]
        ec2 = aws.client("ec2", self.spec.region)
        types = load_catalog().types
        workers, launched = [], []
        with aws.aws_errors(self.spec.region):
            for res in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
                for inst in res["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                    itype = types.get(inst["InstanceType"])
                    launched.append(inst["LaunchTime"])
                    workers.append(
                        WorkerInfo(
                            id=inst["InstanceId"],
                            host=f"{tags.get(aws.ROLE_TAG, '?')} {inst.get('PrivateIpAddress', '')}",
                            cores=itype.vcpu if itype else 0,
                            memory_mb=int(itype.memory_gib * 1024) if itype else 0,
                            state=inst["State"]["Name"].upper().replace("RUNNING", "ALIVE"),
                        )
                    )
        alive = sum(1 for w in workers if w.state == "ALIVE")
        master_ip = outputs.get("master_public_ip")
        if alive == len(ids) and self.bootstrapped() is not None:
            daemons = self.daemon_status(self.spec.name, "ec2")
            return replace(
                daemons,
                started_at=min(launched).isoformat(),
                notes=(*daemons.notes, f"{alive} instances running"),
            )
        return ClusterStatus(
            self.spec.name,
            "ec2",
            "running" if alive == len(ids) else "degraded",
            master_url=f"ssh://{master_ip}" if master_ip else None,
            web_ui="clusterctl ui -f <spec>" if master_ip else None,
            workers=tuple(sorted(workers, key=lambda w: w.host)),
            started_at=min(launched).isoformat() if launched else None,
            notes=self._notes(workers),
        )

    def _notes(self, workers: list[WorkerInfo]) -> tuple[str, ...]:
        if any(w.state in ("SHUTTING-DOWN", "TERMINATED") for w in workers):
            # the master's autostop agent (idle, or max_lifetime_hours), a spot reclaim, or someone else
            return ("instances terminated (autostop?): `clusterctl down` removes the rest, `up` starts anew",)
        return () if self.bootstrapped() else ("not bootstrapped: run `clusterctl up`",)

    def down(self, report: Reporter, delete_bucket: bool = False) -> DownResult:
        """Destroy the instances and the network (the daemons go with them), then check for leftovers."""
        result = super().down(report, delete_bucket)
        self.workdir.path(BOOTSTRAPPED).unlink(missing_ok=True)
        return result
