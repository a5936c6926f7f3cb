"""Face embeddings: one vector per aligned face, with the model loaded once per executor core.

    spark-submit workloads/jobs/faces_embed.py [--input faces/aligned] [--output faces/embeddings]
        [--model sface|dlib_resnet|facenet] [--weights PATH_OR_URL --weights-sha256 HEX] [--jitters N] [--flip]

Reads ``faces/`` of a ``faces-align`` output (its crops must be the kind the model reads: ``template`` for
sface, ``square`` for dlib_resnet and facenet) and writes ``embeddings/`` (parquet: path, label, face,
embedding, model, error; images without a face keep their error and have no embedding) and
``summary.json``. Prints the summary as one JSON line.
"""

import argparse
import json
import sys
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from workloads.common.io import committed_output, read_parquet, spread_files, task_slots
from workloads.common.job import JobContext, JobError, run_job
from workloads.common.timing import rate
from workloads.faces.embed import DEFAULT_EMBEDDER, EMBEDDERS, Embedder, ModelRef, get_embedder
from workloads.faces.pipeline import EMBED_PROFILED, EMBED_SCHEMA, embed_partitions
from workloads.faces.steps import add_io_options, io_uris


def add_model_options(p: argparse.ArgumentParser, default: str | None = DEFAULT_EMBEDDER) -> None:
    """--model, --weights, --weights-sha256, --jitters and --flip (shared with the streaming job)."""
    help_default = f"default {default}" if default else "default: the one the classifier was trained on"
    p.add_argument("--model", default=default, choices=sorted(EMBEDDERS), help=f"embedder ({help_default})")
    p.add_argument(
        "--weights",
        help="weights of the model: a path, or an http(s) URL fetched once and cached "
        "(facenet needs it; dlib_resnet ships its own)",
    )
    p.add_argument("--weights-sha256", help="SHA-256 the downloaded --weights URL must have")
    p.add_argument(
        "--jitters",
        type=int,
        default=0,
        help="dlib_resnet: average each face over N randomly jittered copies (N times slower, "
        "steadier embeddings; 0 = one pass)",
    )
    p.add_argument("--flip", action="store_true", help="average each face's embedding with its mirror image's")


def model_ref(spark: SparkSession, args: argparse.Namespace) -> ModelRef:
    """The embedder as executors need it; a ``JobError`` for bad model options. Runs before any task, so a
    missing or corrupt weights file is one error instead of one per task; the weights are shipped with
    ``addFile``."""
    backend = get_embedder(args.model)
    if args.jitters < 0 or (args.jitters > 1 and not backend.jitters):
        raise JobError(f"--jitters {args.jitters}: must be >= 0, and {args.model} does not support jittering")
    try:
        local = backend.resolve_weights(args.weights, args.weights_sha256)
    except (ValueError, OSError) as exc:  # WeightsNotFound, a bad hash, a failed download
        raise JobError(str(exc).splitlines()[0]) from None
    if local is not None:
        spark.sparkContext.addFile(local)
    return ModelRef(args.model, Path(local).name if local else None, args.jitters, args.flip)


def model_files(name: str) -> dict:
    """The model files' sha256 and the OpenCV version, for the OpenCV Zoo models (empty for the others)."""
    if name != "sface":
        return {}
    from workloads.faces.opencv_zoo import describe

    return describe()


def embeddings_model(emb: DataFrame, given: str) -> Embedder:
    """The embedder that made the ``faces-embed`` output ``emb`` (read from ``--input given``)."""
    if "model" not in emb.columns:
        raise JobError(f"--input {given}: made by an older faces-embed (no model column); run faces-embed again")
    names = {r[0] for r in emb.where("embedding IS NOT NULL").select("model").distinct().collect()}
    if len(names) != 1 or next(iter(names)) not in EMBEDDERS:
        raise JobError(f"--input {given}: embeddings of models {sorted(map(str, names))}; embed with one --model")
    return get_embedder(next(iter(names)))


def check_crops(faces: DataFrame, model: str, given: str) -> None:
    """A ``JobError`` unless every crop in ``faces`` is the kind ``model`` reads (``faces-align --crop``)."""
    want = get_embedder(model).crop
    kinds = (
        {r[0] for r in faces.where("crop IS NOT NULL").select("crop_kind").distinct().collect()}
        if "crop_kind" in faces.columns
        else {"square"}  # made before faces-align had --crop
    )
    if kinds - {want}:
        raise JobError(
            f"--input {given} holds {', '.join(sorted(map(str, kinds)))} crops but --model {model} reads {want} "
            f"crops: run `clusterctl submit faces-align --crop {want}` first, or pick another --model"
        )


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_io_options(p, "aligned", "embeddings", "faces-align")
    add_model_options(p)
    p.add_argument("--batch-size", type=int, default=32, help="faces per model call")
    return p


def embed(job: JobContext) -> None:
    """Embed every aligned face in the executors, then count what was embedded and write the summary."""
    spark, args, timer = job.spark, job.args, job.timer
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_size * 4))
    timer.end("session_s")
    ref = model_ref(spark, args)
    src, out = io_uris(args)
    faces = read_parquet(spark, f"{src}/faces", "--input", "faces-align", marker=f"{src}/summary.json")
    check_crops(faces, args.model, args.input)
    slots = task_slots(spark)
    rows = faces.count()
    timer.end("list_s")

    accumulators = {key: spark.sparkContext.accumulator(0.0) for key in EMBED_PROFILED}
    udf = embed_partitions(ref, args.batch_size, accumulators)
    spread_files(spark, rows, slots, min_files_per_task=200)  # scan splits: 1-4 waves of tasks, no shuffle
    with committed_output(spark, out) as stage:  # replaces --output when complete
        faces.mapInPandas(udf, EMBED_SCHEMA).write.parquet(f"{stage.uri}/embeddings")
        timer.end("embed_s")

        emb = spark.read.parquet(f"{stage.uri}/embeddings")
        counts = (
            emb.agg(
                F.countDistinct("path").alias("images"),
                F.count("embedding").alias("embedded"),
                F.countDistinct(F.when(F.col("embedding").isNotNull(), F.col("path"))).alias("with_face"),
                F.countDistinct("label").alias("labels"),
            )
            .first()
            .asDict()
        )
        backend = get_embedder(args.model)
        summary = {
            "input": src,
            "output": out,
            "model": {
                "name": backend.name,
                "dim": backend.dim,
                "metric": backend.metric,
                "threshold": backend.threshold,
                "weights": args.weights,
                "jitters": args.jitters,
                "flip": args.flip,
            }
            | model_files(backend.name),
            "images": counts["images"],
            "embedded_faces": counts["embedded"],
            "images_without_embedding": counts["images"] - counts["with_face"],
            "labels": counts["labels"],
            "executor_cores": slots,
            "core_seconds": {k: round(a.value, 3) for k, a in accumulators.items()},
            "timings": timer.seconds | {"total_s": timer.total()},
        } | rate(counts["embedded"], timer.seconds["embed_s"], slots)
        (stage.files / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit code."""
    return run_job("faces_embed", parser(), embed, argv, app_name="faces-embed")


if __name__ == "__main__":
    sys.exit(main())
