"""Image census: count, decode and measure every image under --input, per label.

    spark-submit workloads/image_census.py --input DIR_OR_URI [--output URI]

Decodes each image's header with Pillow inside the executors (undecodable files are counted,
not fatal), aggregates per label, prints one JSON summary line on stdout and, with --output,
writes the per-label table as parquet.
"""

import argparse
import io
import json
import sys
import time

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from workloads.common import read_images


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


def main(argv: list[str] | None = None) -> int:
    """Run the census; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="directory or Hadoop URI of images (recursive)")
    parser.add_argument("--output", help="where to write the per-label parquet table")
    args = parser.parse_args(argv)

    spark = SparkSession.builder.getOrCreate()
    start = time.time()
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
        print(f"image_census: no images under {args.input}", file=sys.stderr)
        return 2
    if args.output:
        per_label.write.mode("overwrite").parquet(args.output)
    summary = {
        "images": sum(r["images"] for r in rows),
        "labels": len(rows),
        "failed": sum(r["failed"] for r in rows),
        "bytes": sum(r["bytes"] for r in rows),
        "largest_labels": [
            [r["label"], r["images"]] for r in sorted(rows, key=lambda r: (-r["images"], r["label"]))[:5]
        ],
        "seconds": round(time.time() - start, 2),
    }
    print(json.dumps(summary, sort_keys=True))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
