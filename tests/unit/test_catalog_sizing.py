"""Instance catalog and sizing: EMR's published YARN table for every m4/m5 size, and the executor rules."""

import pytest

from clusterctl.config.catalog import load_catalog
from clusterctl.config.sizing import compute_sizing, executor_cores_for, split_container
from clusterctl.config.spec import parse_spec
from clusterctl.errors import SpecError
from tests.conftest import aws_spec, local_spec

# Amazon EMR Release Guide, "Task configuration": default yarn.nodemanager.resource.memory-mb
# (kept here independently of catalog/instances.yaml, so an edit to the catalog is caught).
EMR_NM_MEMORY_MB = {
    "m4.large": 6144,
    "m4.xlarge": 12288,
    "m4.2xlarge": 24576,
    "m4.4xlarge": 57344,
    "m4.10xlarge": 155648,
    "m4.16xlarge": 253952,
    "m5.large": 6144,
    "m5.xlarge": 12288,
    "m5.2xlarge": 24576,
    "m5.4xlarge": 57344,
    "m5.8xlarge": 122880,
    "m5.12xlarge": 188416,
    "m5.16xlarge": 253952,
    "m5.24xlarge": 385024,
}
VCPU = {
    "m4.large": 2,
    "m4.xlarge": 4,
    "m4.2xlarge": 8,
    "m4.4xlarge": 16,
    "m4.10xlarge": 40,
    "m4.16xlarge": 64,
    "m5.large": 2,
    "m5.xlarge": 4,
    "m5.2xlarge": 8,
    "m5.4xlarge": 16,
    "m5.8xlarge": 32,
    "m5.12xlarge": 48,
    "m5.16xlarge": 64,
    "m5.24xlarge": 96,
}


def test_catalog_covers_m4_m5_with_prices_and_sources():
    cat = load_catalog()
    assert set(cat.types) == set(EMR_NM_MEMORY_MB)
    assert cat.as_of and {"specs", "prices", "emr_yarn"} <= set(cat.sources)
    for name, itype in cat.types.items():
        assert itype.vcpu == VCPU[name]
        assert itype.memory_gib == VCPU[name] * 4  # m4/m5: 4 GiB per vCPU
        for region in ("us-east-1", "eu-west-1"):
            assert 0 < itype.price(region) < 10, (name, region)
        if itype.family == "m5":
            assert 0 < itype.price("eu-west-3") < 10
        # prices scale with size within a family in one region
    for fam in ("m4", "m5"):
        ordered = sorted((t for t in cat.types.values() if t.family == fam), key=lambda t: t.vcpu)
        prices = [t.price("us-east-1") for t in ordered]
        assert prices == sorted(prices)


@pytest.mark.parametrize("itype", sorted(EMR_NM_MEMORY_MB))
def test_sizing_matches_emr_table_and_fits(itype):
    spec = parse_spec(aws_spec(core=itype, master=itype, count=3))
    s = compute_sizing(spec)
    core = s.workers[0]
    assert core.yarn_memory_mb == EMR_NM_MEMORY_MB[itype]
    assert core.vcpu == VCPU[itype]
    cores = s.executor_cores.value
    assert 1 <= cores <= 5 and VCPU[itype] % cores == 0
    per_node = s.executors_per_node["core"].value
    assert per_node == VCPU[itype] // cores
    container = s.executor_memory_mb.value + s.executor_overhead_mb.value
    assert container <= s.container_mb.value <= EMR_NM_MEMORY_MB[itype] // per_node
    assert per_node * container <= EMR_NM_MEMORY_MB[itype]
    jvm_overhead = s.executor_overhead_mb.value - s.pyspark_memory_mb.value
    assert jvm_overhead >= max(384, 0.1 * s.executor_memory_mb.value)
    assert s.executor_instances.value == per_node * 3
    assert s.default_parallelism.value == 2 * cores * s.executor_instances.value
    assert s.shuffle_partitions.value == s.default_parallelism.value
    driver = s.driver_memory_mb.value + s.driver_overhead_mb.value
    assert driver <= min(EMR_NM_MEMORY_MB[itype] // 2, 32 * 1024)
    assert s.driver_overhead_mb.value >= max(384, 0.1 * s.driver_memory_mb.value)


def test_executor_core_rule():
    assert [executor_cores_for(v) for v in (1, 2, 4, 8, 16, 40, 48, 64, 96)] == [1, 2, 4, 4, 4, 5, 4, 4, 4]


def test_split_container_sums_and_overhead_rule():
    for container in (2048, 6144, 12288, 57344):
        pyspark, heap, overhead = split_container(container, 0.3)
        assert pyspark + heap + overhead == container
        assert overhead >= max(384, heap * 0.1)
        assert overhead - max(384, heap * 0.1) < 40  # no memory wasted beyond rounding


def test_known_figures_for_m5_2xlarge():
    s = compute_sizing(parse_spec(aws_spec(core="m5.2xlarge", count=3)))
    assert (s.executor_cores.value, s.executors_per_node["core"].value, s.container_mb.value) == (4, 2, 12288)
    assert s.executor_instances.value == 6 and s.default_parallelism.value == 48


def test_task_group_adds_executors_of_the_same_size():
    data = aws_spec(core="m5.2xlarge", count=2)
    data["node_groups"]["task"] = {"instance_type": "m5.4xlarge", "count": 2, "market": "spot"}
    s = compute_sizing(parse_spec(data))
    assert s.executors_per_node["task"].value == 4  # 16 vCPU / 4, memory allows 57344 // 12288 = 4
    assert s.executor_instances.value == 2 * 2 + 4 * 2
    too_small = aws_spec(core="m5.4xlarge", count=1)
    too_small["node_groups"]["task"] = {"instance_type": "m5.large", "count": 1}
    with pytest.raises(SpecError, match=r"node_groups\.task\.instance_type: m5\.large cannot hold one"):
        compute_sizing(parse_spec(too_small))


def test_local_nodes_use_declared_resources():
    s = compute_sizing(parse_spec(local_spec(workers=3, cores=2, memory_gib=4)))
    assert s.workers[0].yarn_memory_mb == 4096 and s.workers[0].vcpu == 2
    assert s.executor_instances.value == 3 and s.executor_cores.value == 2
    assert s.executor_memory_mb.value + s.executor_overhead_mb.value <= 4096


def test_too_small_local_worker_is_a_spec_error():
    with pytest.raises(SpecError, match=r"node_groups\.core: .* executor heap"):
        compute_sizing(parse_spec(local_spec(memory_gib=0.5)))
