"""Driver-side pieces the face jobs share: where each step's output goes by default, listing input
images, failing cleanly, and rates.

The defaults chain the steps: ``faces-align`` writes ``faces/aligned``, which ``faces-embed`` reads
by default, and so on. Relative paths are the caller's (see ``common.to_hadoop_uri``).
"""

import argparse

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from workloads.common import read_images, to_hadoop_uri

DEFAULTS = {
    "aligned": "faces/aligned",
    "embeddings": "faces/embeddings",
    "average": "faces/average",
    "classifier": "faces/classifier",
    "verify": "faces/verify",
    "stream": "faces/stream",
}


def add_io_options(p: argparse.ArgumentParser, source: str, dest: str, made_by: str) -> None:
    """--input (default: where ``made_by`` writes, ``DEFAULTS[source]``) and --output (``DEFAULTS[dest]``)."""
    p.add_argument("--input", default=DEFAULTS[source], help=f"output of {made_by} (default %(default)s)")
    p.add_argument("--output", default=DEFAULTS[dest], help="where to write (overwritten; default %(default)s)")


def io_uris(args: argparse.Namespace) -> tuple[str, str]:
    """--input and --output as Hadoop URIs (relative paths are the caller's)."""
    return to_hadoop_uri(args.input.rstrip("/")), to_hadoop_uri(args.output.rstrip("/"))


def list_images(spark: SparkSession, uri: str, glob: str) -> tuple[DataFrame | None, int, str | None]:
    """(images, number of files, None) or (None, 0, a one-line error) for a missing or empty input."""
    try:
        images = read_images(spark, uri, glob)
    except AnalysisException as exc:  # e.g. PATH_NOT_FOUND
        return None, 0, f"--input {uri}: {str(exc).splitlines()[0]}"
    files = len(images.inputFiles())
    if files == 0:
        return None, 0, f"--input {uri}: no files matching {glob}"
    return images, files, None


def read_parquet(spark: SparkSession, uri: str, option: str, made_by: str) -> tuple[DataFrame | None, str | None]:
    """(the parquet at ``uri``, None) or (None, an error naming ``option`` and the job that writes it)."""
    try:
        return spark.read.parquet(uri), None
    except AnalysisException as exc:
        return None, f"{option} {uri}: {str(exc).splitlines()[0]} (run `clusterctl submit {made_by}` first)"


def rate(items: int, seconds: float, cores: int) -> dict[str, float]:
    """Images per second overall and per executor core."""
    per_s = items / max(seconds, 1e-9)
    return {"images_per_s": round(per_s, 2), "images_per_s_per_core": round(per_s / max(cores, 1), 2)}
