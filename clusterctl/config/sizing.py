"""YARN and Spark resources computed from the node groups' instance types.

Rules (each value carries its rule so ``clusterctl explain`` can print it):

* NodeManager memory is EMR's published ``yarn.nodemanager.resource.memory-mb`` for the type
  (the instance's RAM less what EMR reserves for the OS and daemons); NodeManager vcores = vCPUs.
  A ``local`` node offers exactly the memory and cores its group declares.
* Executor cores: the largest c <= 5 that divides the worker's vCPUs (more than 5 concurrent tasks
  per executor hurts HDFS/S3 client throughput; dividing evenly leaves no idle core).
* Each executor gets an equal share of the NodeManager memory, split into the PySpark worker
  share (30%: the Python processes hold the image models), the JVM heap, and the JVM overhead
  max(384 MiB, 10% of heap). The PySpark share is added to ``spark.executor.memoryOverhead``
  rather than set as ``spark.executor.pyspark.memory``: Spark enforces the latter as RLIMIT_AS on
  each Python worker, which makes TensorFlow/PyTorch fail to reserve address space.
* Driver: half of the master's usable memory, capped by what a YARN container may hold (cluster
  deploy mode runs the driver in one) and 32 GiB; cores = min(executor cores, master vCPUs).
* Parallelism: ``spark.default.parallelism`` = 2 x total executor cores; shuffle partitions likewise.
"""

from dataclasses import dataclass

from clusterctl.config.catalog import load_catalog
from clusterctl.config.spec import LOCAL_TYPE, ClusterSpec, NodeGroup
from clusterctl.errors import SpecError

MIN_ALLOCATION_MB = 32  # EMR's yarn.scheduler.minimum-allocation-mb
MAX_EXECUTOR_CORES = 5
PYSPARK_SHARE = 0.30
OVERHEAD_MIN_MB = 384
OVERHEAD_FRACTION = 0.10
MIN_HEAP_MB = 512
DRIVER_CAP_MB = 32 * 1024


@dataclass(frozen=True)
class NodeShape:
    """Resources of one node of a group, as YARN sees them."""

    role: str
    instance_type: str
    count: int
    vcpu: int
    memory_mb: int
    yarn_memory_mb: int

    @property
    def source(self) -> str:
        """Where ``yarn_memory_mb`` came from, for explanations."""
        if self.instance_type == LOCAL_TYPE:
            return f"{self.role} group declares {self.memory_mb} MiB"
        return f"EMR default for {self.instance_type} ({self.memory_mb // 1024} GiB RAM)"


@dataclass(frozen=True)
class Value:
    """A computed value and the rule that produced it."""

    value: int
    rule: str


@dataclass(frozen=True)
class Sizing:
    """Every computed resource figure of a cluster."""

    master: NodeShape
    workers: tuple[NodeShape, ...]
    executor_cores: Value
    executors_per_node: dict[str, Value]
    container_mb: Value
    pyspark_memory_mb: Value
    executor_memory_mb: Value
    executor_overhead_mb: Value
    executor_instances: Value
    driver_memory_mb: Value
    driver_overhead_mb: Value
    driver_cores: Value
    default_parallelism: Value
    shuffle_partitions: Value

    @property
    def total_executor_cores(self) -> int:
        """Cores across all executors of the cluster."""
        return self.executor_cores.value * self.executor_instances.value


def node_shape(role: str, group: NodeGroup) -> NodeShape:
    """Resolve a node group to the resources of one of its nodes."""
    if group.instance_type == LOCAL_TYPE:
        assert group.cores is not None and group.memory_gib is not None
        mem = int(group.memory_gib * 1024)
        return NodeShape(role, LOCAL_TYPE, group.count, group.cores, mem, mem)
    itype = load_catalog().types[group.instance_type]
    return NodeShape(role, itype.name, group.count, itype.vcpu, int(itype.memory_gib * 1024), itype.yarn_memory_mb)


def _round_down(mb: float, step: int = MIN_ALLOCATION_MB) -> int:
    return int(mb // step * step)


def split_container(container_mb: int, pyspark_share: float) -> tuple[int, int, int]:
    """Split a container into (pyspark MiB, heap MiB, JVM overhead MiB); they sum to the container."""
    pyspark = _round_down(container_mb * pyspark_share)
    jvm = container_mb - pyspark
    # heap + max(384, 10% heap) = jvm
    heap = (
        jvm / (1 + OVERHEAD_FRACTION)
        if jvm / (1 + OVERHEAD_FRACTION) * OVERHEAD_FRACTION >= OVERHEAD_MIN_MB
        else jvm - OVERHEAD_MIN_MB
    )
    heap = _round_down(heap)
    return pyspark, heap, jvm - heap


def executor_cores_for(vcpu: int) -> int:
    """Largest c <= 5 dividing ``vcpu``."""
    return max(c for c in range(1, MAX_EXECUTOR_CORES + 1) if vcpu % c == 0)


def compute_sizing(spec: ClusterSpec) -> Sizing:
    """Compute executor, driver and parallelism figures for ``spec``; raise SpecError if nodes are too small."""
    groups = spec.node_groups
    master = node_shape("master", groups.master)
    core = node_shape("core", groups.core)
    workers = (core,) + ((node_shape("task", groups.task),) if groups.task else ())

    cores = executor_cores_for(core.vcpu)
    per_node_core = core.vcpu // cores
    container = _round_down(core.yarn_memory_mb / per_node_core)
    pyspark, heap, overhead = split_container(container, PYSPARK_SHARE)
    if heap < MIN_HEAP_MB:
        raise SpecError(
            f"node_groups.core: {core.yarn_memory_mb} MiB per node leaves a {heap} MiB executor heap "
            f"(< {MIN_HEAP_MB}); choose a larger instance type or more memory_gib"
        )
    per_node: dict[str, Value] = {
        "core": Value(per_node_core, f"{core.vcpu} vCPU / {cores} cores per executor"),
    }
    instances = per_node_core * core.count
    for shape in workers[1:]:
        by_cpu, by_mem = shape.vcpu // cores, shape.yarn_memory_mb // container
        n = min(by_cpu, by_mem)
        if n < 1:
            raise SpecError(
                f"node_groups.task.instance_type: {shape.instance_type} cannot hold one {cores}-core "
                f"{container} MiB executor sized for the core group; use a type at least as large"
            )
        per_node["task"] = Value(n, f"min({shape.vcpu} vCPU // {cores}, {shape.yarn_memory_mb} MiB // {container} MiB)")
        instances += n * shape.count

    master_usable = master.yarn_memory_mb
    driver_budget = min(master_usable // 2, core.yarn_memory_mb, DRIVER_CAP_MB)
    _, driver_heap, driver_overhead = split_container(driver_budget, 0.0)
    total_cores = cores * instances
    parallelism = 2 * total_cores
    return Sizing(
        master=master,
        workers=workers,
        executor_cores=Value(cores, f"largest c <= {MAX_EXECUTOR_CORES} dividing the core node's {core.vcpu} vCPU"),
        executors_per_node=per_node,
        container_mb=Value(
            container, f"{core.yarn_memory_mb} MiB NodeManager memory ({core.source}) / {per_node_core} executors"
        ),
        pyspark_memory_mb=Value(pyspark, f"{int(PYSPARK_SHARE * 100)}% of the {container} MiB container"),
        executor_memory_mb=Value(
            heap, f"container - PySpark share - overhead, where overhead = max({OVERHEAD_MIN_MB}, 10% of heap)"
        ),
        executor_overhead_mb=Value(
            overhead + pyspark,
            f"JVM overhead {overhead} MiB = max({OVERHEAD_MIN_MB}, 10% of heap) + PySpark share {pyspark} MiB "
            "(kept out of spark.executor.pyspark.memory, which Spark enforces as RLIMIT_AS)",
        ),
        executor_instances=Value(
            instances, " + ".join(f"{per_node[s.role].value} x {s.count} {s.role}" for s in workers)
        ),
        driver_memory_mb=Value(
            driver_heap,
            f"min(half of master's {master_usable} MiB, one {core.yarn_memory_mb} MiB container, "
            f"{DRIVER_CAP_MB} MiB) = {driver_budget} MiB less overhead",
        ),
        driver_overhead_mb=Value(driver_overhead, f"max({OVERHEAD_MIN_MB}, 10% of driver heap)"),
        driver_cores=Value(min(cores, master.vcpu), f"min(executor cores {cores}, master vCPU {master.vcpu})"),
        default_parallelism=Value(parallelism, f"2 x {total_cores} executor cores"),
        shuffle_partitions=Value(parallelism, "same as spark.default.parallelism"),
    )
