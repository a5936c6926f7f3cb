"""What the cluster nodes' Python needs, and the committed lock made from it.

The nodes run the bundled workloads (the ``workloads`` and ``faces`` extras of the installed
clusterctl), pyspark at the cluster's Spark version, and on EC2 the master's autostop agent (boto3).
"""

import shlex
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from clusterctl.config.spec import TORCH_CPU_INDEX
from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.lock import Lock, make_lock, public_location
from clusterctl.progress import Reporter, silent

DEFAULT_LOCK = Path(__file__).resolve().parent / "nodes.lock"  # committed, shipped as package data
NODE_EXTRAS = ("workloads", "faces")
AGENT_PACKAGES = ("boto3",)  # the EC2 autostop agent on the master


def cpu_torch(requirement: str) -> str:
    """``torch==X`` -> ``torch==X+cpu``; any other requirement unchanged.

    Only an exact public pin is rewritten: a range already admits ``X+cpu`` and prefers it over ``X``.
    """
    req = Requirement(requirement)
    specs = list(req.specifier)
    if canonicalize_name(req.name) != "torch" or len(specs) != 1:
        return requirement
    spec = specs[0]
    if spec.operator != "==" or "+" in spec.version or "*" in spec.version:
        return requirement
    marker = f"; {req.marker}" if req.marker else ""
    return f"{req.name}{'[' + ','.join(sorted(req.extras)) + ']' if req.extras else ''}=={spec.version}+cpu{marker}"


def node_requirements(spark_version: str) -> list[str]:
    """The ``workloads`` + ``faces`` extras of the installed clusterctl, pyspark at ``spark_version``,
    the CPU build of torch, and boto3; sorted, without duplicates."""
    try:
        requires = metadata.requires("clusterctl") or []
    except metadata.PackageNotFoundError:  # a source tree without an install: nothing to read the extras from
        raise ClusterctlError("clusterctl is not installed; run `pip install -e .` in its checkout") from None
    picked: set[str] = set()
    for line in requires:
        req = Requirement(line)
        if req.marker is None or not any(req.marker.evaluate({"extra": extra}) for extra in NODE_EXTRAS):
            continue
        req.marker = None
        if canonicalize_name(req.name) == "pyspark":
            picked.add(f"pyspark=={spark_version}")
        else:
            picked.add(cpu_torch(str(req)))
    named = {canonicalize_name(Requirement(r).name) for r in picked}
    picked |= {agent for agent in AGENT_PACKAGES if canonicalize_name(agent) not in named}
    return sorted(picked, key=lambda r: (canonicalize_name(Requirement(r).name), r))


def with_torch_index(extra_index_urls: Sequence[str], torch_index: str | None) -> list[str]:
    """The extra indexes plus torch's CPU index, unless that is None or empty."""
    return [*extra_index_urls, *([torch_index] if torch_index else [])]


def regenerate_command(
    spark_version: str,
    out: Path,
    index_url: str | None,
    extra_index_urls: Sequence[str],
    find_links: Sequence[str],
    torch_index: str | None,
) -> str:
    """The ``clusterctl nodeenv lock`` command that makes this lock again, with no local paths or credentials."""
    args = ["clusterctl", "nodeenv", "lock", "--spark", spark_version]
    if Path(out).resolve() != DEFAULT_LOCK:
        args += ["--out", Path(out).name]
    if torch_index != TORCH_CPU_INDEX:
        args += ["--torch-index", public_location(torch_index) if torch_index else ""]
    if index_url:
        args += ["--index-url", public_location(index_url)]
    for url in extra_index_urls:
        args += ["--extra-index-url", public_location(url)]
    for place in find_links:
        args += ["--find-links", public_location(place)]
    return shlex.join(args)


def lock_nodes(
    out: Path = DEFAULT_LOCK,
    spark_version: str | None = None,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    find_links: Sequence[str] = (),
    torch_index: str | None = TORCH_CPU_INDEX,
    report: Reporter = silent,
) -> Lock:
    """Lock ``node_requirements`` for the nodes' platform into ``out``.

    ``spark_version`` defaults to the Spark that ``init`` writes for clusters on nodes; ``torch_index``
    (the CPU build's index) joins the extra indexes unless None or empty.
    """
    if spark_version is None:
        from clusterctl.providers import provider_class

        spark_version = provider_class("ec2").default_spark_version()
    extra = with_torch_index(extra_index_urls, torch_index)
    return make_lock(
        node_requirements(spark_version),
        out,
        index_url=index_url,
        find_links=find_links,
        extra_index_urls=extra,
        regenerate=regenerate_command(spark_version, out, index_url, extra_index_urls, find_links, torch_index),
        title=f"the cluster nodes' Python packages (Spark {spark_version})",
        report=report,
    )
