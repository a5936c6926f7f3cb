"""The Terraform root module of an ec2/emr cluster, rendered into ``<workdir>/terraform/``.

``main.tf.json`` is a pure function of the spec (and the endpoint override); values only known
at plan time (your public IP, the account's bucket name, the TTL timestamp, your SSH public key)
are Terraform variables, written to ``terraform.tfvars.json`` by ``plan``. The modules are rendered
from ``infra/modules`` beside it, so the workdir is self-contained.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clusterctl.config.spec import ClusterSpec
from clusterctl.errors import ClusterctlError
from clusterctl.providers.aws import client as aws
from clusterctl.resources import infra_dir

TF_DIR = "terraform"
_ENDPOINT_SERVICES = ("ec2", "emr", "iam", "kms", "s3", "sts")


def _group(spec: ClusterSpec, role: str) -> dict[str, Any]:
    group = getattr(spec.node_groups, role)
    if group is None:  # no task group: same type as core, zero nodes
        core = spec.node_groups.core
        return {"instance_type": core.instance_type, "count": 0, "market": "spot", "disk_gib": core.disk_gib}
    out: dict[str, Any] = {"instance_type": group.instance_type, "disk_gib": group.disk_gib}
    if role != "master":
        out |= {"count": group.count, "market": group.market}
    return out


def root_module(
    spec: ClusterSpec,
    cluster_module: str,
    cluster_inputs: dict[str, Any],
    outputs: tuple[str, ...],
    launch_tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The root module as a JSON-serialisable dict: network, storage and the provider's cluster module
    (``infra/modules/<cluster_module>`` called with the shared inputs plus ``cluster_inputs``), whose
    ``outputs`` become the root's. ``launch_tags`` go on the subnet and security groups as well."""
    tags = {aws.CLUSTER_TAG: spec.name, **spec.tags}
    # Every resource carries the TTL, so `sweep` can judge any leftover (a VPC, a role) on its own.
    # And its region: IAM is account-wide, and sweep leaves another region's roles alone.
    default_tags = tags | {aws.TTL_TAG: "${var.ttl}", aws.REGION_TAG: spec.region}
    provider: dict[str, Any] = {"region": spec.region, "default_tags": [{"tags": default_tags}]}
    if aws.endpoint():
        url = aws.endpoint()
        provider |= {
            "endpoints": [{svc: url for svc in _ENDPOINT_SERVICES}],
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": "true",
            "s3_use_path_style": True,
        }
    common = {"name": spec.name, "tags": tags}
    modules: dict[str, Any] = {
        "network": common
        | {
            "source": "./modules/network",
            "ssh_cidrs": "${var.ssh_cidrs}",
            "allow_world_ssh": spec.network.allow_world_ssh,
            "launch_tags": launch_tags or {},
        },
        "storage": common
        | {
            "source": "./modules/storage",
            "create": spec.storage.create,
            "bucket_name": "${var.bucket_name}",
        },
    }
    cluster = common | {
        "ssh_public_key": "${var.ssh_public_key}",
        "bucket_name": "${module.storage.bucket_name}",
        "bucket_prefix": spec.bucket_prefix,
        "master": _group(spec, "master"),
        "core": _group(spec, "core"),
        "task": _group(spec, "task"),
        "ttl": "${var.ttl}",
        "subnet_id": "${module.network.subnet_id}",
    }
    cluster |= {"source": f"./modules/{cluster_module}", **cluster_inputs}
    modules["cluster"] = cluster
    string = {"type": "string"}
    return {
        "terraform": {
            "required_version": ">= 1.5",
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0"}},
        },
        "provider": {"aws": provider},
        "variable": {
            "ssh_cidrs": {"type": "list(string)", "description": "CIDRs allowed to reach SSH"},
            "ssh_public_key": string | {"description": "OpenSSH public key installed on the nodes"},
            "bucket_name": string | {"description": "S3 bucket for data, results and logs"},
            "ttl": string | {"description": "RFC3339 time after which `clusterctl sweep` may remove the cluster"},
        },
        "module": modules,
        "output": {
            "bucket_name": {"value": "${module.storage.bucket_name}"},
            **{name: {"value": f"${{module.cluster.{name}}}"} for name in outputs},
        },
    }


def module_files(names: tuple[str, ...]) -> dict[str, str]:
    """The files of ``infra/modules/<name>`` for each name, as ``{terraform/modules/...: content}``.

    Rendered into the workdir beside ``main.tf.json``, so the workdir is self-contained.
    """
    files: dict[str, str] = {}
    for name in names:
        src = infra_dir() / "modules" / name
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_file() and not rel.parts[0].startswith(".terraform") and ".tfstate" not in path.name:
                files[f"{TF_DIR}/modules/{name}/{rel.as_posix()}"] = path.read_text()
    return files


def runtime_vars(spec: ClusterSpec, now: datetime | None = None, ttl: str | None = None) -> dict[str, Any]:
    """Plan-time values: SSH CIDRs (default: your /32), public key, bucket name, TTL timestamp.

    ``ttl``: the one a running cluster already carries (``ttl_hours`` counts from the first ``up``, so
    a second ``up`` re-tags nothing). Makes the first AWS call (STS) only here, after the spec validated.
    """
    key_path = Path(spec.network.ssh_public_key).expanduser()
    if not key_path.is_file():
        raise ClusterctlError(
            f"network.ssh_public_key: {key_path} does not exist; create a key with `ssh-keygen -t ed25519` "
            "or point the spec at your public key"
        )
    public_key = key_path.read_text().strip()
    if not public_key.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")) or "PRIVATE KEY" in public_key:
        raise ClusterctlError(f"network.ssh_public_key: {key_path} is not an OpenSSH public key (.pub)")
    bucket = spec.storage.bucket
    if bucket is None:
        bucket = f"clusterctl-{spec.name[:39]}-{aws.account_id(spec.region)}"
    ttl = ttl or ((now or datetime.now(UTC)) + timedelta(hours=spec.ttl_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "ssh_cidrs": spec.network.ssh_cidrs or [aws.caller_cidr()],
        "ssh_public_key": public_key,
        "bucket_name": bucket,
        "ttl": ttl,
    }
