"""What the face jobs run inside executors: images → aligned faces → embeddings → identities.

The functions returned here are ``mapInPandas`` functions. They live in this module (not in the
jobs' modules) so that unpickling them in a Python worker does not import Spark ML or sklearn's
plotting. Models are cached per worker process (``faces.detect``/``faces.embed``), so Spark's worker
reuse means one load per executor core, not per task or micro-batch.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath

import numpy as np

from workloads.common.io import task_cpus
from workloads.faces.detect import (
    align,
    central_first,
    decode_rgb,
    detect,
    encode_jpeg,
    load_detector,
    template_align,
)
from workloads.faces.embed import ModelRef, embedder
from workloads.faces.identity import identify

ALIGN_SCHEMA = (
    "path string, label string, face int, faces_found int, detector string, score float, "
    "box array<float>, landmarks array<float>, crop_kind string, crop_box array<float>, angle float, crop binary, "
    "crop_path string, error string"
)
ALIGN_COLUMNS = [column.split()[0] for column in ALIGN_SCHEMA.split(", ")]
EMBED_SCHEMA = "path string, label string, face int, embedding array<float>, model string, error string"
ALIGN_PROFILED = ("load", "decode", "detect", "crop", "write")
EMBED_PROFILED = ("load", "decode", "embed")
KEEP = ("central", "largest", "all")


def crop_name(label: str, path: str, face: int) -> str:
    """Where a crop goes under the crops directory: ``label/stem.jpg`` (``stem_N.jpg`` for the N-th extra face)."""
    stem = PurePosixPath(path).stem
    return f"{label}/{stem}.jpg" if face == 0 else f"{label}/{stem}_{face}.jpg"


def open_filesystem(uri: str):
    """A pyarrow filesystem and base path for a Hadoop-style URI (file:, hdfs:, s3:/s3a:/s3n:)."""
    from pyarrow import fs

    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            uri = "s3://" + uri[len(scheme) :]
    return fs.FileSystem.from_uri(uri)


def align_one(
    blob: bytes,
    detector: str,
    keep: str,
    crop: str,
    size: int,
    margin: int,
    rotate: bool,
    min_score: float,
    seconds: Counter,
) -> tuple[list[dict], str | None, int]:
    """(rows of the kept faces, error, faces found) for one image; the error says why there is no row.

    ``crop`` is ``template`` (SFace's 112 x 112 five-point warp) or ``square`` (``size``, ``margin``, ``rotate``).
    """
    start = time.perf_counter()
    try:
        rgb = decode_rgb(blob)
    except Exception as exc:  # any decoder failure is a per-image error, never a job failure
        seconds["decode"] += time.perf_counter() - start
        return [], f"undecodable: {type(exc).__name__}: {exc}"[:300], 0
    seconds["decode"] += time.perf_counter() - start
    start = time.perf_counter()
    faces = detect(rgb, detector, min_score)
    seconds["detect"] += time.perf_counter() - start
    if not faces:
        return [], f"no face found ({detector} detector)", 0
    found = len(faces)
    if keep == "central":
        faces = central_first(faces, rgb.shape)[:1]
    elif keep == "largest":
        faces = faces[:1]
    start = time.perf_counter()
    rows = []
    for i, face in enumerate(faces):
        a = template_align(rgb, face) if crop == "template" else align(rgb, face, size, margin, rotate)
        rows.append(
            {
                "face": i,
                "detector": face.detector,
                "score": face.score,
                "box": [float(v) for v in face.box],
                "landmarks": [float(v) for p in face.landmarks for v in p],
                "crop_kind": crop,
                "crop_box": [float(v) for v in a.crop_box],
                "angle": a.angle,
                "crop": encode_jpeg(a.crop),
            }
        )
    seconds["crop"] += time.perf_counter() - start
    return rows, None, found


def align_partitions(opts: dict, crops_uri: str | None, accumulators: dict) -> Callable:
    """(path, label, content) batches → one row per kept face, or one error row per image without one.

    ``opts`` are ``align_one``'s keyword options; crops are also written as JPEGs under ``crops_uri``.
    """

    def run(batches: Iterator) -> Iterator:
        import pandas as pd

        seconds: Counter = Counter()
        start = time.perf_counter()
        load_detector(opts["detector"])  # "auto" loads MTCNN later, only if an image needs it
        seconds["load"] += time.perf_counter() - start
        fs = base = None
        made_dirs: set[str] = set()
        if crops_uri:
            fs, base = open_filesystem(crops_uri)
        for pdf in batches:
            out = []
            for path, label, blob in zip(pdf["path"], pdf["label"], pdf["content"], strict=True):
                rows, error, found = align_one(blob, seconds=seconds, **opts)
                if error:
                    out.append(
                        dict.fromkeys(ALIGN_COLUMNS) | {"path": path, "label": label, "faces_found": 0, "error": error}
                    )
                for row in rows:
                    row.update(path=path, label=label, faces_found=found, crop_path=None, error=None)
                    if fs is not None:
                        start = time.perf_counter()
                        rel = crop_name(label, path, row["face"])
                        folder = f"{base}/{rel.rsplit('/', 1)[0]}"
                        if folder not in made_dirs:  # one call per person folder, not per crop (S3/HDFS round trips)
                            fs.create_dir(folder, recursive=True)
                            made_dirs.add(folder)
                        with fs.open_output_stream(f"{base}/{rel}") as f:
                            f.write(row["crop"])
                        row["crop_path"] = f"{crops_uri.rstrip('/')}/{rel}"
                        seconds["write"] += time.perf_counter() - start
                    out.append(row)
            for key in ALIGN_PROFILED:
                accumulators[key].add(seconds[key])
            seconds.clear()
            yield pd.DataFrame.from_records(out, columns=ALIGN_COLUMNS)

    return run


def _weights(ref: ModelRef) -> str | None:
    """Executor side: the local path of the weights file the driver shipped, if the model needs one."""
    from pyspark import SparkFiles

    return SparkFiles.get(ref.weights_file) if ref.weights_file else None


def embed_batch(crops: list[bytes], boxes: list, ref: ModelRef, threads: int, seconds: Counter) -> np.ndarray:
    """Embeddings (N x dim float32) of JPEG crops with their face boxes."""
    embed = embedder(ref, _weights(ref), threads, seconds)
    start = time.perf_counter()
    images = [decode_rgb(c) for c in crops]
    seconds["decode"] += time.perf_counter() - start
    start = time.perf_counter()
    vectors = embed(images, [tuple(b) for b in boxes])
    seconds["embed"] += time.perf_counter() - start
    return vectors


def embed_partitions(ref: ModelRef, batch_size: int, accumulators: dict) -> Callable:
    """Aligned-face batches (``ALIGN_SCHEMA``) → ``EMBED_SCHEMA`` rows; align errors pass through."""

    def run(batches: Iterator) -> Iterator:
        import pandas as pd

        threads = task_cpus()
        for pdf in batches:
            seconds: Counter = Counter()
            vectors: list = [None] * len(pdf)
            ok = [i for i, err in enumerate(pdf["error"]) if err is None]
            for lo in range(0, len(ok), batch_size):
                idx = ok[lo : lo + batch_size]
                got = embed_batch(
                    [pdf["crop"].iat[i] for i in idx], [pdf["crop_box"].iat[i] for i in idx], ref, threads, seconds
                )
                for i, vec in zip(idx, got, strict=True):
                    vectors[i] = vec
            for key in EMBED_PROFILED:
                accumulators[key].add(seconds[key])
            yield pd.DataFrame(
                {
                    "path": pdf["path"],
                    "label": pdf["label"],
                    "face": pdf["face"],
                    "embedding": vectors,
                    "model": ref.name,
                    "error": pdf["error"],
                }
            )

    return run


STREAM_SCHEMA = (
    "path string, modified timestamp, face int, predicted string, probability float, "
    "distance float, embedding array<float>, error string, processed_at timestamp"
)


def recognize_partitions(opts: dict, ref: ModelRef, classifier) -> Callable:
    """(path, modificationTime, content) batches → ``STREAM_SCHEMA`` rows: align (one face per image),
    embed and classify. ``classifier`` is a broadcast of the dict ``faces-classify`` saves."""

    def run(batches: Iterator) -> Iterator:
        import pandas as pd

        saved = classifier.value
        threads = task_cpus()
        seconds: Counter = Counter()
        for pdf in batches:
            out = []
            for path, modified, blob in zip(pdf["path"], pdf["modificationTime"], pdf["content"], strict=True):
                row = {
                    "path": path,
                    "modified": modified,
                    "face": None,
                    "predicted": None,
                    "probability": None,
                    "distance": None,
                    "embedding": None,
                    "error": None,
                }
                faces, error, _ = align_one(blob, seconds=seconds, **opts)
                if error:
                    row["error"] = error
                else:
                    vec = embed_batch([faces[0]["crop"]], [faces[0]["crop_box"]], ref, threads, seconds)[0]
                    who = identify(saved, vec)
                    row.update(
                        face=0,
                        embedding=vec,
                        probability=float(who.probability[0]),
                        distance=float(who.distance[0]),
                        predicted=who.names()[0],
                    )
                row["processed_at"] = pd.Timestamp.now()
                out.append(row)
            yield pd.DataFrame.from_records(out, columns=[c.split()[0] for c in STREAM_SCHEMA.split(", ")])

    return run


def warm_up(opts: dict, ref: ModelRef, classifier) -> Callable:
    """A ``mapInPandas`` function that loads the detector, the embedder and the classifier in the worker
    that runs it. It must be a pandas UDF like ``recognize_partitions``: Spark keeps separate Python
    workers for plain RDD functions and for Arrow UDFs."""

    def run(batches: Iterator) -> Iterator:
        load_detector(opts["detector"])
        embedder(ref, _weights(ref), task_cpus())
        _ = classifier.value  # unpickling it imports scikit-learn
        yield from batches

    return run
