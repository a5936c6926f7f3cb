"""The plain baseline's parts without a model: the side-by-side launcher (a tiny module stands in for the plain
workload), this machine as a worker shell, and removing what a store holds."""

import json
import os
import subprocess
import sys
from pathlib import Path

from clusterctl.data.upload import FileStore
from clusterctl.providers.local.shell import ThisMachine
from tests.conftest import REPO

COUNTER = """
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--input"); p.add_argument("--output"); p.add_argument("--tag")
a = p.parse_args()
start = time.time()
files = sorted(os.listdir(a.input))
if "bad" in files:
    sys.exit("cannot read " + a.input + "/bad")
time.sleep(0.5)
os.makedirs(a.output)
seen = {"start": start, "end": time.time(), "tag": a.tag, "omp": os.environ.get("OMP_NUM_THREADS")}
open(os.path.join(a.output, "seen.json"), "w").write(json.dumps(seen))
print("a log line")
print(json.dumps({"images": len(files), "timings": {"total_s": 0.5}}))
"""


def _launch(tmp_path: Path, parts: list[Path], *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "mods").mkdir(exist_ok=True)
    (tmp_path / "mods" / "counter.py").write_text(COUNTER)
    env = os.environ | {"PYTHONPATH": f"{tmp_path / 'mods'}:{REPO}", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "workloads.common.side_by_side", "--module", "counter", "--output"]
    argv += [str(tmp_path / "out"), *map(str, parts), "--", *extra]
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


def _parts(tmp_path: Path, counts: list[int]) -> list[Path]:
    parts = []
    for i, n in enumerate(counts):
        part = tmp_path / f"in-{i}"
        part.mkdir()
        for j in range(n):
            (part / f"img-{j}.jpg").write_bytes(b"x")
        parts.append(part)
    return parts


def test_the_launcher_runs_one_process_per_part_side_by_side_and_reports_each(tmp_path):
    proc = _launch(tmp_path, _parts(tmp_path, [3, 5, 1]), "--tag", "t1")
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout.strip().splitlines()[-1])
    assert said["cpus"] == os.cpu_count()
    assert [p["images"] for p in said["processes"]] == [3, 5, 1]
    assert all(p["wall_s"] >= 0.5 and p["timings"] == {"total_s": 0.5} for p in said["processes"])
    outs = sorted((tmp_path / "out").iterdir())
    assert [o.name for o in outs] == ["part-0", "part-1", "part-2"]
    seen = [json.loads((o / "seen.json").read_text()) for o in outs]
    # the extra arguments and this process's environment reach every child
    assert all(s["tag"] == "t1" and s["omp"] == "1" for s in seen)
    # side by side: every child started before every other one ended (each sleeps 0.5 s)
    assert max(s["start"] for s in seen) < min(s["end"] for s in seen)


def test_a_failed_process_fails_the_launch_in_one_line_naming_its_part(tmp_path):
    parts = _parts(tmp_path, [2, 0])
    (parts[1] / "bad").write_bytes(b"")
    proc = _launch(tmp_path, parts, "--tag", "t")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"counter on {parts[1]} failed (exit 1): cannot read {parts[1]}/bad"


def test_this_machine_links_folders_and_runs_with_the_extra_environment(tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.jpg").write_bytes(b"123")
    shell = ThisMachine(3, tmp_path / "scratch")
    assert (shell.cores, shell.python, shell.name) == (3, sys.executable, "this machine")
    shell.put_tree(src, str(tmp_path / "dest" / "in"))
    copied = tmp_path / "dest" / "in" / "a" / "x.jpg"
    assert copied.read_bytes() == b"123" and copied.stat().st_ino == (src / "a" / "x.jpg").stat().st_ino
    out = shell.run([sys.executable, "-c", "import os; print(os.environ['MARK']); raise SystemExit(4)"], {"MARK": "m"})
    assert (out.exit_code, out.stdout.strip(), out.node) == (4, "m", "this machine")


def test_a_file_store_removes_one_tree_or_everything_and_nothing_is_fine(tmp_path):
    root = tmp_path / "store"
    for rel in ("in/8/a/1.jpg", "out/r1/part-0.parquet", "out/r2/x"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    store = FileStore(root)
    store.remove("out/r1")
    assert sorted(store.listing()) == ["in/8/a/1.jpg", "out/r2/x"]
    store.remove("out/none")
    store.remove()
    assert not root.exists() and store.listing() == {}
