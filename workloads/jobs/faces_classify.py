"""Identity classifier: an SVM with calibrated probabilities on the people with at least N embedded faces.

    spark-submit workloads/jobs/faces_classify.py [--input faces/embeddings] [--output faces/classifier]
        [--min-images 40] [--train-per-class 30] [--split first|random] [--unknown-threshold 0.5]
        [--unknown-distance D]

Spark selects the people with >= --min-images embedded faces (the photo's main face, ``face = 0``)
and collects their embeddings; the first --train-per-class of each (by path, or a seeded random
split) train a linear SVM whose probabilities are temperature-calibrated by cross-validation
(``CalibratedClassifierCV``); the rest are the test set. A face is named only when its top
probability reaches --unknown-threshold and it lies within --unknown-distance of that person's
mean training embedding (``faces.identity``); faces of the other people measure both gates.

Writes ``model.joblib`` (classifier, labels, embedding dim, per-person means, both gates),
``report.json`` (accuracy, per-class precision/recall, confusion matrix, open-set figures),
``confusion.png`` and ``predictions/`` (parquet of the test faces). Prints the report without the
per-class part as one line.
"""

import argparse
import json
import sys

import numpy as np
from pyspark.sql import functions as F

from workloads.common.io import committed_output, read_parquet
from workloads.common.job import JobContext, JobError, UsageError, run_job
from workloads.faces.identity import class_means, identify, leave_one_out_distance
from workloads.faces.report import confusion_png, open_set
from workloads.faces.steps import add_io_options, io_uris
from workloads.jobs.faces_embed import embeddings_model


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_io_options(p, "embeddings", "classifier", "faces-embed")
    p.add_argument("--min-images", type=int, default=40, help="people with at least this many faces are classes")
    p.add_argument("--train-per-class", type=int, default=30, help="training faces per person; the rest test")
    p.add_argument(
        "--split",
        choices=("first", "random"),
        default="first",
        help="first = the first faces by path (LFW's numbering), random = a seeded shuffle",
    )
    p.add_argument(
        "--unknown-threshold",
        type=float,
        default=0.5,
        help="top-class probability below which a face is reported as unknown",
    )
    p.add_argument(
        "--unknown-distance",
        type=float,
        default=None,
        help="distance from the person's mean training embedding beyond which a face is unknown "
        "(default: learnt from the training faces, leave-one-out, 99th percentile)",
    )
    p.add_argument("--unknown-sample", type=int, default=2000, help="faces of other people to measure it on")
    p.add_argument("--c", type=float, default=1.0, help="SVM regularisation C")
    p.add_argument("--seed", type=int, default=42)
    return p


def check(args: argparse.Namespace) -> None:
    """Option values that parse but cannot train or gate."""
    if args.train_per_class < 2 or args.min_images <= args.train_per_class:
        raise UsageError(
            "--train-per-class must be at least 2 and --min-images larger than it (the rest are the test set)"
        )
    if not 0 <= args.unknown_threshold <= 1:
        raise UsageError("--unknown-threshold is a probability: between 0 and 1")
    if args.unknown_distance is not None and args.unknown_distance <= 0:
        raise UsageError("--unknown-distance must be positive")


def split(paths: np.ndarray, labels: np.ndarray, per_class: int, how: str, seed: int) -> np.ndarray:
    """Boolean mask of training rows: ``per_class`` rows of each label, the first by path or seeded random."""
    rng = np.random.default_rng(seed)
    train = np.zeros(len(paths), bool)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        idx = idx[np.argsort(paths[idx])] if how == "first" else rng.permutation(idx)
        train[idx[:per_class]] = True
    return train


def classify(job: JobContext) -> None:
    """Collect the embeddings, train and calibrate on the driver, evaluate, save the model and the report."""
    import joblib
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.metrics import classification_report, confusion_matrix
    from sklearn.svm import SVC

    spark, args, timer = job.spark, job.args, job.timer
    src, out = io_uris(args)
    emb = read_parquet(spark, f"{src}/embeddings", "--input", "faces-embed", marker=f"{src}/summary.json")
    backend = embeddings_model(emb, args.input)
    faces = emb.where("embedding IS NOT NULL AND face = 0").select("path", "label", "embedding")
    counts = faces.groupBy("label").count()
    known = counts.where(F.col("count") >= args.min_images).select("label")
    rows = faces.join(F.broadcast(known), "label").toPandas()
    if rows["label"].nunique() < 2:
        raise JobError(
            f"--min-images {args.min_images}: {rows['label'].nunique()} people "
            f"in {src} have that many faces; a classifier needs at least 2 (lower --min-images)"
        )
    others = faces.join(known, "label", "left_anti")
    n_others = others.count()
    unknown = (
        others.sample(fraction=min(1.0, args.unknown_sample / n_others), seed=args.seed).toPandas()
        if n_others
        else rows.iloc[:0]
    )
    timer.end("collect_s")

    paths, labels = rows["path"].to_numpy(), rows["label"].to_numpy()
    x = np.stack(rows["embedding"].to_numpy()).astype(np.float64)
    train = split(paths, labels, args.train_per_class, args.split, args.seed)
    # Temperature scaling keeps the SVM's own ranking of the people. Per-class sigmoids
    # (CalibratedClassifierCV's default) on SVC's one-vs-rest scores, which libsvm derives from
    # one-vs-one votes, cost 17 errors on LFW's 19 people and flattened the probabilities.
    folds = min(5, args.train_per_class)
    clf = CalibratedClassifierCV(SVC(kernel="linear", C=args.c), method="temperature", cv=folds)
    clf.fit(x[train], labels[train])
    distance = (
        args.unknown_distance
        if args.unknown_distance is not None
        else leave_one_out_distance(x[train], labels[train], backend.metric)
    )
    saved = {
        "model": backend.name,
        "metric": backend.metric,
        "classifier": clf,
        "labels": [str(c) for c in clf.classes_],
        "dim": x.shape[1],
        "means": class_means(x[train], labels[train], clf.classes_),
        "unknown_threshold": args.unknown_threshold,
        "unknown_distance": distance,
    }
    timer.end("train_s")
    test = identify(saved, x[~train])
    predicted, truth, classes = test.best, labels[~train], saved["labels"]
    matrix = confusion_matrix(truth, predicted, labels=clf.classes_)
    per_class = classification_report(truth, predicted, labels=clf.classes_, output_dict=True, zero_division=0)
    x_unknown = np.stack(unknown["embedding"].to_numpy()) if len(unknown) else np.zeros((0, x.shape[1]))
    report = {
        "input": src,
        "output": out,
        "model": backend.name,
        "metric": backend.metric,
        "classes": len(classes),
        "faces": len(rows),
        "train_faces": int(train.sum()),
        "test_faces": int((~train).sum()),
        "split": args.split,
        "accuracy": round(float(np.mean(predicted == truth)), 5),
        "chance": round(1 / len(classes), 5),
        "macro_precision": round(per_class["macro avg"]["precision"], 5),
        "macro_recall": round(per_class["macro avg"]["recall"], 5),
        "open_set": open_set(test, truth, identify(saved, x_unknown), args.unknown_threshold, distance),
        "per_class": {
            c: {k: round(per_class[c][k], 4) for k in ("precision", "recall", "f1-score")}
            | {"support": int(per_class[c]["support"])}
            for c in classes
        },
        "confusion_matrix": {"labels": classes, "rows_true_columns_predicted": matrix.tolist()},
    }
    timer.end("evaluate_s")

    rows = rows[~train].assign(
        predicted=predicted, probability=test.probability, distance=test.distance, named=test.names()
    )
    with committed_output(spark, out, marker="report.json") as stage:  # replaces --output when complete
        (
            spark.createDataFrame(rows[["path", "label", "predicted", "probability", "distance", "named"]])
            .coalesce(1)
            .write.parquet(f"{stage.uri}/predictions")
        )
        joblib.dump(saved, stage.files / "model.joblib")
        confusion_png(
            matrix,
            classes,
            stage.files / "confusion.png",
            f"{len(classes)} people, {report['test_faces']} test faces: accuracy {report['accuracy']:.2%}",
        )
        report["timings"] = timer.seconds | {"total_s": timer.total()}
        (stage.files / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("per_class", "confusion_matrix")}))


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit code."""
    return run_job("faces_classify", parser(), classify, argv, app_name="faces-classify", check=check)


if __name__ == "__main__":
    sys.exit(main())
