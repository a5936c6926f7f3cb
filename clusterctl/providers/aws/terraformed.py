"""What the ec2 and emr providers share: Terraform plan/apply/destroy, cost, the orphan check.

Failure handling: terraform keeps its state in the workdir, so an ``up`` that fails half-way is
resumed by running ``up`` again, and removed by ``down``; nothing is left untracked.
"""

import json
from dataclasses import dataclass
from typing import Any

from clusterctl.config.catalog import load_catalog
from clusterctl.config.spec import ClusterSpec
from clusterctl.errors import ClusterctlError
from clusterctl.progress import Reporter
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws.root_module import TF_DIR, runtime_vars
from clusterctl.providers.aws.terraform import Terraform, TerraformError, summarize_plan
from clusterctl.providers.base import DownResult, PlanResult
from clusterctl.workdir import Workdir

PLAN_FILE = "tfplan"


@dataclass(frozen=True)
class NodeCost:
    """Hourly on-demand cost of one node group."""

    role: str
    instance_type: str
    count: int
    usd_per_hour: float | None

    @property
    def total(self) -> float | None:
        """$/h for the whole group (None when the catalog has no price in the region)."""
        return None if self.usd_per_hour is None else self.usd_per_hour * self.count


def node_costs(spec: ClusterSpec) -> list[NodeCost]:
    """On-demand $/h of each node group in the spec's region (spot is billed lower; this is the ceiling)."""
    types = load_catalog().types
    return [
        NodeCost(role, g.instance_type, g.count, types[g.instance_type].price(spec.region))
        for role, g in spec.node_groups.items()
    ]


def hourly_cost(spec: ClusterSpec) -> float | None:
    """$/h of the whole cluster, or None if a price is missing."""
    totals = [c.total for c in node_costs(spec)]
    return None if any(t is None for t in totals) else round(sum(t for t in totals if t is not None), 4)


def translate(exc: TerraformError, region: str) -> ClusterctlError:
    """A terraform failure with a known AWS cause becomes the one-line message with the fix."""
    known = aws.explain_aws_error(str(exc), region)
    return ClusterctlError(known) if known else exc


class TerraformedProvider:
    """Base of the AWS providers: subclasses add waiting, status, submit and logs."""

    def __init__(self, spec: ClusterSpec, workdir: Workdir) -> None:
        self.spec = spec
        self.workdir = workdir

    @property
    def tf(self) -> Terraform:
        """Terraform in the cluster's rendered root module."""
        return Terraform(self.workdir.root / TF_DIR)

    def _tf_call(self, fn, *args: Any) -> Any:
        try:
            return fn(*args)
        except TerraformError as exc:
            raise translate(exc, self.spec.region) from None

    def plan(self, report: Reporter) -> PlanResult:
        """Resolve plan-time values, ``terraform init`` + ``plan -out``, and summarise the plan."""
        report("checking AWS credentials and plan-time values")
        tfvars = runtime_vars(self.spec)
        tf = self.tf
        (tf.dir / "terraform.tfvars.json").write_text(json.dumps(tfvars, indent=2, sort_keys=True) + "\n")
        report("terraform init")
        self._tf_call(tf.init)
        report("terraform plan")
        plan = self._tf_call(tf.plan, PLAN_FILE)
        summary = summarize_plan(plan)
        costs = node_costs(self.spec)
        return PlanResult(
            summary=summary.to_dict(),
            hourly_usd=hourly_cost(self.spec),
            nodes=[
                {"role": c.role, "instance_type": c.instance_type, "count": c.count, "usd_per_hour": c.usd_per_hour}
                for c in costs
            ],
            ssh_cidrs=tfvars["ssh_cidrs"],
            plan_file=str(tf.dir / PLAN_FILE),
        )

    def apply(self, report: Reporter) -> dict[str, Any]:
        """Plan, apply exactly that plan, and return terraform's outputs."""
        self.plan(report)
        report("terraform apply (resumable: run `clusterctl up` again after a failure)")
        self._tf_call(self.tf.apply, PLAN_FILE)
        return self._tf_call(self.tf.output)

    def outputs(self) -> dict[str, Any]:
        """Terraform outputs ({} before the first apply)."""
        if not (self.workdir.root / TF_DIR / "terraform.tfstate").exists():
            return {}
        return self._tf_call(self.tf.output)

    def down(self, report: Reporter, delete_bucket: bool = False) -> DownResult:
        """``terraform destroy`` (keeping a created bucket unless asked), then check AWS for leftovers."""
        tf = self.tf
        stopped: list[str] = []
        if (tf.dir / "terraform.tfstate").exists():
            self._tf_call(tf.init)
            resources = tf.state_resources()
            keep_bucket = self.spec.storage.keep_on_down and not delete_bucket
            targets = ["module.network", "module.cluster"] if keep_bucket else []
            report(f"terraform destroy ({len(resources)} resources in state)")
            self._tf_call(tf.destroy, targets)
            stopped = [
                r for r in resources if ".data." not in f".{r}" and not (keep_bucket and r.startswith("module.storage"))
            ]
        report("checking AWS for resources still tagged with the cluster")
        leftovers = aws.find_cluster_resources(self.spec.region, self.spec.name)
        if leftovers:
            listed = ", ".join(f"{r.kind} {r.id}" for r in leftovers)
            raise ClusterctlError(
                f"orphans still tagged {aws.CLUSTER_TAG}={self.spec.name}: {listed}; remove them with "
                f"`clusterctl sweep --cluster {self.spec.name} --destroy` or in the AWS console"
            )
        verified = [
            f"no instance, volume, security group, subnet, VPC or EMR cluster tagged "
            f"{aws.CLUSTER_TAG}={self.spec.name} in {self.spec.region}"
        ]
        if self.spec.storage.keep_on_down and not delete_bucket and self.spec.storage.create:
            verified.append("bucket kept (storage.keep_on_down); `clusterctl down --delete-bucket` removes it")
        return DownResult(tuple(stopped), tuple(verified))
