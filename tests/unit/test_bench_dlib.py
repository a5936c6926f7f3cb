"""``clusterctl bench dlib``: builds probed in child interpreters on the same real LFW faces."""

import json
import sys

import pytest

from clusterctl.bench_dlib import BASELINE, run_dlib_bench
from clusterctl.progress import silent
from tests.conftest import run_cli

pytest.importorskip("dlib", reason="needs the faces extra (dlib-bin)")


def test_the_same_build_twice_gives_the_same_vectors(shared_data, tmp_path):
    result = run_dlib_bench(shared_data / "lfw", [sys.executable], 12, tmp_path, "cmd", silent)
    first, second = result["builds"]  # the baseline (this interpreter) and the --python given
    assert (first["python"], second["python"]) == (BASELINE, sys.executable)
    assert first["images"] == 12 and first["faces"] >= 10  # LFW photos are centred faces
    assert second["max_distance_to_first"] == 0.0 and first["faces"] == second["faces"]
    assert first["encode_ms_per_face"] > 0 and first["hog_ms_per_image"] > 0
    assert first["blas"] is False  # the dlib-bin wheel is built without BLAS
    saved = json.loads((tmp_path / "dlib_builds.json").read_text())
    assert saved["builds"][1]["encoder_speedup"] == second["encoder_speedup"]
    assert "| encoder ms/face |" in (tmp_path / "dlib_builds.md").read_text()


def test_a_bad_interpreter_is_a_one_line_error(shared_data, tmp_path):
    missing = run_cli(
        "bench",
        "dlib",
        "--python",
        str(tmp_path / "nope"),
        "--lfw",
        str(shared_data / "lfw"),
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert missing.returncode == 2 and f"--python {tmp_path / 'nope'}: no such interpreter" in missing.stderr
    no_dlib = tmp_path / "python-without-clusterctl"
    no_dlib.write_text("#!/bin/sh\nexec /usr/bin/env -i /bin/sh -c 'echo No module named dlib >&2; exit 1'\n")
    no_dlib.chmod(0o755)
    failed = run_cli(
        "bench",
        "dlib",
        "--python",
        str(no_dlib),
        "--lfw",
        str(shared_data / "lfw"),
        "--images",
        "10",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert failed.returncode != 0 and "the probe failed: No module named dlib" in failed.stderr
    assert not (tmp_path / "out" / "dlib_builds.json").exists()
