"""Find clusters past their ``clusterctl:ttl`` (or one named cluster) and remove them."""

from collections import defaultdict
from typing import Any

from clusterctl.config.spec import load_spec
from clusterctl.progress import Reporter
from clusterctl.providers import get_provider
from clusterctl.providers.aws import client as aws
from clusterctl.providers.aws.root_module import TF_DIR
from clusterctl.workdir import Workdir


def sweep(region: str, only: str | None, destroy: bool, report: Reporter) -> dict[str, Any]:
    """List expired clusters in ``region`` (or ``only``, whatever its TTL); with ``destroy``, remove them.

    A cluster whose workdir (spec copy + terraform state) is here is destroyed through terraform,
    so nothing is left untracked; any other has its instances and EMR clusters terminated.
    """
    report(f"listing clusterctl resources in {region}")
    by_cluster: dict[str, list[aws.TaggedResource]] = defaultdict(list)
    for res in aws.find_cluster_resources(region, only):
        by_cluster[res.cluster].append(res)
    result: dict[str, Any] = {"region": region, "clusters": {}}
    for name, resources in sorted(by_cluster.items()):
        if only is None and not any(r.expired() for r in resources):
            continue
        ttl = next((r.ttl for r in resources if r.ttl), None)
        info: dict[str, Any] = {"ttl": ttl, "resources": [f"{r.kind} {r.id}" for r in resources], "action": None}
        if destroy:
            workdir = Workdir.for_cluster(name)
            if (workdir.root / TF_DIR / "terraform.tfstate").exists() and (workdir.root / "cluster.yaml").exists():
                spec = load_spec(workdir.root / "cluster.yaml")
                get_provider(spec, workdir).down(report)
                info["action"] = "terraform destroy"
            else:
                report(f"terminating {name}'s instances and EMR clusters")
                info["action"] = f"terminated {', '.join(aws.terminate(resources, region)) or 'nothing billable'}"
        result["clusters"][name] = info
    return result
