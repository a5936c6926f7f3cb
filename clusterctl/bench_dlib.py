"""Two dlib builds compared on the same LFW faces: the ``dlib-bin`` wheel (no BLAS) and dlib compiled here.

Each Python interpreter given runs :func:`probe` in a child process (``python -m clusterctl.bench_dlib``),
one thread, on the same seeded images: HOG detection (ms per image) and the ``dlib_resnet`` encoder
(ms per face, batches of 32, the embed job's batch). The parent compares the speeds and the embeddings
themselves (a build that is faster but computes other vectors would be no use).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from clusterctl.bench.common import PLAIN_PROCESS_ENV, machine_info, write_results
from clusterctl.data.subset import class_images, seeded_images
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.progress import Reporter

BATCH = 32
BASELINE = "clusterctl's python"


def probe(images: list[Path], vectors_out: Path) -> dict[str, Any]:
    """Time HOG + the encoder in this interpreter on ``images``; save the vectors; return the figures."""
    import dlib

    from workloads.face_detect import align, central_first, decode_rgb, detect
    from workloads.face_embed import ModelRef, embedder

    embed = embedder(ModelRef("dlib_resnet"), None, 1)
    rgbs = [decode_rgb(p.read_bytes()) for p in images]
    embed([align(rgbs[0], detect(rgbs[0], "hog")[0]).crop], [(40.0, 40.0, 120.0, 120.0)])  # warm-up
    start = time.perf_counter()
    found = [central_first(detect(rgb, "hog"), rgb.shape) for rgb in rgbs]
    detect_s = time.perf_counter() - start
    aligned = [align(rgb, faces[0]) for rgb, faces in zip(rgbs, found, strict=True) if faces]
    start = time.perf_counter()
    vectors = np.concatenate(
        [
            embed([a.crop for a in aligned[i : i + BATCH]], [a.crop_box for a in aligned[i : i + BATCH]])
            for i in range(0, len(aligned), BATCH)
        ]
    )
    embed_s = time.perf_counter() - start
    np.save(vectors_out, vectors)
    return {
        "dlib": dlib.__version__,
        "blas": bool(dlib.DLIB_USE_BLAS),
        "lapack": bool(dlib.DLIB_USE_LAPACK),
        "avx": bool(dlib.USE_AVX_INSTRUCTIONS),
        "images": len(images),
        "faces": len(aligned),
        "hog_ms_per_image": round(1000 * detect_s / len(images), 2),
        "encode_ms_per_face": round(1000 * embed_s / max(1, len(aligned)), 2),
    }


def _run_probe(python: str, images_file: Path, vectors: Path) -> dict[str, Any]:
    env = dict(os.environ) | PLAIN_PROCESS_ENV
    proc = subprocess.run(
        [python, "-m", "clusterctl.bench_dlib", str(images_file), str(vectors)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClusterctlError(f"--python {python}: the probe failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _markdown(doc: dict[str, Any]) -> str:
    m, base = doc["machine"], doc["builds"][0]
    lines = [
        "# dlib builds: the dlib-bin wheel against dlib compiled here",
        "",
        f"Measured {doc['date']} on {m['cpus']} CPUs / {m['memory_gib']} GiB, Python {m['python']}; one thread each "
        f"(OPENBLAS_NUM_THREADS=1), {base['images']} seeded LFW images, {base['faces']} faces, encoder batches of "
        f"{BATCH}. Reproduce: `{doc['command']}`.",
        "",
        "| build | BLAS | AVX | HOG ms/image | encoder ms/face | encoder speed-up | max distance to the first build |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in doc["builds"]:
        lines.append(
            f"| dlib {b['dlib']} ({b['python']}) | {b['blas']} | {b['avx']} | {b['hog_ms_per_image']} | "
            f"{b['encode_ms_per_face']} | {b['encoder_speedup']:.2f}x | {b['max_distance_to_first']} |"
        )
    lines += [
        "",
        "The embed job's time is almost all encoder time, so the speed-up carries over to `faces-embed`; "
        "same-person threshold 0.6, so a distance well under 0.01 changes no decision.",
        "",
    ]
    return "\n".join(lines)


def run_dlib_bench(
    lfw: Path, others: list[str], images: int, out_dir: Path, command: str, report: Reporter
) -> dict[str, Any]:
    """Probe this interpreter (the baseline) and each of ``others`` on the same ``images`` LFW photos.

    Writes ``dlib_builds.{json,md}`` to ``out_dir``; builds are named by the --python given, not by paths
    of this machine.
    """
    for python in others:
        if shutil.which(python) is None:
            raise SpecError(f"--python {python}: no such interpreter; give the path of a python with dlib installed")
    sample = seeded_images(class_images(lfw, "--lfw"), images, seed=5)
    pythons = {BASELINE: sys.executable} | {python: python for python in others}
    builds = []
    with tempfile.TemporaryDirectory(prefix="clusterctl-bench-dlib-") as tmp:
        listing = Path(tmp) / "images.txt"
        listing.write_text("".join(f"{p.resolve()}\n" for p in sample))
        for i, (name, python) in enumerate(pythons.items()):
            report(f"probing dlib in {python}")
            builds.append({"python": name} | _run_probe(python, listing, Path(tmp) / f"{i}.npy"))
        first = np.load(Path(tmp) / "0.npy")
        for i, b in enumerate(builds):
            vectors = np.load(Path(tmp) / f"{i}.npy")
            if vectors.shape != first.shape:
                raise ClusterctlError(
                    f"--python {b['python']} found {len(vectors)} faces, the first build "
                    f"{len(first)}: the builds do not detect alike"
                )
            b["max_distance_to_first"] = round(float(np.linalg.norm(vectors - first, axis=1).max()), 5)
            b["encoder_speedup"] = round(builds[0]["encode_ms_per_face"] / b["encode_ms_per_face"], 3)
    doc = {
        "benchmark": "dlib_builds",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "command": command,
        "builds": builds,
    }
    return write_results(out_dir, "dlib_builds", doc, _markdown(doc))


if __name__ == "__main__":
    paths = [Path(line) for line in Path(sys.argv[1]).read_text().splitlines() if line]
    print(json.dumps(probe(paths, Path(sys.argv[2]))))
