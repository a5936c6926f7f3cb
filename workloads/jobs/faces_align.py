"""Face alignment: detect faces in every image, crop them to size x size, write JPEGs + a parquet of detections.

    spark-submit workloads/jobs/faces_align.py --input URI [--output faces/aligned] [--detector auto]
        [--keep central|largest|all] [--crop template|square] [--size 160] [--margin 32] [--rotate]

Writes under --output: ``faces/`` (parquet: path, label, face, faces_found, detector, score, box,
landmarks, crop_box, angle, crop (JPEG bytes), crop_path, error), ``crops/<label>/<stem>.jpg`` and
``summary.json``. An image without a face (or undecodable) is a row with an ``error`` saying why.
Prints the summary as one JSON line.
"""

import argparse
import json
import sys

from pyspark.sql import functions as F

from workloads.common.images import IMAGE_GLOB
from workloads.common.io import committed_output, list_images, spread_files, task_slots, to_hadoop_uri
from workloads.common.job import JobContext, UsageError, run_job
from workloads.common.timing import rate
from workloads.faces.detect import CROPS, DETECTORS, TEMPLATE_DETECTORS
from workloads.faces.pipeline import ALIGN_PROFILED, ALIGN_SCHEMA, KEEP, align_partitions
from workloads.faces.steps import DEFAULTS

MAX_FAILURES_LISTED = 50


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="directory or Hadoop URI of images, one sub-folder per person")
    p.add_argument(
        "--output",
        default=DEFAULTS["aligned"],
        help="directory or Hadoop URI for the results (overwritten; default %(default)s)",
    )
    p.add_argument(
        "--detector",
        default="auto",
        choices=DETECTORS,
        help="auto = YuNet, then MTCNN where YuNet finds nothing (default); yunet; mtcnn; hog (dlib)",
    )
    p.add_argument(
        "--keep",
        default="central",
        choices=KEEP,
        help="central = the largest face near the centre, FaceNet's rule (default); largest; all faces",
    )
    p.add_argument(
        "--crop",
        default="template",
        choices=CROPS,
        help="template = 112x112, five landmarks warped onto SFace's template (default; for --model sface); "
        "square = a square around the face box, --size/--margin/--rotate (for dlib_resnet and facenet)",
    )
    p.add_argument("--size", type=int, default=160, help="square crop side in pixels")
    p.add_argument("--margin", type=int, default=32, help="pixels added to the face box's longer side")
    p.add_argument("--rotate", action="store_true", help="rotate so the eyes are level before cropping")
    p.add_argument("--min-score", type=float, default=0.9, help="MTCNN confidence below which a face is ignored")
    p.add_argument("--no-crops", action="store_true", help="do not write JPEG files (the parquet keeps the crops)")
    p.add_argument("--glob", default=IMAGE_GLOB, help="file name filter")
    return p


def detector_files(detector: str) -> dict:
    """YuNet's file sha256 and the OpenCV version when YuNet runs (empty for the other detectors)."""
    if detector not in ("auto", "yunet"):
        return {}
    from workloads.faces.opencv_zoo import describe

    info = describe()
    return {"opencv": info["opencv"], "yunet": info["models"]["yunet"]}  # type: ignore[index]


def check(args: argparse.Namespace) -> None:
    """Option values that parse but make no crop."""
    if args.size < 16 or args.margin < 0:
        raise UsageError("--size must be at least 16 and --margin at least 0")
    if args.crop == "template" and args.detector not in TEMPLATE_DETECTORS:
        raise UsageError(
            f"--crop template needs mouth landmarks, which --detector {args.detector} does not give: "
            f"use --detector {'|'.join(TEMPLATE_DETECTORS)} or --crop square"
        )


def align(job: JobContext) -> None:
    """Detect and crop in the executors, then count what was found and write the summary."""
    spark, args, timer = job.spark, job.args, job.timer
    timer.end("session_s")
    images, files = list_images(spark, args.input, args.glob)
    timer.end("list_s")
    slots = task_slots(spark)
    tasks = spread_files(spark, files, slots, min_files_per_task=200)

    out = to_hadoop_uri(args.output.rstrip("/"))
    accumulators = {key: spark.sparkContext.accumulator(0.0) for key in ALIGN_PROFILED}
    opts = {
        "detector": args.detector,
        "keep": args.keep,
        "crop": args.crop,
        "size": args.size,
        "margin": args.margin,
        "rotate": args.rotate,
        "min_score": args.min_score,
    }
    with committed_output(spark, out) as stage:  # replaces --output (crops too) when complete
        staged_crops = f"{stage.uri}/crops/"  # executors write the crops there; rows name where they end up
        crop_path = F.concat(F.lit(f"{out}/crops/"), F.expr(f"substring(crop_path, {len(staged_crops) + 1})"))
        (
            images.mapInPandas(
                align_partitions(opts, None if args.no_crops else staged_crops.rstrip("/"), accumulators), ALIGN_SCHEMA
            )
            .withColumn("crop_path", F.when(F.col("crop_path").isNotNull(), crop_path))
            .write.parquet(f"{stage.uri}/faces")
        )
        timer.end("align_s")

        faces = spark.read.parquet(f"{stage.uri}/faces")

        counts = (
            faces.agg(
                F.countDistinct("path").alias("images"),
                F.count("face").alias("faces"),
                F.sum(F.when(F.col("error").startswith("no face"), 1).otherwise(0)).alias("no_face"),
                F.sum(F.when(F.col("error").startswith("undecodable"), 1).otherwise(0)).alias("undecodable"),
            )
            .first()
            .asDict()
        )
        detectors = {
            r["detector"]: r["count"] for r in faces.where("face IS NOT NULL").groupBy("detector").count().collect()
        }
        failures = [
            r.asDict()
            for r in faces.where("error IS NOT NULL")
            .select("path", "error")
            .orderBy("path")
            .limit(MAX_FAILURES_LISTED)
            .collect()
        ]
        timer.end("report_s")
        failed = counts["no_face"] + counts["undecodable"]
        summary = {
            "input": args.input,
            "output": out,
            "options": opts | {"crops": not args.no_crops},
            "files": files,
            "images_with_face": counts["images"] - failed,
            "faces": counts["faces"],
            "no_face": counts["no_face"],
            "undecodable": counts["undecodable"],
            "failed_rate": round(failed / files, 5),
            "faces_by_detector": detectors,
            "models": detector_files(args.detector),
            "failures": failures,
            "executor_cores": slots,
            "tasks": tasks,
            "core_seconds": {k: round(a.value, 3) for k, a in accumulators.items()},
            "timings": timer.seconds | {"total_s": timer.total()},
        } | rate(files, timer.seconds["align_s"], slots)
        (stage.files / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}))


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit code."""
    return run_job("faces_align", parser(), align, argv, app_name="faces-align", check=check)


if __name__ == "__main__":
    sys.exit(main())
