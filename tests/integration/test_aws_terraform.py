"""The AWS providers with real terraform: modules parse and are fmt-clean, rendered root modules
validate and pass checkov, and an EC2 cluster is planned, applied and destroyed against a moto
server on 127.0.0.1 (EMR, which moto cannot create, is checked through its plan JSON).

terraform, the hashicorp/aws provider mirror and checkov are real; tests skip with the reason
where one is missing on this machine.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import hcl2
import pytest
import yaml

from clusterctl.config.spec import load_spec, parse_spec
from clusterctl.providers import get_provider
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws.terraform import MIRROR_ENV, Terraform, TerraformError
from clusterctl.remote.bootstrap import inventory
from clusterctl.workdir import Workdir
from tests.conftest import REPO, render_spec, run_cli
from tests.support.moto_endpoint import moto_endpoint
from tests.support.wheels import tiny_wheelhouse

pytestmark = pytest.mark.integration

MODULES = REPO / "infra" / "modules"
SKIPS = REPO / "infra" / "checkov-skips.yaml"
REGION = "eu-west-3"
SSH_FROM = "203.0.113.7/32"
# The provider mirror: CLUSTERCTL_TF_MIRROR, else where this workplace keeps it.
MIRROR_CANDIDATES = [
    Path(p)
    for p in (
        os.environ.get(MIRROR_ENV, ""),
        "/opt/tf-plugins",
        str(Path.home() / ".terraform.d" / "plugins"),
        "/usr/share/terraform/plugins",
    )
    if p
]


def _has_aws_provider(root: Path) -> bool:
    return (root / "registry.terraform.io" / "hashicorp" / "aws").is_dir()


@pytest.fixture(scope="module")
def terraform_bin() -> str:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed on this machine")
    proc = subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["terraform_version"]


@pytest.fixture(scope="module")
def mirror(terraform_bin) -> Path:
    found = next((p for p in MIRROR_CANDIDATES if _has_aws_provider(p)), None)
    if found is None:
        pytest.skip(
            f"no local hashicorp/aws provider mirror (set {MIRROR_ENV}); looked in "
            + ", ".join(map(str, MIRROR_CANDIDATES))
        )
    return found


@pytest.fixture(scope="module")
def checkov() -> Path:
    """checkov in its own virtualenv (it pins an old boto3), built once per machine."""
    if os.environ.get("CLUSTERCTL_CHECKOV"):
        return Path(os.environ["CLUSTERCTL_CHECKOV"])
    venv = Path.home() / ".cache" / "clusterctl-tests" / "checkov-venv"
    binary = venv / "bin" / "checkov"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        proc = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "checkov"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            pytest.skip(f"could not install checkov into {venv}: {proc.stderr.strip().splitlines()[-1:]}")
    return binary


def _public_key() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " clusterctl-test"


def _example(example: str, tmp_path: Path, **changes) -> Path:
    """An example spec from examples/, with a throw-away SSH key and our test CIDR."""
    data = yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
    tmp_path.mkdir(parents=True, exist_ok=True)
    key = tmp_path / "id_ed25519.pub"
    key.write_text(_public_key() + "\n")
    data["network"] = {"ssh_cidrs": [SSH_FROM], "ssh_public_key": str(key)}
    data.update(changes)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------- modules


def test_every_module_parses_and_is_documented():
    for module in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        parsed = {}
        for tf in sorted(module.glob("*.tf")):
            with tf.open() as fh:
                parsed[tf.name] = hcl2.load(fh)
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= set(parsed), module
        for block in ("variable", "output"):
            file = "variables.tf" if block == "variable" else "outputs.tf"
            items = {k: v for d in parsed[file].get(block, []) for k, v in d.items()}
            assert items, f"{module.name}: no {block}s"
            undocumented = [k for k, v in items.items() if not v.get("description")]
            assert not undocumented, f"{module.name}: {block}s without description: {undocumented}"


def test_modules_are_terraform_fmt_clean(terraform_bin):
    proc = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(REPO / "infra")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("example", ["ec2", "emr"])
def test_rendered_root_module_validates(example, mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("CLUSTERCTL_HOME", str(tmp_path / "home"))
    spec = load_spec(_example(example, tmp_path))
    workdir = Workdir(tmp_path / "wd")
    render_spec(spec, workdir)
    tf = Terraform(workdir.root / "terraform", mirror=mirror)
    tf.init()
    assert tf.validate()["valid"] is True


def test_invalid_configuration_reports_terraform_diagnostic(terraform_bin, tmp_path):
    (tmp_path / "main.tf").write_text('output "x" {\n  value = aws_instance.missing.id\n}\n')
    tf = Terraform(tmp_path)
    tf.init()
    with pytest.raises(TerraformError, match=r"terraform validate: Reference to undeclared resource — .*missing"):
        tf.validate()


@pytest.mark.parametrize("example", ["ec2", "emr"])
def test_hand_written_example_roots_validate(example, mirror, tmp_path):
    shutil.copytree(REPO / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    tf = Terraform(tmp_path / "infra" / "examples" / example, mirror=mirror)
    tf.init()
    assert tf.validate()["valid"] is True


# ---------------------------------------------------------------- checkov


def test_checkov_passes_rendered_configurations_with_only_the_documented_skips(checkov, tmp_path):
    skips = yaml.safe_load(SKIPS.read_text())["skips"]
    assert skips and all(len(s["reason"]) > 40 for s in skips), "every skip needs a reason"
    skip_ids = [s["id"] for s in skips]
    failing_without_skips: set[str] = set()
    for example in ("ec2", "emr"):
        spec = parse_spec(yaml.safe_load(_example(example, tmp_path / example).read_text()))
        workdir = Workdir(tmp_path / example / "wd")
        render_spec(spec, workdir)
        tf_dir = workdir.root / "terraform"
        base = [
            str(checkov),
            "-d",
            str(tf_dir),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ]
        strict = _checkov_json(subprocess.run(base, capture_output=True, text=True, check=False))
        failing_without_skips |= {c["check_id"] for c in strict["results"]["failed_checks"]}
        assert strict["summary"]["resource_count"] > 20, "checkov did not follow the module calls"
        allowed = _checkov_json(
            subprocess.run([*base, "--skip-check", ",".join(skip_ids)], capture_output=True, text=True, check=False)
        )
        failed = [(c["check_id"], c["resource"]) for c in allowed["results"]["failed_checks"]]
        assert failed == [], f"{example}: checkov failures outside the skip list: {failed}"
        assert allowed["summary"]["passed"] > 80
    assert set(skip_ids) <= failing_without_skips, f"stale skips: {set(skip_ids) - failing_without_skips}"


def _checkov_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    docs = doc if isinstance(doc, list) else [doc]
    return next(d for d in docs if d.get("check_type") == "terraform")


# ---------------------------------------------------------------- against a moto server


@pytest.fixture
def moto_env(mirror, tmp_path):
    with moto_endpoint() as url:
        yield {
            aws.ENDPOINT_ENV: url,
            MIRROR_ENV: str(mirror),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_MAX_ATTEMPTS": "2",  # an unimplemented call fails fast instead of retrying for minutes
            "CLUSTERCTL_HOME": str(tmp_path / "home"),
        }


def _moto_ami(url: str) -> str:
    ec2 = boto3.client(
        "ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


def _boto(service: str, env: dict):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=env[aws.ENDPOINT_ENV],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_ec2_cluster_plan_apply_status_destroy_against_moto(moto_env, tmp_path):
    spec_path = _example("ec2", tmp_path, name="itest", region=REGION, ami_id=_moto_ami(moto_env[aws.ENDPOINT_ENV]))

    proc = run_cli("plan", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["summary"]["add"]["aws_instance"] == 6 and plan["summary"]["destroy"] == {}
    assert plan["summary"]["warnings"] == [] and plan["ssh_cidrs"] == [SSH_FROM]
    assert plan["hourly_usd"] == pytest.approx(0.224 + 5 * 0.448 + 6 * 0.005, rel=1e-6)  # + 6 public IPv4
    assert plan["summary"]["add"]["aws_vpc_endpoint"] == 1  # S3 through a gateway endpoint

    # moto's instances run nothing: create them, and stop before the bootstrap would SSH to them
    proc = run_cli("up", "--json", "--no-bootstrap", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["state"] == "running" and status["alive_workers"] == 6
    assert status["notes"] == ["not bootstrapped: run `clusterctl up`"]

    ec2 = _boto("ec2", moto_env)
    instances = [
        i
        for r in ec2.describe_instances(
            Filters=[
                {"Name": f"tag:{aws.CLUSTER_TAG}", "Values": ["itest"]},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        )["Reservations"]
        for i in r["Instances"]
    ]
    roles = sorted({t["Key"]: t["Value"] for t in i["Tags"]}[aws.ROLE_TAG] for i in instances)
    assert roles == ["core"] * 3 + ["master"] + ["task"] * 2
    for inst in instances:
        tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
        assert tags["owner"] == "data-team" and tags[aws.TTL_TAG].endswith("Z")
        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        role = tags[aws.ROLE_TAG]
        assert inst["InstanceType"] == ("m5.xlarge" if role == "master" else "m5.2xlarge")
        assert "PublicIpAddress" in inst, "every node reaches the package mirrors through the internet gateway"
        assert (inst.get("InstanceLifecycle") == "spot") == (role == "task")
        volumes = ec2.describe_volumes(VolumeIds=[m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]])
        assert volumes["Volumes"] and all(v["Encrypted"] for v in volumes["Volumes"])

    def ingress_of(group_ids: set[str]) -> list[dict]:
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": sorted(group_ids)}])
        return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]

    by_role: dict[str, set[str]] = {}
    for inst in instances:
        role = {t["Key"]: t["Value"] for t in inst["Tags"]}[aws.ROLE_TAG]
        attached = [*inst["SecurityGroups"], *inst["NetworkInterfaces"][0]["Groups"]]  # moto fills one or the other
        by_role.setdefault(role, set()).update(g["GroupId"] for g in attached)
    worker_groups = by_role["core"] | by_role["task"]
    assert len(worker_groups) == 1 and worker_groups < by_role["master"] and len(by_role["master"]) == 2
    (cluster_group,) = worker_groups
    world = {"0.0.0.0/0", "::/0"}
    everything = ingress_of(by_role["master"])
    assert not [r for r in everything if r.get("CidrIpv4") in world or r.get("CidrIpv6") in world]
    # workers: only traffic from cluster members; SSH from SSH_FROM reaches the master alone
    assert all(r.get("ReferencedGroupInfo", {}).get("GroupId") == cluster_group for r in ingress_of(worker_groups))
    ssh = [r for r in everything if r.get("CidrIpv4")]
    assert [(r["FromPort"], r["ToPort"], r["CidrIpv4"]) for r in ssh] == [(22, 22, SSH_FROM)]
    assert ssh[0]["GroupId"] in by_role["master"] - worker_groups
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    assert [e["ServiceName"] for e in endpoints if e["VpcId"] == instances[0]["VpcId"]] == [
        f"com.amazonaws.{REGION}.s3"
    ]

    s3 = _boto("s3", moto_env)
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("clusterctl-itest"))
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert "Secure" in json.dumps(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))

    proc = run_cli("status", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["alive_workers"] == 6

    # the bootstrap's inventory, from terraform's real outputs: the master by its public IP, workers through it
    provider = get_provider(load_spec(spec_path), Workdir.for_cluster("itest", Path(moto_env["CLUSTERCTL_HOME"])))
    hosts = provider.hosts()
    by_role = {
        {t["Key"]: t["Value"] for t in i["Tags"]}[aws.ROLE_TAG]: i
        for i in sorted(instances, key=lambda i: i["PrivateIpAddress"])
    }
    assert hosts.master.address == by_role["master"]["PublicIpAddress"]
    assert hosts.master.private_ip == by_role["master"]["PrivateIpAddress"]
    private = {i["PrivateIpAddress"] for i in instances if i is not by_role["master"]}
    assert {n.address for n in hosts.workers} == private == {n.private_ip for n in hosts.workers}
    assert [n.name for n in hosts.nodes] == ["master", "core-1", "core-2", "core-3", "task-1", "task-2"]
    groups = inventory(hosts)["all"]["children"]["cluster"]["children"]
    core = groups["core"]["hosts"]["node-core-1"]
    assert core["ansible_user"] == "admin" and core["node_name"] == "core-1"
    assert f"-W %h:%p admin@{hosts.master.address}" in core["ansible_ssh_common_args"]
    assert "ProxyCommand" not in groups["master"]["hosts"]["node-master"]["ansible_ssh_common_args"]

    proc = run_cli("down", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    down = json.loads(proc.stdout)
    assert sum(".aws_instance." in r for r in down["stopped"]) == 6
    assert not [r for r in down["stopped"] if ".data." in r or r.startswith("data.")]
    assert any("no instance" in v for v in down["verified"])
    left = [
        i["State"]["Name"]
        for r in ec2.describe_instances(Filters=[{"Name": f"tag:{aws.CLUSTER_TAG}", "Values": ["itest"]}])[
            "Reservations"
        ]
        for i in r["Instances"]
    ]
    assert left and set(left) == {"terminated"}
    assert not ec2.describe_vpcs(Filters=[{"Name": f"tag:{aws.CLUSTER_TAG}", "Values": ["itest"]}])["Vpcs"]
    assert s3.head_bucket(Bucket=bucket), "the results bucket is kept by default"

    proc = run_cli("down", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stopped"] == []

    proc = run_cli("down", "--delete-bucket", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    assert not [b for b in s3.list_buckets()["Buckets"] if b["Name"] == bucket]


def test_emr_cluster_plan_json(moto_env, tmp_path):
    groups = yaml.safe_load((REPO / "examples" / "emr.yaml").read_text())["node_groups"]
    groups["task"]["instance_type"] = "m5.2xlarge"  # bigger than core: its own YARN sizing
    spec_path = _example("emr", tmp_path, region=REGION, node_groups=groups)
    proc = run_cli("plan", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)["summary"]
    assert summary["add"]["aws_emr_cluster"] == 1 and summary["add"]["aws_emr_instance_group"] == 1
    assert summary["warnings"] == []

    tf_dir = Path(moto_env["CLUSTERCTL_HOME"]) / "fruits-emr" / "terraform"
    plan = json.loads(Terraform(tf_dir, mirror=Path(moto_env[MIRROR_ENV])).run("show", "-json", "tfplan"))
    changes = {rc["address"]: rc["change"] for rc in plan["resource_changes"]}
    after = {address: change["after"] for address, change in changes.items()}
    cluster = after["module.cluster.aws_emr_cluster.this"]
    assert cluster["release_label"] == "emr-7.13.0"
    assert set(cluster["applications"]) >= {"Hadoop", "Spark"}
    assert cluster["auto_termination_policy"] == [{"idle_timeout": 30 * 60}]
    assert cluster["master_instance_group"][0]["instance_type"] == "m5.xlarge"
    assert cluster["core_instance_group"][0]["instance_count"] == 2
    assert cluster["core_instance_group"][0]["ebs_config"][0]["size"] == 64
    assert cluster["security_configuration"] == "fruits-emr-emr"
    # log_uri and the bootstrap path name the bucket, which is known once it exists.
    assert changes["module.cluster.aws_emr_cluster.this"]["after_unknown"]["log_uri"] is True
    bootstrap = after["module.cluster.aws_s3_object.bootstrap"]
    assert bootstrap["key"] == "clusterctl/fruits-emr/bootstrap/bootstrap.sh"
    assert bootstrap["server_side_encryption"] == "aws:kms" and "pip install" in bootstrap["content"]
    assert plan["variables"]["bucket_name"]["value"].startswith("clusterctl-fruits-emr-")
    configs = {c["Classification"]: c["Properties"] for c in json.loads(cluster["configurations_json"])}
    assert int(configs["yarn-site"]["yarn.nodemanager.resource.memory-mb"]) == 12288  # EMR's m5.xlarge value
    assert configs["spark-defaults"]["spark.sql.shuffle.partitions"] == "64"  # the spec's override
    assert "spark.master" not in configs["spark-defaults"]
    task = after["module.cluster.aws_emr_instance_group.task[0]"]
    assert task["instance_count"] == 2 and task["bid_price"] == "OnDemandPrice"
    task_yarn = {c["Classification"]: c["Properties"] for c in json.loads(task["configurations_json"])}["yarn-site"]
    assert task_yarn["yarn.nodemanager.resource.cpu-vcores"] == "8"  # m5.2xlarge's, not core's 4
    assert int(task_yarn["yarn.nodemanager.resource.memory-mb"]) > 12288
    # Python 3.11 for PySpark on every node: the bootstrap's venv, named in spark-env and spark-defaults
    venv_python = "/opt/clusterctl/venv/bin/python"
    env = next(c for c in json.loads(cluster["configurations_json"]) if c["Classification"] == "spark-env")
    assert env["Configurations"][0]["Properties"]["PYSPARK_PYTHON"] == venv_python
    assert configs["spark-defaults"]["spark.pyspark.python"] == venv_python
    assert "python3.11 -m venv /opt/clusterctl/venv" in bootstrap["content"]
    # AmazonEMRServicePolicy_v2 launches only into a subnet and security groups tagged for it
    policy_tag = "for-use-with-amazon-emr-managed-policies"
    for address in (
        "module.network.aws_subnet.public",
        "module.network.aws_security_group.cluster",
        "module.network.aws_security_group.ssh",
        "module.cluster.aws_security_group.master",
        "module.cluster.aws_security_group.slave",
    ):
        assert after[address]["tags"][policy_tag] == "true", address
    # every resource carries the TTL, so that sweep can judge a leftover VPC or role on its own
    ttl = plan["variables"]["ttl"]["value"]
    for address in ("module.network.aws_vpc.this", "module.cluster.module.node_iam.aws_iam_role.node"):
        assert after[address]["tags_all"][aws.TTL_TAG] == ttl, address
    # The security configuration embeds the KMS key's ARN, so its JSON is only known at apply time:
    # check the module's source for IMDSv2 and at-rest encryption instead.
    assert changes["module.cluster.aws_emr_security_configuration.this"]["after_unknown"]["configuration"] is True
    source = re.sub(r"\s+", " ", (MODULES / "emr-cluster" / "main.tf").read_text())
    for setting in (
        "MinimumInstanceMetadataServiceVersion = 2",
        "EnableAtRestEncryption = true",
        "EnableEbsEncryption = true",
    ):
        assert setting in source

    # idle_timeout_minutes: 0 turns EMR's auto-termination off (it used to become 60 seconds)
    spec_path = _example("emr", tmp_path, region=REGION, node_groups=groups, idle_timeout_minutes=0)
    proc = run_cli("plan", "--json", "-f", str(spec_path), cwd=tmp_path, env=moto_env)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(Terraform(tf_dir, mirror=Path(moto_env[MIRROR_ENV])).run("show", "-json", "tfplan"))
    cluster = next(
        rc["change"]["after"] for rc in plan["resource_changes"] if rc["address"].endswith("emr_cluster.this")
    )
    assert cluster["auto_termination_policy"] == []


def test_missing_credentials_are_one_line_with_the_fix(moto_env, tmp_path):
    spec_path = _example("ec2", tmp_path, region=REGION)
    env = {k: v for k, v in moto_env.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    proc = run_cli("plan", "-f", str(spec_path), cwd=tmp_path, env=env)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: AWS rejected or could not find credentials") and "aws configure" in last
    assert not (Path(env["CLUSTERCTL_HOME"]) / "faces-ec2" / "terraform" / "terraform.tfstate").exists()


def test_emr_up_puts_the_nodes_wheelhouse_in_a_new_bucket_before_the_cluster(moto_env, tmp_path, monkeypatch):
    """EMR's bootstrap action reads the wheelhouse while the nodes boot, so `up` first creates the bucket alone
    (a targeted apply: nothing else), then puts the wheelhouse and the lock files under
    <prefix>/nodeenv/<lock hash>/; a second time uploads nothing. (moto cannot run the EMR cluster itself.)"""
    lock, house = tiny_wheelhouse(tmp_path / "nodeenv")
    for key, value in (moto_env | {"CLUSTERCTL_WHEELHOUSE": str(house.parent)}).items():
        monkeypatch.setenv(key, value)
    spec = load_spec(_example("emr", tmp_path, region=REGION, node_env={"lock": str(lock)}))
    workdir = Workdir.for_cluster(spec.name, Path(moto_env["CLUSTERCTL_HOME"]))
    render_spec(spec, workdir)
    provider = get_provider(spec, workdir)
    bucket = provider.apply(lambda *a: None, targets=["module.storage"])["bucket_name"]
    created = provider.tf.state_resources()
    assert created and all(r.startswith("module.storage.") for r in created), created
    s3 = _boto("s3", moto_env)
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)  # moto speaks plain HTTP, which the TLS-only policy rightly refuses

    wheelhouse, published = provider.node_wheelhouse(bucket, lambda *a: None)
    prefix = f"clusterctl/{spec.name}/nodeenv/{wheelhouse.lock_hash}"
    assert published.uri == f"s3://{bucket}/{prefix}/" and wheelhouse.lock_hash == house.name
    keys = {o["Key"].removeprefix(prefix + "/") for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
    wheel = next(p.name for p in house.glob("*.whl"))
    assert {wheel, "nodes.lock", "nodes-emr.lock", "manifest.json"} <= keys
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}/{wheel}")["Body"].read()
    assert body == (house / wheel).read_bytes()
    assert provider.node_wheelhouse(bucket, lambda *a: None)[1].uploaded == 0
    # the bootstrap action is handed exactly that folder
    main = json.loads((workdir.root / "terraform" / "main.tf.json").read_text())
    assert main["module"]["cluster"]["bootstrap_args"] == [f"s3://${{module.storage.bucket_name}}/{prefix}/"]
