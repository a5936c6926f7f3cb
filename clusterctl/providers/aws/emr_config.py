"""What an EMR cluster gets from clusterctl: its ``Configurations`` (the computed properties and the
spec's overrides) and the bootstrap action that installs the workloads' locked Python packages."""

from typing import Any

from clusterctl.config.properties import OVERRIDE_SECTIONS, Setting
from clusterctl.config.spec import ClusterSpec
from clusterctl.nodeenv.cluster import EMR_LOCK
from clusterctl.nodeenv.wheelhouse import install_command

# Keys EMR sets itself (hosts, paths, master); clusterctl only sends sizing, overrides and the Python.
EMR_MANAGED_KEYS = {"spark.master", "spark.submit.deployMode", "spark.eventLog.dir"}
# EMR 7.x's system python3 is 3.9; the workloads need the driver's minor version (3.10+ syntax), so the
# bootstrap action builds a venv of that version and PySpark is pointed at it on every node.
EMR_VENV = "/opt/clusterctl/venv"
EMR_PYTHON = f"{EMR_VENV}/bin/python"
TASK_FILE = "yarn-site.task.xml"  # rendered when the task type's YARN sizing differs from core's


def _classification(fname: str, settings: dict[str, Setting]) -> dict[str, Any] | None:
    props = {
        s.key: s.value
        for s in settings.values()
        if (s.origin in ("computed", "override") or s.key == "spark.pyspark.python") and s.key not in EMR_MANAGED_KEYS
    }
    if not props:
        return None
    classification = fname.removesuffix(".xml").removesuffix(".conf")
    return {"Classification": classification, "Properties": dict(sorted(props.items()))}


def emr_configurations(settings: dict[str, dict[str, Setting]]) -> list[dict[str, Any]]:
    """EMR ``Configurations`` from clusterctl's computed values and the spec's overrides, plus the
    workloads' Python for PySpark on every node (``spark-env`` export, which YARN containers inherit)."""
    out = [c for fname in OVERRIDE_SECTIONS if (c := _classification(fname, settings[fname]))]
    python = settings["spark-env.sh"]["PYSPARK_PYTHON"].value
    out.append(
        {
            "Classification": "spark-env",
            "Properties": {},
            "Configurations": [
                {
                    "Classification": "export",
                    "Properties": {"PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python},
                }
            ],
        }
    )
    return out


def task_configurations(settings: dict[str, dict[str, Setting]]) -> list[dict[str, Any]] | None:
    """The task instance group's own ``yarn-site`` (NodeManager sizing of its type), or None when the task
    nodes size like the core nodes (then the cluster's configurations fit them)."""
    if TASK_FILE not in settings:
        return None
    task = _classification("yarn-site.xml", settings[TASK_FILE])
    return [task] if task else None


def bootstrap_script(spec: ClusterSpec) -> str:
    """EMR bootstrap action, run on every node with the wheelhouse's S3 folder as ``$1``: a venv of the
    driver's Python version (EMR's python3 is older) with the locked packages, installed from that
    wheelhouse alone (no index; every file checked against the lock's sha256)."""
    version = spec.versions.python
    lines = [
        "#!/bin/bash",
        f"# clusterctl bootstrap for EMR cluster {spec.name}: Python {version} and the locked workload packages.",
        "set -euo pipefail",
        # no "${" anywhere: the script travels inside Terraform strings, where that starts an interpolation
        'wheelhouse_uri="$1"',
        '[ -n "$wheelhouse_uri" ] || { echo "usage: bootstrap.sh s3://BUCKET/PREFIX/nodeenv/LOCK_HASH/" >&2; exit 2; }',
        "wheelhouse=/mnt/clusterctl-wheelhouse",
        # Amazon Linux 2023 (EMR 7.x) packages Python 3.11; native LAPACK for Spark ML (PCA's SVD),
        # else netlib's pure-Java fallback
        f"sudo dnf install -y -q python{version} python{version}-pip openblas lapack",
        f"sudo python{version} -m venv {EMR_VENV}",
        f"{EMR_PYTHON} -c 'import sys; assert sys.version_info[:2] == ({version.replace('.', ', ')}), sys.version'",
        # the release brings Spark: its pyspark stays out of the venv (not in the EMR lock)
        'sudo mkdir -p "$wheelhouse"',
        'sudo aws s3 cp --recursive --only-show-errors --exclude "pyspark-*" "$wheelhouse_uri" "$wheelhouse"',
        " ".join(["sudo", *install_command(EMR_PYTHON, "$wheelhouse", f"$wheelhouse/{EMR_LOCK}"), "--quiet"]),
    ]
    return "\n".join(lines) + "\n"
