"""The face pipeline (align + embed) as a plain single-process, single-thread Python run: the benchmark's baseline.

    python -m workloads.faces.plain --input DIR --output DIR [--detector auto] [--model sface]

What ``faces-align`` (defaults: the central face, the crop the embedder reads) and then ``faces-embed`` do
to every image, with the same code (``faces.pipeline.align_one``, ``faces.embed``), in one process and one
thread: decode, detect, crop, JPEG-encode the crop and write it under ``crops/<label>/<stem>.jpg``, then
decode the crops again and embed them in batches. Writes ``embeddings/`` (parquet: path, label, face,
embedding, model, error) and ``summary.json``. Local directories only. Prints the summary as one JSON line.
"""

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from workloads.common.images import is_image, label_from_uri
from workloads.common.timing import PhaseTimer, rate
from workloads.faces.detect import DETECTORS, decode_rgb, load_detector
from workloads.faces.embed import DEFAULT_EMBEDDER, EMBEDDERS, ModelRef, embedder, get_embedder
from workloads.faces.pipeline import ALIGN_PROFILED, EMBED_PROFILED, align_one, crop_name


def main(argv: list[str] | None = None) -> int:
    """Run the baseline; return the process exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--detector", default="auto", choices=DETECTORS)
    p.add_argument("--model", default=DEFAULT_EMBEDDER, choices=sorted(EMBEDDERS))
    p.add_argument("--weights", help="weights of the model (facenet needs them)")
    p.add_argument("--min-score", type=float, default=0.9, help="MTCNN confidence below which a face is ignored")
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)
    backend = get_embedder(args.model)
    try:
        weights = backend.resolve_weights(args.weights)
    except (ValueError, OSError) as exc:
        print(f"faces_plain: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    timer = PhaseTimer()
    files = sorted(f for f in args.input.rglob("*") if f.is_file() and is_image(f))
    timer.end("list_s")
    if not files:
        print(f"faces_plain: no images under {args.input}", file=sys.stderr)
        return 2

    opts = {
        "detector": args.detector,
        "keep": "central",
        "crop": backend.crop,
        "size": 160,
        "margin": 32,
        "rotate": False,
        "min_score": args.min_score,
    }
    seconds: Counter = Counter()
    start = time.perf_counter()
    load_detector(args.detector)
    seconds["load"] += time.perf_counter() - start
    crops_dir = args.output / "crops"
    faces: list[tuple[str, str, dict]] = []
    errors: dict[str, int] = Counter()
    rows: list[dict] = []
    for f in files:
        uri = f.resolve().as_uri()
        label = label_from_uri(uri)
        found, error, _ = align_one(f.read_bytes(), seconds=seconds, **opts)
        if error:
            errors[error.split(":")[0].split(" (")[0]] += 1
            rows.append({"path": uri, "label": label, "face": None, "embedding": None, "error": error})
        for row in found:
            start = time.perf_counter()
            dest = crops_dir / crop_name(label, uri, row["face"])
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(row["crop"])
            seconds["write"] += time.perf_counter() - start
            faces.append((uri, label, row))
    timer.end("align_s")

    embed = embedder(ModelRef(args.model, None), weights, 1, seconds)
    for lo in range(0, len(faces), args.batch_size):
        chunk = faces[lo : lo + args.batch_size]
        start = time.perf_counter()
        images = [decode_rgb(row["crop"]) for _, _, row in chunk]
        seconds["decode_crops"] += time.perf_counter() - start
        start = time.perf_counter()
        vectors = embed(images, [tuple(row["crop_box"]) for _, _, row in chunk])
        seconds["embed"] += time.perf_counter() - start
        for (uri, label, row), vec in zip(chunk, vectors, strict=True):
            rows.append({"path": uri, "label": label, "face": row["face"], "embedding": vec.tolist(), "error": None})
    timer.end("embed_s")

    table = pa.Table.from_pylist(
        [r | {"model": args.model} for r in rows],
        schema=pa.schema(
            [
                ("path", pa.string()),
                ("label", pa.string()),
                ("face", pa.int32()),
                ("embedding", pa.list_(pa.float32())),
                ("model", pa.string()),
                ("error", pa.string()),
            ]
        ),
    )
    (args.output / "embeddings").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.output / "embeddings" / "part-0.parquet")
    timer.end("write_s")
    profiled = dict.fromkeys((*ALIGN_PROFILED, *EMBED_PROFILED, "decode_crops"), 0.0) | seconds
    summary = {
        "files": len(files),
        "images": len(files),
        "faces": len(faces),
        "embedded_faces": len(faces),
        "no_face": errors.get("no face found", 0),
        "undecodable": errors.get("undecodable", 0),
        "model": {"detector": args.detector, "embedder": backend.name, "dim": backend.dim, "crop": backend.crop},
        "core_seconds": {key: round(v, 3) for key, v in profiled.items()},
        "timings": timer.seconds | {"total_s": timer.total()},
    } | rate(len(files), timer.seconds["align_s"] + timer.seconds["embed_s"], 1)
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
