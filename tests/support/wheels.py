"""Minimal valid wheels and a ready wheelhouse made by the tests themselves (no index, no network)."""

import base64
import hashlib
import zipfile
from pathlib import Path

from packaging.tags import parse_tag


def make_wheel(dest: Path, name: str, tag: str, source: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal valid wheel of ``name`` 1.0: one package, METADATA, WHEEL (with every tag), RECORD."""
    dist = name.replace("-", "_")
    info = f"{dist}-1.0.dist-info"
    pure = tag.endswith("-none-any")
    files = {
        f"{dist}/__init__.py": source.encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: {str(pure).lower()}\n"
            + "".join(f"Tag: {t}\n" for t in sorted(map(str, parse_tag(tag))))
        ).encode(),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = dest / f"{dist}-1.0-{tag}.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for member, data in files.items():
            whl.writestr(member, data)
    return path


def tiny_wheelhouse(root: Path, name: str = "demo-pure") -> tuple[Path, Path]:
    """A lock pinning one pure-Python wheel of ``name`` and that lock's wheelhouse, already built in
    ``root/wheelhouse/<lock hash>/`` (point ``CLUSTERCTL_WHEELHOUSE`` at ``root/wheelhouse``): a provider's
    ``up`` then finds every file in place and downloads nothing. Returns (lock, wheelhouse folder)."""
    from clusterctl.nodeenv.lock import read_lock

    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    wheel = make_wheel(files, name, "py3-none-any", f"WHERE = 'the tiny wheelhouse of {name}'\n")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = root / "tiny.lock"
    lock.write_text(
        "# a lock of one package, for tests\n"
        "# platform: manylinux_2_17_x86_64\n# python: 3.11 (cp311)\n"
        f"{name}==1.0 --hash=sha256:{digest}  # {wheel.name}\n"
    )
    house = root / "wheelhouse" / read_lock(lock).hash
    house.mkdir(parents=True, exist_ok=True)
    (house / wheel.name).write_bytes(wheel.read_bytes())
    return lock, house
