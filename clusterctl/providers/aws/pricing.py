"""What AWS nodes cost: on-demand $/h per node group from the catalog's prices."""

from clusterctl.config.catalog import load_catalog
from clusterctl.config.spec import ClusterSpec
from clusterctl.providers.base import NodeCost


def node_costs(spec: ClusterSpec) -> list[NodeCost]:
    """On-demand $/h of each node group in the spec's region (spot is billed lower; this is the ceiling)."""
    types = load_catalog().types
    return [
        NodeCost(role, g.instance_type, g.count, types[g.instance_type].price(spec.region))
        for role, g in spec.node_groups.items()
    ]
