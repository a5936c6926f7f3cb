"""What the ec2 and emr providers share: Terraform plan/apply/destroy, cost, the orphan check.

Failure handling: terraform keeps its state in the workdir, so an ``up`` that fails half-way is
resumed by running ``up`` again, and removed by ``down``; nothing is left untracked.
"""

import json
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from typing import Any, ClassVar

from clusterctl.config.properties import NodeLayout, Ruled
from clusterctl.config.spec import ClusterSpec
from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.cluster import LOCK_DIR, Published, lock_files, publish, wheelhouse_for, workdir_lock
from clusterctl.nodeenv.wheelhouse import Wheelhouse
from clusterctl.progress import Reporter
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws.pricing import node_costs
from clusterctl.providers.aws.root_module import TF_DIR, module_files, root_module, runtime_vars
from clusterctl.providers.aws.terraform import Terraform, TerraformError, summarize_plan
from clusterctl.providers.base import DownResult, NodeCost, PlanResult, Properties, hourly_total, set_core_count
from clusterctl.providers.on_nodes import named_nodes_layout
from clusterctl.workdir import Workdir

SHARED_MODULES = ("network", "storage", "node-iam")

PLAN_FILE = "tfplan"


def translate(exc: TerraformError, region: str) -> ClusterctlError:
    """A terraform failure with a known AWS cause becomes the one-line message with the fix."""
    known = aws.explain_aws_error(str(exc), region)
    return ClusterctlError(known) if known else exc


class TerraformedProvider:
    """Base of the AWS providers: YARN on nodes named master, core-N, task-N, laid out by Terraform.

    Subclasses name their cluster module and its outputs, say where the driver and the workloads'
    Python run, and add waiting, status, submit and logs.
    """

    name: ClassVar[str]
    CLUSTER_MODULE: ClassVar[str]  # infra/modules/<this>
    OUTPUTS: ClassVar[tuple[str, ...]]  # the cluster module's outputs, re-exported by the root
    DEPLOY_MODE: ClassVar[Ruled]
    PYTHON: ClassVar[Ruled]
    LAUNCH_TAGS: ClassVar[dict[str, str]] = {}  # extra tags on the subnet and security groups
    BRINGS_SPARK: ClassVar[bool] = False  # the nodes' image ships Spark (EMR): pyspark stays out of their venv

    def __init__(self, spec: ClusterSpec, workdir: Workdir) -> None:
        self.spec = spec
        self.workdir = workdir

    @staticmethod
    def default_spark_version() -> str:
        """The Spark that ``init`` writes for a cluster built on nodes."""
        return "4.0.1"

    def node_layout(self) -> NodeLayout:
        """YARN on nodes named by role; where the driver and the workloads' Python run is the subclass's."""
        return named_nodes_layout(
            self.spec,
            scheduler="yarn",
            spark_master=Ruled("yarn", "Spark on YARN"),
            deploy_mode=self.DEPLOY_MODE,
            python=self.PYTHON,
            instance_profile_s3a=True,
        )

    def cluster_inputs(self, properties: Properties) -> dict[str, Any]:
        """Inputs of the cluster module beyond those every cluster module takes."""
        raise NotImplementedError

    def extra_files(self, properties: Properties) -> dict[str, str]:
        """The Terraform root module (``terraform/main.tf.json``), the modules it calls, and the nodes' lock."""
        root = root_module(
            self.spec, self.CLUSTER_MODULE, self.cluster_inputs(properties), self.OUTPUTS, self.LAUNCH_TAGS
        )
        files = {f"{TF_DIR}/main.tf.json": json.dumps(root, indent=2, sort_keys=True) + "\n"}
        return files | module_files((*SHARED_MODULES, self.CLUSTER_MODULE)) | lock_files(self.spec, self.BRINGS_SPARK)

    def node_costs(self) -> list[NodeCost]:
        """On-demand $/h of each node group in the spec's region."""
        return node_costs(self.spec)

    @staticmethod
    def core_count_spec(data: dict[str, Any], count: int) -> dict[str, Any]:
        """``data`` with ``count`` core nodes."""
        return set_core_count(data, count)

    def data_uri(self, name: str) -> str:
        """Under the cluster's bucket prefix: the only place the nodes' instance profile may read."""
        return self._bucket_uri("data", name)

    def scratch_uri(self, name: str) -> str:
        """Under the cluster's bucket prefix, beside ``data/`` (EMR's HDFS is not reached from here)."""
        return self._bucket_uri("scratch", name)

    def _bucket_uri(self, folder: str, name: str) -> str:
        bucket = self.spec.storage.bucket or self.outputs().get("bucket_name")
        if not bucket:
            raise ClusterctlError(
                f"the bucket of {self.spec.name} is not known until `clusterctl up` created it; run it first "
                "or pass --to s3://BUCKET/PREFIX"
            )
        return f"s3://{bucket}/{self.spec.bucket_prefix}/{folder}/{name}"

    def storage_access(self, uri: str) -> AbstractContextManager[tuple[str, dict[str, str]]]:
        """Reached from here as it is."""
        return nullcontext((uri, {}))

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
        return self._plan(report, None)

    def _plan(self, report: Reporter, targets: list[str] | None) -> PlanResult:
        report("checking AWS credentials and plan-time values")
        tf = self.tf
        tfvars_path = tf.dir / "terraform.tfvars.json"
        # a cluster that exists keeps its TTL: ttl_hours counts from the first `up`
        state = tf.dir / "terraform.tfstate"
        live = state.is_file() and tfvars_path.is_file() and bool(json.loads(state.read_text()).get("resources"))
        tfvars = runtime_vars(self.spec, ttl=json.loads(tfvars_path.read_text()).get("ttl") if live else None)
        tfvars_path.write_text(json.dumps(tfvars, indent=2, sort_keys=True) + "\n")
        report("terraform init")
        self._tf_call(tf.init)
        report("terraform plan")
        plan = self._tf_call(tf.plan, PLAN_FILE, False, targets)
        summary = summarize_plan(plan)
        costs = self.node_costs()
        return PlanResult(
            summary=summary.to_dict(),
            hourly_usd=hourly_total(costs),
            nodes=[asdict(c) for c in costs],
            ssh_cidrs=tfvars["ssh_cidrs"],
            plan_file=str(tf.dir / PLAN_FILE),
        )

    def apply(self, report: Reporter, targets: list[str] | None = None) -> dict[str, Any]:
        """Plan (``targets`` only, when given), apply exactly that plan, and return terraform's outputs."""
        self._plan(report, targets)
        report("terraform apply (resumable: run `clusterctl up` again after a failure)")
        self._tf_call(self.tf.apply, PLAN_FILE)
        outputs = self._tf_call(self.tf.output)
        self.workdir.record_environment(self.environment_facts(outputs))
        return outputs

    def environment_facts(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """What the cluster runs on, as recorded in the workdir's ``environment.json`` after each apply."""
        return {
            "provider": self.name,
            "region": self.spec.region,
            "bucket": outputs.get("bucket_name"),
            "spark": self.spec.spark_version,
            "python": self.spec.versions.python,
            "node_lock": workdir_lock(self.workdir.root).hash,
        }

    def node_wheelhouse(self, bucket: str, report: Reporter) -> tuple[Wheelhouse, Published]:
        """The wheelhouse of the workdir's lock, built here once per lock hash and put in the cluster's bucket
        under ``<prefix>/nodeenv/<lock hash>/`` (with every lock file ``render`` wrote), where the nodes get it."""
        lock = workdir_lock(self.workdir.root)
        wheelhouse = wheelhouse_for(self.spec, lock, report)
        locks = sorted((self.workdir.root / LOCK_DIR).glob("*.lock"))
        report(f"putting the nodes' wheelhouse ({len(wheelhouse.files)} files) in s3://{bucket}")
        with aws.aws_errors(self.spec.region):
            published = publish(wheelhouse, locks, bucket, self.wheelhouse_prefix(), self.spec.region, report)
        return wheelhouse, published

    def wheelhouse_prefix(self) -> str:
        """Key prefix of the cluster's wheelhouses (one folder per lock hash below it)."""
        return f"{self.spec.bucket_prefix}/{LOCK_DIR}"

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
        # a bucket this down leaves on purpose (kept, or not one clusterctl created) is no orphan
        bucket_stays = not self.spec.storage.create or (self.spec.storage.keep_on_down and not delete_bucket)
        leftovers = [
            r
            for r in aws.find_cluster_resources(self.spec.region, self.spec.name)
            if not (bucket_stays and r.kind == "bucket")
        ]
        if leftovers:
            listed = ", ".join(f"{r.kind} {r.id}" for r in leftovers)
            raise ClusterctlError(
                f"orphans still tagged {aws.CLUSTER_TAG}={self.spec.name}: {listed}; remove them with "
                f"`clusterctl sweep --region {self.spec.region} --cluster {self.spec.name} --destroy --yes` "
                "or in the AWS console"
            )
        verified = [
            f"no instance, EMR cluster, network part, key pair, IAM role or profile, KMS key or EMR security "
            f"configuration of {self.spec.name} left in {self.spec.region}"
        ]
        if self.spec.storage.keep_on_down and not delete_bucket and self.spec.storage.create:
            verified.append("bucket kept (storage.keep_on_down); `clusterctl down --delete-bucket` removes it")
        return DownResult(tuple(stopped), tuple(verified))
