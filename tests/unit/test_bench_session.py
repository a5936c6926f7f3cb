"""Benchmark sessions without a cluster: the summary maths, prices, the plain split, paths as given, the report,
compare's verdict and the CLI's option errors. The Spark and plain runs are stood in for (no JVM, no model)."""

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from clusterctl.bench import session
from clusterctl.bench.compare import compare
from clusterctl.bench.placement import deal
from clusterctl.bench.published import PUBLISHED, published_for
from clusterctl.bench.report import write_report
from clusterctl.bench.session import (
    file_list_digest,
    parse_counts,
    parse_modes,
    parse_sizes,
    portable_path,
    pricing,
    summarize,
    write_session,
)
from clusterctl.errors import SpecError
from clusterctl.remote.connection import Outcome
from clusterctl.workdir import Workdir
from tests.conftest import REPO, run_cli

SAMPLE = REPO / "clusterctl" / "data" / "sample" / "fruits-360-test"
PNG = b"\x89PNG\r\n\x1a\n"


def _run(workers, size, mode, repeat, wall, images=320, features=5.0, total=None, vcpus=None, cpu=10.0):
    timings = {"list_s": 0.5, "features_s": features, "fit_s": 1.0}
    timings["total_s"] = total if total is not None else round(sum(timings.values()), 3)
    return {
        "workers": workers,
        "size": size,
        "mode": mode,
        "repeat": repeat,
        "vcpus": vcpus or workers,
        "wall_s": wall,
        "cpu_s": cpu,
        "images": images,
        "ran": mode if mode != "cold" else "cold",
        "timings": timings,
    }


def _cluster(workers, usd_per_vcpu_hour=0.056):
    return {"workers": workers, "pricing": {"usd_per_vcpu_hour": usd_per_vcpu_hour}}


def test_summary_maths_min_median_max_rates_prices_and_ratios():
    runs = [
        _run(2, 320, "warm", 1, 10.0, features=4.0),
        _run(2, 320, "warm", 2, 12.0, features=5.0),
        _run(2, 320, "warm", 3, 11.0, features=6.0),
        _run(2, 320, "plain", 1, 20.0, features=8.0, total=19.0),
        _run(2, 320, "plain", 2, 22.0, features=10.0, total=21.0),
        _run(2, 320, "plain", 3, 21.0, features=9.0, total=20.0),
    ]
    summary = summarize(runs, [_cluster(2)], ("features_s",))
    warm, plain = summary["rows"]
    assert (warm["mode"], plain["mode"]) == ("warm", "plain")
    assert warm["wall_s"] == {"min": 10.0, "median": 11.0, "max": 12.0}
    assert warm["spread"] == pytest.approx((12 - 10) / 11, abs=1e-4)
    assert warm["images_per_s"] == pytest.approx(320 / 11, abs=1e-3)
    # images per hour per vCPU: 320 images in 11 s on 2 vCPUs
    assert warm["images_per_h_vcpu"] == pytest.approx(320 / 11 * 3600 / 2, abs=0.1)
    # $ per 1M images = $/vCPU-h x vCPUs x hours per image x 1e6
    assert warm["usd_per_million_images"] == pytest.approx(0.056 * 2 * (11 / 3600) / 320 * 1e6, rel=1e-3)
    assert warm["work_s"] == 5.0 and warm["work_images_per_s"] == pytest.approx(64.0)
    assert warm["work_images_per_h_vcpu"] == pytest.approx(64 * 3600 / 2)
    assert warm["ratio_to_plain"] == pytest.approx(11 / 21, abs=1e-3)
    assert warm["work_ratio_to_plain"] == pytest.approx((320 / 5) / (320 / 9), abs=1e-3)
    assert plain["ratio_to_plain"] == 1.0
    assert warm["phases"]["features_s"] == 5.0 and warm["phases"]["outside_s"] == pytest.approx(11 - 6.5)
    assert plain["phases"]["outside_s"] == pytest.approx(1.0)
    assert summary["images_per_s_per_core"] == pytest.approx(32.0)  # work images/s per executor core, Spark


def test_rows_follow_workers_then_sizes_as_given_then_modes():
    runs = [_run(w, s, m, 1, 5.0) for w in (2, 1) for s in (1000, 64, "all") for m in ("plain", "cold", "warm")]
    rows = summarize(runs, [_cluster(1), _cluster(2)], ("features_s",))["rows"]
    assert [(r["workers"], str(r["size"]), r["mode"]) for r in rows[:4]] == [
        (1, "1000", "warm"),
        (1, "1000", "cold"),
        (1, "1000", "plain"),
        (1, "64", "warm"),
    ]
    assert rows[-1]["workers"] == 2 and rows[-1]["size"] == "all"


def test_pricing_reference_type_for_a_free_machine_else_the_spec():
    local = pricing(0.0, 2, "eu-west-3", None)
    assert local["basis"] == "price_as" and local["instance_type"] == "m5.xlarge"
    assert local["usd_per_vcpu_hour"] == pytest.approx(0.224 / 4)
    asked = pricing(0.0, 2, "us-east-1", "m5.2xlarge")
    assert asked["usd_per_vcpu_hour"] == pytest.approx(0.384 / 8) and "as asked" in asked["note"]
    spec = pricing(0.672, 8, "eu-west-3", None)  # e.g. 3 x m5.xlarge, 8 executor cores
    assert spec["basis"] == "spec" and spec["usd_per_vcpu_hour"] == pytest.approx(0.084)
    with pytest.raises(SpecError, match=r"--price-as m9\.huge: not in the catalog"):
        pricing(0.0, 2, "eu-west-3", "m9.huge")
    with pytest.raises(SpecError, match="no price in eu-west-3"):
        pricing(0.0, 2, "eu-west-3", "m4.xlarge")


class _Machine:
    def __init__(self, name, cores):
        self.name, self.cores = name, cores


def test_plain_deal_is_deterministic_disjoint_covering_even_and_by_cores():
    files = [Path(f"c{i % 7}/img_{i:03d}.jpg") for i in range(50)]
    machines = [_Machine("core-1", 1), _Machine("core-2", 1), _Machine("task-1", 2)]
    dealt = deal(list(reversed(files)), machines)
    assert [(m.name, len(shares)) for m, shares in dealt] == [("core-1", 1), ("core-2", 1), ("task-1", 2)]
    assert dealt == deal(files, machines)
    shares = [share for _, mine in dealt for share in mine]
    flat = [f for share in shares for f in share]
    assert sorted(flat) == sorted(files) and len(set(flat)) == len(files)
    assert sorted(len(s) for s in shares) == [12, 12, 13, 13]
    # fewer files than cores: the empty shares, and a machine left with none, are dropped
    assert [(m.name, [len(s) for s in mine]) for m, mine in deal(files[:3], machines)] == [
        ("core-1", [1]),
        ("core-2", [1]),
        ("task-1", [1]),
    ]
    assert [m.name for m, _ in deal(files[:1], machines)] == ["core-1"]


def test_parsing_the_lists():
    assert parse_sizes("64, 320,all") == [64, 320, "all"]
    assert parse_counts("2,1") == [1, 2]
    assert parse_modes("plain,warm") == ["warm", "plain"]
    for bad in ("0", "x", "64,64", "-3", ""):
        with pytest.raises(ValueError):
            parse_sizes(bad)
    for bad in ("0", "9", "1,1", "a"):
        with pytest.raises(ValueError):
            parse_counts(bad)
    with pytest.raises(ValueError):
        parse_modes("hot")


def test_portable_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUSTERCTL_SHARED", str(tmp_path / "shared"))
    (tmp_path / "shared" / "data" / "set").mkdir(parents=True)
    assert portable_path(SAMPLE) == "clusterctl/data/sample/fruits-360-test"
    assert portable_path(tmp_path / "shared" / "data" / "set") == "$SHARED/data/set"
    assert portable_path("imgs", cwd=tmp_path) == "imgs"
    assert portable_path(tmp_path / "imgs") == "$DATA/imgs"
    assert portable_path("~/photos/lfw") == "$DATA/lfw"
    monkeypatch.delenv("CLUSTERCTL_SHARED")
    assert portable_path(REPO.parent / "shared" / "data" / "lfw") == "../shared/data/lfw"


# -- a whole session with stand-ins for the cluster, the Spark jobs and the plain processes -----------------------
def _count_images(folder: Path) -> int:
    return sum(1 for f in Path(folder).rglob("*.jpg"))


class _FakeShell:
    """This machine as a worker shell that answers the side-by-side launcher itself (no model runs)."""

    name, python = "this machine", "python"

    def __init__(self, cores, scratch, asked):
        self.cores, self.scratch, self.asked = cores, str(scratch), asked

    def put_tree(self, local, remote):
        shutil.copytree(local, remote, dirs_exist_ok=True)

    def run(self, argv, env):
        if argv[:2] == ["python", "-c"]:
            return Outcome(self.name, 0, json.dumps({"cpus": 2, "python": "3.11.7"}) + "\n", "")
        if argv[0] == "rm":
            shutil.rmtree(argv[-1], ignore_errors=True)
            return Outcome(self.name, 0, "", "")
        assert env["PYTHONPATH"].endswith("workloads.zip") and env["OMP_NUM_THREADS"] == "1"
        parts = argv[argv.index("--output") + 2 : argv.index("--")]
        processes = []
        for part in parts:
            self.asked["plain"].append(Path(part).name)
            images = _count_images(part)
            timings = {"list_s": 0.0, "features_s": images / 25, "fit_s": 0.1, "total_s": 0.2 + images / 25}
            processes.append({"images": images, "wall_s": 1.0 + images / 25, "timings": timings})
        return Outcome(self.name, 0, json.dumps({"cpus": 2, "processes": processes}) + "\n", "")


class _FakeProvider:
    """Reads this machine's files (a file:// data URI); one worker shell with the spec's core count."""

    def __init__(self, cores, root, asked):
        self.cores, self.root, self.asked = cores, root, asked

    def scratch_uri(self, name):
        return (self.root / "scratch" / name).as_uri()

    @contextmanager
    def worker_shells(self):
        yield [_FakeShell(self.cores, self.root / "scratch", self.asked)]


@pytest.fixture
def fake_runs(monkeypatch):
    """run_session with the cluster, submits and plain processes stood in for; records what was asked."""
    asked = {"spark": [], "plain": []}

    @contextmanager
    def cluster(data, home, report):
        asked.setdefault("specs", []).append(data)
        root = home / data["name"]
        yield _FakeProvider(data["node_groups"]["core"]["count"], root, asked), Workdir(root)

    def submit(provider, workdir, name, *args, cold=False):
        data = Path(args[args.index("--input") + 1])
        asked["spark"].append((name, cold, data.name))
        images = _count_images(data)
        timings = {"session_s": 1.0, "list_s": 0.2, "features_s": images / 20, "fit_s": 0.5, "total_s": 2 + images / 20}
        summary = {"images": images, "timings": timings, "input": str(data), "plots": {"x": str(data / "x.png")}}
        wall = 3.0 + images / 20 + (5.0 if cold else 0.0)
        return {"wall_s": wall, "ran": "cold" if cold else "warm", "summary": summary}

    monkeypatch.setattr(session, "spec_cluster", cluster)
    monkeypatch.setattr(session, "submit_workload", submit)
    monkeypatch.setattr(session, "versions", lambda suite, options: {"python": "3.11.7", "model": {"name": "m"}})
    monkeypatch.setattr(
        session, "machine_info", lambda: {"cpus": 2, "memory_gib": 23.5, "platform": "Linux", "python": "3.11.7"}
    )
    return asked


@pytest.fixture
def tmp_input(tmp_path, monkeypatch):
    """12 sample images in 4 classes, in a temporary folder given by its relative name ``imgs``."""
    monkeypatch.chdir(tmp_path)
    for cls in sorted(p for p in SAMPLE.iterdir() if p.is_dir())[:4]:
        (tmp_path / "imgs" / cls.name).mkdir(parents=True)
        for f in sorted(cls.glob("*.jpg"))[:3]:
            shutil.copy(f, tmp_path / "imgs" / cls.name / f.name)
    return Path("imgs")


def test_a_session_records_inputs_as_given_and_no_machine_path(fake_runs, tmp_input, tmp_path):
    doc = session.run_session("fruits", tmp_input, [5, "all"], [1, 2], 2, out_dir=Path("sessions"))
    text = json.dumps(doc)
    for machine_path in {str(tmp_path), str(tmp_path.resolve()), str(Path.home()), str(REPO), "/tmp/"}:
        assert machine_path not in text, machine_path
    assert doc["inputs"] | {"digest": None} == {"data": "imgs", "files": 12, "classes": 4, "digest": None}
    assert doc["inputs"]["digest"] == file_list_digest(tmp_input, sorted(tmp_input.rglob("*.jpg")))
    assert doc["command"] == (
        "clusterctl bench session fruits --data imgs --sizes 5,all --workers 1,2 --repeats 2 --out sessions"
    )
    assert doc["subsets"]["5"]["images"] == 5 and doc["subsets"]["all"]["images"] == 12
    assert "master_port" not in json.dumps(doc["spec"]) and doc["spec"]["spark"] == {"warm_driver": True}
    assert [c["executor_vcpus"] for c in doc["clusters"]] == [1, 2]
    assert doc["clusters"][0]["pricing"]["instance_type"] == "m5.xlarge"
    assert doc["instance_types"]["2"][1] == {
        "role": "core",
        "instance_type": "local",
        "count": 2,
        "vcpu": 1,
        "usd_per_hour": 0.0,
    }
    # every mode of every (workers, size, repeat), the order alternating from one repeat to the next
    modes = [r["mode"] for r in doc["runs"] if (r["workers"], r["size"]) == (2, "all")]
    assert modes == ["warm", "cold", "plain", "plain", "cold", "warm"]
    # a warm run after a cold one (or first on a cluster) follows an untimed warm run on a small subset of its own
    warm = [size for name, cold, size in fake_runs["spark"] if not cold]
    assert len(warm) == 8 + 6 and warm[:2] == ["warm-up", "5"] and warm.count("warm-up") == 6 and warm.count("5") == 4
    assert len([c for _, c, _ in fake_runs["spark"] if c]) == 8
    plain = [r for r in doc["runs"] if r["mode"] == "plain" and r["workers"] == 2 and r["size"] == "all"]
    assert [len(r["processes"]) for r in plain] == [2, 2]
    assert plain[0]["images"] == 12 and sorted(p["images"] for p in plain[0]["processes"]) == [6, 6]
    assert plain[0]["wall_s"] == pytest.approx(1 + 6 / 25)  # the slowest process, from the common start
    assert {p["node"] for p in plain[0]["processes"]} == {"this machine"}
    assert doc["clusters"][1]["worker_machines"] == [
        {"name": "this machine", "cores": 2, "cpus": 2, "python": "3.11.7"}
    ]
    rows = {(r["workers"], str(r["size"]), r["mode"]): r for r in doc["summary"]["rows"]}
    assert rows[(2, "all", "cold")]["ratio_to_plain"] > rows[(2, "all", "warm")]["ratio_to_plain"]
    assert doc["warm_driver"] is True


def test_an_absolute_input_is_recorded_as_a_placeholder(fake_runs, tmp_input, tmp_path):
    doc = session.run_session("fruits", tmp_path / "imgs", [4], [1], 1, modes=["cold", "plain"], out_dir=tmp_path)
    assert doc["inputs"]["data"] == "$DATA/imgs"
    assert doc["command"].endswith("--modes cold,plain --out $DATA/" + tmp_path.name)
    assert str(tmp_path) not in json.dumps(doc)
    assert "spark" not in doc["spec"]  # no warm mode: no warm driver asked for


def test_the_report_writes_markdown_and_valid_pngs_with_published_figures(fake_runs, tmp_input, tmp_path):
    doc = session.run_session("fruits", tmp_input, [4, 8], [1, 2], 1, out_dir=Path("sessions"))
    path = write_session(doc, Path("sessions"))
    assert path.name.startswith("fruits-") and path.suffix == ".json"
    written = write_report(path)
    for kind in ("time", "scaling", "phases"):
        png = Path(written[f"{kind}_png"])
        assert png.parent == path.parent and png.read_bytes().startswith(PNG) and png.stat().st_size > 5000
    md = Path(written["markdown"]).read_text()
    assert doc["command"] in md and written["command"] == doc["command"]
    for pub in published_for("fruits"):
        assert pub.source in md and f"{pub.value:,g} {pub.unit}" in md
    assert "4,400 images/(h·vCPU)" in md and "11 € per 1M images" in md and "95 s on EMR vs 9 s plain Python" in md
    assert "![Wall time vs images](" + path.stem + "-time.png)" in md
    assert "| 2 | 8 | warm |" in md  # a results row: workers, images, mode

    faces = doc | {"suite": "faces", "title": "Faces"}
    faces_path = path.with_name("faces-20260101T000000Z.json")
    faces_path.write_text(json.dumps(faces))
    md = Path(write_report(faces_path, tmp_path / "elsewhere")["markdown"]).read_text()
    for text in ("13,233 images in 10.3 min on a 3-node cluster", "40 s per streamed snapshot", "~20 min on 4 workers"):
        assert text in md
    assert (tmp_path / "elsewhere" / "faces-20260101T000000Z-phases.png").read_bytes().startswith(PNG)


def test_published_figures_have_units_and_sources_from_the_issue():
    issue = (
        "4,400 images/(h·vCPU) and 11 € per 1M images for VGG16 features on EMR; 320 images in 95 s on EMR vs 9 s "
        "plain Python; LFW alignment of 13,233 images in 10.3 min on a 3-node cluster and 40 s per streamed "
        "snapshot; 13,233 photos in ~20 min on 4 workers with the face_recognition method"
    )
    assert len(PUBLISHED) == 7
    for pub in PUBLISHED:
        assert pub.source in issue and pub.unit and pub.suite in ("fruits", "faces")
        assert (pub.wall_s is not None) == (pub.compares_with == "wall")


# -- compare ---------------------------------------------------------------------------------------------------
def _session(walls_by_key, suite="fruits", digest="d1"):
    rows = []
    for (workers, size, mode), walls in walls_by_key.items():
        runs = [_run(workers, size, mode, i, w, images=320 if size != "all" else 1000) for i, w in enumerate(walls)]
        rows += summarize(runs, [_cluster(workers)], ("features_s",))["rows"]
    return {
        "benchmark": "session",
        "suite": suite,
        "date": "2026-12-03T12:00:00+00:00",
        "command": "clusterctl bench session fruits",
        "inputs": {"digest": digest},
        "machine": {"cpus": 2},
        "git": {"commit": "abc", "dirty": False},
        "summary": {"rows": rows},
    }


def test_compare_flags_slowdowns_beyond_the_measured_noise_only():
    a = _session(
        {
            (1, 320, "warm"): [10.0, 10.1, 10.2],  # spread 2%: the 5% floor is the noise
            (1, 320, "cold"): [20.0, 24.0, 22.0],  # spread 18%
            (1, 320, "plain"): [9.0, 9.0, 9.0],
            (2, 320, "warm"): [6.0, 6.0, 6.0],
        }
    )
    b = _session(
        {
            (1, 320, "warm"): [10.8, 10.8, 10.8],  # +6.9% > 5%: a regression
            (1, 320, "cold"): [25.0, 25.0, 25.0],  # +13.6% but within A's 18% spread
            (1, 320, "plain"): [8.0, 8.0, 8.0],  # -11%: faster
            (1, "all", "warm"): [30.0],
        }
    )
    result = compare(a, b)
    verdicts = {(r["workers"], r["size"], r["mode"]): r["verdict"] for r in result["rows"]}
    assert verdicts == {
        (1, "320", "warm"): "regression",
        (1, "320", "cold"): "same",
        (1, "320", "plain"): "faster",
        (2, "320", "warm"): "only in A",
        (1, "all", "warm"): "only in B",
    }
    warm = result["rows"][0]
    assert warm["noise"] == 0.05 and warm["wall_change"] == pytest.approx(0.7 / 10.1, abs=1e-4)
    cold = next(r for r in result["rows"] if r["mode"] == "cold")
    assert cold["noise"] == pytest.approx(4 / 22, abs=1e-4)
    assert result["verdict"] == "regression" and result["regressions"] == 1
    assert compare(a, a)["verdict"] == "no regression"
    assert compare(a, b, floor=0.1)["regressions"] == 0
    assert compare(a, _session({(1, 320, "warm"): [10.0]}, digest="d2"))["warnings"]
    with pytest.raises(SpecError, match="different suites"):
        compare(a, _session({}, suite="faces"))


def test_compare_cli_exits_1_on_a_regression(tmp_path):
    a = _session({(1, 320, "warm"): [10.0, 10.0]})
    b = _session({(1, 320, "warm"): [13.0, 13.0]})
    for name, doc in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(doc))
    proc = run_cli("bench", "compare", "a.json", "b.json", cwd=tmp_path)
    assert proc.returncode == 1 and "regression" in proc.stdout, proc.stderr
    proc = run_cli("bench", "compare", "a.json", "a.json", "--json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["verdict"] == "no regression"
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "fruits"}))
    proc = run_cli("bench", "compare", "a.json", "other.json", cwd=tmp_path)
    assert proc.returncode == 2 and "not a benchmark session" in proc.stderr


def test_cli_option_errors_are_one_line_and_start_nothing(tmp_path):
    base = ("bench", "session", "fruits", "--data", str(SAMPLE), "--out", "out")
    cases = {
        ("--sizes", "64,abc"): "Invalid value for '--sizes': 'abc' is not a size",
        ("--sizes", "0"): "Invalid value for '--sizes'",
        ("--workers", "1,9"): "Invalid value for '--workers': '9' is not a worker count",
        ("--modes", "warm,hot"): "Invalid value for '--modes': 'hot' is not a mode",
        ("--repeats", "0"): "Invalid value for '--repeats'",
    }
    for extra, message in cases.items():
        proc = run_cli(*base, *extra, cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, (extra, proc.stderr)
        assert message in proc.stderr.strip().splitlines()[-1]
    for extra, message in {
        ("--data", "nope"): "--data nope: no such directory",
        ("--price-as", "m9.huge"): "--price-as m9.huge: not in the catalog",
    }.items():
        proc = run_cli(*base, *extra, cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, (extra, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / ".clusterctl").exists()


def test_plain_on_emr_is_refused_in_one_line_before_any_cluster_starts(fake_runs, tmp_input, tmp_path):
    spec = tmp_path / "emr.yaml"
    shutil.copy(REPO / "examples" / "emr.yaml", spec)
    with pytest.raises(
        SpecError, match=r"^provider emr: the plain baseline runs on the worker nodes over SSH.*--modes cold"
    ):
        session.run_session("fruits", tmp_input, [4], [2], 1, modes=["cold", "plain"], spec=spec)
    assert "specs" not in fake_runs  # nothing came up


def test_ssh_worker_counts_take_the_first_listed_machines_and_no_more(tmp_path):
    from clusterctl.bench.common import bench_spec

    base = {
        "name": "mine",
        "provider": "ssh",
        "node_groups": {"master": {"instance_type": "m5.xlarge"}, "core": {"instance_type": "m5.xlarge", "count": 3}},
        "ssh": {"master": "10.0.0.1", "core": ["10.0.0.2", "10.0.0.3", "10.0.0.4"], "identity_file": "~/.ssh/id"},
    }
    two = bench_spec(2, "ignored", base)
    assert two["ssh"]["core"] == ["10.0.0.2", "10.0.0.3"] and two["node_groups"]["core"]["count"] == 2
    assert base["ssh"]["core"] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]  # the given spec is left as it was
    with pytest.raises(SpecError, match=r"^ssh.core lists 3 machines: 4 core nodes need 4 addresses"):
        bench_spec(4, "ignored", base)
