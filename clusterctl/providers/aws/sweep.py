"""Find clusters past their ``clusterctl:ttl`` (or one named cluster) and remove them.

A cluster whose workdir (spec copy + terraform state) is here goes through ``terraform destroy``, so
nothing is left untracked. Any other is removed resource by resource, in dependency order, from what
:func:`~clusterctl.providers.aws.client.find_cluster_resources` lists; its bucket is kept unless asked.
"""

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from clusterctl.config.spec import load_spec
from clusterctl.errors import ClusterctlError
from clusterctl.progress import Reporter
from clusterctl.providers import get_provider
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws.root_module import TF_DIR
from clusterctl.workdir import Workdir

# Terminating instances and EMR clusters takes minutes; their network interfaces hold security groups,
# subnets and the internet gateway for a while after that.
WAIT_S = 900.0
POLL_S = 10.0
KMS_PENDING_DAYS = 7  # the shortest window AWS allows; as the emr-cluster module's deletion_window_in_days
_GONE = ("NoSuchEntity", "NotFoundException", "NoSuchBucket")
_PAST = {
    "deleting": "deleted",
    "detaching": "detached",
    "emptying": "emptied",
    "revoking": "revoked",
    "scheduling": "scheduled",
    "terminating": "terminated",
}


def sweep(
    region: str, only: str | None, destroy: bool, report: Reporter, delete_bucket: bool = False
) -> dict[str, Any]:
    """List expired clusters in ``region`` (or ``only``, whatever its TTL); with ``destroy``, remove them.

    A cluster is expired when the TTL of any of its resources has passed. Each listed cluster gets its
    ``ttl``, ``expired``, ``resources`` (kind, id); with ``destroy`` also ``action`` (a summary),
    ``actions`` (each step done) and ``error`` (a one-line message with the fix, None if all went well;
    the other clusters are still swept). The bucket goes only with ``delete_bucket``: results live there.
    """
    report(f"listing clusterctl resources in {region}")
    by_cluster: dict[str, list[aws.TaggedResource]] = defaultdict(list)
    for res in aws.find_cluster_resources(region, only):
        by_cluster[res.cluster].append(res)
    result: dict[str, Any] = {"region": region, "clusters": {}}
    for name, resources in sorted(by_cluster.items()):
        expired = any(r.expired() for r in resources)
        if only is None and not expired:
            continue
        info: dict[str, Any] = {
            "ttl": aws.earliest_ttl(resources),
            "expired": expired,
            "resources": [{"kind": r.kind, "id": r.id} for r in resources],
            "action": None,
        }
        if destroy:
            info |= {"actions": [], "error": None}
            try:
                info["action"] = _remove(name, resources, region, report, delete_bucket, info["actions"])
            except ClusterctlError as exc:
                info["error"] = str(exc)
        result["clusters"][name] = info
    return result


def _remove(
    name: str,
    resources: list[aws.TaggedResource],
    region: str,
    report: Reporter,
    delete_bucket: bool,
    actions: list[str],
) -> str:
    """Remove one cluster (recording each step in ``actions``) and summarise what was done."""
    workdir = Workdir.for_cluster(name)
    if (workdir.root / TF_DIR / "terraform.tfstate").exists() and (workdir.root / "cluster.yaml").exists():
        report(f"{name}: terraform destroy (its workdir is here)")
        down = get_provider(load_spec(workdir.root / "cluster.yaml"), workdir).down(report, delete_bucket)
        actions += [f"destroyed {r}" for r in down.stopped] + list(down.verified)
        return "terraform destroy"
    removal = _Removal(region, name, report, actions, delete_bucket)
    removal.run(resources)
    summary = f"terminated {', '.join(removal.terminated) or 'nothing billable'}"
    summary += f", deleted {removal.deleted} other resources"
    if removal.kept:
        summary += f"; kept bucket {', '.join(removal.kept)} (`--delete-bucket` removes it)"
    return summary


def _gone(exc: Exception) -> bool:
    """True when AWS says the resource does not exist (any more)."""
    code = aws.error_code(exc)
    if code.endswith(".NotFound") or code in _GONE:
        return True
    return code == "InvalidRequestException" and "does not exist" in str(exc)  # EMR security configurations


def _unless_gone(call: Callable[..., Any], **params: Any) -> Any:
    """``call(**params)``, or None when what it acts on is already gone (removed meanwhile, or by an earlier sweep)."""
    from botocore.exceptions import ClientError

    try:
        return call(**params)
    except ClientError as exc:
        if _gone(exc):
            return None
        raise


class _Removal:
    """Removes one cluster's resources directly, in dependency order, recording each step."""

    def __init__(self, region: str, cluster: str, report: Reporter, actions: list[str], delete_bucket: bool) -> None:
        self.region = region
        self.cluster = cluster
        self.report = report
        self.actions = actions
        self.delete_bucket = delete_bucket
        self.terminated: list[str] = []
        self.deleted = 0
        self.kept: list[str] = []

    def run(self, resources: list[aws.TaggedResource]) -> None:
        """Remove ``resources``: what runs first, then what it used, the network from the inside out, then
        the account-wide and encryption parts, the bucket last (and only with ``delete_bucket``)."""
        ids: dict[str, list[str]] = defaultdict(list)
        for res in resources:
            ids[res.kind].append(res.id)
        self._terminate(ids["instance"], ids["emr-cluster"])
        ec2 = aws.client("ec2", self.region)
        for volume in ids["volume"]:  # the nodes' volumes go with them; one left over is deleted here
            with self._step(f"deleting volume {volume}"):
                self._patiently(ec2.delete_volume, ("VolumeInUse", "IncorrectState"), VolumeId=volume)
        emr = aws.client("emr", self.region)
        for config in ids["emr-security-configuration"]:
            with self._step(f"deleting emr-security-configuration {config}"):
                _unless_gone(emr.delete_security_configuration, Name=config)
        self._network(ec2, ids)
        for pair in ids["key-pair"]:
            with self._step(f"deleting key-pair {pair}"):
                _unless_gone(ec2.delete_key_pair, KeyName=pair)
        self._iam(ids["instance-profile"], ids["iam-role"])
        kms = aws.client("kms", self.region)
        # the key before its alias: an alias left by a failure still leads the next sweep to the key
        for key in ids["kms-key"]:
            with self._step(f"scheduling deletion of kms-key {key} in {KMS_PENDING_DAYS} days"):
                _unless_gone(kms.schedule_key_deletion, KeyId=key, PendingWindowInDays=KMS_PENDING_DAYS)
        for alias in ids["kms-alias"]:
            with self._step(f"deleting kms-alias {alias}"):
                _unless_gone(kms.delete_alias, AliasName=alias)
        for bucket in ids["bucket"]:
            if self.delete_bucket:
                with self._step(f"emptying and deleting bucket {bucket}"):
                    self._delete_bucket(bucket)
            else:
                self.kept.append(bucket)
                self.actions.append(
                    f"kept bucket {bucket}: results live there; `clusterctl sweep --region {self.region} "
                    f"--cluster {self.cluster} --destroy --yes --delete-bucket` removes it"
                )

    @contextmanager
    def _step(self, doing: str, count: int = 1) -> Iterator[None]:
        """Report ``doing``, turn a failure into one line naming the step and the fix; on success record it
        (in the past tense) and count ``count`` resources deleted."""
        self.report(f"{self.cluster}: {doing}")
        try:
            with aws.aws_errors(self.region):
                yield
        except ClusterctlError as exc:
            again = f"clusterctl sweep --region {self.region} --cluster {self.cluster} --destroy --yes"
            again += " --delete-bucket" if self.delete_bucket else ""
            raise ClusterctlError(
                f"sweeping {self.cluster} stopped at {doing}: {exc}; once that is fixed, `{again}` resumes"
            ) from None
        self.actions.append(" ".join(_PAST.get(word, word) for word in doing.split(" ")))
        self.deleted += count

    def _patiently(
        self, call: Callable[..., Any], waiting_on: tuple[str, ...] = ("DependencyViolation",), **params: Any
    ) -> None:
        """``call(**params)``, retried while AWS answers one of ``waiting_on`` (something being torn down still
        uses it)."""
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                _unless_gone(call, **params)
                return
            except ClientError as exc:
                if aws.error_code(exc) not in waiting_on or time.monotonic() > deadline:
                    raise
                self.report(f"{self.cluster}: still in use ({aws.error_code(exc)}), retrying in {POLL_S:.0f} s")
                time.sleep(POLL_S)

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        """Poll ``done`` until true; a one-line error after ``WAIT_S``."""
        deadline = time.monotonic() + WAIT_S
        while not done():
            if time.monotonic() > deadline:
                raise ClusterctlError(f"{what} not done after {WAIT_S / 60:.0f} min; check it in the AWS console")
            time.sleep(POLL_S)

    def _terminate(self, instances: list[str], clusters: list[str]) -> None:
        """Terminate instances and EMR clusters, and wait until they are gone (they hold everything else)."""
        if instances:
            ec2 = aws.client("ec2", self.region)

            def instances_gone() -> bool:
                found = _unless_gone(ec2.describe_instances, InstanceIds=instances)
                states = [i["State"]["Name"] for r in (found or {}).get("Reservations", []) for i in r["Instances"]]
                return all(s == "terminated" for s in states)

            with self._step(f"terminating instances {', '.join(instances)}", count=0):
                ec2.terminate_instances(InstanceIds=instances)  # idempotent for terminated ones
                self._wait(instances_gone, f"terminating {', '.join(instances)}")
            self.terminated += instances
        if clusters:
            emr = aws.client("emr", self.region)

            def clusters_gone() -> bool:
                states = [emr.describe_cluster(ClusterId=c)["Cluster"]["Status"]["State"] for c in clusters]
                return all(s.startswith("TERMINATED") for s in states)  # TERMINATED_WITH_ERRORS too

            with self._step(f"terminating EMR clusters {', '.join(clusters)}", count=0):
                # `up` turns protection off: someone turned it on since, so the cluster stays until they say
                for cluster in clusters:
                    if emr.describe_cluster(ClusterId=cluster)["Cluster"].get("TerminationProtected"):
                        raise ClusterctlError(
                            f"EMR cluster {cluster} has termination protection on; if it may go, run `aws emr "
                            f"modify-cluster-attributes --region {self.region} --cluster-id {cluster} "
                            "--no-termination-protected`"
                        )
                emr.terminate_job_flows(JobFlowIds=clusters)
                self._wait(clusters_gone, f"terminating {', '.join(clusters)}")
            self.terminated += clusters

    def _network(self, ec2: Any, ids: dict[str, list[str]]) -> None:
        """VPC endpoints, security groups, route tables, subnets, internet gateway, VPC: each after what uses it."""
        endpoints = ids["vpc-endpoint"]
        if endpoints:

            def endpoints_gone() -> bool:
                found = _unless_gone(ec2.describe_vpc_endpoints, VpcEndpointIds=endpoints)
                return all(e["State"].lower() == "deleted" for e in (found or {}).get("VpcEndpoints", []))

            with self._step(f"deleting vpc-endpoints {', '.join(endpoints)}", count=len(endpoints)):
                _unless_gone(ec2.delete_vpc_endpoints, VpcEndpointIds=endpoints)
                self._wait(endpoints_gone, f"deleting {', '.join(endpoints)}")
        groups = ids["security-group"]
        for group in groups:  # a group that another one's rule names cannot be deleted: drop those rules first
            with self._step(f"revoking the rules of security-group {group} that name groups", count=0):
                self._revoke_group_references(ec2, group)
        for group in groups:
            with self._step(f"deleting security-group {group}"):
                self._patiently(ec2.delete_security_group, GroupId=group)
        for table in ids["route-table"]:
            with self._step(f"deleting route-table {table}"):
                found = _unless_gone(ec2.describe_route_tables, RouteTableIds=[table])
                for assoc in [a for t in (found or {}).get("RouteTables", []) for a in t.get("Associations", [])]:
                    if not assoc.get("Main"):
                        association = assoc["RouteTableAssociationId"]
                        _unless_gone(ec2.disassociate_route_table, AssociationId=association)
                _unless_gone(ec2.delete_route_table, RouteTableId=table)
        for subnet in ids["subnet"]:
            with self._step(f"deleting subnet {subnet}"):
                self._patiently(ec2.delete_subnet, SubnetId=subnet)
        for gateway in ids["internet-gateway"]:
            with self._step(f"detaching and deleting internet-gateway {gateway}"):
                found = _unless_gone(ec2.describe_internet_gateways, InternetGatewayIds=[gateway])
                for attached in [
                    a for g in (found or {}).get("InternetGateways", []) for a in g.get("Attachments", [])
                ]:
                    # refused while instances still map public addresses in the VPC
                    self._patiently(ec2.detach_internet_gateway, InternetGatewayId=gateway, VpcId=attached["VpcId"])
                self._patiently(ec2.delete_internet_gateway, InternetGatewayId=gateway)
        for vpc in ids["vpc"]:
            with self._step(f"deleting vpc {vpc}"):
                self._patiently(ec2.delete_vpc, VpcId=vpc)

    @staticmethod
    def _revoke_group_references(ec2: Any, group: str) -> None:
        found = _unless_gone(ec2.describe_security_groups, GroupIds=[group])
        for item in (found or {}).get("SecurityGroups", []):
            for rules, revoke in (
                (item.get("IpPermissions", []), ec2.revoke_security_group_ingress),
                (item.get("IpPermissionsEgress", []), ec2.revoke_security_group_egress),
            ):
                naming = [
                    {k: rule[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in rule}
                    | {"UserIdGroupPairs": [{"GroupId": pair["GroupId"]} for pair in rule["UserIdGroupPairs"]]}
                    for rule in rules
                    if rule.get("UserIdGroupPairs")
                ]
                if naming:
                    _unless_gone(revoke, GroupId=group, IpPermissions=naming)

    def _iam(self, profiles: list[str], roles: list[str]) -> None:
        """Instance profiles (after taking their roles out), then roles (after their policies)."""
        iam = aws.client("iam", self.region)
        for profile in profiles:
            with self._step(f"deleting instance-profile {profile}"):
                found = _unless_gone(iam.get_instance_profile, InstanceProfileName=profile)
                for role in (found or {}).get("InstanceProfile", {}).get("Roles", []):
                    _unless_gone(
                        iam.remove_role_from_instance_profile, InstanceProfileName=profile, RoleName=role["RoleName"]
                    )
                _unless_gone(iam.delete_instance_profile, InstanceProfileName=profile)
        for role in roles:
            with self._step(f"deleting iam-role {role} and its policies"):
                if _unless_gone(iam.get_role, RoleName=role) is None:
                    continue
                for held in aws.paged_items(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role):
                    iam.remove_role_from_instance_profile(
                        InstanceProfileName=held["InstanceProfileName"], RoleName=role
                    )
                for policy in aws.paged_items(iam, "list_role_policies", "PolicyNames", RoleName=role):
                    iam.delete_role_policy(RoleName=role, PolicyName=policy)
                for attached in aws.paged_items(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role):
                    iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
                iam.delete_role(RoleName=role)

    def _delete_bucket(self, bucket: str) -> None:
        """Delete every object version and delete marker (the buckets are versioned), then the bucket."""
        s3 = aws.client("s3", self.region)
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if objects:  # a page holds at most 1000, what DeleteObjects takes
                failed = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True}).get("Errors")
                if failed:
                    raise ClusterctlError(
                        f"could not delete {len(failed)} objects of s3://{bucket}, e.g. {failed[0]['Key']}: "
                        f"{failed[0].get('Message', failed[0].get('Code'))}"
                    )
        s3.delete_bucket(Bucket=bucket)
