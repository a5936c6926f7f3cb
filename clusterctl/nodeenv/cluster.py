"""A cluster's node environment: which lock it installs, the lock files rendered into its workdir,
and its wheelhouse built once, put in the cluster's bucket, and handed to the nodes.

The flow: ``render`` writes ``nodeenv/nodes.lock`` (and for EMR, whose release brings pyspark,
``nodeenv/nodes-emr.lock`` without it) into the workdir; ``up`` builds the wheelhouse of that lock
(cached by its hash), uploads it under ``<bucket prefix>/nodeenv/<lock hash>/`` (files already there
with the same sha256 are skipped), and the nodes install it with ``pip --no-index --require-hashes``.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterctl.config.spec import ClusterSpec, NodeEnv
from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.lock import Lock, format_lock, read_lock
from clusterctl.nodeenv.pip import source_args
from clusterctl.nodeenv.requirements import DEFAULT_LOCK
from clusterctl.nodeenv.wheelhouse import Wheelhouse, build_wheelhouse
from clusterctl.progress import Reporter

LOCK_DIR = "nodeenv"  # in the workdir
NODES_LOCK = "nodes.lock"
EMR_LOCK = "nodes-emr.lock"  # EMR's release ships Spark: the lock without pyspark
PRESIGNED_S = 2 * 3600  # how long a node may take to fetch the wheelhouse during the bootstrap


def source_lock(spec: ClusterSpec, brings_spark: bool) -> Lock:
    """The lock the spec names (``node_env.lock``), else the one clusterctl ships. On nodes whose Spark is
    the lock's pyspark (``brings_spark`` False: not EMR), that pin must be the cluster's Spark version."""
    path = spec.node_env.lock or DEFAULT_LOCK
    lock = read_lock(path)
    pyspark = lock.entry("pyspark")
    if not brings_spark and spec.spark_version and pyspark is not None and pyspark.version != spec.spark_version:
        raise ClusterctlError(
            f"node_env.lock: {path.name} pins pyspark {pyspark.version} but versions.spark is {spec.spark_version}; "
            "run "
            f"`clusterctl nodeenv lock --spark {spec.spark_version} --out nodes-{spec.spark_version}.lock` and set "
            "node_env.lock to it, or set versions.spark to the pinned version"
        )
    return lock


def lock_files(spec: ClusterSpec, brings_spark: bool) -> dict[str, str]:
    """The workdir's lock files, as ``{nodeenv/<name>: text}``: the source lock unchanged (same hash),
    and for nodes that bring their own Spark (EMR's release) the same pins without pyspark."""
    lock = source_lock(spec, brings_spark)
    files = {f"{LOCK_DIR}/{NODES_LOCK}": lock.path.read_text()}
    if brings_spark:
        header = [line for line in lock.header if not line.startswith("# install:")]
        header += [
            f"# derived from: {NODES_LOCK} (lock {lock.hash[:16]}) without pyspark: the EMR release ships Spark",
            f"# install: python -m pip install --no-index --find-links WHEELHOUSE --require-hashes -r {EMR_LOCK}",
        ]
        files[f"{LOCK_DIR}/{EMR_LOCK}"] = format_lock([e for e in lock.entries if e.name != "pyspark"], header)
    return files


def workdir_lock(workdir_root: Path, name: str = NODES_LOCK) -> Lock:
    """A lock that ``render`` wrote into the workdir."""
    path = workdir_root / LOCK_DIR / name
    if not path.is_file():
        raise ClusterctlError(f"{path} is missing; run `clusterctl render -f <spec>` (or `up`) first")
    return read_lock(path)


def wheelhouse_for(spec: ClusterSpec, lock: Lock, report: Reporter) -> Wheelhouse:
    """The lock's wheelhouse on this machine: built once per lock hash from the spec's sources."""
    env = spec.node_env
    return build_wheelhouse(
        lock,
        index_url=env.index_url,
        find_links=env.find_links,
        extra_index_urls=env.extra_index_urls,
        report=report,
    )


@dataclass(frozen=True)
class Published:
    """A wheelhouse in the cluster's bucket."""

    uri: str  # s3://bucket/<prefix>/nodeenv/<lock hash>/
    bucket: str
    prefix: str  # key prefix, no trailing slash
    uploaded: int
    skipped: int


def publish(
    wheelhouse: Wheelhouse, extra: list[Path], bucket: str, key_prefix: str, region: str, report: Reporter
) -> Published:
    """Upload the wheelhouse (and ``extra`` files, e.g. the EMR lock) to ``s3://bucket/key_prefix/<lock hash>/``;
    what is there already with the same sha256 is skipped, and the destination is verified."""
    from clusterctl.data.upload import open_store, upload

    prefix = f"{key_prefix.strip('/')}/{wheelhouse.lock_hash}"
    uri = f"s3://{bucket}/{prefix}/"
    for path in extra:  # beside the wheels, so the nodes fetch one folder
        target = wheelhouse.path / path.name
        if not target.is_file() or target.read_bytes() != path.read_bytes():
            target.write_bytes(path.read_bytes())
    store = open_store(uri, region)
    try:
        result = upload(wheelhouse.path, store, concurrency=4, report=report)
    finally:
        store.close()
    if result.failed or not result.verify["ok"]:
        first = next(iter(result.failed.items()), ("", "verification failed"))
        raise ClusterctlError(
            f"uploading the wheelhouse to {uri} failed ({first[0]}: {first[1]}); run `clusterctl up` again to resume"
        )
    return Published(uri, bucket, prefix, len(result.uploaded), len(result.skipped))


def presigned_files(published: Published, wheelhouse: Wheelhouse, region: str) -> list[dict[str, Any]]:
    """Each wheelhouse file with its sha256 and a time-limited GET URL (nodes without AWS tools fetch them
    over HTTPS; the URLs are credentials for a while, so the playbook never logs them)."""
    import boto3
    from botocore.config import Config

    from clusterctl.providers.aws import client as aws

    # the regional endpoint: the global one redirects for a bucket outside us-east-1 in its first hours
    s3 = boto3.session.Session(region_name=region).client(
        "s3",
        endpoint_url=aws.endpoint() or f"https://s3.{region}.amazonaws.com",
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )
    with aws.aws_errors(region):
        return [
            {
                "file": f.file,
                "sha256": f.sha256,
                "url": s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": published.bucket, "Key": f"{published.prefix}/{f.file}"},
                    ExpiresIn=PRESIGNED_S,
                ),
            }
            for f in wheelhouse.files
        ]


def mirror_files(lock: Lock, base_url: str) -> list[dict[str, Any]]:
    """Each locked file at ``base_url/<file>`` (a mirror serving a wheelhouse), with its sha256."""
    missing = [e.requirement for e in lock.entries if e.file is None]
    if missing:
        raise ClusterctlError(
            f"{lock.path}: no file names recorded for {', '.join(missing[:3])}; regenerate it with "
            "`clusterctl nodeenv lock` to serve it from node_env.wheelhouse_url"
        )
    return [{"file": e.file, "sha256": e.sha256[0], "url": f"{base_url}/{e.file}"} for e in lock.entries]


def pip_source_args(env: NodeEnv) -> list[str]:
    """``pip install`` arguments naming the spec's index, extra indexes and find-links (for nodes with no
    wheelhouse: they fetch the locked files themselves, hash-checked)."""
    return source_args(env.index_url, env.extra_index_urls, env.find_links)
