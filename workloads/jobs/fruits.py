"""Fruits pipeline: pretrained-CNN image features → StandardScaler + PCA(k) → parquet, summary and plots.

    spark-submit workloads/jobs/fruits.py --input URI --output URI [--model efficientnet_lite0] [--k 300]

Reads every image under --input (recursive; label = parent folder), extracts features in the
executors with an iterator pandas UDF (model loaded once per Python worker, batched, one thread per
task core), fits StandardScaler + PCA from sums each features task makes as it goes (``fruits.scaler_pca``:
one eigendecomposition on the driver) and writes under --output: ``features/`` (parquet
partitioned by label: path, label, features, pca, error), ``pipeline/`` (the fit as a Spark ML
PipelineModel: StandardScalerModel + PCAModel), ``summary.json``, ``pca_2d.png``, ``tsne.png`` and
``explained_variance.png``; all of it replaces --output at once, when complete
(``common.io.committed_output``). Undecodable files become rows with an error and no features. Prints
the summary as one JSON line.
"""

import argparse
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.ml.common import _py2java
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.wrapper import JavaParams
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from workloads.common.images import IMAGE_GLOB
from workloads.common.io import Staging, committed_output, list_images, spread_files, task_slots
from workloads.common.job import JobContext, JobError, UsageError, run_job
from workloads.common.timing import rate
from workloads.common.weights import WeightsNotFound
from workloads.fruits.backends import BACKENDS, DEFAULT_BACKEND, get_backend
from workloads.fruits.features import PROFILED, featurize_partitions
from workloads.fruits.report import nn_same_label_rate, write_plots
from workloads.fruits.scaler_pca import (
    MOMENTS_SCHEMA,
    ScalerPCA,
    combine_partitions,
    fit,
    sum_moments,
)

FEATURES_SCHEMA = "path string, label string, features array<float>, error string, moments binary"
MAX_FAILURES_LISTED = 50
# Above this many partial Gram matrices (one per features task, d×d float64 each) they are added up in
# the executors first, ~sqrt(tasks) at a time, so the driver receives at most ~sqrt(tasks) of them.
MOMENTS_FAN_IN = 32


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="directory or Hadoop URI of images, one sub-folder per class")
    p.add_argument("--output", required=True, help="directory or Hadoop URI for the results (overwritten)")
    p.add_argument("--model", default=DEFAULT_BACKEND, choices=sorted(BACKENDS), help="feature extractor")
    p.add_argument("--weights", help="weights file of the model (default: the backend's own location)")
    p.add_argument("--k", type=int, default=300, help="principal components (capped at min(images, dim))")
    p.add_argument("--batch-size", type=int, default=32, help="images per inference batch")
    p.add_argument("--glob", default=IMAGE_GLOB, help="file name filter")
    p.add_argument("--plot-sample", type=int, default=5000, help="images collected for the plots")
    p.add_argument("--tsne-sample", type=int, default=1000, help="images in the t-SNE plot")
    p.add_argument("--seed", type=int, default=42)
    return p


def check(args: argparse.Namespace) -> None:
    """Before Spark starts: option values, and the weights file (once here, not once per task)."""
    if args.k < 1 or args.batch_size < 1:
        raise UsageError("--k and --batch-size must be at least 1")
    try:
        get_backend(args.model).resolve_weights(args.weights)
    except WeightsNotFound as exc:
        raise JobError(str(exc)) from None


def pipeline_job(job: JobContext) -> None:
    """Features in the executors, StandardScaler + PCA, parquet and plots written together, the summary.

    Everything is written into a staging directory that replaces --output only when complete
    (``committed_output``, ``summary.json`` last): a run that fails part-way leaves the previous output as it was.
    """
    spark, args, timer = job.spark, job.args, job.timer
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_size * 4))
    timer.end("session_s")

    images, files = list_images(spark, args.input, args.glob)
    timer.end("list_s")
    with committed_output(spark, args.output) as stage:  # before the features: an unwritable --output fails fast
        summary = fit_and_write(job, images, files, stage)
    brief = ("explained_variance_curve", "failures", "per_class")
    print(json.dumps({key: v for key, v in summary.items() if key not in brief}))


def fit_and_write(job: JobContext, images: DataFrame, files: int, stage: Staging) -> dict:
    """Features, the fitted pipeline, parquet, plots and ``summary.json`` written into ``stage``; the summary."""
    spark, args, timer = job.spark, job.args, job.timer
    backend = get_backend(args.model)
    cores = task_slots(spark)
    tasks = spread_files(spark, files, cores)

    accumulators = {key: spark.sparkContext.accumulator(0.0) for key in PROFILED}
    udf = featurize_partitions(args.model, args.weights, args.batch_size, accumulators)
    extracted = images.mapInPandas(udf, FEATURES_SCHEMA).persist(StorageLevel.MEMORY_AND_DISK)
    feats = extracted.where(F.col("moments").isNull()).drop("moments")
    per_class: dict[str, dict[str, int]] = {}
    for row in feats.groupBy("label", F.col("error").isNull().alias("ok")).count().collect():
        counts = per_class.setdefault(row["label"], {"images": 0, "failed": 0})
        counts["images" if row["ok"] else "failed"] = row["count"]
    per_class = dict(sorted(per_class.items()))
    n_ok = sum(c["images"] for c in per_class.values())
    n_failed = sum(c["failed"] for c in per_class.values())
    timer.end("features_s")
    failures = [
        {"path": r["path"], "error": r["error"]}
        for r in feats.where(F.col("error").isNotNull())
        .select("path", "error")
        .orderBy("path")
        .limit(MAX_FAILURES_LISTED)
        .collect()
    ]
    if n_ok == 0:
        raise JobError(
            f"none of the {files} files under {args.input} could be decoded "
            f"(first: {failures[0]['path']}: {failures[0]['error']})"
        )

    k = min(args.k, n_ok, backend.dim)
    warnings = []
    if k < args.k:
        warnings.append(f"--k {args.k} capped at {k} = min(decoded images {n_ok}, feature dim {backend.dim})")
        print(f"{job.name}: warning: {warnings[-1]}", file=sys.stderr)
    partial = extracted.where(F.col("moments").isNotNull()).select("moments")
    model = fit(sum_moments(summed_by_tree(partial, tasks).toPandas()["moments"]), k)  # Arrow: ~2x collect()
    pipeline = pipeline_model(spark, model)
    variance = model.explained_variance
    timer.end("fit_s")

    out = args.output.rstrip("/")
    ok = feats.where(F.col("error").isNull())
    projected = pipeline.transform(ok.withColumn("vec", array_to_vector("features"))).select(
        "path", "label", "features", vector_to_array("pca_vec", "float32").alias("pca"), "error"
    )
    bad = feats.where(F.col("error").isNotNull()).select(
        "path", "label", "features", F.lit(None).cast("array<float>").alias("pca"), "error"
    )
    sample = ok.select("label", "features").sample(fraction=min(1.0, args.plot_sample / n_ok), seed=args.seed)
    sample = sample.toPandas()
    labels = sample["label"].to_numpy()
    points = model.transform(np.stack(sample["features"].to_numpy())) if len(sample) else np.zeros((0, k), np.float32)
    timer.end("sample_s")

    def write_outputs() -> float:
        start = time.monotonic()
        # One shuffle by label: each label directory gets one file instead of one per input partition.
        # No dictionary encoding: CNN features never repeat, so parquet-mr builds each page's dictionary
        # only to throw it away (whole Test split: write 5.4 s -> 3.5 s, 86 MB -> 71 MB).
        rows = projected.unionByName(bad).repartition("label")
        rows.write.option("parquet.enable.dictionary", "false").partitionBy("label").parquet(f"{stage.uri}/features")
        pipeline.write().save(f"{stage.uri}/pipeline")
        return time.monotonic() - start

    with ThreadPoolExecutor(1) as pool:
        writing = pool.submit(write_outputs)  # executors write while the driver draws
        start = time.monotonic()
        plots = write_plots(labels, points, variance, stage.files, args.tsne_sample, args.seed)
        plots_s = time.monotonic() - start
        write_s = writing.result()
        extracted.unpersist()
        timer.end("output_s")
        speed = rate(n_ok, timer.seconds["features_s"], cores)
        summary = {
            "input": args.input,
            "output": out,
            "model": {
                "name": backend.name,
                "framework": backend.framework,
                "dim": backend.dim,
                "input_size": backend.input_size,
                "batch_size": args.batch_size,
            },
            "files": files,
            "images": n_ok,
            "failed": n_failed,
            "failures": failures,
            "classes": len(per_class),
            "per_class": per_class,
            "k_requested": args.k,
            "k": k,
            "explained_variance_at_k": round(float(variance.sum()), 6),
            "explained_variance_curve": [round(float(v), 6) for v in np.cumsum(variance)],
            "nn_same_label_rate": round(nn_same_label_rate(labels, points), 4),
            "plot_sample": len(sample),
            "plots": {name: f"{out}/{fname}" for name, fname in plots.items()},
            "executor_cores": cores,
            "feature_tasks": tasks,
            # summed over all tasks: where the executors' core-seconds of the features phase went
            "features_core_seconds": {key: round(acc.value, 3) for key, acc in accumulators.items()}
            | {"total": round(timer.seconds["features_s"] * cores, 3)},
            "timings": timer.seconds
            | {"write_s": round(write_s, 3), "plots_s": round(plots_s, 3), "total_s": timer.total()},
            "images_per_s_features": speed["images_per_s"],
            "images_per_s_per_core": speed["images_per_s_per_core"],
            "warnings": warnings,
        }
        (stage.files / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")  # the marker: last
    return summary


def summed_by_tree(partial: DataFrame, tasks: int) -> DataFrame:
    """``partial`` (one ``moments`` row per features task), added up ~sqrt(tasks) rows at a time in the
    executors when there are more than MOMENTS_FAN_IN of them."""
    if tasks <= MOMENTS_FAN_IN:
        return partial
    return partial.repartition(math.isqrt(tasks) + 1).mapInPandas(combine_partitions, MOMENTS_SCHEMA)


def pipeline_model(spark: SparkSession, model: ScalerPCA) -> PipelineModel:
    """The fitted scaler + PCA as Spark ML's ``PipelineModel(StandardScalerModel, PCAModel)``.

    Saved under ``pipeline/``, it loads with ``PipelineModel.load`` and transforms a ``vec`` vector
    column into ``scaled`` and ``pca_vec`` as a pipeline fitted by Spark ML would. The two models are
    built from the numpy fit with their JVM constructors (public in bytecode, ``private[ml]`` in Scala).
    """
    sc = spark.sparkContext
    feature = sc._jvm.org.apache.spark.ml.feature  # type: ignore[attr-defined]
    new_uid = sc._jvm.org.apache.spark.ml.util.Identifiable.randomUID  # type: ignore[attr-defined]
    dim, k = model.components.shape
    scaler = feature.StandardScalerModel(
        new_uid("StandardScaler"), _py2java(sc, DenseVector(model.std)), _py2java(sc, DenseVector(model.mean))
    )
    scaler.setInputCol("vec").setOutputCol("scaled")
    scaler.set(scaler.withMean().w(True)).set(scaler.withStd().w(True))
    components = DenseMatrix(dim, k, model.components.ravel(order="F").tolist())
    pca = feature.PCAModel(
        new_uid("PCA"), _py2java(sc, components), _py2java(sc, DenseVector(model.explained_variance))
    )
    pca.setInputCol("scaled").setOutputCol("pca_vec")
    pca.set(pca.k().w(k))
    return PipelineModel([JavaParams._from_java(scaler), JavaParams._from_java(pca)])


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; return the process exit code."""
    return run_job("fruits_features", parser(), pipeline_job, argv, app_name="fruits-features", check=check)


if __name__ == "__main__":
    sys.exit(main())
