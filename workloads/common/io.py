"""Spark I/O the jobs share: images and parquet from any Hadoop URI, results back out, how work is spread.

``pyspark`` is imported where it is used, so ``to_hadoop_uri`` (and the modules that only need it, such as
``faces.steps``) import without Spark.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

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


def read_parquet(spark: SparkSession, uri: str, option: str, made_by: str) -> DataFrame:
    """The parquet at ``uri``; a ``JobError`` naming ``option`` and the job that writes it if it is missing."""
    from pyspark.errors import AnalysisException

    try:
        return spark.read.parquet(uri)
    except AnalysisException as exc:
        first = str(exc).splitlines()[0]
        raise JobError(f"{option} {uri}: {first} (run `clusterctl submit {made_by}` first)") from None


def copy_to_uri(spark: SparkSession, files: list[Path], dest_uri: str) -> None:
    """Copy local driver-side files into the directory ``dest_uri`` (file:, hdfs:, s3a:, EMRFS s3:)."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path
    dest = hpath(to_hadoop_uri(dest_uri))
    fs = dest.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    fs.mkdirs(dest)
    for f in files:
        fs.copyFromLocalFile(False, True, hpath(f.resolve().as_uri()), hpath(dest, f.name))


@contextmanager
def staged_outputs(spark: SparkSession, dest_uri: str) -> Iterator[Path]:
    """A local directory whose files are copied into ``dest_uri`` when the block ends without error."""
    with tempfile.TemporaryDirectory(prefix="clusterctl-outputs-") as tmp:
        yield Path(tmp)
        copy_to_uri(spark, sorted(Path(tmp).iterdir()), dest_uri)


def remove_uri(spark: SparkSession, uri: str) -> None:
    """Delete the file or directory ``uri`` (recursively) if it exists."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(to_hadoop_uri(uri))
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


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
