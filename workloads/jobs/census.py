"""Image census: count, decode and measure every image under --input, per label.

    spark-submit workloads/jobs/census.py --input DIR_OR_URI [--output URI]

Decodes each image's header with Pillow inside the executors (undecodable files are counted,
not fatal), aggregates per label, prints one JSON summary line on stdout and, with --output,
writes the per-label table as parquet.
"""

import argparse
import io
import json
import sys

import pandas as pd
from pyspark.sql import functions as F

from workloads.common.io import read_images
from workloads.common.job import JobContext, JobError, run_job


def _decode(batches):
    from PIL import Image

    for pdf in batches:
        widths, heights, errors = [], [], []
        for blob in pdf["content"]:
            try:
                with Image.open(io.BytesIO(blob)) as img:
                    img.verify()
                    w, h = img.size
                widths.append(w)
                heights.append(h)
                errors.append(None)
            except Exception as exc:
                widths.append(None)
                heights.append(None)
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
        yield pd.DataFrame(
            {
                "path": pdf["path"],
                "label": pdf["label"],
                "length": pdf["length"],
                "width": widths,
                "height": heights,
                "error": errors,
            }
        )


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="directory or Hadoop URI of images (recursive)")
    p.add_argument("--output", help="where to write the per-label parquet table")
    return p


def census(job: JobContext) -> None:
    """Decode every image in the executors, aggregate per label, print the summary."""
    spark, args = job.spark, job.args
    job.timer.end("session_s")
    images = read_images(spark, args.input)
    schema = "path string, label string, length long, width int, height int, error string"
    decoded = images.mapInPandas(_decode, schema).cache()
    per_label = (
        decoded.groupBy("label")
        .agg(
            F.count("*").alias("images"),
            F.sum(F.col("error").isNotNull().cast("int")).alias("failed"),
            F.avg("width").alias("mean_width"),
            F.avg("height").alias("mean_height"),
            F.sum("length").alias("bytes"),
        )
        .orderBy("label")
    )
    rows = per_label.collect()
    if not rows:
        raise JobError(f"no images under {args.input}")
    if args.output:
        per_label.write.mode("overwrite").parquet(args.output)
    job.timer.end("census_s")
    summary = {
        "images": sum(r["images"] for r in rows),
        "labels": len(rows),
        "failed": sum(r["failed"] for r in rows),
        "bytes": sum(r["bytes"] for r in rows),
        "largest_labels": [
            [r["label"], r["images"]] for r in sorted(rows, key=lambda r: (-r["images"], r["label"]))[:5]
        ],
        "seconds": round(job.timer.seconds["census_s"], 2),
    }
    print(json.dumps(summary, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    """Run the census; return the process exit code."""
    return run_job("image_census", parser(), census, argv)


if __name__ == "__main__":
    sys.exit(main())
