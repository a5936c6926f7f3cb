"""Two dlib builds compared on the same LFW faces: the ``dlib-bin`` wheel (no BLAS) and dlib compiled here.

    python benchmarks/compare_dlib_builds.py --python /opt/dlib-blas/bin/python [--lfw DIR] [--images N]
        [--out benchmarks]

This interpreter (the baseline) and each --python run :func:`probe` in a child process (this script with
``--probe``), one thread, on the same seeded images: HOG detection (ms per image) and the ``dlib_resnet``
encoder (ms per face, batches of 32, the embed job's batch). The parent compares the speeds and the
embeddings themselves (a build that is faster but computes other vectors would be no use), prints the
markdown table and writes ``dlib_builds.{json,md}`` to --out.

A one-off comparison of two builds of a dependency, not a clusterctl feature, so it lives here. To build the
second dlib::

    python -m venv --system-site-packages /opt/dlib-blas
    /opt/dlib-blas/bin/pip install --no-binary dlib dlib==20.0.1   # needs cmake + libopenblas-dev
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from clusterctl.bench.common import PLAIN_PROCESS_ENV, machine_info, write_results
from clusterctl.data.subset import DEFAULT_LFW, class_images, seeded_images
from clusterctl.errors import ClusterctlError, SpecError

BATCH = 32
BASELINE = "clusterctl's python"
REPO = Path(__file__).resolve().parent.parent


def probe(images: list[Path], vectors_out: Path) -> dict[str, Any]:
    """Time HOG + the encoder in this interpreter on ``images``; save the vectors; return the figures."""
    import dlib

    from workloads.faces.detect import align, central_first, decode_rgb, detect
    from workloads.faces.embed import ModelRef, embedder

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
    """Run :func:`probe` under ``python``, importing this checkout's ``workloads``."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ) | PLAIN_PROCESS_ENV | {"PYTHONPATH": path}
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--probe", str(images_file), str(vectors)],
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


def compare_builds(
    lfw: Path, others: list[str], images: int, out_dir: Path, command: str, report: Callable[[str], None]
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
    with tempfile.TemporaryDirectory(prefix="compare-dlib-builds-") as tmp:
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


def _images(value: str) -> int:
    n = int(value)
    if not 10 <= n <= 20000:
        raise argparse.ArgumentTypeError(f"{n} is not in the range 10 to 20000")
    return n


def parser() -> argparse.ArgumentParser:
    """Command-line options of the script."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--python",
        dest="pythons",
        metavar="PYTHON",
        action="append",
        help="another interpreter with dlib (e.g. a venv with dlib built from source); repeatable, required",
    )
    p.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW image folder (default %(default)s)")
    p.add_argument("--images", type=_images, default=300, help="seeded LFW images each build detects and embeds")
    p.add_argument("--out", type=Path, default=Path("benchmarks"), help="results directory (default %(default)s)")
    p.add_argument("--probe", nargs=2, type=Path, metavar=("IMAGES_TXT", "VECTORS_NPY"), help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Compare the builds (or, with --probe, measure this interpreter's dlib); return the exit code."""
    p = parser()
    args = p.parse_args(argv)
    if args.probe:  # a child started by _run_probe
        listing, vectors = args.probe
        print(json.dumps(probe([Path(line) for line in listing.read_text().splitlines() if line], vectors)))
        return 0
    if not args.pythons:
        p.error("--python is required: the interpreter of the dlib build to compare with this one's")
    command = "python benchmarks/compare_dlib_builds.py " + " ".join(f"--python {p}" for p in args.pythons)
    command += f" --images {args.images}"
    try:
        result = compare_builds(
            args.lfw, args.pythons, args.images, args.out, command, lambda msg: print(msg, file=sys.stderr)
        )
    except ClusterctlError as exc:
        print(f"compare_dlib_builds: {exc}", file=sys.stderr)
        return exc.exit_code
    print(Path(result["markdown"]).read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
