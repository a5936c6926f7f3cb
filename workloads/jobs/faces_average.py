"""Average face embedding: the mean over all embedded faces (and per person), as a distributed aggregation.

    spark-submit workloads/jobs/faces_average.py [--input faces/embeddings] [--output faces/average]

Writes ``average.json`` (the mean vector, its norm, processed / embedded / failed counts) and
``per_label/`` (parquet: label, faces, mean embedding) under --output. Prints the summary without the
vector as one JSON line.
"""

import argparse
import json
import sys

from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import functions as F

from workloads.common.io import committed_output, read_parquet
from workloads.common.job import JobContext, JobError, run_job
from workloads.faces.steps import add_io_options, io_uris


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_io_options(p, "embeddings", "average", "faces-embed")
    return p


def average(job: JobContext) -> None:
    """Distributed means of the embeddings, overall and per label; the summary."""
    spark, args, timer = job.spark, job.args, job.timer
    src, out = io_uris(args)
    emb = read_parquet(spark, f"{src}/embeddings", "--input", "faces-embed", marker=f"{src}/summary.json")
    counts = emb.agg(
        F.countDistinct("path").alias("processed"),
        F.countDistinct(F.when(F.col("embedding").isNotNull(), F.col("path"))).alias("with_face"),
        F.count("embedding").alias("faces"),
    ).first()
    ok = emb.where("embedding IS NOT NULL").withColumn("vec", array_to_vector("embedding"))
    mean = Summarizer.mean(F.col("vec")).alias("mean")
    overall = ok.agg(mean).first()["mean"] if counts["faces"] else None
    if overall is None:
        raise JobError(f"--input {src}: no embedded faces to average")
    with committed_output(spark, out, marker="average.json") as stage:  # replaces --output when complete
        (
            ok.groupBy("label")
            .agg(F.count("*").alias("faces"), mean)
            .select("label", "faces", vector_to_array("mean", "float32").alias("mean"))
            .coalesce(1)
            .write.parquet(f"{stage.uri}/per_label")
        )
        timer.end("aggregate_s")
        vector = [round(float(v), 7) for v in overall.toArray()]
        summary = {
            "input": src,
            "output": out,
            "processed": counts["processed"],
            "embedded": counts["with_face"],
            "failed": counts["processed"] - counts["with_face"],
            "faces": counts["faces"],
            "dim": len(vector),
            "norm": round(float(sum(v * v for v in vector) ** 0.5), 6),
            "timings": timer.seconds | {"total_s": timer.total()},
        }
        (stage.files / "average.json").write_text(json.dumps(summary | {"mean": vector}, indent=2) + "\n")
    print(json.dumps(summary))


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit code."""
    return run_job("faces_average", parser(), average, argv, app_name="faces-average")


if __name__ == "__main__":
    sys.exit(main())
