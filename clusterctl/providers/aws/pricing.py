"""What AWS nodes cost: on-demand $/h per node group from the catalog's prices, plus their public addresses."""

from clusterctl.config.catalog import load_catalog
from clusterctl.config.spec import ClusterSpec
from clusterctl.providers.base import NodeCost

# AWS bills every public IPv4 address $0.005/h (since 2024-02-01, all regions). Every node has one: it
# reaches the package mirrors through the internet gateway, which is cheaper than a NAT gateway
# ($0.045/h plus $0.045/GB). The S3 gateway endpoint costs nothing.
PUBLIC_IPV4_USD_PER_HOUR = 0.005


def node_costs(spec: ClusterSpec) -> list[NodeCost]:
    """On-demand $/h of each node group in the spec's region (spot is billed lower; this is the ceiling),
    then the nodes' public IPv4 addresses as one more line."""
    types = load_catalog().types
    groups = [
        NodeCost(role, g.instance_type, g.count, types[g.instance_type].price(spec.region))
        for role, g in spec.node_groups.items()
    ]
    addresses = NodeCost("network", "public IPv4 address", sum(g.count for g in groups), PUBLIC_IPV4_USD_PER_HOUR)
    return [*groups, addresses]
