"""boto3 sessions, one-line AWS error messages, and what clusterctl looks up in AWS by tag.

``CLUSTERCTL_AWS_ENDPOINT`` points every client (and the rendered Terraform provider) at one
endpoint, e.g. a moto server in tests or a private gateway; unset, the real AWS endpoints are used.
"""

import os
import re
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clusterctl.errors import ClusterctlError

ENDPOINT_ENV = "CLUSTERCTL_AWS_ENDPOINT"
CHECKIP_ENV = "CLUSTERCTL_CHECKIP_URL"
CHECKIP_URL = "https://checkip.amazonaws.com"
CLUSTER_TAG = "clusterctl:cluster"
TTL_TAG = "clusterctl:ttl"
ROLE_TAG = "clusterctl:role"

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


@dataclass(frozen=True)
class TaggedResource:
    """Something in AWS that carries a clusterctl cluster tag."""

    kind: str
    id: str
    cluster: str
    ttl: str | None = None

    def expired(self, now: datetime | None = None) -> bool:
        """True when the ``clusterctl:ttl`` tag lies in the past."""
        if not self.ttl:
            return False
        try:
            when = datetime.fromisoformat(self.ttl.replace("Z", "+00:00"))
        except ValueError:
            return False
        return when <= (now or datetime.now(UTC))


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def find_cluster_resources(region: str, cluster: str | None = None) -> list[TaggedResource]:
    """Live instances, volumes, security groups, VPCs, subnets and EMR clusters tagged by clusterctl.

    With ``cluster``, only that cluster's; otherwise every clusterctl cluster's (for ``sweep``).
    """
    ec2 = client("ec2", region)
    tag_filter = (
        [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]
        if cluster
        else [{"Name": "tag-key", "Values": [CLUSTER_TAG]}]
    )
    found: list[TaggedResource] = []
    with aws_errors(region):
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[
                *tag_filter,
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        ):
            for res in page["Reservations"]:
                for inst in res["Instances"]:
                    tags = _tags(inst.get("Tags"))
                    found.append(TaggedResource("instance", inst["InstanceId"], tags[CLUSTER_TAG], tags.get(TTL_TAG)))
        listings = (
            ("volume", "describe_volumes", "Volumes", "VolumeId"),
            ("security-group", "describe_security_groups", "SecurityGroups", "GroupId"),
            ("subnet", "describe_subnets", "Subnets", "SubnetId"),
            ("vpc", "describe_vpcs", "Vpcs", "VpcId"),
        )
        for kind, call, key, id_key in listings:
            for item in getattr(ec2, call)(Filters=tag_filter)[key]:
                tags = _tags(item.get("Tags"))
                found.append(TaggedResource(kind, item[id_key], tags[CLUSTER_TAG], tags.get(TTL_TAG)))
        emr = client("emr", region)
        for summary in emr.list_clusters(ClusterStates=["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"])["Clusters"]:
            tags = _tags(emr.describe_cluster(ClusterId=summary["Id"])["Cluster"].get("Tags"))
            if CLUSTER_TAG in tags and (cluster is None or tags[CLUSTER_TAG] == cluster):
                found.append(TaggedResource("emr-cluster", summary["Id"], tags[CLUSTER_TAG], tags.get(TTL_TAG)))
    return found


def terminate(resources: list[TaggedResource], region: str) -> list[str]:
    """Terminate instances and EMR clusters among ``resources`` (what a TTL sweep may kill directly)."""
    done = []
    with aws_errors(region):
        instances = [r.id for r in resources if r.kind == "instance"]
        if instances:
            client("ec2", region).terminate_instances(InstanceIds=instances)
            done += instances
        clusters = [r.id for r in resources if r.kind == "emr-cluster"]
        if clusters:
            client("emr", region).terminate_job_flows(JobFlowIds=clusters)
            done += clusters
    return done
