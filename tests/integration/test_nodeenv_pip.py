"""Lock, wheelhouse and offline install with real pip, against a PEP 503 index this test serves on 127.0.0.1.

The index holds wheels the test writes itself: ``demo-native`` 1.0 for CPython 3.11 manylinux, for
CPython 3.12 and for macOS (only the first fits a node), ``demo-pure`` and ``demo-helper`` (pure
Python), and ``demo-source``, a source archive only, built by an in-tree backend that needs nothing
from an index. A fresh venv of this machine's CPython 3.11 x86_64 then installs the wheelhouse with
no index at all, as a node does.
"""

import functools
import hashlib
import http.server
import io
import json
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.lock import Lock, make_lock
from clusterctl.nodeenv.pip import pip_env
from clusterctl.nodeenv.wheelhouse import MANIFEST, Wheelhouse, build_wheelhouse, install_command
from tests.conftest import run_cli
from tests.support.wheels import make_wheel

pytestmark = pytest.mark.integration

LINUX = "manylinux_2_17_x86_64.manylinux2014_x86_64"
NATIVE_311 = "demo_native-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
NATIVE_312 = "demo_native-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
NATIVE_MAC = "demo_native-1.0-cp311-cp311-macosx_11_0_arm64.whl"
PURE = "demo_pure-1.0-py3-none-any.whl"
HELPER = "demo_helper-1.0-py3-none-any.whl"
SOURCE = "demo_source-1.0.tar.gz"

# The in-tree build backend of demo-source: writes its wheel with zipfile, needs no package from an index.
BACKEND = """
import base64, hashlib, zipfile

def _record(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "demo_source-1.0-py3-none-any.whl"
    files = {
        "demo_source/__init__.py": b"import demo_helper\\nBUILT = 'on the node'\\n",
        "demo_source-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: demo-source\\nVersion: 1.0\\n"
        b"Requires-Dist: demo-helper\\n",
        "demo_source-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n",
    }
    record = [_record(n, d) for n, d in files.items()] + ["demo_source-1.0.dist-info/RECORD,,"]
    files["demo_source-1.0.dist-info/RECORD"] = ("\\n".join(record) + "\\n").encode()
    with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as whl:
        for n, d in files.items():
            whl.writestr(n, d)
    return name
"""


def _sdist(dest: Path) -> Path:
    """demo-source 1.0 as a source archive whose in-tree backend builds it offline."""
    members = {
        "PKG-INFO": "Metadata-Version: 2.1\nName: demo-source\nVersion: 1.0\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        "backend.py": BACKEND,
    }
    path = dest / SOURCE
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"demo_source-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _index(root: Path) -> dict[str, str]:
    """Write the archives and a PEP 503 simple index over them under ``root``; file name -> sha256."""
    files = root / "files"
    files.mkdir(parents=True)
    made = [
        make_wheel(files, "demo-native", f"cp311-cp311-{LINUX}", "TAG = 'cp311-linux'\n", ("demo-pure",)),
        make_wheel(files, "demo-native", f"cp312-cp312-{LINUX}", "TAG = 'cp312'\n", ("demo-pure",)),
        make_wheel(files, "demo-native", "cp311-cp311-macosx_11_0_arm64", "TAG = 'macos'\n", ("demo-pure",)),
        make_wheel(files, "demo-pure", "py3-none-any", "PURE = True\n"),
        make_wheel(files, "demo-helper", "py3-none-any", "HELPER = True\n"),
        _sdist(files),
    ]  # fmt: skip
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in made}
    projects: dict[str, list[str]] = {}
    for name in sha:
        projects.setdefault(name.split("-")[0].replace("_", "-"), []).append(name)
    simple = root / "simple"
    for project, names in projects.items():
        (simple / project).mkdir(parents=True)
        links = "".join(f'<a href="/files/{n}#sha256={sha[n]}">{n}</a>\n' for n in names)
        (simple / project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    (simple / "index.html").write_text("".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in projects))
    return sha


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@dataclass
class Built:
    """What the module's one resolution and download made, the index already stopped."""

    sha: dict[str, str]
    lock: Lock
    root: Path  # the wheelhouses' folder
    house: Wheelhouse
    resumed: Wheelhouse  # a second build after one file was deleted
    tmp: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    tmp = tmp_path_factory.mktemp("nodeenv")
    sha = _index(tmp / "index")
    handler = functools.partial(Quiet, directory=str(tmp / "index"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/simple"
    wheels = tmp / "no-wheels-here"  # a local find-links folder: its path must not reach the lock
    wheels.mkdir()
    try:
        lock = make_lock(
            ["demo-native", "demo-source"],
            tmp / "demo.lock",
            index_url=url,
            find_links=[str(wheels)],
            sdists=["demo-source"],
            build_requires=(),  # its in-tree backend needs nothing
        )
        root = tmp / "wheelhouses"
        house = build_wheelhouse(lock, root, index_url=url)
        # An interrupted build: one file gone, half of it copied into pip's staging folder.
        whole = (house.path / PURE).read_bytes()
        (house.path / PURE).unlink()
        staging = root / f".{lock.hash}.partial"
        staging.mkdir()
        (staging / PURE).write_bytes(whole[: len(whole) // 2])
        resumed = build_wheelhouse(lock, root, index_url=url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return Built(sha, lock, root, house, resumed, tmp)


def test_the_lock_pins_the_cp311_manylinux_wheel_and_its_dependencies(built):
    pins = {e.name: (e.version, e.sha256, e.file) for e in built.lock.entries}
    assert pins == {
        "demo-native": ("1.0", (built.sha[NATIVE_311],), NATIVE_311),
        "demo-pure": ("1.0", (built.sha[PURE],), PURE),
        "demo-source": ("1.0", (built.sha[SOURCE],), SOURCE),
        "demo-helper": ("1.0", (built.sha[HELPER],), HELPER),  # demo-source's dependency, resolved as a wheel
    }
    text = built.lock.path.read_text()
    header = "\n".join(built.lock.header)
    assert str(built.tmp) not in text and "/tmp" not in header and "file:" not in header
    assert "--find-links LOCAL_DIR" in header and "--platform manylinux_2_28_x86_64" in header
    assert built.lock.python_version == "3.11" and built.lock.platforms[-1] == "manylinux2014_x86_64"


def test_the_wheelhouse_holds_exactly_the_locked_files_and_resumes(built):
    house = built.house
    assert house.path == built.root / built.lock.hash
    archives = {p.name for p in house.path.iterdir()} - {MANIFEST, "demo.lock"}
    assert archives == {NATIVE_311, PURE, HELPER, SOURCE}  # no cp312, no macOS wheel
    manifest = json.loads((house.path / MANIFEST).read_text())
    assert manifest["lock_hash"] == built.lock.hash and manifest["lock"] == "demo.lock"
    assert {(f["file"], f["sha256"], f["requirement"]) for f in manifest["files"]} == {
        (NATIVE_311, built.sha[NATIVE_311], "demo-native==1.0"),
        (PURE, built.sha[PURE], "demo-pure==1.0"),
        (HELPER, built.sha[HELPER], "demo-helper==1.0"),
        (SOURCE, built.sha[SOURCE], "demo-source==1.0"),
    }
    assert all(f["size"] == (house.path / f["file"]).stat().st_size for f in manifest["files"])
    assert (house.downloaded, house.kept) == (4, 0)
    assert (built.resumed.downloaded, built.resumed.kept) == (1, 3)  # only the deleted file came again
    assert (built.resumed.path / PURE).read_bytes() == (built.tmp / "index" / "files" / PURE).read_bytes()
    assert [p.name for p in built.root.iterdir()] == [built.lock.hash]  # the staging folder is gone


def test_a_rebuild_with_nothing_missing_needs_no_index(built, tmp_path):
    # The index is down: a complete wheelhouse is checked, not downloaded again.
    proc = run_cli(
        *("nodeenv", "build", "--lock", str(built.lock.path), "--dest", str(built.root)),
        *("--index-url", "http://127.0.0.1:9/simple", "--torch-index", "", "--json"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["downloaded"], result["kept"], result["lock_hash"]) == (0, 4, built.lock.hash)
    assert result["install"][-3:] == ["--require-hashes", "-r", str(built.house.path / "demo.lock")]


def test_a_fresh_venv_installs_the_wheelhouse_with_no_index(built, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    house = built.house.path
    command = install_command(python, house, house / "demo.lock")
    proc = subprocess.run(command, env=pip_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = "import demo_native, demo_pure, demo_source; print(demo_native.TAG, demo_source.BUILT)"
    ran = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "cp311-linux on the node", ran.stderr


def test_a_tampered_wheelhouse_is_rejected_by_the_build_and_by_pip(built, tmp_path):
    root = tmp_path / "wheelhouses"
    copy = root / built.lock.hash
    shutil.copytree(built.house.path, copy)
    with (copy / PURE).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ClusterctlError) as exc:
        build_wheelhouse(built.lock, root, index_url="http://127.0.0.1:9/simple")
    message = str(exc.value)
    assert "\n" not in message and f"{PURE} has sha256" in message and "not the locked demo-pure==1.0's" in message

    proc = run_cli("nodeenv", "build", "--lock", str(built.lock.path), "--dest", str(root), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: wheelhouse {copy}: {PURE} has sha256")

    target = tmp_path / "target"
    command = [*install_command(sys.executable, copy, copy / "demo.lock"), "--target", str(target)]
    pip = subprocess.run(command, env=pip_env(), capture_output=True, text=True, timeout=300)
    assert pip.returncode != 0 and "DO NOT MATCH THE HASHES" in pip.stderr, pip.stdout + pip.stderr
    assert not (target / "demo_pure").exists()


def test_no_pip_settings_of_this_machine_leak_into_a_lock(built, tmp_path, server, monkeypatch):
    # PIP_* variables (like this machine's global pip config) offer the demo wheels; the lock sees only its index.
    monkeypatch.setenv("PIP_FIND_LINKS", str(built.tmp / "index" / "files"))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", (built.tmp / "index" / "simple").as_uri())
    with pytest.raises(ClusterctlError) as exc:
        make_lock(["demo-pure"], tmp_path / "t.lock", index_url=f"{server}/simple")
    message = str(exc.value)
    assert "\n" not in message and "No matching distribution found for demo-pure" in message
    assert "--index-url" in message and not (tmp_path / "t.lock").exists()
