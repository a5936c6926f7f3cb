"""Benchmark sessions: one suite over sizes x worker counts x repeats, Spark against the plain baseline in one run.

For each worker count N a fresh cluster comes up (default: a local one of N 1-core workers; any spec can be
passed, of any provider whose worker machines clusterctl can run commands on). For each size a seeded subset of
the input is made here (``all`` = every image) and put where the cluster's jobs read (``placement``: read in
place by a local cluster, uploaded to the cluster's HDFS or bucket otherwise), and for each repeat three runs are
made, in an order that alternates from one repeat to the next so that a slow spell of the machine does not land
on one mode only:

- ``warm``: the Spark job through the cluster's warm driver (no JVM, interpreter or model start);
- ``cold``: the Spark job through ``submit --cold`` (spark-submit: launcher, driver and executor start included);
- ``plain``: the plain baseline on the cluster's own worker machines: as many single-thread Python processes as
  the cluster has executor cores, each machine running as many as it has executor cores, started together side
  by side, each on its own share of the subset's files (``placement.deal``), with the allocator and thread
  settings of the executors (``PLAIN_PROCESS_ENV``). Its figure is the images over the slowest process's wall.

The session document (``run_session``) records the inputs as the user gave them (paths relative to the
repository, ``../shared/...`` or ``$DATA/<name>``; never this machine's home, temporary or absolute paths),
the spec, instance types and prices, versions, the git commit, this machine and the worker machines, every run,
and a summary per (workers, size, mode): min/median/max wall, images/s, images/(h*vCPU), $ per 1M images, ratio
to plain, per-phase medians. Pricing (``pricing``): $ per vCPU-hour times the vCPUs a run used (executor cores
for Spark, processes for plain) times its wall time; the $ per vCPU-hour is the cluster's catalog price over its
executor cores, or, when its nodes have no price (this machine) or with ``price_as``, the catalog price of
that instance type (default ``m5.xlarge``) over its vCPUs, in the spec's region.
"""

import copy
import functools
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import clusterctl
from clusterctl.bench.common import bench_spec, machine_info, measured, spec_cluster, submit_workload
from clusterctl.bench.placement import ClusterStorage, PlainRunner
from clusterctl.config.catalog import load_catalog
from clusterctl.config.sizing import compute_sizing
from clusterctl.config.spec import parse_spec
from clusterctl.data.manifest import file_digest
from clusterctl.data.subset import DEFAULT_DATA, DEFAULT_LFW, class_images, make_sample
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.progress import Reporter, silent
from clusterctl.providers import get_provider
from clusterctl.providers.base import Provider, hourly_total
from clusterctl.workdir import Workdir, clusters_home

MODES = ("warm", "cold", "plain")
SPARK_MODES = ("warm", "cold")
DEFAULT_SIZES: tuple[int | str, ...] = (64, 320, 1000, "all")
DEFAULT_WORKERS = (1, 2)
DEFAULT_REPEATS = 3
DEFAULT_PRICE_AS = "m5.xlarge"  # what a machine without a catalog price (local) is priced as, per vCPU
DEFAULT_OUT = Path("benchmarks/sessions")
SUBSET_SEED = 1
WARM_UP_IMAGES = 64  # the untimed warm run before a measured one: enough to touch every code path
MAX_WORKERS = 8
Size = int | str  # a number of images, or "all"


# -- parsing the command line's lists -------------------------------------------------------------------------
def parse_sizes(text: str) -> list[Size]:
    """``"64,320,all"`` -> ``[64, 320, "all"]``: whole numbers >= 1 or ``all``, each once, in the order given."""
    sizes: list[Size] = []
    for item in (part.strip() for part in text.split(",")):
        if item.lower() == "all":
            value: Size = "all"
        elif item.isdigit() and int(item) >= 1:
            value = int(item)
        else:
            raise ValueError(f"{item!r} is not a size: use whole numbers of images >= 1 or 'all', e.g. 64,320,all")
        if value in sizes:
            raise ValueError(f"{item!r} is listed twice")
        sizes.append(value)
    return sizes


def parse_counts(text: str, low: int = 1, high: int = MAX_WORKERS) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``: whole numbers from ``low`` to ``high``, each once, sorted."""
    counts = []
    for item in (part.strip() for part in text.split(",")):
        if not item.isdigit() or not low <= int(item) <= high:
            raise ValueError(f"{item!r} is not a worker count: use whole numbers from {low} to {high}, e.g. 1,2")
        if int(item) in counts:
            raise ValueError(f"{item!r} is listed twice")
        counts.append(int(item))
    return sorted(counts)


def parse_modes(text: str) -> list[str]:
    """``"warm,plain"`` -> the modes in their fixed order (warm, cold, plain)."""
    given = [part.strip() for part in text.split(",")]
    unknown = [m for m in given if m not in MODES]
    if unknown or not given:
        raise ValueError(f"{unknown[0] if unknown else text!r} is not a mode: use some of {','.join(MODES)}")
    return [m for m in MODES if m in given]


# -- paths as the user gave them ------------------------------------------------------------------------------
def repo_root() -> Path | None:
    """The source checkout clusterctl runs from (its pyproject.toml), or None for an installed package."""
    root = Path(clusterctl.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def shared_root() -> Path | None:
    """``$CLUSTERCTL_SHARED``, else ``../shared`` beside the checkout (the data sets the benchmarks use)."""
    if os.environ.get("CLUSTERCTL_SHARED"):
        return Path(os.environ["CLUSTERCTL_SHARED"])
    repo = repo_root()
    return repo.parent / "shared" if repo else None


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, root: Path | None) -> str | None:
    """``path`` relative to ``root`` (posix), or None when it is not inside it."""
    if root is None:
        return None
    try:
        return path.relative_to(_real(root)).as_posix()
    except ValueError:
        return None


def portable_path(given: str | Path, cwd: Path | None = None) -> str:
    """``given`` as a session records it: relative to the repository when inside it, ``../shared/...`` (or
    ``$SHARED/...`` when ``$CLUSTERCTL_SHARED`` is elsewhere) inside the shared data, else a relative path as
    given; an absolute or home path elsewhere becomes ``$DATA/<its name>``. Never this machine's absolute path."""
    text = str(given)
    path = _real((cwd or Path.cwd()) / Path(text).expanduser())
    repo, shared = repo_root(), shared_root()
    if (rel := _inside(path, repo)) is not None:
        return rel or "."
    if (rel := _inside(path, shared)) is not None:
        beside = repo is not None and shared is not None and _real(shared) == _real(repo.parent / "shared")
        return f"{'../shared' if beside else '$SHARED'}/{rel}".rstrip("/")
    if not Path(text).is_absolute() and not text.startswith("~"):
        return text
    return f"$DATA/{path.name}"


def scrub(value: Any, prefixes: Iterable[tuple[str, str]] | None = None) -> Any:
    """``value`` (JSON-like) with this machine's paths replaced in every string: the repository -> ``.``, the
    shared data -> ``$SHARED``, temporary files -> ``$TMP``, the home directory -> ``~``. A last guard: the
    session builds its fields from paths as given, so normally nothing is left to replace."""
    if prefixes is None:
        found = [(repo_root(), "."), (shared_root(), "$SHARED"), (Path(tempfile.gettempdir()), "$TMP")]
        found += [(Path("/tmp"), "$TMP"), (Path.home(), "~")]
        pairs = {
            (str(form), token) for root, token in found if root for form in (root, _real(root)) if str(form) != "/"
        }
        prefixes = sorted(pairs, key=lambda p: -len(p[0]))
    prefixes = list(prefixes)
    if isinstance(value, str):
        for prefix, token in prefixes:
            value = re.sub(rf"(?<![\w./-]){re.escape(prefix)}(?=/|$|[^\w.-])", token, value)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, prefixes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, prefixes) for v in value]
    return value


def _arg(text: str) -> str:
    """One shell word: as it is when safe (``$SHARED`` left to expand), else in double quotes."""
    return text if re.fullmatch(r"[\w@%+=:,./$~-]+", text) else '"' + re.sub(r'(["\\`])', r"\\\1", text) + '"'


# -- the suites -----------------------------------------------------------------------------------------------
SparkRun = Callable[[Provider, Workdir, str, str, dict[str, Any], bool], dict[str, Any]]


@dataclass(frozen=True)
class Suite:
    """What a suite runs: its Spark jobs, its plain single-process baseline, and the model it records."""

    name: str
    title: str
    default_data: Path
    spark: SparkRun  # (provider, workdir, input, output, options, cold) -> wall_s, ran, images, timings
    plain_module: str  # ``python -m`` module of the baseline: --input DIR --output DIR, prints a JSON summary
    plain_args: Callable[[dict[str, Any]], list[str]]
    model: Callable[[dict[str, Any]], dict[str, Any]]
    work_phases: tuple[str, ...]  # the timings that are the model work (images over their sum: work throughput)
    # a phase -> the timings spent inside it, when a run has it (not stacked on top of it)
    nested_phases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


def _merged(**jobs: dict[str, Any]) -> dict[str, Any]:
    """Submits (by job name) as one run: walls and same-named timings added up, each job's wall kept."""
    timings: Counter = Counter()
    for run in jobs.values():
        timings.update(run["summary"]["timings"])
    ran = {run["ran"] for run in jobs.values()}
    return {
        "wall_s": round(sum(run["wall_s"] for run in jobs.values()), 3),
        "ran": ran.pop() if len(ran) == 1 else "mixed",
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "jobs": {name.replace("_", "-"): run["wall_s"] for name, run in jobs.items()},
    }


def _fruits_spark(
    provider: Provider, workdir: Workdir, data: str, out: str, options: dict[str, Any], cold: bool
) -> dict[str, Any]:
    args = ("--input", data, "--output", out, "--k", str(options["k"]), "--model", options["model"])
    run = submit_workload(provider, workdir, "fruits", *args, cold=cold)
    return _merged(fruits=run) | {"images": run["summary"]["images"]}


def _faces_spark(
    provider: Provider, workdir: Workdir, data: str, out: str, options: dict[str, Any], cold: bool
) -> dict[str, Any]:
    aligned = f"{out}/aligned"
    align = submit_workload(provider, workdir, "faces-align", "--input", data, "--output", aligned, cold=cold)
    embed = submit_workload(
        provider, workdir, "faces-embed", "--input", aligned, "--output", f"{out}/embeddings", cold=cold
    )
    return _merged(faces_align=align, faces_embed=embed) | {"images": align["summary"]["files"]}


def _fruits_model(options: dict[str, Any]) -> dict[str, Any]:
    from workloads.fruits.backends import get_backend

    backend = get_backend(options["model"])
    try:
        weights = backend.resolve_weights(None)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return {
        "name": backend.name,
        "framework": backend.framework,
        "dim": backend.dim,
        "weights_file": weights.name,
        "weights_sha256": file_digest(weights),
    }


def _faces_model(options: dict[str, Any]) -> dict[str, Any]:
    from workloads.faces.opencv_zoo import describe, model_file

    info = describe()
    try:  # the installed files, checked against the pinned sha256 that describe() lists
        for name in info["models"]:  # type: ignore[attr-defined]
            model_file(name)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return {
        "name": "yunet + sface",
        "detector": "auto (YuNet, MTCNN where YuNet finds no face)",
        "embedder": "sface",
        "opencv": info["opencv"],
        "files": info["models"],
    }


SUITES: dict[str, Suite] = {
    "fruits": Suite(
        name="fruits",
        title="Fruits pipeline (CNN features + StandardScaler + PCA)",
        default_data=DEFAULT_DATA,
        spark=_fruits_spark,
        plain_module="workloads.fruits.plain",
        plain_args=lambda o: ["--k", str(o["k"]), "--model", o["model"]],
        model=_fruits_model,
        work_phases=("features_s",),
        nested_phases={"output_s": ("write_s", "plots_s")},  # the Spark job writes while it plots
        defaults={"k": 300, "model": "efficientnet_lite0"},
    ),
    "faces": Suite(
        name="faces",
        title="Faces (LFW-style folder): align (YuNet) + embed (SFace)",
        default_data=DEFAULT_LFW,
        spark=_faces_spark,
        plain_module="workloads.faces.plain",
        plain_args=lambda o: [],
        model=_faces_model,
        work_phases=("align_s", "embed_s"),
    ),
}


def get_suite(name: str) -> Suite:
    """The suite called ``name``; a one-line error naming the choices otherwise."""
    if name not in SUITES:
        raise SpecError(f"unknown suite {name!r}; choose one of {', '.join(SUITES)}")
    return SUITES[name]


# -- inputs, subsets and the plain split ----------------------------------------------------------------------
def file_list_digest(root: Path, files: Iterable[Path]) -> str:
    """sha256 over the sorted ``relative path<TAB>size`` lines of ``files`` (under ``root``)."""
    lines = sorted(f"{f.relative_to(root).as_posix()}\t{f.stat().st_size}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def versions(suite: Suite, options: dict[str, Any]) -> dict[str, Any]:
    """Python, Java, Spark, the libraries the workloads use, and the model with its files' sha256."""
    found: dict[str, Any] = {"python": platform.python_version()}
    try:
        from clusterctl.providers.local.javaenv import find_runtime

        runtime = find_runtime()
        found |= {"java": runtime.java_major, "spark": runtime.spark_version}
    except ClusterctlError:
        found |= {"java": None, "spark": None}
    for key, dists in {
        "pyspark": ("pyspark",),
        "torch": ("torch",),
        "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless"),
        "numpy": ("numpy",),
        "pyarrow": ("pyarrow",),
    }.items():
        found[key] = next((v for d in dists if (v := _dist_version(d))), None)
    found["model"] = suite.model(options)
    return found


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_info(root: Path | None = None) -> dict[str, Any] | None:
    """The checkout's commit and whether tracked files differ from it; None outside a git checkout."""
    root = root or repo_root()
    if root is None:
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "dirty": bool(changes.strip())}


# -- prices ---------------------------------------------------------------------------------------------------
def type_price(instance_type: str, region: str, option: str = "--price-as") -> tuple[float, int]:
    """(on-demand $/h, vCPUs) of a catalog instance type in ``region``; a one-line error naming ``option``."""
    types = load_catalog().types
    if instance_type not in types:
        raise SpecError(f"{option} {instance_type}: not in the catalog; use one of {', '.join(types)}")
    price = types[instance_type].price(region)
    if price is None:
        raise SpecError(f"{option} {instance_type}: the catalog has no price in {region}; set the spec's region")
    return price, types[instance_type].vcpu


def pricing(usd_per_hour: float | None, executor_vcpus: int, region: str, price_as: str | None) -> dict[str, Any]:
    """How a cluster's runs are priced: $ per vCPU-hour and where it comes from (see the module's docstring)."""
    if price_as is None and usd_per_hour:
        return {
            "basis": "spec",
            "note": "the cluster's on-demand $/h (catalog) over its executor cores",
            "region": region,
            "usd_per_hour": usd_per_hour,
            "usd_per_vcpu_hour": round(usd_per_hour / executor_vcpus, 6),
        }
    chosen = price_as or DEFAULT_PRICE_AS
    price, vcpu = type_price(chosen, region)
    why = "as asked (--price-as)" if price_as else "the spec's nodes have no catalog price (this machine)"
    return {
        "basis": "price_as",
        "note": f"each vCPU used priced as a vCPU of {chosen} in {region}: {why}",
        "instance_type": chosen,
        "region": region,
        "usd_per_hour": price,
        "vcpus": vcpu,
        "usd_per_vcpu_hour": round(price / vcpu, 6),
    }


def _cluster_record(provider: Provider, workers: int, data: dict[str, Any], price_as: str | None) -> dict[str, Any]:
    spec = provider.spec
    sizing = compute_sizing(spec)
    vcpu = {shape.role: shape.vcpu for shape in (sizing.master, *sizing.workers)}
    costs = provider.node_costs()
    hourly = hourly_total(costs)
    vcpus = sizing.total_executor_cores
    return {
        "workers": workers,
        "spec": spec_record(data),
        "executor_vcpus": vcpus,
        "instance_types": [
            {
                "role": c.role,
                "instance_type": c.instance_type,
                "count": c.count,
                "vcpu": vcpu.get(c.role),
                "usd_per_hour": c.usd_per_hour,
            }
            for c in costs
        ],
        "usd_per_hour": hourly,
        "pricing": pricing(hourly, vcpus, spec.region, price_as),
    }


def spec_record(data: dict[str, Any]) -> dict[str, Any]:
    """The spec as a session records it: without the ports it was given (free ports, different every run)."""
    record = copy.deepcopy(data)
    section = record.get("local")
    if isinstance(section, dict):
        for key in [k for k in section if k.endswith("_port")]:
            del section[key]
        if not section:
            del record["local"]
    return record


# -- summary maths ---------------------------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def row_summary(runs: list[dict[str, Any]], usd_per_vcpu_hour: float | None, work_phases: tuple[str, ...]) -> dict:
    """The figures of one (workers, size, mode): min/median/max wall, throughput per vCPU-hour, $ per 1M images,
    the work phases' throughput, and the median of each phase (``outside_s``: wall minus the job's own total)."""
    walls = [r["wall_s"] for r in runs]
    wall = _median(walls)
    images = round(_median([r["images"] for r in runs]))
    vcpus = runs[0]["vcpus"]
    work = _median([sum(r["timings"].get(p, 0.0) for p in work_phases) for r in runs])
    per_s = images / wall if wall > 0 else 0.0
    work_per_s = images / work if work > 0 else None
    per_h_vcpu = per_s * 3600 / vcpus
    keys = list(dict.fromkeys(k for r in runs for k in r["timings"]))
    phases = {}
    if all("total_s" in r["timings"] for r in runs):  # first: launch and start come before the job's timer
        phases["outside_s"] = round(_median([r["wall_s"] - r["timings"]["total_s"] for r in runs]), 3)
    phases |= {k: round(_median([r["timings"][k] for r in runs if k in r["timings"]]), 3) for k in keys}
    jobs = list(dict.fromkeys(j for r in runs for j in r.get("jobs", {})))
    return {
        "runs": len(runs),
        "images": images,
        "vcpus": vcpus,
        "wall_s": {"min": min(walls), "median": round(wall, 3), "max": max(walls)},
        "spread": round((max(walls) - min(walls)) / wall, 4) if wall > 0 else 0.0,
        "cpu_s": round(_median([r.get("cpu_s", 0.0) for r in runs]), 1),
        "images_per_s": round(per_s, 3),
        "images_per_h_vcpu": round(per_h_vcpu, 1),
        "work_s": round(work, 3),
        "work_images_per_s": round(work_per_s, 3) if work_per_s else None,
        "work_images_per_h_vcpu": round(work_per_s * 3600 / vcpus, 1) if work_per_s else None,
        "usd_per_million_images": (
            round(usd_per_vcpu_hour * 1e6 / per_h_vcpu, 4) if usd_per_vcpu_hour is not None and per_h_vcpu else None
        ),
        "phases": phases,
        "jobs_wall_s": {j: round(_median([r["jobs"][j] for r in runs if j in r.get("jobs", {})]), 3) for j in jobs},
    }


def summarize(
    runs: list[dict[str, Any]], clusters: list[dict[str, Any]], work_phases: tuple[str, ...]
) -> dict[str, Any]:
    """Rows per (workers, size, mode) in run order, each with its ratios to the plain row of the same workers
    and size (wall: mode / plain, lower is better; work throughput: mode / plain, higher is better), and the
    headline ``images_per_s_per_core`` (work throughput per executor core of the warm, else cold, run at the
    largest size and most workers) that ``clusterctl cost`` reads."""
    price = {c["workers"]: c["pricing"]["usd_per_vcpu_hour"] for c in clusters}
    sizes = list(dict.fromkeys(str(r["size"]) for r in runs))
    keys = sorted(
        {(r["workers"], str(r["size"]), r["mode"]) for r in runs},
        key=lambda k: (k[0], sizes.index(k[1]), MODES.index(k[2])),
    )
    rows = []
    for workers, size, mode in keys:
        mine = [r for r in runs if (r["workers"], str(r["size"]), r["mode"]) == (workers, size, mode)]
        rows.append(
            {"workers": workers, "size": mine[0]["size"], "mode": mode}
            | row_summary(mine, price.get(workers), work_phases)
        )
    for row in rows:
        plain = next(
            (p for p in rows if (p["workers"], p["size"], p["mode"]) == (row["workers"], row["size"], "plain")), None
        )
        row["ratio_to_plain"] = round(row["wall_s"]["median"] / plain["wall_s"]["median"], 3) if plain else None
        row["work_ratio_to_plain"] = (
            round(row["work_images_per_s"] / plain["work_images_per_s"], 3)
            if plain and row["work_images_per_s"] and plain["work_images_per_s"]
            else None
        )
    summary: dict[str, Any] = {"rows": rows}
    spark = [r for r in rows if r["mode"] in SPARK_MODES and r["work_images_per_s"]]
    if spark:
        best = max(spark, key=lambda r: (r["images"], r["workers"], r["mode"] == "warm"))
        summary["images_per_s_per_core"] = round(best["work_images_per_s"] / best["vcpus"], 2)
        summary["images_per_s_per_core_from"] = f"{best['mode']}, {best['workers']} workers, {best['images']} images"
    return summary


# -- running a session -----------------------------------------------------------------------------------------
class _Plan:
    """The runs on one cluster: per size its input where the cluster reads it and its plain shares on the worker
    machines, per repeat each mode in alternating order."""

    def __init__(
        self,
        suite: Suite,
        provider: Provider,
        workdir: Workdir,
        options: dict[str, Any],
        vcpus: int,
        storage: ClusterStorage,
        plain: PlainRunner | None,
        subsets: Path,
        report: Reporter,
    ) -> None:
        self.suite, self.provider, self.workdir, self.options = suite, provider, workdir, options
        self.vcpus, self.storage, self.plain, self.report = vcpus, storage, plain, report
        self.subsets = subsets  # one folder per size, and warm-up
        self.warm_up: str | None = None
        self.last_spark: str | None = None

    def spark(self, mode: str, data: str, name: str) -> dict[str, Any]:
        """One Spark run. A warm run that follows a cold one (or opens the cluster) comes after one untimed
        warm run on a small subset (``WARM_UP_IMAGES``): a cold run takes the executors from the warm driver, which then
        starts afresh, and the measured warm run is to be its second job, not its first (cold JIT paths)."""
        if mode == "warm" and self.last_spark != "warm":
            self.report(f"  warm-up: one untimed warm run on {WARM_UP_IMAGES} images")
            if self.warm_up is None:
                self.warm_up = self.storage.input("warm-up", self.subsets / "warm-up", self.report)
            self._run(self.warm_up, "warm-up", cold=False)
        self.last_spark = mode
        return self._run(data, name, cold=mode == "cold")

    def _run(self, data: str, name: str, cold: bool) -> dict[str, Any]:
        """The suite's Spark job(s) on ``data``, writing to output ``name``, which is removed afterwards."""
        try:
            return self.suite.spark(self.provider, self.workdir, data, self.storage.output(name), self.options, cold)
        finally:
            self.storage.drop(name)

    def size(
        self, workers: int, size: Size, sample: list[Path], repeats: int, modes: list[str], progress: tuple[int, int]
    ) -> list[dict[str, Any]]:
        """Every run of one size: ``repeats`` x ``modes``, the order reversed every other repeat."""
        root = self.subsets / str(size)
        data = self.storage.input(str(size), root, self.report) if set(modes) & set(SPARK_MODES) else ""
        if self.plain is not None:
            self.plain.place(str(size), sample, root)
        runs: list[dict[str, Any]] = []
        for repeat in range(1, repeats + 1):
            for mode in modes if repeat % 2 else list(reversed(modes)):
                self.report(
                    f"{workers} workers, {size} images, repeat {repeat}/{repeats}: {mode}",
                    progress[0] + len(runs),
                    progress[1],
                )
                name = f"{workers}-{size}-{repeat}-{mode}"
                run = measured(
                    functools.partial(self.plain.run, str(size), name)
                    if self.plain is not None and mode == "plain"
                    else functools.partial(self.spark, mode, data, name)
                )
                runs.append(
                    {"workers": workers, "size": size, "repeat": repeat, "mode": mode, "vcpus": self.vcpus} | run
                )
                self.report(f"  {mode}: {run['wall_s']:.1f}s, {run['images']} images")
        if self.plain is not None:
            self.plain.forget(str(size))
        return runs


def rerun_command(
    suite: str,
    data: str,
    sizes: list[Size],
    workers: list[int],
    repeats: int,
    modes: list[str],
    out: str,
    spec: str | None = None,
    price_as: str | None = None,
) -> str:
    """The one command that runs the same session again (from the repository's root)."""
    words = ["clusterctl", "bench", "session", suite, "--data", _arg(data)]
    words += ["--sizes", ",".join(map(str, sizes)), "--workers", ",".join(map(str, workers))]
    words += ["--repeats", str(repeats)]
    words += ["--modes", ",".join(modes)] if list(modes) != list(MODES) else []
    words += ["--spec", _arg(spec)] if spec else []
    words += ["--price-as", price_as] if price_as else []
    return " ".join([*words, "--out", _arg(out)])


def run_session(
    suite_name: str,
    data: Path,
    sizes: list[Size],
    workers: list[int],
    repeats: int,
    modes: list[str] | None = None,
    spec: Path | None = None,
    price_as: str | None = None,
    out_dir: Path = DEFAULT_OUT,
    options: dict[str, Any] | None = None,
    report: Reporter = silent,
) -> dict[str, Any]:
    """Run a session of suite ``suite_name`` on the images under ``data``; return its document (not written).

    ``spec``: a spec file (YAML) for the clusters of any provider, its core count set to each of ``workers``
    (default: a local cluster of 1-core workers). The plain mode needs worker machines clusterctl runs commands
    on (not provider emr: there, leave it out).
    """
    import yaml

    suite = get_suite(suite_name)
    modes = list(modes or MODES)
    options = suite.defaults | (options or {})
    if repeats < 1 or not sizes or not workers:
        raise SpecError("a session needs at least one size, one worker count and one repeat")
    found = class_images(data)  # a bad folder fails before anything starts
    files = sorted(f for fs in found.values() for f in fs)
    base = None
    if spec is not None:
        try:
            base = yaml.safe_load(spec.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SpecError(f"--spec {spec}: {str(exc).splitlines()[0]}") from None
    datas = {n: bench_spec(n, f"bench-{suite.name}", base, warm="warm" in modes) for n in workers}
    home = clusters_home() if base is not None else None  # a given spec's workdir stays where `down` finds it
    clusters = []
    for n, spec_data in datas.items():  # every spec checked and priced before anything starts
        parse_spec(bench_spec(n, f"bench-{suite.name}", base), "bench spec")  # the spec itself, then with warm
        try:
            parsed = parse_spec(copy.deepcopy(spec_data), "bench spec")
        except SpecError as exc:
            raise SpecError(
                f"--modes warm needs a warm driver: {exc}; or leave warm out (--modes cold,plain)"
            ) from None
        provider = get_provider(parsed, Workdir.for_cluster(parsed.name, home))
        if "plain" in modes:
            provider.worker_shells()  # not entered: a provider without worker machines says so here, in one line
        clusters.append(_cluster_record(provider, n, spec_data, price_as))
    report(f"{suite.name}: versions and model files")
    found_versions = versions(suite, options)
    started = datetime.now(UTC)
    total = len(workers) * len(sizes) * repeats * len(modes)
    runs: list[dict[str, Any]] = []
    subsets: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f"clusterctl-session-{suite.name}-") as tmp_name:
        tmp = Path(tmp_name)
        samples: dict[str, list[Path]] = {}
        for size in sizes:
            dest = tmp / "subsets" / str(size)
            report(f"subset: {size} images of {data}")
            samples[str(size)] = make_sample(data, dest, None if size == "all" else int(size), SUBSET_SEED)
            subsets[str(size)] = {
                "images": len(samples[str(size)]),
                "seed": SUBSET_SEED,
                "digest": file_list_digest(dest, samples[str(size)]),
            }
        warm_up_root = tmp / "subsets" / "warm-up"
        make_sample(data, warm_up_root, min([WARM_UP_IMAGES, *(len(s) for s in samples.values())]), SUBSET_SEED)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        for n, cluster in zip(workers, clusters, strict=True):
            report(f"cluster with {n} workers: up")
            with (
                spec_cluster(datas[n], home or tmp / "home", report) as (provider, workdir),
                ClusterStorage(provider, workdir, f"bench-{suite.name}-{stamp}", tmp / "out") as storage,
                provider.worker_shells() if "plain" in modes else nullcontext([]) as shells,
            ):
                plain = None
                if shells:
                    report("plain baseline: the workloads to the worker machines")
                    plain = PlainRunner(shells, suite.plain_module, suite.plain_args(options), tmp / "staging")
                    cluster["worker_machines"] = plain.facts()
                plan = _Plan(
                    suite,
                    provider,
                    workdir,
                    options,
                    cluster["executor_vcpus"],
                    storage,
                    plain,
                    tmp / "subsets",
                    report,
                )
                for size in sizes:
                    runs += plan.size(n, size, samples[str(size)], repeats, modes, (len(runs), total))
    data_given = portable_path(data)
    doc = {
        "benchmark": "session",
        "suite": suite.name,
        "title": suite.title,
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds()),
        "command": rerun_command(
            suite.name,
            data_given,
            sizes,
            workers,
            repeats,
            modes,
            portable_path(out_dir),
            portable_path(spec) if spec else None,
            price_as,
        ),
        "inputs": {
            "data": data_given,
            "files": len(files),
            "classes": len(found),
            "digest": file_list_digest(data, files),
        },
        "subsets": subsets,
        "sizes": sizes,
        "workers": workers,
        "repeats": repeats,
        "modes": modes,
        "options": options,
        "work_phases": list(suite.work_phases),
        "nested_phases": {k: list(v) for k, v in suite.nested_phases.items()},
        "spec": clusters[0]["spec"],
        "spec_file": portable_path(spec) if spec else None,
        "clusters": clusters,
        "instance_types": {str(c["workers"]): c["instance_types"] for c in clusters},
        "pricing": {str(c["workers"]): c["pricing"] for c in clusters},
        "warm_driver": any(r["ran"] == "warm" for r in runs),
        "warm_up": "before a warm run that follows a cold one or opens the cluster: one untimed warm run on "
        f"{WARM_UP_IMAGES} images (a cold run takes the executors, and the warm driver starts afresh)",
        "versions": found_versions,
        "git": git_info(),
        "machine": machine_info(),
        "runs": runs,
        "summary": summarize(runs, clusters, suite.work_phases),
    }
    return scrub(doc)


def session_path(doc: dict[str, Any], out_dir: Path) -> Path:
    """``<out_dir>/<suite>-<UTC date and time>.json``."""
    stamp = datetime.fromisoformat(doc["date"]).strftime("%Y%m%dT%H%M%SZ")
    return out_dir / f"{doc['suite']}-{stamp}.json"


def write_session(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write the session document as JSON into ``out_dir``; its path."""
    path = session_path(doc, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")  # unsorted: phases stay in the order they ran
    return path


def load_session(path: Path) -> dict[str, Any]:
    """A session document written by ``write_session``; a one-line error for anything else."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: not a readable session JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("benchmark") != "session":
        raise SpecError(f"{path}: not a benchmark session (written by `clusterctl bench session`)")
    return doc
