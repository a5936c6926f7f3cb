"""benchmarks/compare_dlib_builds.py: builds probed in child interpreters on the same real LFW faces.

The second "build" is this interpreter with a ``dlib`` shim first on its path: the real dlib, except that the
face encoder's vectors are moved by a known distance. The script must measure that distance.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dlib", reason="needs the faces extra (dlib-bin)")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_dlib_builds.py"
OFFSET = 0.05  # how far the shim moves every embedding (Euclidean)

# A dlib module that loads the real one (found on sys.path without this folder, loaded by file so it does not
# import itself) and adds a constant vector of norm OFFSET to every face descriptor.
DLIB_SHIM = """
import importlib.machinery
import importlib.util
import os
import sys

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "dlib", [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
)
_real = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_real)
_SHIFT = np.full(128, {offset} / np.sqrt(128))


class face_recognition_model_v1:
    def __init__(self, path):
        self._net = _real.face_recognition_model_v1(path)

    def compute_face_descriptor(self, *args, **kwargs):
        return [np.asarray(v) + _SHIFT for v in self._net.compute_face_descriptor(*args, **kwargs)]


def __getattr__(name):
    return getattr(_real, name)
"""


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture
def shifted_python(tmp_path) -> Path:
    """An "interpreter": this one, with the dlib shim first on PYTHONPATH."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "dlib.py").write_text(DLIB_SHIM.format(offset=OFFSET))
    wrapper = tmp_path / "python-shifted-dlib"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{shim}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_a_build_with_other_vectors_is_measured_as_far(shared_data, shifted_python, tmp_path):
    out = tmp_path / "out"
    proc = _script(
        "--python",
        str(shifted_python),
        "--lfw",
        str(shared_data / "lfw"),
        "--images",
        "12",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((out / "dlib_builds.json").read_text())
    first, second = saved["builds"]  # the baseline (this interpreter) and the --python given
    assert (first["python"], second["python"]) == ("clusterctl's python", str(shifted_python))
    assert first["images"] == 12 and first["faces"] >= 10 and second["faces"] == first["faces"]
    assert first["max_distance_to_first"] == 0.0
    assert second["max_distance_to_first"] == pytest.approx(OFFSET, abs=1e-3)  # what the shim moved, measured
    assert first["encode_ms_per_face"] > 0 and first["hog_ms_per_image"] > 0 and second["encoder_speedup"] > 0
    assert first["blas"] is False  # the dlib-bin wheel is built without BLAS
    assert saved["command"] == f"python benchmarks/compare_dlib_builds.py --python {shifted_python} --images 12"
    markdown = (out / "dlib_builds.md").read_text()
    assert "| encoder ms/face |" in markdown and f"| {second['max_distance_to_first']} |" in markdown
    assert proc.stdout == markdown  # the table is also what the script prints


def test_a_bad_interpreter_is_a_one_line_error(shared_data, tmp_path):
    lfw = str(shared_data / "lfw")
    missing = _script("--python", str(tmp_path / "nope"), "--lfw", lfw, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        f"compare_dlib_builds: --python {tmp_path / 'nope'}: no such interpreter; "
        "give the path of a python with dlib installed"
    )
    no_dlib = tmp_path / "python-without-dlib"
    no_dlib.write_text("#!/bin/sh\nexec /usr/bin/env -i /bin/sh -c 'echo No module named dlib >&2; exit 1'\n")
    no_dlib.chmod(0o755)
    failed = _script(
        "--python", str(no_dlib), "--lfw", lfw, "--images", "10", "--out", str(tmp_path / "out"), cwd=tmp_path
    )
    assert failed.returncode == 1 and "the probe failed: No module named dlib" in failed.stderr.splitlines()[-1]
    assert not (tmp_path / "out" / "dlib_builds.json").exists()
    assert _script(cwd=tmp_path).returncode == 2  # --python is required


def test_the_shim_is_the_real_dlib_underneath(shifted_python):
    import dlib

    code = (
        "import dlib; print(dlib.__file__, dlib._real.__file__, dlib.__version__, dlib.rectangle(0, 0, 1, 1).right())"
    )
    proc = subprocess.run([str(shifted_python), "-c", code], capture_output=True, text=True, check=True)
    shim_file, real_file, version, right = proc.stdout.split()
    assert shim_file.endswith("/shim/dlib.py") and (real_file, version, right) == (dlib.__file__, dlib.__version__, "1")
