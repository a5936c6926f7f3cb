"""Two sessions of one suite compared: which (workers, size, mode) got slower beyond the noise either measured.

For each row both sessions have: the change in median wall time (B over A, minus one) and in images/s; the
noise is the larger of the two rows' spread, (max - min) / median of their repeats, and never below
``NOISE_FLOOR``. A slowdown beyond the noise is a regression; a speed-up beyond it is ``faster``; anything
within it is ``same``. A row whose image counts differ (other inputs) is ``not comparable``, never a verdict.
"""

from typing import Any

from clusterctl.errors import SpecError

NOISE_FLOOR = 0.05  # 5%: below this, one repeat's spread on a shared 2-core machine says little


def _key(row: dict[str, Any]) -> tuple[int, str, str]:
    return row["workers"], str(row["size"]), row["mode"]


def _about(doc: dict[str, Any]) -> dict[str, Any]:
    git = doc.get("git") or {}
    return {
        "date": doc["date"],
        "command": doc["command"],
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "inputs_digest": doc["inputs"]["digest"],
        "cpus": doc["machine"]["cpus"],
    }


def compare(a: dict[str, Any], b: dict[str, Any], floor: float = NOISE_FLOOR) -> dict[str, Any]:
    """Rows of A vs B (``b`` the newer, usually) and the verdict: ``regression`` when any row is one."""
    if a["suite"] != b["suite"]:
        raise SpecError(f"sessions of different suites ({a['suite']} vs {b['suite']}) do not compare")
    rows_a = {_key(r): r for r in a["summary"]["rows"]}
    rows_b = {_key(r): r for r in b["summary"]["rows"]}
    rows = []
    for key in list(rows_a) + [k for k in rows_b if k not in rows_a]:
        workers, size, mode = key
        ra, rb = rows_a.get(key), rows_b.get(key)
        row: dict[str, Any] = {"workers": workers, "size": size, "mode": mode}
        if ra is None or rb is None:
            rows.append(row | {"verdict": "only in A" if rb is None else "only in B"})
            continue
        wall_a, wall_b = ra["wall_s"]["median"], rb["wall_s"]["median"]
        noise = max(ra["spread"], rb["spread"], floor)
        change = wall_b / wall_a - 1 if wall_a > 0 else 0.0
        if ra["images"] != rb["images"]:
            verdict = "not comparable"
        elif change > noise:
            verdict = "regression"
        elif change < -noise:
            verdict = "faster"
        else:
            verdict = "same"
        rows.append(
            row
            | {
                "images": rb["images"],
                "wall_a_s": wall_a,
                "wall_b_s": wall_b,
                "wall_change": round(change, 4),
                "images_per_s_a": ra["images_per_s"],
                "images_per_s_b": rb["images_per_s"],
                "images_per_s_change": round(rb["images_per_s"] / ra["images_per_s"] - 1, 4)
                if ra["images_per_s"]
                else None,
                "noise": round(noise, 4),
                "verdict": verdict,
            }
        )
    regressions = [r for r in rows if r["verdict"] == "regression"]
    warnings = []
    if a["inputs"]["digest"] != b["inputs"]["digest"]:
        warnings.append("the inputs differ (file list digest): rows of the same size are other images")
    if a["machine"]["cpus"] != b["machine"]["cpus"]:
        warnings.append(f"measured on {a['machine']['cpus']} vs {b['machine']['cpus']} CPUs")
    return {
        "suite": a["suite"],
        "a": _about(a),
        "b": _about(b),
        "noise_floor": floor,
        "rows": rows,
        "regressions": len(regressions),
        "verdict": "regression" if regressions else "no regression",
        "warnings": warnings,
    }
