"""Instance types and release versions that a spec may name (data in ``catalog/*.yaml``)."""

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

_DIR = Path(__file__).resolve().parent / "catalog"

# AWS commercial regions; a spec naming anything else is rejected before any AWS call.
AWS_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
)


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type with EMR's published YARN defaults and on-demand prices."""

    name: str
    family: str
    vcpu: int
    memory_gib: float
    emr: dict[str, int]
    price_usd_per_hour: dict[str, float] = field(default_factory=dict)

    @property
    def yarn_memory_mb(self) -> int:
        """EMR's default ``yarn.nodemanager.resource.memory-mb`` for this type."""
        return self.emr["yarn_nodemanager_resource_memory_mb"]

    def price(self, region: str) -> float | None:
        """On-demand $/h in ``region``, or None when the catalog has no price there."""
        return self.price_usd_per_hour.get(region)


@dataclass(frozen=True)
class Catalog:
    """The instance and version catalog, loaded once from the package's data files."""

    as_of: str
    sources: dict[str, str]
    types: dict[str, InstanceType]
    hadoop_versions: tuple[str, ...]
    spark_versions: tuple[str, ...]
    python_versions: tuple[str, ...]
    emr_releases: dict[str, dict[str, str]]
    hadoop_sha512: dict[str, str]  # version -> Apache's published SHA-512 of hadoop-<v>.tar.gz


def _hadoop_pins() -> dict[str, str]:
    """The Hadoop releases whose checksum clusterctl pins: the ``hadoop`` entry of ``data/datasets.yaml``
    (one place for the value that ``data fetch hadoop`` checks and the node bootstrap verifies)."""
    entry = yaml.safe_load((_DIR.parent.parent / "data" / "datasets.yaml").read_text())["hadoop"]
    pins = {}
    for item in entry["files"]:
        match = re.search(r"/hadoop-(\d+\.\d+\.\d+)\.tar\.gz$", item["url"])
        if match:
            pins[match.group(1)] = item["sha512"]
    return pins


@cache
def load_catalog() -> Catalog:
    """Load ``instances.yaml`` and ``versions.yaml`` (cached)."""
    inst = yaml.safe_load((_DIR / "instances.yaml").read_text())
    vers = yaml.safe_load((_DIR / "versions.yaml").read_text())
    types = {
        name: InstanceType(
            name=name,
            family=entry["family"],
            vcpu=int(entry["vcpu"]),
            memory_gib=float(entry["memory_gib"]),
            emr={k: int(v) for k, v in entry["emr"].items()},
            price_usd_per_hour={k: float(v) for k, v in entry.get("price_usd_per_hour", {}).items() if v is not None},
        )
        for name, entry in inst["types"].items()
    }
    return Catalog(
        as_of=str(inst["as_of"]),
        sources={**inst.get("sources", {}), **{f"versions.{k}": v for k, v in vers.get("sources", {}).items()}},
        types=types,
        hadoop_versions=tuple(str(v) for v in vers["hadoop"]),
        spark_versions=tuple(str(v) for v in vers["spark"]),
        python_versions=tuple(str(v) for v in vers["python"]),
        emr_releases={str(k): {a: str(b) for a, b in v.items()} for k, v in vers["emr"].items()},
        hadoop_sha512=_hadoop_pins(),
    )
