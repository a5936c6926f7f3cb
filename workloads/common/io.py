"""Spark I/O the jobs share: images and parquet from any Hadoop URI, results back out, how work is spread.

``pyspark`` is imported where it is used, so ``to_hadoop_uri`` (and the modules that only need it, such as
``faces.steps``) import without Spark.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from workloads.common.images import IMAGE_GLOB, label_from_uri
from workloads.common.job import JobError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def to_hadoop_uri(path_or_uri: str) -> str:
    """A local path becomes ``file://``; URIs (file:, hdfs:, s3:, s3a:) pass unchanged."""
    if "://" in path_or_uri or path_or_uri.startswith("file:"):
        return path_or_uri
    return "file://" + os.path.abspath(path_or_uri)


def read_images(spark: SparkSession, uri: str, glob: str = IMAGE_GLOB) -> DataFrame:
    """Images under ``uri`` (recursive) as rows (path, label, content, length).

    The label is the name of the image's parent folder, URL-decoded (``images.label_from_uri``).
    """
    from pyspark.sql import functions as F

    df = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", glob)
        .load(to_hadoop_uri(uri))
    )
    label = F.udf(lambda uri: label_from_uri(uri), "string")  # a lambda: Spark reads no UDF type from its hints
    return df.select("path", label("path").alias("label"), "content", "length")


def list_images(spark: SparkSession, uri: str, glob: str) -> tuple[DataFrame, int]:
    """The images under --input ``uri`` (``read_images``) and how many files that is.

    A missing or empty input is a ``JobError`` naming --input."""
    from pyspark.errors import AnalysisException

    try:
        images = read_images(spark, uri, glob)
    except AnalysisException as exc:  # e.g. PATH_NOT_FOUND
        raise JobError(f"--input {uri}: {str(exc).splitlines()[0]}") from None
    files = len(images.inputFiles())
    if files == 0:
        raise JobError(f"--input {uri}: no files matching {glob}")
    return images, files


def read_parquet(spark: SparkSession, uri: str, option: str, made_by: str, marker: str | None = None) -> DataFrame:
    """The parquet at ``uri``; a ``JobError`` naming ``option`` and the job that writes it if it is missing.

    ``marker`` (a URI) is the file the writing job commits last, its ``summary.json``: when it is missing the
    output is incomplete (an interrupted run of an older version, or a commit still being copied on an object
    store, see ``committed_output``), also a ``JobError``. One existence check: cheap.
    """
    from pyspark.errors import AnalysisException

    try:
        df = spark.read.parquet(uri)
    except AnalysisException as exc:
        first = str(exc).splitlines()[0]
        raise JobError(f"{option} {uri}: {first} (run `clusterctl submit {made_by}` first)") from None
    if marker is not None and HadoopFileSystem(spark, marker).kind(marker) != "file":
        raise JobError(
            f"{option} {uri}: incomplete output, {marker} is missing (an interrupted run, or one still being "
            f"committed) (run `clusterctl submit {made_by}` first)"
        )
    return df


# -- committing outputs ------------------------------------------------------------------------------------
#
# A job writes everything into a hidden staging directory beside --output and only a complete result is
# renamed to --output (``committed_output``); a streaming sink replaces one file per micro-batch
# (``write_batch``). Both go through Hadoop's FileSystem API (any Hadoop URI), behind ``FileSystem`` so that
# the logic is tested without a JVM.

OBJECT_STORES = frozenset({"s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "cosn", "obs"})
"""URI schemes whose ``rename`` copies each file and then deletes it: neither atomic nor ordered."""


class FileSystem(Protocol):
    """The file-system calls committing needs, on URIs."""

    def kind(self, uri: str) -> str | None:
        """``"dir"``, ``"file"``, or None when nothing is there."""
        ...

    def names(self, uri: str) -> list[str]:
        """The names of the entries of the directory ``uri``."""
        ...

    def mkdirs(self, uri: str) -> None:
        """Create the directory ``uri`` and its parents; an ``OSError`` if that is refused."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``, which must not exist; an ``OSError`` if that is refused."""
        ...

    def delete(self, uri: str) -> None:
        """Delete ``uri`` recursively (nothing there: nothing to do)."""
        ...

    def put(self, local: Path, uri: str) -> None:
        """Copy the local file ``local`` to ``uri``."""
        ...


class HadoopFileSystem:
    """``FileSystem`` on Hadoop's FileSystem API through the session's JVM: file:, hdfs:, s3a:, EMRFS s3:."""

    def __init__(self, spark: SparkSession, uri: str) -> None:
        self._path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(uri).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def kind(self, uri: str) -> str | None:
        path = self._path(uri)
        if not self._fs.exists(path):
            return None
        return "dir" if self._fs.getFileStatus(path).isDirectory() else "file"

    def names(self, uri: str) -> list[str]:
        return [status.getPath().getName() for status in self._fs.listStatus(self._path(uri))]

    def mkdirs(self, uri: str) -> None:
        if not self._fs.mkdirs(self._path(uri)):
            if uri.startswith("file:"):  # Hadoop says no more than false: let the OS say why
                os.makedirs(urlparse(uri).path, exist_ok=True)
            raise OSError(f"could not create the directory {uri}")

    def rename(self, src: str, dst: str) -> None:
        if self.kind(dst) is not None:  # Hadoop would move src *into* an existing directory
            raise OSError(f"cannot rename {src} to {dst}: {dst} exists")
        if not self._fs.rename(self._path(src), self._path(dst)):
            raise OSError(f"the file system refused to rename {src} to {dst}")

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def put(self, local: Path, uri: str) -> None:
        self._fs.copyFromLocalFile(False, True, self._path(local.resolve().as_uri()), self._path(uri))


@dataclass(frozen=True)
class Staging:
    """Where a job writes inside ``committed_output``.

    ``uri``: a hidden directory beside the output, for Spark's writes (``f"{stage.uri}/features"``);
    ``files``: a local directory for driver-side files (plots, the summary), copied in after the block, the
    marker last; ``output``: the URI it all becomes, the one to record in summaries.
    """

    uri: str
    files: Path
    output: str


def split_uri(uri: str) -> tuple[str, str]:
    """(parent, name) of ``uri``; a ``ValueError`` for a file system's root or a bucket (nothing beside it)."""
    uri = uri.rstrip("/")
    if urlparse(uri).path.strip("/") == "":
        raise ValueError(f"{uri} is the root of its file system")
    parent, name = uri.rsplit("/", 1)
    return parent, name


def staging_uris(out_uri: str, token: str, marker: str) -> dict[str, str]:
    """The hidden siblings of ``out_uri`` one commit uses: ``staging`` (the new output being written),
    ``previous`` (the old output, moved aside until the new one is in place) and ``marker`` (where an object
    store's commit holds the marker back, to copy it in last)."""
    parent, name = split_uri(out_uri)
    return {
        "staging": f"{parent}/.{name}.staging-{token}",
        "previous": f"{parent}/.{name}.previous-{token}",
        "marker": f"{parent}/.{name}.{marker}-{token}",
    }


def strangers(old: list[str], new: list[str], marker: str) -> list[str]:
    """What replacing an output holding ``old`` by one holding ``new`` would delete that the job did not write.

    An old output with ``marker`` is a complete earlier output: replaced whole. Otherwise only entries this
    job writes (and hidden ones: ``.crc`` checksums, ``_SUCCESS``) may go, so that a mistyped --output (a home
    directory, the input's parent) is refused instead of deleted."""
    if marker in old:
        return []
    return sorted(n for n in old if n not in new and not n.startswith((".", "_")))


def failure_cause(exc: BaseException) -> str:
    """The root cause of a failed write in a few words: ``No space left on device``, ``Read-only file system``.

    An ``OSError``'s ``strerror``; for a JVM error the message of the last ``Caused by:`` of its stack trace
    (Spark wraps a task's ``IOException`` in a few layers); else the exception's first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = _error_text(exc)
    causes = [m for m in re.finditer(r"Caused by: ([\w.$]+)(?:: ([^\n]+))?", text)]
    if causes:
        cls, message = causes[-1].group(1), causes[-1].group(2)
        return (message or cls.rsplit(".", 1)[-1]).strip()[:200]
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


def _error_text(exc: BaseException) -> str:
    """Everything an exception says: pyspark's captured JVM errors keep their stack trace apart."""
    try:
        parts = [str(exc)]
    except Exception:  # str() of a captured JVM error asks the JVM, which may be gone
        parts = [type(exc).__name__]
    for attr in ("_stackTrace", "stackTrace"):
        extra = getattr(exc, attr, None)
        if isinstance(extra, str):
            parts.append(extra)
    return "\n".join(parts)


def _failure(option: str, out: str, exc: BaseException, had_output: bool) -> JobError:
    kept = "; nothing was committed, the previous output is untouched" if had_output else "; nothing was committed"
    return JobError(f"{option} {out}: write failed ({failure_cause(exc)}){kept}")


@contextmanager
def committed_output(
    spark: SparkSession | None,
    out_uri: str,
    marker: str = "summary.json",
    option: str = "--output",
    fs: FileSystem | None = None,
) -> Iterator[Staging]:
    """Write a job's output all or nothing: everything goes to a hidden ``Staging`` beside ``out_uri``, which
    replaces the output only once the block has ended without error.

    The commit: the files of ``stage.files`` are copied in (``marker`` last; the job must write it there: its
    ``summary.json``, the sign of a complete output), the old output is moved aside, the staging directory
    renamed to ``out_uri`` and the old output deleted. On HDFS and local file systems a rename is atomic, so a
    reader sees the old output or the new one, never a part. On an object store (``OBJECT_STORES``: s3a, EMRFS
    s3, gs, abfs) a rename copies file by file, so the marker is held back and copied in last, and readers must
    check it (``read_parquet(..., marker=...)``): an output without it is incomplete.

    Any exception in the block or the commit deletes the staging directory and leaves the old output as it
    was. A failure to write (the destination full, read-only, or refusing a rename: an error naming the staging
    location or raised by the commit) becomes a ``JobError`` naming ``option``, the output and the cause; other
    errors propagate unchanged. An old output that holds entries the job did not write and no ``marker`` is
    not replaced (``strangers``): a ``JobError``.
    """
    out = to_hadoop_uri(out_uri.rstrip("/"))
    try:
        uris = staging_uris(out, uuid.uuid4().hex[:12], marker)
    except ValueError as exc:
        raise JobError(f"{option} {out_uri}: {exc}; write the output to a directory below it") from None
    if fs is None:
        assert spark is not None
        fs = HadoopFileSystem(spark, out)
    staging = uris["staging"]
    had_output = fs.kind(out) is not None
    try:
        fs.mkdirs(staging)
    except Exception as exc:
        _delete_quietly(fs, staging)
        raise _failure(option, out, exc, had_output) from None
    token = staging.rsplit("-", 1)[1]
    with tempfile.TemporaryDirectory(prefix="clusterctl-outputs-") as tmp:
        try:
            yield Staging(staging, Path(tmp), out)
        except BaseException as exc:
            _delete_quietly(fs, staging)
            if isinstance(exc, Exception) and not isinstance(exc, JobError) and token in _error_text(exc):
                raise _failure(option, out, exc, had_output) from None
            raise
        files = sorted(Path(tmp).iterdir(), key=lambda f: (f.name == marker, f.name))
        if not files or files[-1].name != marker:
            _delete_quietly(fs, staging)
            raise RuntimeError(f"committed_output: the job wrote no {marker} into stage.files")
        try:
            _commit(fs, files, out, uris, marker, option)
        except JobError:
            _delete_quietly(fs, staging, uris["marker"])
            raise
        except Exception as exc:
            _delete_quietly(fs, staging, uris["marker"])
            raise _failure(option, out, exc, had_output) from None


def _commit(fs: FileSystem, files: list[Path], out: str, uris: dict[str, str], marker: str, option: str) -> None:
    """Copy the local ``files`` in (in order: the marker last), then swap the staging directory in for the old
    output."""
    staging, previous, held = uris["staging"], uris["previous"], uris["marker"]
    for f in files:
        fs.put(f, f"{staging}/{f.name}")
    old = fs.kind(out)
    if old == "file":
        raise JobError(f"{option} {out}: is a file, not an output directory; not replaced, nothing was committed")
    if old == "dir" and (found := strangers(fs.names(out), fs.names(staging), marker)):
        raise JobError(
            f"{option} {out}: not replaced: it holds {', '.join(found[:5])}, which this job does not write, and "
            f"no {marker}; move them away or choose another {option}; nothing was committed"
        )
    hold = urlparse(out).scheme in OBJECT_STORES
    if hold:
        fs.rename(f"{staging}/{marker}", held)
    if old:
        fs.rename(out, previous)
    try:
        fs.rename(staging, out)
        if hold:
            fs.rename(held, f"{out}/{marker}")
    except Exception as exc:
        try:  # whatever is at --output now is a part of the new output: the old one goes back
            fs.delete(out)
            if old:
                fs.rename(previous, out)
        except Exception:
            where = f"the previous output could not be put back: it is at {previous}" if old else "a part may be left"
            raise JobError(f"{option} {out}: write failed ({failure_cause(exc)}); {where}") from None
        raise
    if old:
        _delete_quietly(fs, previous)  # the new output is in place: a leftover hidden directory is harmless


def _delete_quietly(fs: FileSystem, *uris: str) -> None:
    """Best-effort clean-up, never masking the error being raised."""
    for uri in uris:
        with contextlib.suppress(Exception):  # the JVM may be gone; a leftover is a hidden directory
            fs.delete(uri)


def batch_file(batch_id: int) -> str:
    """The file a streaming micro-batch's rows go to: the same name on every attempt of the batch."""
    return f"batch-{batch_id:012d}.parquet"


def write_batch(df: DataFrame, dir_uri: str, batch_id: int, fs: FileSystem | None = None) -> str:
    """Write micro-batch ``batch_id``'s rows as the one file ``dir_uri/batch_file(batch_id)``, replacing the file
    an earlier attempt of the same batch left; returns its URI.

    A foreachBatch sink is replayed with the same batch id when the query crashed between the sink's write
    and the checkpoint's commit, so appending would duplicate rows: replacing makes the replay idempotent
    (each row once). The rows are written by Spark into a hidden ``_tmp-`` directory (readers skip it), its
    one part file renamed into place."""
    if fs is None:
        fs = HadoopFileSystem(df.sparkSession, dir_uri)
    name = batch_file(batch_id)
    tmp, target = f"{dir_uri}/_tmp-{name}", f"{dir_uri}/{name}"
    df.coalesce(1).write.mode("overwrite").parquet(tmp)
    parts = [n for n in fs.names(tmp) if n.startswith("part-") and n.endswith(".parquet")]
    if len(parts) != 1:
        raise RuntimeError(f"{tmp}: expected one part file, Spark wrote {len(parts)}")
    fs.delete(target)
    fs.rename(f"{tmp}/{parts[0]}", target)
    fs.delete(tmp)
    return target


def task_cpus() -> int:
    """Executor side: the CPUs of the task running in this Python worker (``spark.task.cpus``; 1 outside a task),
    the intra-op threads its model may use."""
    from pyspark import TaskContext

    task = TaskContext.get()
    return task.cpus() if task else 1


def task_slots(spark: SparkSession) -> int:
    """Tasks the cluster runs at once: executor instances x cores per executor / cores per task."""
    conf = spark.sparkContext.getConf()
    instances = conf.get("spark.executor.instances")
    if instances is None:
        return spark.sparkContext.defaultParallelism
    return max(1, int(instances) * int(conf.get("spark.executor.cores", "1")) // int(conf.get("spark.task.cpus", "1")))


def spread_files(spark: SparkSession, n_files: int, slots: int, min_files_per_task: int = 500) -> int:
    """Make the session's next file scans give a whole number of waves of ``slots`` tasks (1 to 4 waves,
    at least ``min_files_per_task`` files per task when there are enough). Returns the target task count.

    Each task starts a Python worker that loads the model, and Spark's default packing (128 MB,
    each file costed at +4 MB) gives ~30 small images per task: a model load per 30 images. Files
    are costed alike (image sizes are small next to the open cost), so tasks get similar counts.
    """
    waves = min(4, max(1, math.ceil(n_files / (min_files_per_task * slots))))
    target = slots * waves
    spark.conf.set("spark.sql.files.minPartitionNum", str(target))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(2**40))  # the split size then comes from the target
    return target
