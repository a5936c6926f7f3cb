"""Decode + resize image bytes and run a backend over them in batches, with the model cached per process.

Shared by the Spark job (inside executors' Python workers, which Spark reuses across tasks, so a
model is loaded once per worker process) and by the plain single-process baseline.
"""

import io
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from workloads.common.io import task_cpus
from workloads.common.model_cache import load_once
from workloads.fruits.backends import Extractor, get_backend
from workloads.fruits.scaler_pca import Moments

PROFILED = ("load", "decode", "inference")


def extractor(model: str, weights: str | None, threads: int, seconds: Counter | None = None) -> Extractor:
    """The loaded model for (model, weights, threads), loading it on first use in this process.

    Time spent loading is added to ``seconds["load"]``.
    """
    return load_once(("features", model, weights, threads), lambda: get_backend(model).load(weights, threads), seconds)


def decode(blob: bytes, size: int) -> np.ndarray:
    """Image bytes → size×size×3 uint8 RGB (bilinear resize). Raises on undecodable input."""
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as img:
        img.draft("RGB", (size, size))  # JPEG: let libjpeg downscale large images while decoding
        rgb = img.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)


def featurize(
    blobs: Iterable[bytes],
    model: str,
    weights: str | None,
    threads: int,
    batch_size: int,
    seconds: Counter | None = None,
) -> list[tuple[np.ndarray | None, str | None]]:
    """(features, None) per decodable image and (None, "Error: reason") per bad one, in input order.

    Seconds spent loading the model, decoding and in inference are added to ``seconds`` (load,
    decode, inference) when given.
    """
    seconds = Counter() if seconds is None else seconds
    extract = extractor(model, weights, threads, seconds)
    size = get_backend(model).input_size
    pending: list[tuple[int, np.ndarray]] = []
    results: list[tuple[np.ndarray | None, str | None]] = []

    def flush() -> None:
        start = time.perf_counter()
        feats = extract(np.stack([img for _, img in pending]))
        seconds["inference"] += time.perf_counter() - start
        for (slot, _), vec in zip(pending, feats, strict=True):
            results[slot] = (vec, None)
        pending.clear()

    for blob in blobs:
        results.append((None, None))
        start = time.perf_counter()
        try:
            pending.append((len(results) - 1, decode(blob, size)))
        except Exception as exc:  # any decoder failure is a per-image error, never a job failure
            results[-1] = (None, f"{type(exc).__name__}: {exc}"[:300])
        seconds["decode"] += time.perf_counter() - start
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    return results


def featurize_partitions(model: str, weights: str | None, batch_size: int, accumulators: dict) -> Callable:
    """The ``mapInPandas`` function: (path, label, content) batches → (path, label, features, error, moments).

    Runs in the executors' Python workers with one intra-op thread per task core; adds the seconds
    spent per PROFILED step to the matching Spark accumulator. Each image gives a row with a null
    ``moments``; the partition ends with one extra row, all null but ``moments``: the
    ``scaler_pca.Moments`` of its features, summed batch by batch while they are in memory, so that
    fitting the scaler and PCA needs no second pass. A recomputed partition gives the same rows again,
    so the sums stay exact when Spark retries a task. Lives here, not in the job's module, so
    unpickling it in a worker does not import Spark ML.
    """

    def run(batches: Iterator) -> Iterator:
        import pandas as pd

        threads = task_cpus()
        moments: Moments | None = None
        for pdf in batches:
            seconds: Counter = Counter()
            rows = featurize(pdf["content"], model, weights, threads, batch_size, seconds)
            for key in PROFILED:
                accumulators[key].add(seconds[key])
            vectors = [vec for vec, _ in rows if vec is not None]
            if vectors:
                part = Moments.of(np.stack(vectors))
                moments = part if moments is None else moments + part
            yield pd.DataFrame(
                {
                    "path": pdf["path"],
                    "label": pdf["label"],
                    "features": [vec for vec, _ in rows],
                    "error": [err for _, err in rows],
                    "moments": None,
                }
            )
        if moments is not None:
            yield pd.DataFrame(
                {"path": [None], "label": [None], "features": [None], "error": [None], "moments": [moments.to_bytes()]}
            )

    return run
