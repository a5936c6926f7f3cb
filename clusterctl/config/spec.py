"""The cluster spec (``cluster.yaml``): one validated model; every validation rule lives here.

A spec that loads is safe to act on: instance types exist in the catalog, versions exist, CIDRs
parse and are not world-open unless asked, counts are positive. ``load_spec`` turns any problem
into a ``SpecError`` whose one-line message names the file, the field and the fix.
"""

import difflib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from clusterctl.config.catalog import AWS_REGIONS, load_catalog
from clusterctl.errors import SpecError

Provider = Literal["local", "ec2", "emr", "ssh"]
# PyPI's Linux torch is the multi-GB CUDA build; this index has the CPU build the nodes install.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
NODE_PROVIDERS = ("ec2", "ssh")  # providers whose nodes clusterctl bootstraps itself over SSH (ansible/)
LOCAL_TYPE = "local"

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCALAR = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeGroup(_Strict):
    """A group of identical nodes: ``instance_type`` from the catalog, or ``local`` with cores/memory."""

    instance_type: str
    count: Annotated[int, Field(ge=1)] = 1
    market: Literal["on_demand", "spot"] = "on_demand"
    disk_gib: Annotated[int, Field(ge=8, le=16384)] = 64
    cores: Annotated[int, Field(ge=1, le=256)] | None = None
    memory_gib: Annotated[float, Field(gt=0, le=4096)] | None = None

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        known = load_catalog().types
        if value != LOCAL_TYPE and value not in known:
            close = difflib.get_close_matches(value, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(
                f"unknown instance type {value!r}; {hint}use one of {', '.join(known)} "
                f"(or '{LOCAL_TYPE}' with provider local)"
            )
        return value


class NodeGroups(_Strict):
    """Master (one node), core (workers with storage) and optional task (compute-only) groups."""

    master: NodeGroup
    core: NodeGroup
    task: NodeGroup | None = None

    def items(self) -> list[tuple[str, NodeGroup]]:
        """(role, group) pairs in master, core, task order, skipping an absent task group."""
        pairs = [("master", self.master), ("core", self.core), ("task", self.task)]
        return [(role, group) for role, group in pairs if group is not None]


class Versions(_Strict):
    """Software versions; ``spark: null`` on provider local means the installed pyspark."""

    hadoop: str = "3.3.6"
    spark: str | None = None
    python: str = "3.11"
    emr_release: str | None = None

    @model_validator(mode="after")
    def _exist(self) -> "Versions":
        cat = load_catalog()
        checks = [
            ("hadoop", self.hadoop, cat.hadoop_versions),
            ("spark", self.spark, cat.spark_versions),
            ("python", self.python, cat.python_versions),
            ("emr_release", self.emr_release, tuple(cat.emr_releases)),
        ]
        for fld, value, known in checks:
            if value is not None and value not in known:
                raise ValueError(f"{fld}: version {value!r} does not exist; use one of {', '.join(known)}")
        return self


class Network(_Strict):
    """Who may reach the cluster. ``ssh_cidrs: null`` means the caller's public /32, found at plan time."""

    ssh_cidrs: list[str] | None = None
    allow_world_ssh: bool = False
    ssh_public_key: str = "~/.ssh/id_ed25519.pub"

    @field_validator("ssh_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        if not values:
            raise ValueError("empty list; omit ssh_cidrs to allow only your own /32")
        out = []
        for value in values:
            try:
                net = ipaddress.ip_network(value, strict=True)
            except ValueError as exc:
                try:
                    fixed = ipaddress.ip_network(value, strict=False)
                    raise ValueError(f"{value!r} has host bits set; write {fixed}") from None
                except ValueError as inner:
                    if "host bits" in str(inner):
                        raise
                    raise ValueError(f"{value!r} is not a CIDR block ({exc}); write e.g. 203.0.113.7/32") from None
            out.append(str(net))
        return out

    @model_validator(mode="after")
    def _world(self) -> "Network":
        for value in self.ssh_cidrs or []:
            if ipaddress.ip_network(value).prefixlen == 0 and not self.allow_world_ssh:
                raise ValueError(
                    f"ssh_cidrs: {value} opens SSH to the whole internet; list your own CIDRs "
                    "or set network.allow_world_ssh: true"
                )
        return self


class Storage(_Strict):
    """Where data, results and logs go: an S3 bucket (created if ``create``) and a key prefix.

    ``keep_on_down`` keeps a bucket clusterctl created when the cluster goes down (it holds results).
    """

    bucket: str | None = None
    prefix: str | None = None
    create: bool = True
    keep_on_down: bool = True

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and (not _BUCKET_RE.match(value) or ".." in value):
            raise ValueError(f"{value!r} is not a valid S3 bucket name; use 3-63 lowercase letters, digits, '-' or '.'")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or "//" in value):
            raise ValueError(f"{value!r}: a key prefix has no leading '/' and no empty segment")
        return value.rstrip("/") if value else value


class Overrides(_Strict):
    """Hand-set values that win over clusterctl's computed ones, per file."""

    spark: dict[str, _SCALAR] = Field(default_factory=dict)
    yarn: dict[str, _SCALAR] = Field(default_factory=dict)
    hdfs: dict[str, _SCALAR] = Field(default_factory=dict)
    core: dict[str, _SCALAR] = Field(default_factory=dict)
    mapred: dict[str, _SCALAR] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _prefixes(self) -> "Overrides":
        for section, prefix in (("spark", "spark."), ("yarn", "yarn.")):
            for key in getattr(self, section):
                if not key.startswith(prefix):
                    raise ValueError(f"{section}: key {key!r} must start with {prefix!r}")
        return self


class LocalSettings(_Strict):
    """Provider local only: the Spark master's ports, and an optional real HDFS beside the cluster.

    ``hdfs: true`` starts a NameNode and a DataNode on 127.0.0.1 from the Hadoop distribution at
    ``hadoop_home`` (default: ``$HADOOP_HOME``, else the release ``clusterctl data fetch hadoop`` unpacked),
    so the local cluster reads ``hdfs://`` as EC2's does.
    """

    master_port: Annotated[int, Field(ge=1024, le=65535)] = 7077
    webui_port: Annotated[int, Field(ge=1024, le=65535)] = 8080
    hdfs: bool = False
    hadoop_home: str | None = None
    namenode_port: Annotated[int, Field(ge=1024, le=65535)] = 9000

    @model_validator(mode="after")
    def _distinct(self) -> "LocalSettings":
        ports = {"master_port": self.master_port, "webui_port": self.webui_port}
        if self.hdfs:
            ports["namenode_port"] = self.namenode_port
        if len(set(ports.values())) < len(ports):
            raise ValueError(f"{', '.join(ports)} must all differ")
        return self


class SparkSettings(_Strict):
    """How Spark gets its executors: ``yarn`` (HDFS + YARN, the default on nodes) or ``standalone``
    (a Spark master and one worker per core/task node, Flintrock's way). The local provider always
    runs standalone and EMR always YARN.

    ``warm_driver: true`` keeps one long-lived driver (with its executors, their Python workers and the
    models they loaded) between jobs, so ``submit`` of a bundled workload pays no JVM or interpreter
    start; ``submit --cold`` runs as before. Local provider only in this release.
    """

    manager: Literal["yarn", "standalone"] | None = None
    warm_driver: bool = False


class SshSettings(_Strict):
    """Provider ssh: machines that already exist (on-premises, another cloud, test namespaces).

    ``master``/``core``/``task`` are the addresses clusterctl connects to; with ``jump: true`` the
    workers are reached through the master, as on EC2. ``private_ips`` maps an address to the one the
    nodes use among themselves when it differs.
    """

    master: str
    core: list[str]
    task: list[str] = Field(default_factory=list)
    private_ips: dict[str, str] = Field(default_factory=dict)
    user: str = "admin"
    identity_file: str = "~/.ssh/id_ed25519"
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    jump: bool = False

    @model_validator(mode="after")
    def _addresses(self) -> "SshSettings":
        every = [self.master, *self.core, *self.task]
        for value in every + list(self.private_ips.values()):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", value):
                    raise ValueError(f"{value!r} is neither an IP address nor a host name") from None
        if len(set(every)) < len(every):
            raise ValueError("master, core and task: every node needs its own address")
        unknown = sorted(set(self.private_ips) - set(every))
        if unknown:
            raise ValueError(f"private_ips: {', '.join(unknown)} is not one of the nodes' addresses")
        return self


class BootstrapSettings(_Strict):
    """Providers ec2 and ssh: how ``up`` installs the nodes (ansible/site.yml).

    ``hadoop_mirror`` is the base URL of Apache's release tree (``hadoop-<v>/hadoop-<v>.tar.gz``
    below it), e.g. a mirror inside your network; ``hadoop_sha512`` is needed only for a version
    clusterctl has no published checksum pinned for. ``ansible_vars`` sets any variable of
    ``ansible/group_vars/all.yml`` (images without apt, another service manager...).
    """

    hadoop_mirror: str = "https://archive.apache.org/dist/hadoop/common"
    hadoop_sha512: Annotated[str, Field(pattern=r"^[0-9a-f]{128}$")] | None = None
    pip_args: list[str] = Field(default_factory=list)
    ansible_vars: dict[str, Any] = Field(default_factory=dict)

    @field_validator("hadoop_mirror")
    @classmethod
    def _mirror(cls, value: str) -> str:
        if not re.match(r"^(https?|file)://", value):
            raise ValueError(f"{value!r} is not a URL; write e.g. https://archive.apache.org/dist/hadoop/common")
        return value.rstrip("/")


class NodeEnv(_Strict):
    """Providers ec2, emr and ssh: the nodes' Python packages, from one hash-pinned lock.

    ``up`` builds a wheelhouse from ``lock`` (default: the one clusterctl ships) once per lock hash,
    downloading from ``index_url`` (PyPI when unset), ``extra_index_urls`` (PyTorch's CPU builds) and
    ``find_links``; ec2 and emr put it in the cluster's bucket and the nodes install it with pip
    ``--no-index --require-hashes``. Provider ssh has no bucket: ``wheelhouse_url`` names a mirror
    serving the wheelhouse's files, else the nodes install the lock from the index, hash-checked.
    """

    lock: Path | None = None
    index_url: str | None = None
    extra_index_urls: list[str] = Field(default_factory=lambda: [TORCH_CPU_INDEX])
    find_links: list[str] = Field(default_factory=list)
    wheelhouse_url: str | None = None

    @field_validator("index_url", "wheelhouse_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?|file)://", value):
            raise ValueError(f"{value!r} is not a URL; write e.g. https://pypi.org/simple")
        return value.rstrip("/") if value else value

    @field_validator("lock")
    @classmethod
    def _lock(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"{value}: no such lock file; make one with `clusterctl nodeenv lock --out {value}`")
        return value.expanduser() if value else value


class Tuning(_Strict):
    """JVM tuning. ``fast_jvm_start`` runs daemons and drivers with the C1 JIT only;
    ``python_bound_executors`` does the same (plus serial GC) for executors, whose Python workers
    do the heavy lifting in image workloads."""

    fast_jvm_start: bool = True
    python_bound_executors: bool = True


class ClusterSpec(_Strict):
    """A whole cluster: what to build, where, and with which software."""

    name: str
    provider: Provider = "local"
    region: str = "eu-west-3"
    node_groups: NodeGroups
    versions: Versions = Field(default_factory=Versions)
    network: Network = Field(default_factory=Network)
    storage: Storage = Field(default_factory=Storage)
    idle_timeout_minutes: Annotated[int, Field(ge=0, le=10080)] = 60
    max_lifetime_hours: int | None = None  # ec2: the master's autostop agent terminates the cluster, busy or not
    ttl_hours: Annotated[int, Field(ge=1, le=720)] = 8
    ami_id: Annotated[str, Field(pattern=r"^ami-[0-9a-f]{8,17}$")] | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    overrides: Overrides = Field(default_factory=Overrides)
    local: LocalSettings = Field(default_factory=LocalSettings)
    tuning: Tuning = Field(default_factory=Tuning)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    ssh: SshSettings | None = None
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    node_env: NodeEnv = Field(default_factory=NodeEnv)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid cluster name; use 2-40 lowercase letters, digits and '-', "
                "starting with a letter"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in AWS_REGIONS:
            close = difflib.get_close_matches(value, AWS_REGIONS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown AWS region {value!r}; {hint}use e.g. us-east-1, eu-west-1, eu-west-3")
        return value

    @field_validator("max_lifetime_hours")
    @classmethod
    def _max_lifetime(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"{value} is below 1 hour; set at least 1, or remove the key for no hard limit")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if not key or len(key) > 128 or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r}: 1-128 characters, not starting with 'aws:'")
            if len(value) > 256:
                raise ValueError(f"tag {key!r}: value longer than 256 characters")
        return tags

    @model_validator(mode="after")
    def _provider_rules(self) -> "ClusterSpec":
        local = self.provider == "local"
        for role, group in self.node_groups.items():
            where = f"node_groups.{role}"
            if self.provider == "ssh":
                # existing machines: a catalog type, or local with the machines' cores and memory
                if group.instance_type == LOCAL_TYPE and (group.cores is None or group.memory_gib is None):
                    raise ValueError(f"{where}: instance_type local needs cores and memory_gib (each node's)")
                if group.market == "spot":
                    raise ValueError(f"{where}.market: spot needs provider ec2 or emr")
            elif local:
                if group.instance_type != LOCAL_TYPE:
                    raise ValueError(f"{where}.instance_type: provider local takes 'local' with cores and memory_gib")
                if group.cores is None or group.memory_gib is None:
                    raise ValueError(f"{where}: instance_type local needs cores and memory_gib")
                if group.market == "spot":
                    raise ValueError(f"{where}.market: spot needs provider ec2 or emr")
            else:
                if group.instance_type == LOCAL_TYPE:
                    raise ValueError(
                        f"{where}.instance_type: 'local' needs provider local; use an m4/m5 type, e.g. m5.xlarge"
                    )
                if group.cores is not None or group.memory_gib is not None:
                    raise ValueError(f"{where}: cores/memory_gib come from the instance type; remove them")
        if self.node_groups.master.count != 1:
            raise ValueError("node_groups.master.count: a cluster has exactly one master; set count: 1")
        if self.provider == "emr":
            if self.versions.emr_release is None:
                raise ValueError("versions.emr_release: provider emr needs a release label, e.g. emr-7.13.0")
            shipped = load_catalog().emr_releases[self.versions.emr_release]
            for app in ("spark", "hadoop"):
                asked = getattr(self.versions, app)
                if app == "spark" and asked is not None and asked != shipped[app]:
                    raise ValueError(
                        f"versions.spark: {self.versions.emr_release} ships Spark {shipped['spark']}; "
                        f"set spark: {shipped['spark']} or remove it"
                    )
        elif self.versions.emr_release is not None:
            raise ValueError("versions.emr_release: only provider emr takes a release label; remove it")
        if self.ami_id is not None and self.provider != "ec2":
            raise ValueError("ami_id: only provider ec2 takes an AMI; remove it")
        if self.max_lifetime_hours is not None and self.provider != "ec2":
            raise ValueError(
                "max_lifetime_hours: only provider ec2 enforces it (its master's autostop agent); remove it"
                + ("; EMR ends an idle cluster by idle_timeout_minutes" if self.provider == "emr" else "")
            )
        if not local and "local" in self.model_fields_set:
            raise ValueError("local: port settings apply to provider local only; remove the local section")
        if self.spark.warm_driver and not local:
            raise ValueError(
                f"spark.warm_driver: provider {self.provider} has no warm driver in this release (local only); "
                "remove it, or submit as usual (each job starts its own driver)"
            )
        self._node_rules()
        return self

    def _node_rules(self) -> None:
        fixed = {"local": "standalone", "emr": "yarn"}.get(self.provider)
        if fixed and self.spark.manager not in (None, fixed):
            raise ValueError(f"spark.manager: provider {self.provider} runs Spark {fixed}; remove it")
        if self.provider == "ssh":
            if self.ssh is None:
                raise ValueError("ssh: provider ssh needs the nodes' addresses (ssh.master, ssh.core)")
            for role, addresses in (("core", self.ssh.core), ("task", self.ssh.task)):
                group = getattr(self.node_groups, role)
                want = group.count if group else 0
                if len(addresses) != want:
                    raise ValueError(f"ssh.{role}: {len(addresses)} addresses for node_groups.{role} of {want} nodes")
        elif self.ssh is not None:
            raise ValueError("ssh: only provider ssh takes node addresses; remove the ssh section")
        # compared with the defaults, not model_fields_set: the workdir's copy of a spec lists every field
        if self.provider == "local" and self.node_env != NodeEnv():
            raise ValueError("node_env: provider local runs this machine's Python; remove the section")
        if self.provider != "ssh" and self.node_env.wheelhouse_url is not None:
            raise ValueError(
                f"node_env.wheelhouse_url: provider {self.provider}'s nodes read the cluster's bucket; remove it"
            )
        if self.provider not in NODE_PROVIDERS and self.bootstrap != BootstrapSettings():
            raise ValueError(f"bootstrap: provider {self.provider} sets up its nodes itself; remove the section")
        if (
            self.provider in NODE_PROVIDERS
            and self.bootstrap.hadoop_sha512 is None
            and self.versions.hadoop not in load_catalog().hadoop_sha512
        ):
            pinned = ", ".join(load_catalog().hadoop_sha512)
            raise ValueError(
                f"versions.hadoop: clusterctl has no published SHA-512 pinned for Hadoop {self.versions.hadoop}; "
                f"use {pinned} or set bootstrap.hadoop_sha512 to Apache's hadoop-{self.versions.hadoop}.tar.gz.sha512"
            )

    @property
    def spark_manager(self) -> str:
        """``yarn`` or ``standalone``: the spec's choice, else the provider's way."""
        if self.spark.manager:
            return self.spark.manager
        return "standalone" if self.provider == "local" else "yarn"

    @property
    def bucket_prefix(self) -> str:
        """Key prefix of everything this cluster stores."""
        return self.storage.prefix or f"clusterctl/{self.name}"

    @property
    def spark_version(self) -> str | None:
        """The Spark version the cluster runs (EMR's shipped one on emr; None = installed pyspark)."""
        if self.provider == "emr" and self.versions.emr_release:
            return load_catalog().emr_releases[self.versions.emr_release]["spark"]
        return self.versions.spark


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _format_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    path = _loc(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        parent = first["loc"][:-1]
        model: type[BaseModel] = ClusterSpec
        for part in parent:
            ann = model.model_fields[str(part)].annotation if isinstance(part, str) else None
            nested = next(
                (a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)), None
            )
            if nested is None:
                break
            model = nested
        valid = list(model.model_fields)
        close = difflib.get_close_matches(str(first["loc"][-1]), valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{source}: {path}: unknown key; {hint}valid keys here: {', '.join(valid)}"
    if kind == "missing":
        return f"{source}: {path}: required field missing; add it (see `clusterctl init` for an example)"
    msg = first["msg"].removeprefix("Value error, ")
    if kind != "value_error":
        msg = f"{msg[0].lower()}{msg[1:]} (got {first.get('input')!r})"
    inner = re.match(r"^([a-z_]+(?:\.[a-z_]+)*): ", msg)
    if inner and path:
        path, msg = f"{path}.{inner.group(1)}", msg[inner.end() :]
    return f"{source}: {path + ': ' if path else ''}{msg}"


def parse_spec(data: Any, source: str = "cluster.yaml") -> ClusterSpec:
    """Validate a parsed YAML document; raise ``SpecError`` with a one-line message on failure."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of settings at the top level (see `clusterctl init`)")
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_error(source, err)) from None


def load_spec(path: Path) -> ClusterSpec:
    """Read and validate a spec file."""
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file; create one with `clusterctl init`")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SpecError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_spec(data, str(path))


def spec_to_yaml(spec: ClusterSpec) -> str:
    """Serialise a spec deterministically (the copy kept in the cluster workdir)."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=True, default_flow_style=False)
