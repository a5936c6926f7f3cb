"""boto3 sessions, one-line AWS error messages, and what clusterctl looks up in AWS by tag.

``CLUSTERCTL_AWS_ENDPOINT`` points every client (and the rendered Terraform provider) at one
endpoint, e.g. a moto server in tests or a private gateway; unset, the real AWS endpoints are used.
"""

import os
import re
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from clusterctl.errors import ClusterctlError

ENDPOINT_ENV = "CLUSTERCTL_AWS_ENDPOINT"
CHECKIP_ENV = "CLUSTERCTL_CHECKIP_URL"
CHECKIP_URL = "https://checkip.amazonaws.com"
CLUSTER_TAG = "clusterctl:cluster"
TTL_TAG = "clusterctl:ttl"
ROLE_TAG = "clusterctl:role"
REGION_TAG = "clusterctl:region"  # where the cluster lives: its IAM (account-wide) is only swept from there

_CREDENTIALS = (
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "NoCredentialProviders",
    "no valid credential sources",
    "NoCredentialsError",
    "Unable to locate credentials",
)
_QUOTA = (
    "VcpuLimitExceeded",
    "InstanceLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "LimitExceeded",
    "TooManyBuckets",
    "VpcLimitExceeded",
    "AddressLimitExceeded",
)
_CAPACITY = ("InsufficientInstanceCapacity", "Unsupported", "SpotMaxPriceTooLow")
_REGION = (
    "InvalidRegion",
    "UnrecognizedRegion",
    "EndpointConnectionError",
    "Could not connect to the endpoint",
    "invalid AWS Region",
    "AuthorizationHeaderMalformed",
)
_DENIED = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException")
_KNOWN = (  # error codes -> the one-line message with the fix
    (
        _CREDENTIALS,
        "AWS rejected or could not find credentials ({code}): run `aws configure`, set AWS_PROFILE, "
        "or refresh the session with `aws sso login`",
    ),
    (
        _QUOTA,
        "AWS quota reached ({code}): request an increase in Service Quotas (e.g. 'Running On-Demand "
        "Standard instances' vCPUs) for this region, or ask for fewer/smaller nodes in the spec",
    ),
    (
        _CAPACITY,
        "AWS has no capacity for this request ({code}): try another instance type or availability zone, "
        "or on_demand instead of spot",
    ),
)


def explain_aws_error(text: str, region: str | None = None) -> str | None:
    """A one-line message with the fix for a known AWS failure in ``text`` (None if not recognised)."""
    for codes, fix in _KNOWN:
        code = next((c for c in codes if c in text), None)
        if code:
            return fix.format(code=code)
    code = next((c for c in _REGION if c in text), None)
    if code:
        where = f" {region}" if region else ""
        return (
            f"cannot use AWS region{where} ({code}): check `region` in the spec and that the region is "
            "enabled for your account"
        )
    code = next((c for c in _DENIED if c in text), None)
    if code:
        action = re.search(r"perform: ([\w:]+)", text)
        what = f" for {action.group(1)}" if action else ""
        return f"AWS denied the request{what} ({code}): use credentials whose IAM policy allows it"
    return None


@contextmanager
def aws_errors(region: str | None = None) -> Iterator[None]:
    """Turn botocore exceptions into ClusterctlError with a one-line message and the fix."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        text = f"{type(exc).__name__}: {exc}"
        raise ClusterctlError(explain_aws_error(text, region) or f"AWS error: {exc}") from None


def endpoint() -> str | None:
    """The endpoint override, if any."""
    return os.environ.get(ENDPOINT_ENV) or None


def client(service: str, region: str) -> Any:
    """A boto3 client for ``service`` in ``region`` (honouring the endpoint override)."""
    import boto3

    return boto3.session.Session(region_name=region).client(service, endpoint_url=endpoint())


def account_id(region: str) -> str:
    """The caller's account id; also proves the credentials work before anything is planned."""
    with aws_errors(region):
        return client("sts", region).get_caller_identity()["Account"]


def caller_cidr(url: str | None = None) -> str:
    """The caller's public IPv4 address as a /32 (from checkip.amazonaws.com or ``CLUSTERCTL_CHECKIP_URL``)."""
    import ipaddress

    url = url or os.environ.get(CHECKIP_ENV) or CHECKIP_URL
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode().strip()
        addr = ipaddress.ip_address(text)
    except (OSError, ValueError) as exc:
        raise ClusterctlError(
            f"could not find your public IP at {url} ({exc}); set network.ssh_cidrs in the spec, e.g. [203.0.113.7/32]"
        ) from None
    return f"{addr}/{32 if addr.version == 4 else 128}"


# What `up` names after the cluster (infra/modules/*/main.tf). IAM names are account-wide and fixed,
# so a leftover role or profile makes the cluster's next `up` fail; a new one must be added here.
IAM_SUFFIXES = ("-node", "-emr-node", "-emr-service", "-master")
_KMS_ALIAS = re.compile(r"^alias/clusterctl-([a-z][a-z0-9-]*[a-z0-9])-emr$")  # the EMR key's, named after the cluster
# Neither can carry tags: matched by exact name, their TTL is the cluster's.
UNTAGGABLE = ("emr-security-configuration", "kms-alias")

_LIVE_INSTANCE = ["pending", "running", "stopping", "stopped"]
_LIVE_EMR = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]
_EC2_LISTINGS = (  # kind, describe call, result key, id key
    ("volume", "describe_volumes", "Volumes", "VolumeId"),
    ("vpc-endpoint", "describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId"),
    ("security-group", "describe_security_groups", "SecurityGroups", "GroupId"),
    ("route-table", "describe_route_tables", "RouteTables", "RouteTableId"),
    ("subnet", "describe_subnets", "Subnets", "SubnetId"),
    ("internet-gateway", "describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
    ("vpc", "describe_vpcs", "Vpcs", "VpcId"),
)


def iam_names(cluster: str) -> set[str]:
    """The IAM role and instance profile names `up` may give ``cluster``'s resources."""
    return {cluster + suffix for suffix in IAM_SUFFIXES}


def emr_security_configuration_name(cluster: str) -> str:
    """The name of ``cluster``'s EMR security configuration (infra/modules/emr-cluster)."""
    return f"{cluster}-emr"


def ttl_time(ttl: str | None) -> datetime | None:
    """A ``clusterctl:ttl`` value (RFC3339) as a time, None if absent or unreadable."""
    if not ttl:
        return None
    try:
        when = datetime.fromisoformat(ttl.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TaggedResource:
    """Something in AWS that belongs to a clusterctl cluster (by its cluster tag, or by name when untaggable)."""

    kind: str
    id: str
    cluster: str
    ttl: str | None = None

    def expired(self, now: datetime | None = None) -> bool:
        """True when the ``clusterctl:ttl`` tag lies in the past."""
        when = ttl_time(self.ttl)
        return when is not None and when <= (now or datetime.now(UTC))


def earliest_ttl(resources: Iterable[TaggedResource]) -> str | None:
    """The soonest readable TTL among ``resources``: the one that expires their cluster first."""
    dated = [(when, r.ttl) for r in resources if r.ttl and (when := ttl_time(r.ttl))]
    return min(dated)[1] if dated else None


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def paged_items(api: Any, operation: str, key: str, page_size: int | None = None, **params: Any) -> Iterator[Any]:
    """Every item under ``key`` on every page of ``operation`` (``page_size`` items per request if given)."""
    config = {"PageSize": page_size} if page_size else {}
    for page in api.get_paginator(operation).paginate(**params, PaginationConfig=config):
        yield from page.get(key, [])


def _listed(kind: str, item: dict[str, Any]) -> bool:
    """False for what goes with its VPC (default group, main route table) or is already gone."""
    if kind == "security-group":
        return item.get("GroupName") != "default"
    if kind == "route-table":
        return not any(a.get("Main") for a in item.get("Associations", []))
    if kind == "vpc-endpoint":
        return item.get("State", "").lower() not in ("deleting", "deleted")
    return kind != "volume" or item.get("State") not in ("deleting", "deleted")


def _ec2(region: str, cluster: str | None, page_size: int | None) -> Iterator[TaggedResource]:
    ec2 = client("ec2", region)
    tag_filter = (
        [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]
        if cluster
        else [{"Name": "tag-key", "Values": [CLUSTER_TAG]}]
    )
    live = [*tag_filter, {"Name": "instance-state-name", "Values": _LIVE_INSTANCE}]
    for reservation in paged_items(ec2, "describe_instances", "Reservations", page_size, Filters=live):
        for inst in reservation["Instances"]:
            tags = _tags(inst.get("Tags"))
            yield TaggedResource("instance", inst["InstanceId"], tags[CLUSTER_TAG], tags.get(TTL_TAG))
    for kind, call, key, id_key in _EC2_LISTINGS:
        for item in paged_items(ec2, call, key, page_size, Filters=tag_filter):
            if _listed(kind, item):
                tags = _tags(item.get("Tags"))
                yield TaggedResource(kind, item[id_key], tags[CLUSTER_TAG], tags.get(TTL_TAG))
    # DescribeKeyPairs has no pagination: one call returns them all
    for pair in ec2.describe_key_pairs(Filters=tag_filter)["KeyPairs"]:
        tags = _tags(pair.get("Tags"))
        yield TaggedResource("key-pair", pair["KeyName"], tags[CLUSTER_TAG], tags.get(TTL_TAG))


def _emr_clusters(region: str, cluster: str | None) -> Iterator[TaggedResource]:
    emr = client("emr", region)
    # ListClusters pages by marker but takes no page size
    for summary in paged_items(emr, "list_clusters", "Clusters", ClusterStates=_LIVE_EMR):
        tags = _tags(emr.describe_cluster(ClusterId=summary["Id"])["Cluster"].get("Tags"))
        if CLUSTER_TAG in tags and (cluster is None or tags[CLUSTER_TAG] == cluster):
            yield TaggedResource("emr-cluster", summary["Id"], tags[CLUSTER_TAG], tags.get(TTL_TAG))


def _iam(region: str, cluster: str | None, page_size: int | None) -> Iterator[TaggedResource]:
    """Roles and instance profiles with one of the cluster's names and its tag (the name alone could be
    another cluster's: `fruits-emr-node` is both fruits' EMR role and fruits-emr's EC2 role)."""
    iam = client("iam", region)

    def owner(name: str, tags: dict[str, str]) -> str | None:
        found = tags.get(CLUSTER_TAG)
        elsewhere = tags.get(REGION_TAG, region) != region  # a same-named cluster's in another region
        if found and not elsewhere and name in iam_names(found) and cluster in (None, found):
            return found
        return None

    def candidate(name: str) -> bool:  # spares a tag lookup for every other role in the account
        return name in iam_names(cluster) if cluster else name.endswith(IAM_SUFFIXES)

    for role in paged_items(iam, "list_roles", "Roles", page_size):
        name = role["RoleName"]
        if candidate(name):
            tags = _tags(iam.list_role_tags(RoleName=name)["Tags"])  # ListRoles leaves tags out
            if who := owner(name, tags):
                yield TaggedResource("iam-role", name, who, tags.get(TTL_TAG))
    for profile in paged_items(iam, "list_instance_profiles", "InstanceProfiles", page_size):
        name = profile["InstanceProfileName"]
        if candidate(name):
            if "Tags" in profile:  # moto lists them (and lacks ListInstanceProfileTags)
                tags = _tags(profile["Tags"])
            else:  # AWS leaves tags out of ListInstanceProfiles
                tags = _tags(iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"])
            if who := owner(name, tags):
                yield TaggedResource("instance-profile", name, who, tags.get(TTL_TAG))


def _kms(region: str, cluster: str | None, page_size: int | None) -> Iterator[TaggedResource]:
    """The EMR key's alias by its exact name, and the key it points to when tagged with that cluster and
    not already scheduled for deletion (which is what removing it does)."""
    kms = client("kms", region)
    for alias in paged_items(kms, "list_aliases", "Aliases", page_size):
        match = _KMS_ALIAS.match(alias["AliasName"])
        if not match or cluster not in (None, match.group(1)):
            continue
        name = match.group(1)
        yield TaggedResource("kms-alias", alias["AliasName"], name)
        key_id = alias.get("TargetKeyId")
        if key_id and kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] != "PendingDeletion":
            tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}
            if tags.get(CLUSTER_TAG) == name:
                yield TaggedResource("kms-key", key_id, name, tags.get(TTL_TAG))


def _buckets(region: str, cluster: str | None, page_size: int | None) -> Iterator[TaggedResource]:
    """Buckets in ``region`` tagged with a cluster: a spec's pre-existing bucket is not tagged, so never listed."""
    from botocore.exceptions import ClientError

    s3 = client("s3", region)
    for bucket in paged_items(s3, "list_buckets", "Buckets", page_size, BucketRegion=region):
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"])
        except ClientError as exc:
            # untagged, just deleted, or tags we may not read: not a bucket clusterctl created
            # (its buckets' policy only denies plain HTTP)
            if error_code(exc) in ("NoSuchTagSet", "NoSuchBucket", "AccessDenied"):
                continue
            raise
        if CLUSTER_TAG in tags and cluster in (None, tags[CLUSTER_TAG]):
            yield TaggedResource("bucket", bucket["Name"], tags[CLUSTER_TAG], tags.get(TTL_TAG))


def _security_configurations(region: str, clusters: set[str]) -> Iterator[TaggedResource]:
    """Each cluster's EMR security configuration, looked up by its exact name (ListSecurityConfigurations
    would need a prefix match, and `fruits-emr` is fruits' configuration, not the cluster fruits-emr's)."""
    from botocore.exceptions import ClientError

    emr = client("emr", region)
    for name in sorted(clusters):
        config = emr_security_configuration_name(name)
        try:
            emr.describe_security_configuration(Name=config)
        except ClientError as exc:
            if error_code(exc) == "InvalidRequestException" and "does not exist" in str(exc):
                continue
            raise
        yield TaggedResource("emr-security-configuration", config, name)


def find_cluster_resources(
    region: str, cluster: str | None = None, page_size: int | None = None
) -> list[TaggedResource]:
    """Everything `up` creates that still exists, found by the cluster tag (or exact name when untaggable):
    instances, volumes, VPC endpoints, security groups, route tables, subnets, internet gateways, VPCs,
    key pairs, EMR clusters and security configurations, IAM roles and instance profiles, the EMR KMS key
    and alias, and buckets in ``region``. IAM is account-wide, so its roles show up in every region.

    With ``cluster``, only that cluster's; otherwise every clusterctl cluster's (for ``sweep``), where an
    EMR security configuration is looked for only for clusters that left something else.
    ``page_size``: items per list request (default: each service's), so tests can force several pages.
    """
    with aws_errors(region):
        found = [
            *_ec2(region, cluster, page_size),
            *_emr_clusters(region, cluster),
            *_iam(region, cluster, page_size),
            *_kms(region, cluster, page_size),
            *_buckets(region, cluster, page_size),
        ]
        clusters = {cluster} if cluster else {r.cluster for r in found}
        found += _security_configurations(region, clusters)
    ttls = {name: earliest_ttl(r for r in found if r.cluster == name) for name in clusters}
    return [replace(r, ttl=ttls.get(r.cluster)) if r.kind in UNTAGGABLE else r for r in found]
