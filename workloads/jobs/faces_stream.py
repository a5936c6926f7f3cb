"""Streaming face recognition: Structured Streaming over a directory of snapshots, each aligned, embedded
and classified by a saved ``faces-classify`` model, results appended to parquet and printed.

    spark-submit workloads/jobs/faces_stream.py [--watch faces/incoming] [--classifier faces/classifier]
        [--output faces/stream] [--timeout SECONDS | --once]

--watch is a directory or prefix (local, hdfs:, s3a:/s3:); new image files in it are picked up
once each (the checkpoint under --output remembers which, so a restart resumes). Models are loaded
in every executor before the query starts and stay loaded between micro-batches. Each result row
(``results/`` parquet: path, modified, face, predicted, probability, distance, embedding, error,
processed_at) is also printed as one JSON line. Each micro-batch's rows are one file,
``results/batch-<id>.parquet``, replaced if the batch runs again after a crash: one row per file.
"""

import argparse
import io
import json
import sys
import time

from pyspark.sql import SparkSession

from workloads.common.images import IMAGE_GLOB
from workloads.common.io import HadoopFileSystem, task_slots, to_hadoop_uri, write_batch
from workloads.common.job import JobContext, JobError, run_job
from workloads.faces.detect import DETECTORS
from workloads.faces.embed import get_embedder
from workloads.faces.pipeline import STREAM_SCHEMA, recognize_partitions, warm_up
from workloads.faces.steps import DEFAULTS
from workloads.jobs.faces_embed import add_model_options, model_ref

BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length long, content binary"


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--watch", default="faces/incoming", help="directory or prefix to watch (default %(default)s)")
    p.add_argument(
        "--classifier", default=DEFAULTS["classifier"], help="output of faces-classify (default %(default)s)"
    )
    p.add_argument(
        "--output", default=DEFAULTS["stream"], help="results/ and checkpoint/ go here (default %(default)s)"
    )
    p.add_argument("--checkpoint", help="checkpoint location (default: OUTPUT/checkpoint)")
    add_model_options(p, default=None)
    p.add_argument("--detector", default="auto", choices=DETECTORS, help="face detector (see faces-align)")
    p.add_argument("--size", type=int, default=160, help="crop side, as in faces-align")
    p.add_argument("--margin", type=int, default=32, help="crop margin, as in faces-align")
    p.add_argument(
        "--trigger-seconds",
        type=float,
        default=0.25,
        help="how often the directory is listed (default %(default)s; on S3 each listing is a LIST request)",
    )
    p.add_argument("--max-files-per-trigger", type=int, default=64)
    p.add_argument("--glob", default=IMAGE_GLOB, help="file name filter")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--timeout", type=float, help="stop after this many seconds (default: run until killed)")
    stop.add_argument("--once", action="store_true", help="process the files there now, then stop")
    return p


def load_classifier(spark: SparkSession, uri: str) -> dict:
    """The dict ``faces-classify`` saved as ``model.joblib`` under ``uri`` (any Hadoop URI); ``report.json``,
    which that job commits last, must be there too (without it the output is incomplete)."""
    import joblib

    blob = spark.read.format("binaryFile").load(f"{uri}/model.joblib").first()["content"]
    if HadoopFileSystem(spark, uri).kind(f"{uri}/report.json") != "file":
        raise ValueError("incomplete output: report.json is missing (an interrupted run, or one still being committed)")
    return joblib.load(io.BytesIO(blob))


def print_batch(rows: list) -> None:
    """One JSON line per result row (without the embedding)."""
    for r in rows:
        print(
            json.dumps(
                {
                    "path": r["path"],
                    "predicted": r["predicted"],
                    "probability": r["probability"],
                    "distance": r["distance"],
                    "error": r["error"],
                    "modified": str(r["modified"]),
                    "processed_at": str(r["processed_at"]),
                }
            ),
            flush=True,
        )


def stream(job: JobContext) -> None:
    """Check the classifier and the embedder, load the models in every executor, run the query until it ends."""
    spark, args = job.spark, job.args
    watch, out = to_hadoop_uri(args.watch.rstrip("/")), to_hadoop_uri(args.output.rstrip("/"))
    checkpoint = to_hadoop_uri(args.checkpoint) if args.checkpoint else f"{out}/checkpoint"
    try:
        saved = load_classifier(spark, to_hadoop_uri(args.classifier.rstrip("/")))
    except Exception as exc:  # a missing path is an AnalysisException, a foreign file an unpickling error
        raise JobError(
            f"--classifier {args.classifier}: {str(exc).splitlines()[0]} (run `clusterctl submit faces-classify` first)"
        ) from None
    missing = {"classifier", "labels", "dim", "means", "unknown_threshold", "unknown_distance"} - set(saved)
    if missing:
        raise JobError(
            f"--classifier {args.classifier}: model.joblib lacks {sorted(missing)} "
            "(made by an older faces-classify); run `clusterctl submit faces-classify` again"
        )
    trained_on = saved.get("model", "dlib_resnet")  # older classifiers did not say: dlib was the default
    args.model = args.model or trained_on
    if args.model != trained_on:
        raise JobError(
            f"--classifier {args.classifier} was trained on {trained_on} embeddings but --model is {args.model}; "
            f"leave --model out (or pass --model {trained_on})"
        )
    ref = model_ref(spark, args)
    jvm = spark.sparkContext._jvm
    watch_path = jvm.org.apache.hadoop.fs.Path(watch)
    watch_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).mkdirs(watch_path)

    opts = {
        "detector": args.detector,
        "keep": "central",
        "crop": get_embedder(args.model).crop,  # the crop the model reads, as faces-align made it
        "size": args.size,
        "margin": args.margin,
        "rotate": False,
        "min_score": 0.9,
    }
    slots = task_slots(spark)
    classifier = spark.sparkContext.broadcast(saved)
    spark.range(slots, numPartitions=slots).mapInPandas(warm_up(opts, ref, classifier), "id long").collect()
    recognize = recognize_partitions(opts, ref, classifier)

    def each_batch(batch, batch_id: int) -> None:
        # A query that dies after this write but before the checkpoint commits the batch runs the batch again
        # (same id, same files) when restarted: the batch's one file is replaced, so each file keeps one row.
        rows = batch.select("path", "modificationTime", "content").mapInPandas(recognize, STREAM_SCHEMA).collect()
        if rows:
            write_batch(spark.createDataFrame(rows, STREAM_SCHEMA), f"{out}/results", batch_id)
            print_batch(rows)

    source = (
        spark.readStream.format("binaryFile")
        .schema(BINARY_FILE_SCHEMA)
        .option("pathGlobFilter", args.glob)
        .option("maxFilesPerTrigger", args.max_files_per_trigger)
        .load(watch)
    )
    writer = source.writeStream.foreachBatch(each_batch).option("checkpointLocation", checkpoint)
    writer = (
        writer.trigger(availableNow=True)
        if args.once
        else writer.trigger(processingTime=f"{int(args.trigger_seconds * 1000)} milliseconds")
    )
    query = writer.start()
    print(
        json.dumps(
            {
                "watching": watch,
                "output": f"{out}/results",
                "checkpoint": checkpoint,
                "classes": len(saved["labels"]),
                "started_at": time.time(),
            }
        ),
        flush=True,
    )
    query.awaitTermination(args.timeout)  # None: until the query ends (--once) or the job is killed
    query.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the query; return the process exit code."""
    return run_job("faces_stream", parser(), stream, argv, app_name="faces-stream")


if __name__ == "__main__":
    sys.exit(main())
