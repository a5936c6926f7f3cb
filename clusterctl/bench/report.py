"""A session's report: markdown and three PNG plots beside it, with the published figures drawn alongside.

- ``<stem>-time.png``: wall time vs images, one line per mode and worker count (median, whiskers min to max);
- ``<stem>-scaling.png``: throughput vs workers at the largest size, with each mode's ideal (linear from the
  fewest workers) dotted;
- ``<stem>-phases.png``: where the time goes at the largest size, stacked per mode and worker count.
"""

from pathlib import Path
from typing import Any

from clusterctl.bench.published import Published, published_for
from clusterctl.bench.session import MODES, SPARK_MODES, load_session

COLOURS = {"warm": "tab:orange", "cold": "tab:blue", "plain": "tab:green"}
MARKERS = "osD^vP*X"
MODE_WORDS = {
    "warm": "the Spark job in the cluster's warm driver (no JVM, interpreter or model start; when a cold run "
    "restarted the driver, after one untimed warm run on a small subset)",
    "cold": "the Spark job through spark-submit (`submit --cold`: launcher, driver and executors start)",
    "plain": "N single-thread Python processes side by side, one per executor core, each on 1/N of the files "
    "(images / the slowest process's wall)",
}
PHASE_WORDS = {"outside_s": "outside_s: launch, JVM/interpreter start, stop (outside the job's timer)"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["summary"]["rows"]


def largest(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the size with the most images."""
    rows = _rows(doc)
    most = max(r["images"] for r in rows)
    return [r for r in rows if r["images"] == most]


def _series(rows: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Rows by (mode, workers), each sorted by images."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault((row["mode"], row["workers"]), []).append(row)
    return {k: sorted(v, key=lambda r: r["images"]) for k, v in sorted(out.items(), key=lambda kv: kv[0][1])}


def _our_spark_row(doc: dict[str, Any], mode: str) -> dict[str, Any] | None:
    rows = [r for r in largest(doc) if r["mode"] == mode]
    return max(rows, key=lambda r: r["workers"]) if rows else None


def ours_for(doc: dict[str, Any], pub: Published) -> str:
    """This session's figure beside a published one, in words."""
    if pub.compares_with in ("images_per_h_vcpu", "usd_per_million"):
        parts = []
        for mode in SPARK_MODES:
            row = _our_spark_row(doc, mode)
            if row is None:
                continue
            where = f"{mode}, {row['workers']} workers, {row['images']:,} images"
            if pub.compares_with == "images_per_h_vcpu":
                parts.append(f"{row['images_per_h_vcpu']:,.0f} ({where}; model work alone {_n(row, 'work')})")
            elif row["usd_per_million_images"] is not None:
                parts.append(f"${row['usd_per_million_images']:.2f} ({where})")
        return "; ".join(parts) or "—"
    if pub.compares_with == "wall":
        rows = [r for r in _rows(doc) if r["images"] == pub.images and r["mode"] == pub.mode]
        if not rows:
            return f"— (this session has no {pub.mode} run of {pub.images:,} images: add it to --sizes)"
        same = [r for r in rows if r["workers"] == pub.workers]
        row = same[0] if same else max(rows, key=lambda r: r["workers"])
        wall = row["jobs_wall_s"].get(pub.job, row["wall_s"]["median"]) if pub.job else row["wall_s"]["median"]
        what = f"{pub.job} only, " if pub.job else ""
        return f"{wall:,.1f} s ({what}{pub.mode}, {row['workers']} workers)"
    return "not measured by sessions (`clusterctl bench faces` times streaming: benchmarks/faces.md)"


def _n(row: dict[str, Any], kind: str) -> str:
    value = row.get(f"{kind}_images_per_h_vcpu")
    return f"{value:,.0f}" if value else "—"


def _wall(row: dict[str, Any]) -> str:
    w = row["wall_s"]
    return f"{w['min']:.1f} / **{w['median']:.1f}** / {w['max']:.1f}"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def markdown(doc: dict[str, Any], images: dict[str, str]) -> str:
    """The report's markdown; ``images`` names the plot files (relative to the markdown)."""
    m, v, inputs = doc["machine"], doc["versions"], doc["inputs"]
    model = v.get("model") or {}
    model_words = f"model {model.get('name')}"
    if model.get("weights_sha256"):
        model_words += f" (`{model['weights_file']}` sha256 `{model['weights_sha256'][:12]}…`)"
    for name, info in (model.get("files") or {}).items():
        model_words += f", {name} `{info['file']}` sha256 `{info['sha256'][:12]}…`"
    libs = "".join(f", {k} {v[k]}" for k in ("pyspark", "torch", "opencv", "numpy") if v.get(k))
    git = doc.get("git")
    git_words = "no git checkout"
    if git:
        git_words = f"git `{git['commit'][:12]}`" + (" (with uncommitted changes)" if git["dirty"] else "")
    lines = [
        f"# Benchmark session: {doc['title']}",
        "",
        f"Measured {doc['date']} on {m['cpus']} CPUs / {m['memory_gib']} GiB ({m['platform']}); Python {v['python']}, "
        f"Java {v.get('java')}, Spark {v.get('spark')}{libs}; {model_words}; {git_words}.",
        f"Input `{inputs['data']}`: {inputs['files']:,} images in {inputs['classes']:,} classes (file list sha256 "
        f"`{inputs['digest'][:12]}…`); sizes {', '.join(map(str, doc['sizes']))} (seeded subsets, seed "
        f"{next(iter(doc['subsets'].values()))['seed']}); workers {', '.join(map(str, doc['workers']))}; "
        f"{doc['repeats']} run(s) of each mode, interleaved (the order alternates from one repeat to the next).",
        "",
        "Re-run (from the repository's root):",
        "",
        "```bash",
        doc["command"],
        "```",
        "",
        "Modes: " + "; ".join(f"**{mode}** = {MODE_WORDS[mode]}" for mode in doc["modes"]) + ".",
    ]
    if "warm" in doc["modes"] and not doc.get("warm_driver"):
        lines.append("No warm driver served these runs: the warm runs went through spark-submit like the cold ones.")
    pricing = doc["pricing"]
    notes = sorted({p["note"] for p in pricing.values()})
    per_vcpu = ", ".join(f"{w} workers ${p['usd_per_vcpu_hour']:.4f}" for w, p in pricing.items())
    lines += [
        "",
        f"Prices: $ per 1M images = $ per vCPU-hour x vCPUs used x wall time / images; {'; '.join(notes)} "
        f"($ per vCPU-hour: {per_vcpu}). vCPUs used = the cluster's executor cores (Spark) or processes (plain).",
        "",
        "## Results",
        "",
        "| workers | images | mode | wall s (min / median / max) | images/s | images/(h·vCPU) | model work "
        "images/(h·vCPU) | $ per 1M images | wall / plain | work vs plain |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in _rows(doc):
        usd = f"{r['usd_per_million_images']:.2f}" if r["usd_per_million_images"] is not None else "—"
        lines.append(
            f"| {r['workers']} | {r['images']:,} | {r['mode']} | {_wall(r)} | {r['images_per_s']:.2f} | "
            f"{r['images_per_h_vcpu']:,.0f} | {_n(r, 'work')} | {usd} | {_ratio(r['ratio_to_plain'])} | "
            f"{_ratio(r['work_ratio_to_plain'])} |"
        )
    work = " + ".join(f"`{p}`" for p in doc["work_phases"])
    lines += [
        "",
        f"Model work = the job's {work} phase{'s' if len(doc['work_phases']) > 1 else ''} (plain: the slowest "
        "process's). wall / plain: the mode's median wall over plain's (lower is better); work vs plain: its "
        "model-work throughput over plain's (higher is better). Every run is in the session JSON.",
        "",
    ]
    published = published_for(doc["suite"])
    if published:
        lines += [
            "## Published figures beside this session's",
            "",
            "| published | source | this session |",
            "|---|---|---|",
        ]
        for pub in published:
            note = f" ({pub.note})" if pub.note else ""
            lines.append(f"| {pub.value:,g} {pub.unit}{note} | {pub.source} | {ours_for(doc, pub)} |")
        lines.append("")
    lines += [
        "## Plots",
        "",
        f"![Wall time vs images]({images['time']})",
        "",
        f"![Throughput vs workers]({images['scaling']})",
        "",
        f"![Where the time goes]({images['phases']})",
        "",
    ]
    lines += _phase_table(doc)
    return "\n".join(lines)


def _nested(doc: dict[str, Any], row: dict[str, Any]) -> set[str]:
    """The row's phases spent inside another of its phases."""
    found = doc.get("nested_phases", {})
    return {child for parent, children in found.items() if parent in row["phases"] for child in children}


def _stack(doc: dict[str, Any], row: dict[str, Any]) -> dict[str, float]:
    """The phases of a row that follow one another (nested ones and the total left out), then ``outside_s``."""
    skip = {"total_s", *_nested(doc, row)}
    return {k: v for k, v in row["phases"].items() if k not in skip}


def _phase_table(doc: dict[str, Any]) -> list[str]:
    rows = largest(doc)
    names = list(dict.fromkeys(k for r in rows for k in r["phases"] if k != "total_s"))
    nested = set.union(*(_nested(doc, r) for r in rows))
    lines = [
        f"## Where the time goes ({rows[0]['images']:,} images, median seconds)",
        "",
        "| phase | " + " | ".join(f"{r['mode']}, {r['workers']} w" for r in rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for name in names:
        label = f"{name} (in the Spark job: within another phase)" if name in nested else PHASE_WORDS.get(name, name)
        lines.append(f"| {label} | " + " | ".join(f"{r['phases'].get(name, 0.0):.2f}" for r in rows) + " |")
    return [*lines, ""]


def _published_walls(doc: dict[str, Any]) -> list[Published]:
    return [p for p in published_for(doc["suite"]) if p.wall_s is not None and p.images is not None]


def plot_time(doc: dict[str, Any], path: Path) -> None:
    """Wall time vs images per mode and worker count, published times as stars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, ((mode, workers), rows) in enumerate(_series(_rows(doc)).items()):
        x = [r["images"] for r in rows]
        y = [r["wall_s"]["median"] for r in rows]
        err = [
            [r["wall_s"]["median"] - r["wall_s"]["min"] for r in rows],
            [r["wall_s"]["max"] - r["wall_s"]["median"] for r in rows],
        ]
        ax.errorbar(
            x, y, yerr=err, color=COLOURS[mode], marker=MARKERS[i % len(MARKERS)], capsize=3,
            linestyle="-" if workers == max(doc["workers"]) else "--", label=f"{mode}, {workers} workers",
        )  # fmt: skip
    for pub in _published_walls(doc):
        assert pub.images is not None and pub.wall_s is not None
        ax.plot([pub.images], [pub.wall_s], marker="*", markersize=14, color="black", linestyle="none")
        where = f", {pub.workers} workers" if pub.workers else ""
        ax.annotate(f"published: {pub.value:g} {pub.unit}{where}", (pub.images, pub.wall_s), fontsize=7,
                    xytext=(6, 4), textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("images")
    ax.set_ylabel("wall time (s), median; whiskers min-max")
    ax.set_title(f"{doc['suite']}: wall time vs images ({doc['date'][:10]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_scaling(doc: dict[str, Any], path: Path) -> None:
    """Images/s vs workers at the largest size; each mode's ideal line (linear from its fewest workers) dotted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    rows = largest(doc)
    for mode in MODES:
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["workers"])
        if not mine:
            continue
        x = [r["workers"] for r in mine]
        ax.plot(x, [r["images_per_s"] for r in mine], marker="o", color=COLOURS[mode], label=f"{mode}")
        first = mine[0]
        ideal = [first["images_per_s"] * r["vcpus"] / first["vcpus"] for r in mine]
        ax.plot(x, ideal, linestyle=":", color=COLOURS[mode], label=f"{mode}, ideal (linear from {x[0]} workers)")
    vcpus = {r["workers"]: r["vcpus"] for r in rows}
    for pub in published_for(doc["suite"]):
        if pub.compares_with == "images_per_h_vcpu":
            xs = sorted(vcpus)
            ax.plot(xs, [pub.value / 3600 * vcpus[w] for w in xs], color="black", linestyle="-.", linewidth=1,
                    label=f"published: {pub.value:,g} {pub.unit}")  # fmt: skip
        elif pub.compares_with == "wall" and pub.workers and pub.mode != "plain":
            assert pub.images is not None and pub.wall_s is not None
            rate = pub.images / pub.wall_s
            ax.plot([pub.workers], [rate], marker="*", markersize=14, color="black", linestyle="none")
            ax.annotate(f"published: {pub.images:,} in {pub.value:g} {pub.unit}", (pub.workers, rate), fontsize=7,
                        xytext=(6, 4), textcoords="offset points")  # fmt: skip
    ax.set_xlabel("workers")
    ax.set_ylabel("images/s (end to end, median wall)")
    ax.set_title(f"{doc['suite']}: throughput vs workers, {rows[0]['images']:,} images")
    ax.set_xticks(sorted({r["workers"] for r in rows}))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_phases(doc: dict[str, Any], path: Path) -> None:
    """Stacked median phase seconds per mode and worker count at the largest size."""
    import matplotlib

    plt = _pyplot()
    rows = largest(doc)
    stacks = [_stack(doc, r) for r in rows]
    names = list(dict.fromkeys(k for s in stacks for k in s))
    cmap = matplotlib.colormaps["tab20"]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows) + 3), 5))
    labels = [f"{r['mode']}\n{r['workers']} w" for r in rows]
    bottom = [0.0] * len(rows)
    for i, name in enumerate(names):
        values = [s.get(name, 0.0) for s in stacks]
        ax.bar(labels, values, bottom=bottom, color=cmap(i % 20), label=PHASE_WORDS.get(name, name))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("seconds (median per phase)")
    ax.set_title(f"{doc['suite']}: where the time goes, {rows[0]['images']:,} images")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_report(session: Path, out_dir: Path | None = None) -> dict[str, str]:
    """Render ``session`` (a session JSON) into ``out_dir`` (default: beside it): ``<stem>.md`` and its three
    PNGs; their paths, and the session's re-run command."""
    doc = load_session(session)
    out = out_dir or session.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = session.stem
    pngs = {kind: out / f"{stem}-{kind}.png" for kind in ("time", "scaling", "phases")}
    plot_time(doc, pngs["time"])
    plot_scaling(doc, pngs["scaling"])
    plot_phases(doc, pngs["phases"])
    md = out / f"{stem}.md"
    md.write_text(markdown(doc, {kind: p.name for kind, p in pngs.items()}))
    return {"session": str(session), "markdown": str(md), "command": doc["command"]} | {
        f"{kind}_png": str(p) for kind, p in pngs.items()
    }
