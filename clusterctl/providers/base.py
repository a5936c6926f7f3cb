"""The provider protocol: every provider offers the same verbs and says what differs about it
(hosts and node paths, extra rendered files, prices) through its methods; nothing outside
``providers/`` asks which provider it is."""

from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from clusterctl.config.properties import NodeLayout, Setting
from clusterctl.config.spec import ClusterSpec
from clusterctl.progress import LineSink, Reporter
from clusterctl.remote.connection import Outcome
from clusterctl.remote.hosts import Hosts
from clusterctl.workdir import Workdir

Properties = dict[str, dict[str, Setting]]  # {file name: {key: Setting}}, from config.properties


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as the cluster manager reports it."""

    id: str
    host: str
    cores: int
    memory_mb: int
    state: str


@dataclass(frozen=True)
class AppInfo:
    """One application known to the cluster manager."""

    id: str
    name: str
    state: str
    cores: int


@dataclass(frozen=True)
class ClusterStatus:
    """What ``status`` reports; ``state`` is running, degraded or stopped."""

    name: str
    provider: str
    state: str
    master_url: str | None = None
    web_ui: str | None = None
    workers: tuple[WorkerInfo, ...] = ()
    apps: tuple[AppInfo, ...] = ()
    notes: tuple[str, ...] = ()
    started_at: str | None = None
    storage: dict[str, Any] | None = None  # the cluster's HDFS, where the provider runs one itself
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. the warm driver, by name

    @property
    def alive_workers(self) -> int:
        """Workers in state ALIVE."""
        return sum(1 for w in self.workers if w.state == "ALIVE")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self) | {"alive_workers": self.alive_workers}


@dataclass(frozen=True)
class Job:
    """A job to submit: a PySpark main file, the workloads zip it may import, and its arguments."""

    main: Path
    args: tuple[str, ...] = ()
    name: str = "job"
    py_files: tuple[Path, ...] = ()
    conf: dict[str, str] = field(default_factory=dict)
    # Skip the cluster's warm driver (``spark.warm_driver``) and pay a fresh driver and executors.
    cold: bool = False


@dataclass(frozen=True)
class RunResult:
    """Outcome of one submitted job."""

    run_id: str
    app_id: str | None
    exit_code: int
    wall_seconds: float
    stdout: Path
    driver_log: Path
    mode: str = "cold"  # "warm": run in the cluster's warm driver, no JVM or interpreter start

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class LogFile:
    """A log the provider knows about, with a label saying whose it is."""

    label: str
    path: Path


@dataclass(frozen=True)
class PlanResult:
    """What ``up`` would create and what it would cost."""

    summary: dict[str, Any]
    hourly_usd: float | None
    nodes: list[dict[str, Any]]
    ssh_cidrs: list[str] = field(default_factory=list)
    plan_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class NodeCost:
    """Hourly on-demand cost of one node group (spot is billed lower: this is the ceiling)."""

    role: str
    instance_type: str
    count: int
    usd_per_hour: float | None  # each; None when the catalog has no price in the region

    @property
    def total(self) -> float | None:
        """$/h for the whole group (None when the price is unknown)."""
        return None if self.usd_per_hour is None else self.usd_per_hour * self.count


class WorkerShell(Protocol):
    """A worker machine of the cluster to run plain commands on (the benchmarks' plain baseline): this machine
    for a local cluster, a worker node over SSH for one on nodes."""

    name: str  # ``this machine`` or the node's name (core-1...)
    cores: int  # the executor cores the cluster gives it: how many single-thread processes match its executors
    python: str  # the interpreter with the workloads' packages there
    scratch: str  # a directory there that this shell's user may fill and remove

    def put_tree(self, local: Path, remote: str) -> None:
        """Copy the folder ``local`` to ``remote`` (created; its files at the same relative paths)."""

    def run(self, argv: list[str], env: dict[str, str]) -> Outcome:
        """Run ``argv`` with ``env`` added to the environment; never raise on its exit code."""


def set_core_count(data: dict[str, Any], count: int) -> dict[str, Any]:
    """The spec ``data`` (a dict) with ``count`` core nodes (the default of ``Provider.core_count_spec``)."""
    data["node_groups"]["core"]["count"] = count
    return data


def hourly_total(costs: list[NodeCost]) -> float | None:
    """$/h of the whole cluster, or None if any group's price is unknown."""
    totals = [c.total for c in costs]
    return None if any(t is None for t in totals) else round(sum(t for t in totals if t is not None), 4)


@dataclass(frozen=True)
class DownResult:
    """What ``down`` stopped and what it verified."""

    stopped: tuple[str, ...]
    verified: tuple[str, ...]


class Provider(Protocol):
    """What every provider implements: how it lays out and prices a cluster, then the verbs."""

    name: ClassVar[str]  # the spec's ``provider`` value
    spec: ClusterSpec
    workdir: Workdir

    @staticmethod
    def default_spark_version() -> str:
        """The Spark version ``clusterctl init`` writes into a new spec for this provider."""

    @staticmethod
    def core_count_spec(data: dict[str, Any], count: int) -> dict[str, Any]:
        """The spec ``data`` (a dict, changed in place) resized to ``count`` core nodes (``bench --workers``); a
        one-line error when this provider cannot have that many."""

    def node_layout(self) -> NodeLayout:
        """Hosts, node paths, the workloads' Python and the scheduler: what the rendered files need."""

    def extra_files(self, properties: Properties) -> dict[str, str]:
        """Files besides conf/ this provider renders into the workdir (``{relative path: content}``)."""

    def node_costs(self) -> list[NodeCost]:
        """On-demand $/h of each node group in the spec's region."""

    def data_uri(self, name: str) -> str:
        """Where ``data upload`` puts data set ``name`` by default: a URI the cluster's jobs can read."""

    def scratch_uri(self, name: str) -> str:
        """Where clusterctl puts data that jobs read and write for a while and that it removes afterwards (a bench
        session's subsets and outputs): the cluster's own HDFS where clusterctl reaches it, else like ``data_uri``."""

    def plan(self, report: Reporter) -> PlanResult:
        """Show what ``up`` would create and its hourly cost, changing nothing."""

    def up(self, report: Reporter, bootstrap: bool = True) -> ClusterStatus:
        """Create/start the cluster (a no-op when it is already up) and wait until it is usable.

        ``bootstrap=False``: create the machines only (providers that install their own nodes)."""

    def status(self) -> ClusterStatus:
        """Report the cluster's state without changing it."""

    def submit(self, job: Job, report: Reporter, on_output: LineSink) -> RunResult:
        """Run a job to completion; the driver's stdout lines go to ``on_output``."""

    def logs(self, run_id: str | None = None) -> list[LogFile]:
        """Driver, executor and daemon logs of a run (default: the latest)."""

    def down(self, report: Reporter, delete_bucket: bool = False) -> DownResult:
        """Stop and remove everything the cluster started; safe to run twice."""

    def hosts(self) -> Hosts:
        """The nodes and how to reach them over SSH (``ssh``, ``exec``, ``put``/``get``, ``ui``); a one-line
        error on providers whose nodes clusterctl does not log in to."""

    def storage_access(self, uri: str) -> AbstractContextManager[tuple[str, dict[str, str]]]:
        """How this machine reaches ``uri`` (data the cluster reads) for the time of the block: the URI to use
        and Hadoop client settings; e.g. a SOCKS tunnel through the master to an HDFS on private addresses."""

    def web_uis(self) -> dict[str, int]:
        """The master's web UIs, name -> port, that ``clusterctl ui`` forwards."""

    def worker_shells(self) -> AbstractContextManager[list[WorkerShell]]:
        """The cluster's worker machines to run plain commands on, for the time of the block (the cluster is up).
        A provider without any raises its one-line error at the call, before the block: callers may call it
        early, without entering, to learn that before anything starts."""
