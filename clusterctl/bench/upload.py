"""Upload benchmark: one image folder to each destination, one file at a time vs ``--concurrency`` at once.

Every run writes under a fresh sub-prefix of its destination (timestamped), so nothing is skipped; the manifest is
computed once, before any timing. Runs are interleaved (sequential and parallel alternate who goes
first) so that both see the same machine.
"""

import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clusterctl.bench.common import machine_info, write_results
from clusterctl.data.manifest import build_manifest, summarize
from clusterctl.data.upload import open_store, upload
from clusterctl.errors import ClusterctlError
from clusterctl.progress import Reporter, silent


def markdown(doc: dict[str, Any]) -> str:
    """The results' markdown, from their JSON document."""
    m, data = doc["machine"], doc["data"]
    lines = [
        "# Upload throughput: one file at a time vs parallel",
        "",
        f"Measured {doc['date']} on {m['cpus']} CPUs / {m['memory_gib']} GiB, Python {m['python']}; "
        f"{data['files']:,} files ({data['bytes'] / 1e6:,.1f} MB) from `{data['path']}`, "
        f"{doc['repeats']} interleaved repeat(s). Reproduce: `{doc['command']}`.",
        "",
        "| destination | files at once | wall (s, median) | files/s | MB/s | parallel speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for target, modes in doc["summary"].items():
        for mode in ("sequential", "parallel"):
            row = modes[mode]
            speedup = f"**{modes['speedup']:.2f}x**" if mode == "parallel" else ""
            lines.append(
                f"| {doc['labels'][target]} | {row['concurrency']} | {row['seconds']:.1f} | {row['files_per_s']:.0f} "
                f"| {row['mb_per_s']:.2f} | {speedup} |"
            )
    for note in doc["notes"]:
        lines += ["", note]
    lines.append("")
    return "\n".join(lines)


def run_upload_bench(
    data: Path,
    targets: list[str],
    concurrency: int,
    repeats: int,
    out_dir: Path,
    region: str,
    command: str,
    labels: dict[str, str] | None = None,
    notes: list[str] | None = None,
    hadoop_conf: Path | None = None,
    report: Reporter = silent,
) -> dict[str, Any]:
    """Time uploads of ``data`` to each of ``targets`` (URIs), sequential vs ``concurrency``; write upload.{json,md}."""
    report(f"manifest of {data}")
    entries = build_manifest(data, report=report)
    facts = summarize(entries)
    runs: list[dict[str, Any]] = []
    modes = {"sequential": 1, "parallel": concurrency}
    # A prefix of its own per run: what an earlier, interrupted run left behind must not count as done.
    session = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    for repeat in range(1, repeats + 1):
        order = list(modes) if repeat % 2 else list(reversed(modes))
        for target in targets:
            for mode in order:
                dest = f"{target.rstrip('/')}/{session}-run-{repeat}-{mode}"
                report(f"repeat {repeat}/{repeats}: {mode} to {target}")
                store = open_store(dest, region, hadoop_conf=hadoop_conf)
                try:
                    result = upload(data, store, modes[mode], entries=entries, report=report)
                finally:
                    store.close()
                if result.failed or not result.verify["ok"] or result.skipped:
                    raise ClusterctlError(f"benchmark upload to {dest} did not upload everything; see its report")
                got = result.to_dict()
                runs.append({"repeat": repeat, "target": target, "mode": mode, "concurrency": modes[mode]} | got)
                report(f"  {got['files_per_s']} files/s, {got['mb_per_s']} MB/s")
    summary: dict[str, Any] = {}
    for target in targets:
        per: dict[str, Any] = {}
        for mode, conc in modes.items():
            mine = [r for r in runs if r["target"] == target and r["mode"] == mode]
            per[mode] = {
                "concurrency": conc,
                "seconds": statistics.median(r["seconds"] for r in mine),
                "files_per_s": statistics.median(r["files_per_s"] for r in mine),
                "mb_per_s": statistics.median(r["mb_per_s"] for r in mine),
            }
        per["speedup"] = round(per["sequential"]["seconds"] / max(per["parallel"]["seconds"], 1e-9), 2)
        summary[target] = per
    doc = {
        "benchmark": "upload",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "command": command,
        "data": {"path": str(data), "files": facts["files"], "bytes": facts["bytes"]},
        "labels": {t: (labels or {}).get(t, t) for t in targets},
        "notes": notes or [],
        "repeats": repeats,
        "runs": runs,
        "summary": summary,
    }
    return write_results(out_dir, "upload", doc, markdown(doc))
