"""Faces benchmark on a local cluster: the whole LFW aligned and embedded, identities, pairs, streaming latency.

1. ``faces-align`` (the crop the embedder reads) + ``faces-embed`` over every image (spark-submit wall
   time, JVM start included);
2. ``faces-classify`` on the people with >= 40 faces (first 30 train) with its unknown-person gates,
   ``faces-verify`` on ``pairs.txt`` (10-fold accuracy, AUC);
3. the detectors side by side on a seeded sample (YuNet, MTCNN, dlib HOG, auto);
4. ``faces-stream``: files dropped one at a time into the watched directory (atomic rename), latency
   from the rename to the job printing the file's result row (printed after the row is written).
"""

import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clusterctl.bench.common import bench_cluster, machine_info, measured, submit_workload, write_results
from clusterctl.data.subset import class_images, seeded_images
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.jobs import resolve_job
from clusterctl.progress import Reporter, silent
from clusterctl.providers.local.provider import LocalProvider
from clusterctl.workdir import Workdir
from workloads.faces.embed import get_embedder

TARGETS = {
    "align_embed_s": 4 * 60,
    "failed_rate": 0.005,
    "identity_accuracy": 0.99,
    "pairs_accuracy": 0.993,
    "known_named_rate": 0.98,
    "unknown_rejected_rate": 0.99,
    "stream_p50_s": 1.0,
    "stream_p95_s": 3.0,
}
DETECTORS = ("yunet", "mtcnn", "hog", "auto")


def _copy_sample(people: dict[str, list[Path]], dest: Path, images: int, seed: int) -> Path:
    """``images`` seeded images of LFW copied into ``dest``, in their person folders."""
    for f in seeded_images(people, images, seed):
        (dest / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest / f.parent.name / f.name)
    return dest


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stream(
    provider: LocalProvider,
    workdir: Workdir,
    snapshots: list[Path],
    tmp: Path,
    classifier: Path,
    embedder: list[str],
    interval: float,
    report: Reporter,
) -> dict[str, Any]:
    """Run faces-stream, drop ``snapshots`` one at a time, time each file's result row."""
    watch, staging = tmp / "incoming", tmp / "staging"
    watch.mkdir()
    staging.mkdir()
    printed: dict[str, float] = {}
    predicted: dict[str, str | None] = {}
    ready = threading.Event()

    def on_line(line: str, *_: Any) -> None:
        if line.startswith('{"watching"'):
            ready.set()
        elif line.startswith('{"path"'):
            row = json.loads(line)
            name = row["path"].rsplit("/", 1)[-1]
            printed.setdefault(name, time.monotonic())
            predicted[name] = row["predicted"]

    timeout = 90 + len(snapshots) * (interval + 1)
    job = resolve_job(
        "faces-stream",
        (
            "--watch",
            str(watch),
            "--classifier",
            str(classifier),
            "--output",
            str(tmp / "stream"),
            "--timeout",
            str(timeout),
            *embedder,
        ),
        workdir.root,
    )
    outcome: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: outcome.update(result=provider.submit(job, silent, on_line)))
    runner.start()
    try:
        if not ready.wait(120):
            raise ClusterctlError(f"faces-stream did not start within 120 s; see {workdir.sub('runs')}")
        landed: dict[str, float] = {}
        truth: dict[str, str] = {}
        for i, src in enumerate(snapshots):
            name = f"snap_{i:04d}{src.suffix}"
            truth[name] = src.parent.name
            shutil.copyfile(src, staging / name)
            os.replace(staging / name, watch / name)  # the file appears whole
            landed[name] = time.monotonic()
            deadline = time.monotonic() + 30
            while name not in printed and time.monotonic() < deadline:
                time.sleep(0.01)
            report(
                f"  stream {i + 1}/{len(snapshots)}: "
                + (f"{printed[name] - landed[name]:.2f}s" if name in printed else "no row within 30 s")
            )
            time.sleep(interval)
    finally:
        runner.join()
    latencies = [printed[n] - t for n, t in landed.items() if n in printed]
    warm = latencies[1:]  # the first file also pays for the query's first micro-batch
    return {
        "files": len(snapshots),
        "rows": len(latencies),
        "interval_s": interval,
        "predicted_right": sum(predicted.get(n) == person for n, person in truth.items()),
        "first_s": round(latencies[0], 3) if latencies else None,
        "p50_s": round(statistics.median(warm), 3),
        "p95_s": round(_percentile(warm, 0.95), 3),
        "max_s": round(max(warm), 3),
        "latencies_s": [round(v, 3) for v in latencies],
        "wall_s": round(outcome["result"].wall_seconds, 1),
    }


def _models_line(doc: dict[str, Any]) -> str:
    """Which detector and embedder ran, with their files' sha256 and the OpenCV version where they apply."""
    align, embed = doc["models"]["align"] or {}, doc["models"]["embed"]
    parts = ["detector `auto` (YuNet, MTCNN where YuNet finds no face)"]
    if align.get("yunet"):
        parts.append(f"YuNet `{align['yunet']['file']}` sha256 `{align['yunet']['sha256'][:12]}…`")
    parts.append(
        f"embedder `{embed['name']}` ({embed['dim']}-d, {embed['metric']} distance"
        + (", mirror-averaged" if embed.get("flip") else "")
        + (f", {embed['jitters']} jitters" if embed.get("jitters") else "")
        + ")"
    )
    if embed.get("models"):
        sface = embed["models"]["sface"]
        parts.append(f"SFace `{sface['file']}` sha256 `{sface['sha256'][:12]}…`")
    if embed.get("opencv") or align.get("opencv"):
        parts.append(f"OpenCV {embed.get('opencv') or align.get('opencv')}")
    if doc.get("dlib"):
        parts.append(f"dlib {doc['dlib']['version']} {'with' if doc['dlib']['blas'] else 'without'} BLAS")
    return "; ".join(parts) + "."


def _markdown(doc: dict[str, Any]) -> str:
    m, s, t = doc["machine"], doc["summary"], doc["targets"]
    al, em, gates = s["align"], s["embed"], s["classify"]["open_set"]
    lines = [
        "# Faces on LFW: alignment, embeddings, identities, pairs, streaming",
        "",
        f"Measured {doc['date']} on {m['cpus']} CPUs / {m['memory_gib']} GiB, Java {m['java']}, Spark {m['spark']}, "
        f"Python {m['python']}; local cluster of {doc['workers']} workers x 1 core; " + _models_line(doc),
        f"Reproduce: `clusterctl bench faces --lfw {doc['lfw']} "
        f"--meta {doc['meta']} {' '.join(doc['embedder_args'])} --name {doc['name']}`.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| whole LFW align + embed, wall (spark-submit, JVM start included) | **{s['align_embed_s'] / 60:.1f} min** "
        f"({al['wall_s']:.0f} s + {em['wall_s']:.0f} s) | <= {t['align_embed_s'] / 60:.0f} min |",
        f"| images without a face (failed) | **{al['failed']} of {al['files']} = {al['failed_rate']:.2%}** "
        f"| <= {t['failed_rate']:.1%} |",
        f"| identities with >= 40 faces ({s['classify']['classes']} people, {s['classify']['test_faces']} test faces)"
        f" | **{s['classify']['accuracy']:.2%}** | >= {t['identity_accuracy']:.0%} |",
        f"| open set: known test faces named right (both gates) | **{gates['known_named_rate']:.2%}** "
        f"| >= {t['known_named_rate']:.0%} |",
        f"| open set: other people's faces rejected ({gates['unknown_faces']}) | "
        f"**{gates['unknown_rejected_rate']:.2%}** | >= {t['unknown_rejected_rate']:.0%} |",
        f"| LFW pairs, 10-fold ({s['verify']['pairs']} pairs) | **{s['verify']['accuracy_mean']:.2%} "
        f"± {s['verify']['accuracy_std']:.2%}** (AUC {s['verify']['auc']:.4f}) | >= {t['pairs_accuracy']:.1%} |",
        f"| streaming latency, file landing to result row ({s['stream']['rows'] - 1} files after the first) | "
        f"**p50 {s['stream']['p50_s']:.2f} s, p95 {s['stream']['p95_s']:.2f} s** "
        f"| p50 <= {t['stream_p50_s']:g} s, p95 <= {t['stream_p95_s']:g} s |",
        "",
        "## Whole LFW",
        "",
        f"- align: {al['files']} images in {al['wall_s']:.0f} s wall ({al['summary']['images_per_s']:.1f} images/s "
        f"in the align phase, {al['summary']['images_per_s_per_core']:.1f} per core); faces by detector "
        f"{al['summary']['faces_by_detector']}; executor core-seconds {al['summary']['core_seconds']}.",
        f"- embed: {em['summary']['embedded_faces']} faces in {em['wall_s']:.0f} s wall "
        f"({em['summary']['images_per_s']:.1f} faces/s, {em['summary']['images_per_s_per_core']:.1f} per core); "
        f"executor core-seconds {em['summary']['core_seconds']}.",
        f"- machine CPU busy: {al['cpu_s'] + em['cpu_s']:.0f} CPU-s for both jobs.",
        f"- classify: {s['classify']['train_faces']} training faces, macro precision "
        f"{s['classify']['macro_precision']:.4f}, macro recall {s['classify']['macro_recall']:.4f}.",
        f"- unknown person (probability >= {gates['threshold']} and within {gates['distance']} "
        f"({s['classify'].get('metric', 'euclidean')} distance) of the person's mean training embedding): known test "
        f"faces accepted {gates['known_accepted_rate']:.2%} (all named right: "
        f"{gates['accuracy_of_accepted']:.2%}), {gates['unknown_faces']} faces of other people rejected "
        f"{gates['unknown_rejected_rate']:.2%}; the probability gate alone accepts "
        f"{gates['probability_only']['known_accepted_rate']:.2%} / rejects "
        f"{gates['probability_only']['unknown_rejected_rate']:.2%}, the distance gate alone "
        f"{gates['distance_only']['known_accepted_rate']:.2%} / {gates['distance_only']['unknown_rejected_rate']:.2%}.",
        f"- verify: fold accuracies {s['verify']['fold_accuracies']}; thresholds {s['verify']['thresholds']}; "
        f"pairs without an embedding {s['verify']['pairs_without_embedding']}.",
        "",
        f"## Detectors on a seeded sample of {s['detectors']['auto']['files']} images",
        "",
        "| detector | align phase (s) | images/s per core | no face |",
        "|---|---|---|---|",
    ]
    for name in DETECTORS:
        d = s["detectors"][name]
        lines.append(f"| {name} | {d['align_s']:.1f} | {d['images_per_s_per_core']:.1f} | {d['no_face']} |")
    st = s["stream"]
    lines += [
        "",
        "## Streaming",
        "",
        f"{st['files']} snapshots dropped {st['interval_s']} s apart into the watched directory; first file "
        f"{st['first_s']} s (first micro-batch), then p50 {st['p50_s']} s, p95 {st['p95_s']} s, max {st['max_s']} s "
        f"(all: {st['latencies_s']}). The snapshots are held-out photos of the >= 40-face people: "
        f"{st['predicted_right']} of {st['files']} were named right (the rest: wrong or unknown).",
        "",
    ]
    return "\n".join(lines)


def _dlib_build() -> dict[str, Any]:
    """The dlib the executors import (the local cluster runs this interpreter)."""
    import dlib

    return {"version": dlib.__version__, "blas": bool(dlib.DLIB_USE_BLAS)}


def run_faces_bench(
    lfw: Path,
    meta: Path,
    out_dir: Path,
    workers: int,
    detector_sample: int,
    stream_files: int,
    embedder: dict[str, Any],
    name: str,
    report: Reporter,
) -> dict[str, Any]:
    """Run the faces benchmark on a fresh local cluster; write ``<name>.json`` + ``<name>.md`` to ``out_dir``.

    ``embedder`` holds faces-embed's model options: model, weights, weights_sha256, jitters, flip.
    """
    people = class_images(lfw, "--lfw")  # fail on a bad folder before starting anything
    try:  # a missing or corrupt weights file fails here, not after the 10-minute align
        get_embedder(embedder["model"]).resolve_weights(embedder["weights"], embedder["weights_sha256"])
    except (ValueError, OSError) as exc:
        raise SpecError(str(exc).splitlines()[0]) from exc
    args = ["--model", embedder["model"], "--jitters", str(embedder["jitters"])]
    args += ["--flip"] if embedder["flip"] else []
    crop = get_embedder(embedder["model"]).crop
    args += ["--weights", embedder["weights"]] if embedder["weights"] else []
    args += ["--weights-sha256", embedder["weights_sha256"]] if embedder["weights_sha256"] else []
    if not (meta / "pairs.txt").is_file():
        raise SpecError(f"--meta {meta}: no pairs.txt there; pass LFW's lfw_meta folder")
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="clusterctl-bench-faces-") as tmp_name:
        tmp = Path(tmp_name)
        with bench_cluster("bench-faces", workers, tmp / "home", report) as (provider, workdir):
            report(f"faces-align over {lfw}")
            align = measured(
                lambda: submit_workload(
                    provider,
                    workdir,
                    "faces-align",
                    "--input",
                    str(lfw),
                    "--crop",
                    crop,
                    "--output",
                    str(tmp / "aligned"),
                )
            )
            report(f"  {align['wall_s']:.0f}s; faces-embed")
            embed = measured(
                lambda: submit_workload(
                    provider,
                    workdir,
                    "faces-embed",
                    "--input",
                    str(tmp / "aligned"),
                    "--output",
                    str(tmp / "embeddings"),
                    *args,
                )
            )
            report(f"  {embed['wall_s']:.0f}s; faces-classify, faces-verify")
            classify = submit_workload(
                provider,
                workdir,
                "faces-classify",
                "--input",
                str(tmp / "embeddings"),
                "--output",
                str(tmp / "classifier"),
            )
            verify = submit_workload(
                provider,
                workdir,
                "faces-verify",
                "--input",
                str(tmp / "embeddings"),
                "--pairs",
                str(meta / "pairs.txt"),
                "--output",
                str(tmp / "verify"),
            )
            sample = _copy_sample(people, tmp / "sample", detector_sample, seed=7)
            detectors = {}
            for detector in DETECTORS:
                report(f"detector {detector} on {detector_sample} images")
                s = submit_workload(
                    provider,
                    workdir,
                    "faces-align",
                    "--input",
                    str(sample),
                    "--detector",
                    detector,
                    "--crop",
                    "square",  # the crop all four detectors can make (the template needs mouth corners)
                    "--no-crops",
                    "--output",
                    str(tmp / f"det-{detector}"),
                )["summary"]
                detectors[detector] = {
                    "files": s["files"],
                    "align_s": s["timings"]["align_s"],
                    "no_face": s["no_face"],
                    "images_per_s_per_core": s["images_per_s_per_core"],
                }
            report("streaming")
            rng = random.Random(11)
            known = [f for name in sorted(people) if len(people[name]) >= 40 for f in people[name][30:]]
            snapshots = rng.sample(known, min(stream_files + 1, len(known)))
            stream = _stream(provider, workdir, snapshots, tmp, tmp / "classifier", args, 2.0, report)

    a = align["summary"]
    failed = a["no_face"] + a["undecodable"]
    summary = {
        "align_embed_s": round(align["wall_s"] + embed["wall_s"], 1),
        "align": {
            "wall_s": align["wall_s"],
            "cpu_s": align["cpu_s"],
            "files": a["files"],
            "failed": failed,
            "failed_rate": round(failed / a["files"], 5),
            "summary": a,
        },
        "embed": {"wall_s": embed["wall_s"], "cpu_s": embed["cpu_s"], "summary": embed["summary"]},
        "classify": classify["summary"],
        "verify": verify["summary"],
        "detectors": detectors,
        "stream": stream,
    }
    gates = classify["summary"]["open_set"]
    checks = {
        "align_embed_s": summary["align_embed_s"] <= TARGETS["align_embed_s"],
        "failed_rate": summary["align"]["failed_rate"] <= TARGETS["failed_rate"],
        "identity_accuracy": classify["summary"]["accuracy"] >= TARGETS["identity_accuracy"],
        "pairs_accuracy": verify["summary"]["accuracy_mean"] >= TARGETS["pairs_accuracy"],
        "known_named_rate": gates["known_named_rate"] >= TARGETS["known_named_rate"],
        "unknown_rejected_rate": gates["unknown_rejected_rate"] >= TARGETS["unknown_rejected_rate"],
        "stream_p50_s": stream["p50_s"] <= TARGETS["stream_p50_s"],
        "stream_p95_s": stream["p95_s"] <= TARGETS["stream_p95_s"],
    }
    doc = {
        "benchmark": "faces",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "lfw": str(lfw),
        "meta": str(meta),
        "workers": workers,
        **embedder,
        "embedder_args": args,
        "name": name,
        "dlib": _dlib_build() if embedder["model"] == "dlib_resnet" else None,
        "models": {"align": a.get("models"), "embed": embed["summary"]["model"]},
        "targets": TARGETS,
        "met": checks,
        "summary": summary,
    }
    return write_results(out_dir, name, doc, _markdown(doc))
