"""EC2 provider: Terraform (network, storage, ec2-cluster modules), then wait for the instances."""

import time
from typing import Any, ClassVar

from clusterctl.config.catalog import load_catalog
from clusterctl.config.properties import Ruled
from clusterctl.errors import ClusterctlError
from clusterctl.progress import LineSink, Reporter
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws.terraformed import TerraformedProvider
from clusterctl.providers.base import ClusterStatus, Job, LogFile, Properties, RunResult, WorkerInfo

RUNNING_TIMEOUT_S = 900.0
NODE_PYTHON = "/opt/clusterctl/venv/bin/python"


class Ec2Provider(TerraformedProvider):
    """m4/m5 instances in their own VPC; Spark/Hadoop are installed by the node bootstrap."""

    name: ClassVar[str] = "ec2"
    CLUSTER_MODULE = "ec2-cluster"
    OUTPUTS = ("master_public_ip", "master_private_ip", "core_private_ips", "task_private_ips", "instance_ids")
    DEPLOY_MODE = Ruled("client", "driver on the master node")
    PYTHON = Ruled(NODE_PYTHON, "the nodes' workload virtualenv")

    def cluster_inputs(self, properties: Properties) -> dict[str, Any]:
        """The security groups (SSH on the master only), and the AMI when the spec pins one."""
        inputs: dict[str, Any] = {
            "security_group_ids": ["${module.network.security_group_id}"],
            "master_security_group_ids": ["${module.network.ssh_security_group_id}"],
        }
        if self.spec.ami_id:
            inputs["ami_id"] = self.spec.ami_id
        return inputs

    def up(self, report: Reporter) -> ClusterStatus:
        """Apply the plan and wait until every instance is running."""
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
        return ClusterStatus(
            self.spec.name,
            "ec2",
            "running" if alive == len(ids) else "degraded",
            master_url=f"ssh://{master_ip}" if master_ip else None,
            web_ui=f"ssh -L 8080:localhost:8080 admin@{master_ip}" if master_ip else None,
            workers=tuple(sorted(workers, key=lambda w: w.host)),
            started_at=min(launched).isoformat() if launched else None,
        )

    def submit(self, job: Job, report: Reporter, on_output: LineSink) -> RunResult:
        """Not available until the node bootstrap (Hadoop/Spark over SSH) lands."""
        raise ClusterctlError(
            "provider ec2: submit needs the node bootstrap (Hadoop/YARN/Spark installed over SSH), which is "
            "not in this release; use provider emr or local to run jobs"
        )

    def logs(self, run_id: str | None = None) -> list[LogFile]:
        """Not available until the node bootstrap lands (see submit)."""
        raise ClusterctlError("provider ec2: logs come with the node bootstrap; see `clusterctl submit --help`")
