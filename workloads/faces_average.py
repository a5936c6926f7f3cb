"""Average face embedding: the mean over all embedded faces (and per person), as a distributed aggregation.

    spark-submit workloads/faces_average.py [--input faces/embeddings] [--output faces/average]

Writes ``average.json`` (the mean vector, its norm, processed / embedded / failed counts) and
``per_label/`` (parquet: label, faces, mean embedding) under --output. Prints the summary without the
vector as one JSON line.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from workloads.common import copy_to_uri, to_hadoop_uri
from workloads.face_jobs import DEFAULTS, fail, read_parquet
from workloads.fruits_report import PhaseTimer


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=DEFAULTS["embeddings"], help="output of faces-embed (default %(default)s)")
    p.add_argument("--output", default=DEFAULTS["average"], help="where to write (overwritten; default %(default)s)")
    args = p.parse_args(argv)

    timer = PhaseTimer()
    spark = SparkSession.builder.appName("faces-average").getOrCreate()
    src, out = to_hadoop_uri(args.input.rstrip("/")), to_hadoop_uri(args.output.rstrip("/"))
    emb, error = read_parquet(spark, f"{src}/embeddings", "--input", "faces-embed")
    if error:
        return fail(spark, "faces_average", error)
    counts = emb.agg(F.countDistinct("path").alias("processed"),
                     F.countDistinct(F.when(F.col("embedding").isNotNull(), F.col("path"))).alias("with_face"),
                     F.count("embedding").alias("faces")).first()
    ok = emb.where("embedding IS NOT NULL").withColumn("vec", array_to_vector("embedding"))
    mean = Summarizer.mean(F.col("vec")).alias("mean")
    overall = ok.agg(mean).first()["mean"] if counts["faces"] else None
    if overall is None:
        return fail(spark, "faces_average", f"--input {src}: no embedded faces to average")
    (ok.groupBy("label").agg(F.count("*").alias("faces"), mean)
     .select("label", "faces", vector_to_array("mean", "float32").alias("mean"))
     .coalesce(1).write.mode("overwrite").parquet(f"{out}/per_label"))
    timer.end("aggregate_s")
    vector = [round(float(v), 7) for v in overall.toArray()]
    summary = {"input": src, "output": out, "processed": counts["processed"], "embedded": counts["with_face"],
               "failed": counts["processed"] - counts["with_face"], "faces": counts["faces"],
               "dim": len(vector), "norm": round(float(sum(v * v for v in vector) ** 0.5), 6),
               "timings": timer.seconds | {"total_s": timer.total()}}
    with tempfile.TemporaryDirectory(prefix="faces-average-") as tmp:
        (Path(tmp) / "average.json").write_text(json.dumps(summary | {"mean": vector}, indent=2) + "\n")
        copy_to_uri(spark, [Path(tmp) / "average.json"], out)
    print(json.dumps(summary))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
