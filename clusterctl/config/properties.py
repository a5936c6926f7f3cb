"""Every property of every rendered config file, with the rule (or override) behind it.

``build_settings`` is the single place that decides file contents; templates only lay them out
and ``clusterctl explain`` prints them. Values come from three origins, in increasing priority:
``fixed`` (provider conventions), ``computed`` (sizing) and ``override`` (the spec's overrides).
"""

import math
from dataclasses import dataclass
from typing import Literal

from clusterctl.config.catalog import load_catalog
from clusterctl.config.sizing import MIN_ALLOCATION_MB, NodeShape, Sizing
from clusterctl.config.spec import LOCAL_TYPE, ClusterSpec

# Client JVMs (drivers, the spark-class launcher) and the small daemons start about twice as fast
# with the C1 compiler only; their work is short or light, so C2's peak speed is not missed.
FAST_CLIENT_JVM_OPTS = "-XX:TieredStopAtLevel=1"
FAST_DAEMON_JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# glibc: no mmap for big blocks, and keep freed heap (a 16 GiB trim threshold) for the next batch.
HEAP_ONLY_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(16 * 2**30)}

FILES = ("core-site.xml", "hdfs-site.xml", "yarn-site.xml", "mapred-site.xml", "spark-defaults.conf", "spark-env.sh")
OVERRIDE_SECTIONS = {
    "core-site.xml": "core",
    "hdfs-site.xml": "hdfs",
    "yarn-site.xml": "yarn",
    "mapred-site.xml": "mapred",
    "spark-defaults.conf": "spark",
}


@dataclass(frozen=True)
class Ruled:
    """A value a provider chooses for the cluster's files, with the reason ``explain`` shows."""

    value: str
    rule: str


@dataclass(frozen=True)
class NodeLayout:
    """What the rendered files need to know about where a provider runs the cluster.

    Providers return one from ``node_layout()``; properties never ask which provider it is.
    """

    scheduler: Literal["standalone", "yarn"]  # Spark standalone daemons, or YARN
    master_host: str  # the name the nodes use for the master
    worker_hosts: tuple[str, ...]  # the ``workers`` file, in order
    datanodes: int  # DataNodes of the cluster's HDFS (replication is capped by it)
    root: str  # the cluster's own directory on every node (tmp, HDFS and YARN dirs, logs)
    conf_dir: str  # HADOOP_CONF_DIR on the nodes
    default_fs: Ruled  # fs.defaultFS
    spark_master: Ruled
    deploy_mode: Ruled
    python: Ruled  # the workloads' Python on every node
    event_log_dir: Ruled
    instance_profile_s3a: bool = False  # s3a authenticates with the node's instance profile
    bind_address: Ruled | None = None  # SPARK_LOCAL_IP of standalone daemons


@dataclass(frozen=True)
class Setting:
    """One property: its rendered value, where it came from and why."""

    key: str
    value: str
    origin: str  # "fixed" | "computed" | "override"
    rule: str


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _File:
    def __init__(self) -> None:
        self.items: dict[str, Setting] = {}

    def fixed(self, key: str, value: object, rule: str) -> None:
        self.items[key] = Setting(key, _fmt(value), "fixed", rule)

    def computed(self, key: str, value: object, rule: str) -> None:
        self.items[key] = Setting(key, _fmt(value), "computed", rule)

    def ruled(self, key: str, value: Ruled) -> None:
        self.items[key] = Setting(key, value.value, "fixed", value.rule)

    def override(self, key: str, value: object, section: str) -> None:
        before = self.items.get(key)
        was = f" (clusterctl would set {before.value})" if before else ""
        self.items[key] = Setting(key, _fmt(value), "override", f"overrides.{section} in the spec{was}")


def _mapreduce_sizes(shape: NodeShape) -> dict[str, tuple[int, str]]:
    if shape.instance_type != LOCAL_TYPE:
        emr = load_catalog().types[shape.instance_type].emr
        src = f"EMR default for {shape.instance_type}"
        return {
            "mapreduce.map.memory.mb": (emr["mapreduce_map_memory_mb"], src),
            "mapreduce.reduce.memory.mb": (emr["mapreduce_reduce_memory_mb"], src),
            "yarn.app.mapreduce.am.resource.mb": (emr["yarn_app_mapreduce_am_resource_mb"], src),
        }
    per_core = shape.yarn_memory_mb // shape.vcpu // MIN_ALLOCATION_MB * MIN_ALLOCATION_MB
    reduce = min(2 * per_core, shape.yarn_memory_mb)
    return {
        "mapreduce.map.memory.mb": (per_core, f"{shape.yarn_memory_mb} MiB / {shape.vcpu} cores"),
        "mapreduce.reduce.memory.mb": (reduce, "2 x map memory, capped at the node's memory"),
        "yarn.app.mapreduce.am.resource.mb": (reduce, "same as reduce memory"),
    }


def _yarn_node(f: _File, shape: NodeShape) -> None:
    f.computed("yarn.nodemanager.resource.memory-mb", shape.yarn_memory_mb, shape.source)
    f.computed("yarn.nodemanager.resource.cpu-vcores", shape.vcpu, f"vCPUs of {shape.instance_type}")


def build_properties(spec: ClusterSpec, sizing: Sizing, layout: NodeLayout) -> dict[str, dict[str, Setting]]:
    """Return ``{file name: {key: Setting}}`` for every rendered file of ``spec``.

    ``layout`` is the provider's answer to where things live (hosts, node paths, the workloads'
    Python, the scheduler); everything else follows from the spec and its sizing.
    """
    root = layout.root
    standalone = layout.scheduler == "standalone"
    core_shape = sizing.workers[0]
    files = {name: _File() for name in FILES}

    core = files["core-site.xml"]
    core.fixed("fs.defaultFS", layout.default_fs.value, layout.default_fs.rule)
    if layout.instance_profile_s3a:
        core.fixed(
            "fs.s3a.aws.credentials.provider",
            "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider",
            "instance profile credentials only: no keys on disk",
        )
        core.fixed("fs.s3a.endpoint.region", spec.region, "the cluster's region")
    core.fixed("hadoop.tmp.dir", f"{root}/tmp/hadoop", "kept on the cluster's own volume")

    hdfs = files["hdfs-site.xml"]
    datanodes = layout.datanodes
    hdfs.computed("dfs.replication", min(3, datanodes), f"min(3, {datanodes} DataNodes)")
    handlers = max(10, int(20 * math.log(max(datanodes, 1))))
    hdfs.computed("dfs.namenode.handler.count", handlers, f"max(10, 20 x ln({datanodes} DataNodes))")
    hdfs.fixed("dfs.namenode.name.dir", f"file://{root}/hdfs/namenode", "on the cluster's volume")
    hdfs.fixed("dfs.datanode.data.dir", f"file://{root}/hdfs/datanode", "on the cluster's volume")
    hdfs.fixed("dfs.blocksize", 134217728, "128 MiB blocks")

    yarn = files["yarn-site.xml"]
    yarn.fixed("yarn.resourcemanager.hostname", layout.master_host, "ResourceManager on the master")
    _yarn_node(yarn, core_shape)
    yarn.computed("yarn.scheduler.minimum-allocation-mb", MIN_ALLOCATION_MB, "EMR's value: fine-grained containers")
    whole_node = "one container may take a whole node"
    yarn.computed("yarn.scheduler.maximum-allocation-mb", core_shape.yarn_memory_mb, whole_node)
    yarn.computed("yarn.scheduler.minimum-allocation-vcores", 1, "one core per task")
    yarn.computed("yarn.scheduler.maximum-allocation-vcores", core_shape.vcpu, whole_node)
    yarn.fixed(
        "yarn.nodemanager.vmem-check-enabled",
        False,
        "JVMs and ML libraries reserve far more virtual memory than they use; physical memory is checked",
    )
    yarn.fixed("yarn.nodemanager.aux-services", "mapreduce_shuffle", "MapReduce shuffle service")
    yarn.fixed("yarn.nodemanager.local-dirs", f"{root}/yarn/local", "on the cluster's volume")
    yarn.fixed("yarn.nodemanager.log-dirs", f"{root}/yarn/logs", "on the cluster's volume")
    yarn.fixed("yarn.log-aggregation-enable", True, "container logs survive the nodes (clusterctl logs)")

    mapred = files["mapred-site.xml"]
    mapred.fixed(
        "mapreduce.framework.name",
        "local" if standalone else "yarn",
        "no YARN on the local provider" if standalone else "MapReduce runs on YARN",
    )
    for key, (mb, rule) in _mapreduce_sizes(core_shape).items():
        mapred.computed(key, mb, rule)
    for key, java_key in (
        ("mapreduce.map.memory.mb", "mapreduce.map.java.opts"),
        ("mapreduce.reduce.memory.mb", "mapreduce.reduce.java.opts"),
    ):
        heap = int(int(mapred.items[key].value) * 0.8)
        mapred.computed(java_key, f"-Xmx{heap}m", f"80% of {key}")

    spark = files["spark-defaults.conf"]
    fast = spec.tuning.fast_jvm_start
    spark.ruled("spark.master", layout.spark_master)
    spark.ruled("spark.submit.deployMode", layout.deploy_mode)
    spark.computed("spark.executor.cores", sizing.executor_cores.value, sizing.executor_cores.rule)
    spark.computed("spark.executor.memory", f"{sizing.executor_memory_mb.value}m", sizing.executor_memory_mb.rule)
    spark.computed(
        "spark.executor.memoryOverhead", f"{sizing.executor_overhead_mb.value}m", sizing.executor_overhead_mb.rule
    )
    spark.computed("spark.executor.instances", sizing.executor_instances.value, sizing.executor_instances.rule)
    spark.computed("spark.driver.memory", f"{sizing.driver_memory_mb.value}m", sizing.driver_memory_mb.rule)
    spark.computed("spark.driver.memoryOverhead", f"{sizing.driver_overhead_mb.value}m", sizing.driver_overhead_mb.rule)
    spark.computed("spark.driver.cores", sizing.driver_cores.value, sizing.driver_cores.rule)
    spark.computed("spark.default.parallelism", sizing.default_parallelism.value, sizing.default_parallelism.rule)
    spark.computed("spark.sql.shuffle.partitions", sizing.shuffle_partitions.value, sizing.shuffle_partitions.rule)
    spark.computed(
        "spark.sql.sources.parallelPartitionDiscovery.parallelism",
        sizing.default_parallelism.value,
        f"same as spark.default.parallelism: Spark's 10,000 default lists an image set one task per folder "
        f"(LFW, 5,749 folders: 45 s on 2 cores, 4.4 s with 4 tasks); {sizing.default_parallelism.rule}",
    )
    spark.fixed("spark.dynamicAllocation.enabled", False, "executors are sized to fill the cluster")
    spark.fixed("spark.sql.execution.arrow.pyspark.enabled", True, "Arrow between JVM and Python workers")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        spark.computed(
            f"spark.executorEnv.{var}", 1, "one thread per task core (spark.task.cpus = 1): no oversubscription"
        )
    # glibc serves allocations > 32 MB with fresh mmaps and page-faults them in on every CNN batch;
    # keeping them on the heap made EfficientNet-Lite0 inference ~4x faster here (47 -> 11-14 ms/img).
    for var, value in HEAP_ONLY_MALLOC_ENV.items():
        spark.fixed(
            f"spark.executorEnv.{var}",
            value,
            "CNN batches reuse heap memory instead of page-faulting a fresh mmap per tensor (~4x faster)",
        )
    spark.ruled("spark.pyspark.python", layout.python)
    spark.fixed("spark.eventLog.enabled", True, "finished applications stay inspectable")
    spark.ruled("spark.eventLog.dir", layout.event_log_dir)
    if spec.tuning.python_bound_executors:
        # defaultJavaOptions, not extraJavaOptions: EMR and users keep their own extraJavaOptions.
        spark.fixed(
            "spark.executor.defaultJavaOptions",
            FAST_DAEMON_JVM_OPTS,
            "tuning.python_bound_executors: C2 compiler and parallel GC threads would compete with the "
            "Python workers for the cores (fruits, 121 images on 2 cores: 42 s -> 31 s)",
        )
    if fast:
        spark.fixed("spark.driver.extraJavaOptions", FAST_CLIENT_JVM_OPTS, "tuning.fast_jvm_start: C1 JIT only")
        if not standalone:
            spark.fixed("spark.yarn.am.extraJavaOptions", FAST_CLIENT_JVM_OPTS, "tuning.fast_jvm_start: C1 JIT only")

    env = files["spark-env.sh"]
    env.fixed("HADOOP_CONF_DIR", layout.conf_dir, "the rendered site XML")
    env.fixed("PYSPARK_PYTHON", spark.items["spark.pyspark.python"].value, "same as spark.pyspark.python")
    if standalone:
        if layout.bind_address is not None:
            env.ruled("SPARK_LOCAL_IP", layout.bind_address)
        env.computed("SPARK_WORKER_CORES", core_shape.vcpu, "node_groups.core.cores")
        env.computed("SPARK_WORKER_MEMORY", f"{core_shape.yarn_memory_mb}m", "node_groups.core.memory_gib")
        env.fixed("SPARK_DAEMON_MEMORY", "512m", "master and worker daemons only schedule")
        env.fixed("SPARK_LOG_DIR", f"{root}/logs", "per-cluster logs")
        env.fixed("SPARK_PID_DIR", f"{root}/pids", "per-cluster pid files")
        env.fixed("SPARK_WORKER_DIR", f"{root}/work", "per-cluster executor work dirs and logs")
        env.fixed("SPARK_LOCAL_DIRS", f"{root}/tmp/spark", "shuffle and spill inside the workdir, not /tmp")
    if fast:
        env.fixed("SPARK_DAEMON_JAVA_OPTS", FAST_DAEMON_JVM_OPTS, "tuning.fast_jvm_start: C1 JIT, serial GC")
        env.fixed("SPARK_LAUNCHER_OPTS", FAST_CLIENT_JVM_OPTS, "tuning.fast_jvm_start: spark-class's launcher JVM")

    for fname, section in OVERRIDE_SECTIONS.items():
        for key, value in getattr(spec.overrides, section).items():
            files[fname].override(key, value, section)

    out = {name: f.items for name, f in files.items()}
    task_shape = next((s for s in sizing.workers if s.role == "task"), None)
    if task_shape and (task_shape.yarn_memory_mb, task_shape.vcpu) != (core_shape.yarn_memory_mb, core_shape.vcpu):
        task_yarn = _File()
        task_yarn.items = dict(yarn.items)
        _yarn_node(task_yarn, task_shape)
        for key, override in spec.overrides.yarn.items():
            task_yarn.override(key, override, "yarn")
        out["yarn-site.task.xml"] = task_yarn.items
    return out
