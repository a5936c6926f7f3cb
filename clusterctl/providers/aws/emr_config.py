"""What an EMR cluster gets from clusterctl: its ``Configurations`` (the computed properties and the
spec's overrides) and the bootstrap action that installs the workloads' Python packages."""

import re
from importlib import metadata
from typing import Any

from clusterctl.config.properties import OVERRIDE_SECTIONS, Setting
from clusterctl.config.spec import ClusterSpec

# Keys EMR sets itself (hosts, paths, master); clusterctl only sends sizing and overrides.
EMR_MANAGED_KEYS = {"spark.master", "spark.submit.deployMode", "spark.pyspark.python", "spark.eventLog.dir"}


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
