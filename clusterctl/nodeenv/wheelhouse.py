"""The wheelhouse: the locked files, downloaded once, checked, listed in a manifest.

A wheelhouse is a directory named by the lock's hash (a changed lock never mixes its files with an
older one's) holding exactly one archive per locked package, a copy of the lock and ``manifest.json``.
A provider uploads or serves it; a node installs from it with no index at all (``install_command``).
A rerun downloads only what is missing; a file that is not the locked one is an error, never replaced.
"""

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

from clusterctl.data.manifest import file_digest
from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.lock import Lock, LockEntry, format_lock
from clusterctl.nodeenv.pip import run_pip, source_args, target_args
from clusterctl.progress import Reporter, silent

MANIFEST = "manifest.json"
CACHE_ENV = "CLUSTERCTL_WHEELHOUSE"


@dataclass(frozen=True)
class WheelhouseFile:
    """One archive in a wheelhouse and the pin it satisfies."""

    file: str
    sha256: str
    size: int
    requirement: str


@dataclass(frozen=True)
class Wheelhouse:
    """A checked wheelhouse: where it is, which lock it serves, its files, and what this build fetched."""

    path: Path
    lock_hash: str
    lock_file: str  # the copy of the lock inside ``path``
    files: tuple[WheelhouseFile, ...]
    downloaded: int = 0
    kept: int = 0

    @property
    def bytes(self) -> int:
        """The archives' total size."""
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``clusterctl nodeenv build --json`` prints it."""
        return asdict(self) | {"path": str(self.path), "bytes": self.bytes}


def default_root() -> Path:
    """Where wheelhouses go: ``$CLUSTERCTL_WHEELHOUSE`` or ``~/.cache/clusterctl/wheelhouse``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "clusterctl" / "wheelhouse")


def install_command(python: str, wheelhouse_dir: str | PurePath, lock_path: str | PurePath) -> list[str]:
    """The argv a node runs to install the lock from the wheelhouse: no index, every file hash-checked."""
    return [
        python,
        *("-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse_dir)),
        *("--require-hashes", "-r", str(lock_path)),
    ]


def _archive_name(file: str) -> str | None:
    """The canonical project name of a wheel or sdist file name, or None for any other file."""
    try:
        return parse_wheel_filename(file)[0] if file.endswith(".whl") else parse_sdist_filename(file)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def verify_wheelhouse(lock: Lock, path: Path, complete: bool = True) -> tuple[WheelhouseFile, ...]:
    """Check that ``path`` holds only the lock's files, each with a locked sha256 (and, if ``complete``,
    one for every pin). Any other file is a one-line error naming it and the fix."""
    by_hash = {h: entry for entry in lock.entries for h in entry.sha256}
    rebuild = f"delete it and run `clusterctl nodeenv build --lock {lock.path}` again"
    found: dict[str, WheelhouseFile] = {}
    # Besides archives: the manifest, copies of the lock, and our own partial writes (".NAME.partial").
    ours = [p for p in path.iterdir() if p.name == MANIFEST or p.suffix == ".lock" or p.name.endswith(".partial")]
    for file in sorted(set(path.iterdir()) - set(ours)):
        if not file.is_file():
            raise ClusterctlError(f"wheelhouse {path}: {file.name} is not a locked archive; {rebuild}")
        digest = file_digest(file)
        entry = by_hash.get(digest)
        if entry is None:
            name = _archive_name(file.name)
            pinned = lock.entry(name) if name else None
            what = (
                f"has sha256 {digest[:16]}…, not the locked {pinned.requirement}'s"
                if pinned
                else f"is not in the lock {lock.path.name}"
            )
            raise ClusterctlError(f"wheelhouse {path}: {file.name} {what}; {rebuild}")
        if entry.name in found:
            raise ClusterctlError(
                f"wheelhouse {path}: {file.name} and {found[entry.name].file} both satisfy {entry.requirement}; "
                f"delete one of them"
            )
        found[entry.name] = WheelhouseFile(file.name, digest, file.stat().st_size, entry.requirement)
    missing = [e.requirement for e in lock.entries if e.name not in found]
    if complete and missing:
        raise ClusterctlError(
            f"wheelhouse {path}: no file for {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}; "
            f"run `clusterctl nodeenv build --lock {lock.path}`"
        )
    return tuple(found.values())


def build_wheelhouse(
    lock: Lock,
    dest: Path | None = None,
    index_url: str | None = None,
    find_links: Sequence[str] = (),
    *,
    extra_index_urls: Sequence[str] = (),
    report: Reporter = silent,
) -> Wheelhouse:
    """Download the lock's files into ``DEST/<lock hash>/`` (``DEST`` defaults to ``default_root()``),
    check every file against the lock, and write ``manifest.json``.

    Files already there with a locked sha256 are kept; only the missing ones are downloaded, for the
    lock's platform and Python, from ``index_url`` (default PyPI), ``extra_index_urls`` and ``find_links``.
    """
    path = (dest or default_root()) / lock.hash
    path.mkdir(parents=True, exist_ok=True)
    report(f"checking {path}")
    kept = verify_wheelhouse(lock, path, complete=False)
    have = {f.requirement for f in kept}
    missing = [e for e in lock.entries if e.requirement not in have]
    if missing:
        _download(lock, missing, path, source_args(index_url, extra_index_urls, find_links), report)
    files = verify_wheelhouse(lock, path)
    lock_copy = path / lock.path.name
    lock_copy.write_text(lock.path.read_text())
    wheelhouse = Wheelhouse(path, lock.hash, lock_copy.name, files, downloaded=len(missing), kept=len(kept))
    manifest = {
        "lock_hash": lock.hash,
        "lock": lock_copy.name,
        "platforms": list(lock.platforms),
        "python": lock.python_version,
        "files": [asdict(f) for f in files],
    }
    partial = path / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    partial.replace(path / MANIFEST)
    report(f"wheelhouse ready: {len(files)} files", len(files), len(files))
    return wheelhouse


def _download(lock: Lock, missing: list[LockEntry], path: Path, sources: list[str], report: Reporter) -> None:
    """``pip download`` the ``missing`` pins into ``path``: wheels for the lock's platform, then sdists."""
    total, done = len(missing), 0

    def progress(line: str) -> None:
        nonlocal done
        if line.startswith(("Saved ", "File was already downloaded")):
            done += 1
            report(f"downloaded {Path(line.split()[-1]).name}", done, total)

    fix = f"check --index-url/--extra-index-url/--find-links (they must serve the files {lock.path.name} pins)"
    # pip copies each finished download into -d, so an interrupted run can leave a partial file there:
    # -d is a staging folder beside the wheelhouse (pip re-checks what it finds there and fetches again
    # what fails its hash); only after pip succeeded do the files move into the wheelhouse.
    staging = path.with_name(f".{path.name}.partial")
    staging.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clusterctl-wheelhouse-") as tmp:
        for kind, entries, formats in (
            ("wheels", [e for e in missing if not e.is_sdist], "--only-binary=:all:"),
            ("sources", [e for e in missing if e.is_sdist], "--no-binary=:all:"),
        ):
            if not entries:
                continue
            requirements = Path(tmp, f"{kind}.txt")
            requirements.write_text(format_lock(entries, []))
            report(f"downloading {len(entries)} {kind}", done, total)
            args = ["download", "--no-deps", "--require-hashes", formats, "-r", str(requirements), "-d", str(staging)]
            args += target_args(lock.platforms, lock.python_version)
            run_pip([*args, *sources], progress, f"downloading {kind}", fix)
    for file in staging.iterdir():
        file.replace(path / file.name)
    staging.rmdir()
