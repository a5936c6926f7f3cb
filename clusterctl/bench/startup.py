"""Start-up benchmark: local ``up`` and a trivial job's spark-submit, default vs tuned JVM flags."""

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clusterctl.bench.common import machine_info, write_results
from clusterctl.config.render import render
from clusterctl.config.spec import parse_spec
from clusterctl.demo import demo_spec
from clusterctl.errors import ClusterctlError
from clusterctl.jobs import resolve_job
from clusterctl.progress import Reporter, silent
from clusterctl.providers.local.provider import LocalProvider
from clusterctl.workdir import Workdir

MODES = ("default", "tuned")  # tuned = tuning.fast_jvm_start (C1-only JIT for daemons and drivers)


def _one_round(mode: str, workers: int, home: Path, report: Reporter) -> dict[str, float]:
    data = demo_spec(workers, name=f"bench-{mode}")
    data["tuning"] = {"fast_jvm_start": mode == "tuned"}
    spec = parse_spec(data, "bench spec")
    workdir = Workdir.for_cluster(spec.name, home)
    provider = LocalProvider(spec, workdir)
    render(provider)
    try:
        start = time.monotonic()
        provider.up(silent)
        up_s = time.monotonic() - start
        job = resolve_job("pi", ("--samples", "20000", "--partitions", str(2 * workers)), workdir.root)
        result = provider.submit(job, silent, silent)
        if result.exit_code != 0:
            raise ClusterctlError(f"benchmark job failed; see {result.driver_log}")
    finally:
        provider.down(silent)
    report(f"{mode}: up {up_s:.1f}s, submit {result.wall_seconds:.1f}s")
    return {"up_s": round(up_s, 3), "submit_s": round(result.wall_seconds, 3)}


def _markdown(doc: dict[str, Any]) -> str:
    m, s = doc["machine"], doc["summary"]
    lines = [
        "# Local cluster start-up: default JVM flags vs tuned (C1-only JIT)",
        "",
        f"Measured {doc['date']} on {m['cpus']} CPUs / {m['memory_gib']} GiB, Java {m['java']}, "
        f"Spark {m['spark']}, Python {m['python']}; {doc['workers']} workers, {doc['repeats']} interleaved repeats.",
        f"Reproduce: `clusterctl bench startup --repeats {doc['repeats']} --workers {doc['workers']}`.",
        "",
        "| metric | default (median) | tuned (median) | tuned / default |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("up_s", "`up` until all workers registered (s)"),
        ("submit_s", "trivial job, spark-submit wall time (s)"),
    ):
        lines.append(f"| {label} | {s['default'][key]:.2f} | {s['tuned'][key]:.2f} | {s['ratio'][key]:.2f} |")
    lines += ["", "Every repeat (s):", "", "| repeat | mode | up | submit |", "|---|---|---|---|"]
    for row in doc["runs"]:
        lines.append(f"| {row['repeat']} | {row['mode']} | {row['up_s']:.2f} | {row['submit_s']:.2f} |")
    lines += [
        "",
        "tuned = `tuning.fast_jvm_start: true` (the default): `-XX:TieredStopAtLevel=1` for the driver "
        "and spark-class's launcher JVM, plus `-XX:+UseSerialGC` for the master/worker daemons.",
        "",
    ]
    return "\n".join(lines)


def run_startup_bench(repeats: int, workers: int, out_dir: Path, report: Reporter) -> dict[str, Any]:
    """Time local ``up`` and a trivial spark-submit, default vs tuned JVM flags, interleaved.

    Writes ``startup.json`` and ``startup.md`` into ``out_dir`` and returns the JSON document
    (plus the markdown path under ``"markdown"``).
    """
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="clusterctl-bench-") as tmp:
        for repeat in range(1, repeats + 1):
            order = MODES if repeat % 2 else tuple(reversed(MODES))  # alternate who goes first
            for mode in order:
                report(f"repeat {repeat}/{repeats}: {mode}", repeat - 1, repeats)
                runs.append({"repeat": repeat, "mode": mode, **_one_round(mode, workers, Path(tmp), report)})
    summary: dict[str, Any] = {
        mode: {key: statistics.median(float(r[key]) for r in runs if r["mode"] == mode) for key in ("up_s", "submit_s")}
        for mode in MODES
    }
    summary["ratio"] = {key: summary["tuned"][key] / summary["default"][key] for key in ("up_s", "submit_s")}
    doc = {
        "benchmark": "startup",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "workers": workers,
        "repeats": repeats,
        "runs": runs,
        "summary": summary,
    }
    return write_results(out_dir, "startup", doc, _markdown(doc))
