"""The Terraform root module of an ec2/emr cluster, rendered into ``<workdir>/terraform/``.

``main.tf.json`` is a pure function of the spec (and the endpoint override); values only known
at plan time (your public IP, the account's bucket name, the TTL timestamp, your SSH public key)
are Terraform variables, written to ``terraform.tfvars.json`` by ``plan``. The modules are copied
from ``infra/modules`` so the workdir is self-contained.
"""

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from clusterctl.config.properties import OVERRIDE_SECTIONS, Setting
from clusterctl.config.spec import ClusterSpec
from clusterctl.errors import ClusterctlError
from clusterctl.providers.aws import client as aws
from clusterctl.resources import infra_dir

TF_DIR = "terraform"
# Keys EMR sets itself (hosts, paths, master); clusterctl only sends sizing and overrides.
EMR_MANAGED_KEYS = {"spark.master", "spark.submit.deployMode", "spark.pyspark.python", "spark.eventLog.dir"}
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


def emr_configurations(settings: dict[str, dict[str, Setting]]) -> list[dict[str, Any]]:
    """EMR ``Configurations`` from clusterctl's computed values and the spec's overrides."""
    out = []
    for fname in OVERRIDE_SECTIONS:
        props = {
            s.key: s.value
            for s in settings[fname].values()
            if s.origin in ("computed", "override") and s.key not in EMR_MANAGED_KEYS
        }
        if props:
            out.append(
                {
                    "Classification": fname.removesuffix(".xml").removesuffix(".conf"),
                    "Properties": dict(sorted(props.items())),
                }
            )
    return out


def node_packages() -> list[str]:
    """What the nodes' Python needs for the workloads: the ``workloads`` and ``faces`` extras, less pyspark."""
    reqs = metadata.requires("clusterctl") or []
    picked = []
    for req in reqs:
        spec, _, marker = req.partition(";")
        if re.search(r"extra\s*==\s*['\"](workloads|faces)['\"]", marker) and not spec.strip().startswith("pyspark"):
            picked.append(spec.strip().replace(" ", ""))
    return sorted(picked)


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def bootstrap_script(spec: ClusterSpec) -> str:
    """EMR bootstrap action: install the workloads' Python packages on every node.

    torch comes from PyTorch's CPU index first (PyPI's Linux wheel is the multi-GB CUDA build);
    the other packages then find it installed.
    """
    packages = node_packages()
    torch = [p for p in packages if p.startswith("torch")]
    rest = " ".join(f"'{p}'" for p in packages if p not in torch)
    lines = [
        "#!/bin/bash",
        f"# clusterctl bootstrap for EMR cluster {spec.name}: Python packages the workloads need.",
        "set -euo pipefail",
        # native LAPACK for Spark ML (PCA's SVD), else netlib's pure-Java fallback
        "sudo dnf install -y -q openblas lapack || sudo yum install -y -q openblas lapack || true",
    ]
    if torch:
        lines.append(
            f"sudo python3 -m pip install --quiet --index-url {TORCH_CPU_INDEX} " + " ".join(f"'{p}'" for p in torch)
        )
    lines.append(f"sudo python3 -m pip install --quiet {rest}")
    return "\n".join(lines) + "\n"


def root_module(spec: ClusterSpec, settings: dict[str, dict[str, Setting]]) -> dict[str, Any]:
    """The root module as a JSON-serialisable dict."""
    tags = {aws.CLUSTER_TAG: spec.name, **spec.tags}
    provider: dict[str, Any] = {"region": spec.region, "default_tags": [{"tags": tags}]}
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
    if spec.provider == "ec2":
        cluster |= {"source": "./modules/ec2-cluster", "security_group_ids": ["${module.network.security_group_id}"]}
        if spec.ami_id:
            cluster["ami_id"] = spec.ami_id
        outputs = ("master_public_ip", "master_private_ip", "core_private_ips", "task_private_ips", "instance_ids")
    else:
        cluster |= {
            "source": "./modules/emr-cluster",
            "release_label": spec.versions.emr_release,
            "additional_security_group_ids": ["${module.network.security_group_id}"],
            "configurations_json": json.dumps(emr_configurations(settings), sort_keys=True),
            "bootstrap_script": bootstrap_script(spec),
            "idle_timeout_seconds": max(60, spec.idle_timeout_minutes * 60),
        }
        outputs = ("cluster_id", "master_public_dns", "log_uri")
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


def root_module_json(spec: ClusterSpec, settings: dict[str, dict[str, Setting]]) -> str:
    """``main.tf.json`` text (deterministic)."""
    return json.dumps(root_module(spec, settings), indent=2, sort_keys=True) + "\n"


def copy_modules(spec: ClusterSpec, workdir_root: Path) -> list[Path]:
    """Copy the modules the root module calls into ``<workdir>/terraform/modules``; return the files."""
    modules_dir = workdir_root / TF_DIR / "modules"
    wanted = ("network", "storage", "node-iam", "ec2-cluster" if spec.provider == "ec2" else "emr-cluster")
    if modules_dir.exists():
        shutil.rmtree(modules_dir)
    written: list[Path] = []
    for name in wanted:
        shutil.copytree(
            infra_dir() / "modules" / name,
            modules_dir / name,
            ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"),
        )
        written += sorted(p for p in (modules_dir / name).rglob("*") if p.is_file())
    return written


def runtime_vars(spec: ClusterSpec, now: datetime | None = None) -> dict[str, Any]:
    """Plan-time values: SSH CIDRs (default: your /32), public key, bucket name, TTL timestamp.

    Makes the first AWS call (STS) only here, after the spec validated.
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
    ttl = ((now or datetime.now(UTC)) + timedelta(hours=spec.ttl_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "ssh_cidrs": spec.network.ssh_cidrs or [aws.caller_cidr()],
        "ssh_public_key": public_key,
        "bucket_name": bucket,
        "ttl": ttl,
    }
