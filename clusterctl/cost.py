"""What a cluster costs: $/h now, $ so far, and $ per million images from the latest throughput benchmark."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clusterctl.config.sizing import compute_sizing
from clusterctl.config.spec import ClusterSpec
from clusterctl.providers.base import ClusterStatus, NodeCost, hourly_total


def latest_throughput(bench_dir: Path) -> tuple[float, str] | None:
    """(images/s per executor core, file) from the newest benchmark JSON (sessions/ included) that records one."""
    best: tuple[str, float, str] | None = None
    for path in sorted(bench_dir.rglob("*.json")) if bench_dir.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        rate = doc.get("summary", {}).get("images_per_s_per_core") if isinstance(doc, dict) else None
        if isinstance(rate, int | float) and rate > 0 and (best is None or doc.get("date", "") > best[0]):
            best = (doc.get("date", ""), float(rate), str(path))
    return (best[1], best[2]) if best else None


def cost_report(
    spec: ClusterSpec, costs: list[NodeCost], status: ClusterStatus, bench_dir: Path, now: datetime | None = None
) -> dict[str, Any]:
    """Cost figures for ``spec`` priced at ``costs`` (the provider's ``node_costs()``) in its current ``status``."""
    hourly = hourly_total(costs)
    running = status.state not in ("stopped",)
    hours = None
    if running and status.started_at:
        started = datetime.fromisoformat(status.started_at)
        hours = max(0.0, ((now or datetime.now(UTC)) - started).total_seconds() / 3600)
    report: dict[str, Any] = {
        "cluster": spec.name,
        "provider": spec.provider,
        "region": spec.region,
        "state": status.state,
        "usd_per_hour": hourly if running else 0.0,
        "usd_per_hour_when_running": hourly,
        "hours_running": round(hours, 3) if hours is not None else None,
        "usd_so_far": round(hourly * hours, 2) if hourly is not None and hours is not None else None,
        "usd_per_million_images": None,
        "throughput_source": None,
    }
    rate = latest_throughput(bench_dir)
    if rate and hourly is not None:
        cores = compute_sizing(spec).total_executor_cores
        seconds = 1e6 / (rate[0] * cores)
        report["usd_per_million_images"] = round(hourly * seconds / 3600, 2)
        report["throughput_source"] = f"{rate[1]} ({rate[0]:.1f} images/s per core x {cores} cores)"
    return report
