"""`clusterctl sweep` against a moto server on 127.0.0.1: it finds and removes everything `up` creates.

The resources are made with boto3 the way the Terraform modules name and tag them (no terraform run):
an expired cluster ``old``, a live ``fresh`` one, and a live ``old-emr``, whose IAM role is named like
one of old's (``old-emr-node``) and whose EMR security configuration starts with old's (``old-emr``):
names alone must not decide whose a resource is.
"""

import json
import os
import subprocess
import sys
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from clusterctl.providers.aws import client as aws
from tests.conftest import run_cli
from tests.support.moto_endpoint import moto_endpoint

pytestmark = pytest.mark.integration

REGION = "eu-west-3"
ACCOUNT = "123456789012"  # moto's
PAST = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
FUTURE = (datetime.now(UTC) + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
)
ASSUME = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)

Found = set[tuple[str, str]]  # (kind, id)


@pytest.fixture
def moto_env(monkeypatch, tmp_path):
    with moto_endpoint() as url:
        # the server keeps its state in this process's moto backends, shared by every server started here
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
        env = {
            aws.ENDPOINT_ENV: url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_MAX_ATTEMPTS": "2",  # an unimplemented call fails fast instead of retrying for minutes
            "CLUSTERCTL_HOME": str(tmp_path / "home"),  # no workdir: sweep removes directly
        }
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        yield env


def _tags(cluster: str, ttl: str) -> list[dict[str, str]]:
    return [{"Key": aws.CLUSTER_TAG, "Value": cluster}, {"Key": aws.TTL_TAG, "Value": ttl}]


def _on(resource_type: str, cluster: str, ttl: str, *more: str) -> list[dict]:
    return [{"ResourceType": rt, "Tags": _tags(cluster, ttl)} for rt in (resource_type, *more)]


def _image() -> str:
    return aws.client("ec2", REGION).describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


def _network_and_instance(cluster: str, ttl: str) -> Found:
    """The network module's VPC, subnet, gateway, route table, two groups naming each other and the S3
    endpoint, plus a node with its volume and key pair (ec2-cluster module)."""
    ec2 = aws.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=_on("vpc", cluster, ttl))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", TagSpecifications=_on("subnet", cluster, ttl))
    subnet_id = subnet["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway(TagSpecifications=_on("internet-gateway", cluster, ttl))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc, TagSpecifications=_on("route-table", cluster, ttl))
    table_id = table["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
    groups = [
        ec2.create_security_group(
            GroupName=f"{cluster}-{role}",
            Description=role,
            VpcId=vpc,
            TagSpecifications=_on("security-group", cluster, ttl),
        )["GroupId"]
        for role in ("cluster", "ssh")
    ]
    for group, other in (groups, groups[::-1]):
        ec2.authorize_security_group_ingress(
            GroupId=group, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": other}]}]
        )
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[table_id],
        TagSpecifications=_on("vpc-endpoint", cluster, ttl),
    )["VpcEndpoint"]["VpcEndpointId"]
    ec2.create_key_pair(KeyName=f"{cluster}-key", TagSpecifications=_on("key-pair", cluster, ttl))
    instance = ec2.run_instances(
        ImageId=_image(),
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.xlarge",
        SubnetId=subnet_id,
        SecurityGroupIds=groups,
        KeyName=f"{cluster}-key",
        TagSpecifications=_on("instance", cluster, ttl, "volume"),
    )["Instances"][0]
    volumes = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    return {
        ("vpc", vpc),
        ("subnet", subnet_id),
        ("internet-gateway", igw_id),
        ("route-table", table_id),
        *(("security-group", g) for g in groups),
        ("vpc-endpoint", endpoint),
        ("key-pair", f"{cluster}-key"),
        ("instance", instance["InstanceId"]),
        *(("volume", v) for v in volumes),
    }


def _iam(cluster: str, ttl: str, suffix: str, profile: bool = True, attach: str | None = None) -> Found:
    """A node-iam role (inline policy, optionally an attached managed one) and its instance profile."""
    iam = aws.client("iam", REGION)
    name = f"{cluster}{suffix}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=ASSUME, Tags=_tags(cluster, ttl))
    iam.put_role_policy(RoleName=name, PolicyName=f"{name}-bucket-prefix", PolicyDocument=POLICY)
    if attach:
        iam.attach_role_policy(RoleName=name, PolicyArn=attach)
    if not profile:
        return {("iam-role", name)}
    iam.create_instance_profile(InstanceProfileName=name, Tags=_tags(cluster, ttl))
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return {("iam-role", name), ("instance-profile", name)}


def _emr_parts(cluster: str, ttl: str, with_cluster: bool = False) -> Found:
    """The emr-cluster module's KMS key + alias and security configuration (untaggable, named after the
    cluster), and the EMR cluster itself if asked."""
    kms = aws.client("kms", REGION)
    key = kms.create_key(Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(cluster, ttl)])
    key_id = key["KeyMetadata"]["KeyId"]
    alias = f"alias/clusterctl-{cluster}-emr"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    emr = aws.client("emr", REGION)
    emr.create_security_configuration(Name=f"{cluster}-emr", SecurityConfiguration="{}")
    found = {("kms-key", key_id), ("kms-alias", alias), ("emr-security-configuration", f"{cluster}-emr")}
    if with_cluster:
        job_flow = emr.run_job_flow(
            Name=cluster,
            ReleaseLabel="emr-7.13.0",
            JobFlowRole=f"{cluster}-emr-node",
            ServiceRole=f"{cluster}-emr-service",
            Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
            Tags=_tags(cluster, ttl),
        )
        found.add(("emr-cluster", job_flow["JobFlowId"]))
    return found


def _bucket(cluster: str, ttl: str) -> Found:
    """The storage module's versioned, tagged bucket, with results in it (two versions of one object)."""
    s3 = aws.client("s3", REGION)
    name = f"clusterctl-{cluster}-{ACCOUNT}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(cluster, ttl)})
    for body in (b"first", b"second"):
        s3.put_object(Bucket=name, Key="clusterctl/results/part-0.parquet", Body=body)
    return {("bucket", name)}


def _clusters() -> dict[str, Found]:
    """The three clusters, each as the (kind, id) pairs that make it up."""
    policy = aws.client("iam", REGION).create_policy(PolicyName="old-extra", PolicyDocument=POLICY)["Policy"]["Arn"]
    old = (
        _network_and_instance("old", PAST)
        | _iam("old", PAST, "-node")
        | _iam("old", PAST, "-emr-service", profile=False, attach=policy)
        | _emr_parts("old", PAST, with_cluster=True)
        | _bucket("old", PAST)
    )
    fresh = _network_and_instance("fresh", FUTURE) | _iam("fresh", FUTURE, "-node") | _bucket("fresh", FUTURE)
    # named like old's EMR node role and security configuration, tagged as its own
    trap = _iam("old-emr", FUTURE, "-node") | _emr_parts("old-emr", FUTURE)
    return {"old": old, "fresh": fresh, "old-emr": trap}


def _found(cluster: str | None = None, page_size: int | None = None) -> dict[str, Found]:
    by_cluster: dict[str, Found] = defaultdict(set)
    for res in aws.find_cluster_resources(REGION, cluster, page_size):
        by_cluster[res.cluster].add((res.kind, res.id))
    return dict(by_cluster)


def _sweep(env: dict, *args: str, cwd) -> dict:
    proc = run_cli("sweep", "--region", REGION, *args, "--json", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_dry_run_lists_exactly_the_expired_clusters_resources_and_changes_nothing(moto_env, tmp_path):
    made = _clusters()
    assert _found() == made
    assert _found("old") == {"old": made["old"]}
    assert {r.kind for r in aws.find_cluster_resources(REGION, "old")} >= {
        "iam-role",
        "instance-profile",
        "key-pair",
        "security-group",
        "vpc",
        "kms-key",
        "kms-alias",
        "emr-security-configuration",
        "bucket",
    }
    resources = aws.find_cluster_resources(REGION)
    assert all(r.expired() for r in resources if r.cluster == "old")
    assert not any(r.expired() for r in resources if r.cluster != "old")
    assert {r.ttl for r in resources if r.kind in aws.UNTAGGABLE and r.cluster == "old"} == {PAST}

    listed = _sweep(moto_env, cwd=tmp_path)
    assert list(listed["clusters"]) == ["old"]
    old = listed["clusters"]["old"]
    assert {(r["kind"], r["id"]) for r in old["resources"]} == made["old"]
    assert old["expired"] and old["ttl"] == PAST and old["action"] is None

    proc = run_cli("sweep", "--region", REGION, cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    for heading in ("cluster", "ttl", "expired?", "kind", "id", "old-node", "old-key"):
        assert heading in proc.stdout
    assert "fresh" not in proc.stdout and "old-emr-node" not in proc.stdout
    assert _found() == made, "a dry run changed something"


def test_destroy_removes_the_expired_cluster_keeps_its_bucket_then_deletes_it_when_asked(moto_env, tmp_path):
    made = _clusters()
    (bucket,) = [i for kind, i in made["old"] if kind == "bucket"]

    result = _sweep(moto_env, "--destroy", "--yes", cwd=tmp_path)
    assert list(result["clusters"]) == ["old"]
    old = result["clusters"]["old"]
    assert old["error"] is None, old["error"]
    assert old["action"].startswith("terminated i-") and f"kept bucket {bucket}" in old["action"]
    assert any(a.startswith("deleted vpc ") for a in old["actions"])
    assert any(a.startswith("scheduled deletion of kms-key ") for a in old["actions"])
    assert _found() == {"old": {("bucket", bucket)}, "fresh": made["fresh"], "old-emr": made["old-emr"]}

    # what the listing no longer shows is really gone (or, for the key, on its way)
    ec2, iam = aws.client("ec2", REGION), aws.client("iam", REGION)
    (instance,) = [i for kind, i in made["old"] if kind == "instance"]
    reservations = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    assert reservations[0]["Instances"][0]["State"]["Name"] == "terminated"
    for role in ("old-node", "old-emr-service"):
        with pytest.raises(ClientError, match="NoSuchEntity"):
            iam.get_role(RoleName=role)
    (key,) = [i for kind, i in made["old"] if kind == "kms-key"]
    assert aws.client("kms", REGION).describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with pytest.raises(ClientError, match="does not exist"):
        aws.client("emr", REGION).describe_security_configuration(Name="old-emr")
    assert aws.client("emr", REGION).describe_security_configuration(Name="old-emr-emr")["Name"] == "old-emr-emr"

    proc = run_cli(
        "sweep",
        "--region",
        REGION,
        "--cluster",
        "old",
        "--destroy",
        "--yes",
        "--delete-bucket",
        cwd=tmp_path,
        env=moto_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"emptied and deleted bucket {bucket}" in proc.stdout
    s3 = aws.client("s3", REGION)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert _found() == {"fresh": made["fresh"], "old-emr": made["old-emr"]}

    assert _sweep(moto_env, "--destroy", "--yes", cwd=tmp_path)["clusters"] == {}


def test_without_yes_destroy_shows_the_list_and_asks(moto_env, tmp_path):
    made = _clusters()
    proc = subprocess.run(
        [sys.executable, "-m", "clusterctl", "sweep", "--region", REGION, "--destroy"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        input="n\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 130, proc.stderr
    assert "old-node" in proc.stderr and "remove the 1 clusters listed?" in proc.stderr
    assert _found() == made


def test_a_cluster_that_cannot_go_is_one_line_with_the_fix_and_the_others_are_swept(moto_env, tmp_path):
    _network_and_instance("old", PAST)
    emr = aws.client("emr", REGION)
    locked = emr.run_job_flow(
        Name="locked",
        ReleaseLabel="emr-7.13.0",
        JobFlowRole="locked-emr-node",
        ServiceRole="locked-emr-service",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
            "TerminationProtected": True,
        },
        Tags=_tags("locked", PAST),
    )["JobFlowId"]

    proc = run_cli("sweep", "--region", REGION, "--destroy", "--yes", "--json", cwd=tmp_path, env=moto_env)
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: sweeping locked stopped at terminating EMR clusters")
    assert f"--cluster-id {locked} --no-termination-protected" in error
    assert f"`clusterctl sweep --region {REGION} --cluster locked --destroy --yes` resumes" in error
    result = json.loads(proc.stdout)
    assert result["clusters"]["old"]["error"] is None and result["clusters"]["locked"]["error"] in error
    assert _found() == {"locked": {("emr-cluster", locked)}}


def test_every_page_is_listed(moto_env):
    ec2, iam = aws.client("ec2", REGION), aws.client("iam", REGION)
    image = _image()
    instances: set[str] = set()
    for n in range(12):  # 60 instances in 12 reservations, across three clusters
        cluster = f"c{n % 3}"
        resp = ec2.run_instances(
            ImageId=image,
            MinCount=5,
            MaxCount=5,
            InstanceType="t3.micro",
            TagSpecifications=_on("instance", cluster, FUTURE),
        )
        instances |= {i["InstanceId"] for i in resp["Instances"]}
    roles = set()
    for n in range(12):
        iam.create_role(RoleName=f"p{n}-node", AssumeRolePolicyDocument=ASSUME, Tags=_tags(f"p{n}", FUTURE))
        roles.add(f"p{n}-node")
    # moto honours the page size, so a listing that read one page only would miss most of them
    pages = ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5})
    assert len(list(pages)) > 1
    assert len(list(iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 5}))) > 1

    found = aws.find_cluster_resources(REGION, page_size=5)
    assert {r.id for r in found if r.kind == "instance"} == instances
    assert {r.id for r in found if r.kind == "iam-role"} == roles
    assert {r.cluster for r in found if r.kind == "instance"} == {"c0", "c1", "c2"}


def test_iam_of_a_cluster_in_another_region_is_left_to_that_region(moto_env):
    """IAM is account-wide: a role tagged with another clusterctl:region is not this region's to sweep."""
    iam = aws.client("iam", REGION)
    here = _iam("old", PAST, "-node")
    iam.create_role(
        RoleName="away-node",
        AssumeRolePolicyDocument=ASSUME,
        Tags=[*_tags("away", PAST), {"Key": aws.REGION_TAG, "Value": "us-east-1"}],
    )
    assert _found() == {"old": here}
    assert {(r.kind, r.id) for r in aws.find_cluster_resources("us-east-1", "away")} == {("iam-role", "away-node")}


def test_sweep_help_shows_an_example(tmp_path):
    proc = run_cli("sweep", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Example:" in proc.stdout and "clusterctl sweep --region eu-west-3 --destroy --yes" in proc.stdout
    assert "--delete-bucket" in proc.stdout
