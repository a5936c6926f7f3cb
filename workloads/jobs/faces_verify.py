"""Face verification on LFW's pairs protocol: 10-fold accuracy ± std, threshold chosen on 9 folds each time.

    spark-submit workloads/jobs/faces_verify.py --pairs URI [--input faces/embeddings] [--output faces/verify]

--pairs is LFW's ``pairs.txt`` (or ``pairsDevTest.txt``). Image ``name i`` is the embedding of
``.../name/name_000i.<ext>`` (the photo's main face). A pair with an image that has no embedding
counts as "different people" (distance +inf), so failures cost accuracy instead of being dropped;
their number is reported. Distances are in the embedder's metric (cosine for sface). Writes
``report.json``, ``roc.png`` and ``distances/`` (parquet) under --output and prints the report without
the per-fold lists as one JSON line.
"""

import argparse
import json
import sys

import numpy as np
from pyspark.sql import functions as F

from workloads.common.io import committed_output, read_parquet, to_hadoop_uri
from workloads.common.job import JobContext, JobError, run_job
from workloads.faces.metric import distance
from workloads.faces.report import k_fold_accuracy, parse_pairs, roc_png
from workloads.faces.steps import add_io_options, io_uris
from workloads.jobs.faces_embed import embeddings_model


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", required=True, help="LFW pairs file (path or Hadoop URI), e.g. lfw_meta/pairs.txt")
    add_io_options(p, "embeddings", "verify", "faces-embed")
    return p


def verify(job: JobContext) -> None:
    """Distances of the pairs' embeddings, k-fold accuracy, ROC; the report."""
    spark, args, timer = job.spark, job.args, job.timer
    src, out = io_uris(args)
    try:
        pairs = parse_pairs("\n".join(r.value for r in spark.read.text(to_hadoop_uri(args.pairs)).collect()))
    except Exception as exc:  # missing file (AnalysisException) or a malformed one (ValueError)
        raise JobError(f"--pairs {args.pairs}: {str(exc).splitlines()[0]}") from None
    emb = read_parquet(spark, f"{src}/embeddings", "--input", "faces-embed", marker=f"{src}/summary.json")
    backend = embeddings_model(emb, args.input)
    keys = sorted({p.a for p in pairs} | {p.b for p in pairs})
    wanted = spark.createDataFrame([(k,) for k in keys], "key string")
    key = F.concat_ws("/", "label", F.regexp_extract(F.element_at(F.split("path", "/"), -1), r"^(.*)\.[^.]+$", 1))
    found = (
        emb.where("face = 0 AND embedding IS NOT NULL")
        .withColumn("key", key)
        .join(F.broadcast(wanted), "key")
        .select("key", "embedding")
        .collect()
    )
    vectors = {r["key"]: np.asarray(r["embedding"], np.float64) for r in found}
    timer.end("collect_s")

    distances = np.array(
        [
            float(distance(vectors[p.a], vectors[p.b], backend.metric)) if p.a in vectors and p.b in vectors else np.inf
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    missing = [k for k in keys if k not in vectors]
    report = {
        "input": src,
        "model": backend.name,
        "metric": backend.metric,
        "pairs_file": args.pairs,
        "pairs": len(pairs),
        "images": len(keys),
        "images_without_embedding": len(missing),
        "pairs_without_embedding": int(np.isinf(distances).sum()),
        "missing": missing[:50],
    }
    report |= k_fold_accuracy(distances, same, folds)
    rows = [
        (p.a, p.b, p.same, p.fold, float(d) if np.isfinite(d) else None) for p, d in zip(pairs, distances, strict=True)
    ]
    with committed_output(spark, out, marker="report.json") as stage:  # replaces --output when complete
        (
            spark.createDataFrame(rows, "a string, b string, same boolean, fold int, distance double")
            .coalesce(1)
            .write.parquet(f"{stage.uri}/distances")
        )
        report["auc"] = round(
            roc_png(
                distances,
                same,
                stage.files / "roc.png",
                f"LFW pairs ({len(pairs)}): {report['accuracy_mean']:.2%} ± {report['accuracy_std']:.2%}",
            ),
            5,
        )
        report["timings"] = timer.seconds | {"total_s": timer.total()}
        (stage.files / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "missing"}))


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit code."""
    return run_job("faces_verify", parser(), verify, argv, app_name="faces-verify")


if __name__ == "__main__":
    sys.exit(main())
