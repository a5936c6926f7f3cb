"""The fruits pipeline as a plain single-process, single-thread Python run: the benchmark's baseline.

    python -m workloads.fruits.plain --input DIR --output DIR [--model efficientnet_lite0] [--k 300]

Same model code, decoding, batching, labels and plots as the Spark job (``fruits.features``,
``fruits.report``, ``common.images``, ``fruits.scaler_pca`` on one matrix instead of per partition);
parquet with pyarrow. Local directories only. Prints the same kind of one-line JSON summary.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from workloads.common.images import is_image, label_from_uri
from workloads.common.timing import PhaseTimer, rate
from workloads.fruits.backends import BACKENDS, DEFAULT_BACKEND, get_backend
from workloads.fruits.features import PROFILED, featurize
from workloads.fruits.report import nn_same_label_rate, write_plots
from workloads.fruits.scaler_pca import Moments, fit


def _list_array(matrix: np.ndarray) -> pa.Array:
    """Rows of a 2-D float32 matrix as an Arrow list<float> column (no Python floats in between)."""
    offsets = np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(matrix.ravel()))


def main(argv: list[str] | None = None) -> int:
    """Run the baseline; return the process exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--model", default=DEFAULT_BACKEND, choices=sorted(BACKENDS))
    p.add_argument("--weights")
    p.add_argument("--k", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--plot-sample", type=int, default=5000)
    p.add_argument("--tsne-sample", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    backend = get_backend(args.model)
    timer = PhaseTimer()
    files = sorted(f for f in args.input.rglob("*") if f.is_file() and is_image(f))
    timer.end("list_s")
    if not files:
        print(f"fruits_plain: no images under {args.input}", file=sys.stderr)
        return 2
    seconds: Counter = Counter()
    rows = featurize((f.read_bytes() for f in files), args.model, args.weights, 1, args.batch_size, seconds)
    timer.end("features_s")
    ok = [i for i, (vec, _) in enumerate(rows) if vec is not None]
    if not ok:
        print(f"fruits_plain: none of the {len(files)} files could be decoded", file=sys.stderr)
        return 2
    x = np.stack([rows[i][0] for i in ok]).astype(np.float64)
    k = min(args.k, len(ok), backend.dim)
    model = fit(Moments.of(x), k)
    pca, ratio = model.transform(x), model.explained_variance
    timer.end("fit_s")

    uris = [files[i].resolve().as_uri() for i in ok]
    labels = np.array([label_from_uri(uri) for uri in uris])
    table = pa.table(
        {
            "path": uris,
            "features": _list_array(x.astype(np.float32)),
            "pca": _list_array(pca.astype(np.float32)),
            "label": labels,
        }
    )
    args.output.mkdir(parents=True, exist_ok=True)
    pq.write_to_dataset(
        table, args.output / "features", partition_cols=["label"], existing_data_behavior="delete_matching"
    )
    timer.end("write_s")

    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(ok), size=min(args.plot_sample, len(ok)), replace=False)
    plots = write_plots(labels[idx], pca[idx].astype(np.float32), ratio, args.output, args.tsne_sample, args.seed)
    timer.end("plots_s")
    summary = {
        "files": len(files),
        "images": len(ok),
        "failed": len(files) - len(ok),
        "classes": len(set(labels.tolist())),
        "k": k,
        "explained_variance_at_k": round(float(ratio.sum()), 6),
        "nn_same_label_rate": round(nn_same_label_rate(labels[idx], pca[idx].astype(np.float32)), 4),
        "features_core_seconds": {key: round(seconds[key], 3) for key in PROFILED},
        "plots": {name: str(args.output / fname) for name, fname in plots.items()},
        "timings": timer.seconds | {"total_s": timer.total()},
        "images_per_s_features": rate(len(ok), timer.seconds["features_s"], 1)["images_per_s"],
    }
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
