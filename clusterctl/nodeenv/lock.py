"""The nodes' lock: every package with its exact version and sha256, resolved for the nodes' platform.

A lock is a pip requirements file, one ``name==version --hash=sha256:...`` a line (the archive's file
name in a trailing comment), under a header of ``# key: value`` comments that say the platform, the
Python and how to regenerate it. Any pip installs it with ``--require-hashes``.

Resolution runs pip for the nodes' platform, not this machine's: ``pip install --dry-run --report``
with ``--platform``/``--python-version``/``--implementation``/``--abi``. pip allows only wheels there,
so the few packages that PyPI publishes only as a source archive (pyspark, face-recognition-models:
both pure Python) are resolved on their own with ``--no-deps``, their dependencies fed to the wheel
resolution, and the tools that build them on a node (setuptools, wheel) locked beside them.
"""

import hashlib
import json
import re
import tempfile
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from clusterctl.errors import ClusterctlError
from clusterctl.nodeenv.pip import (
    DEFAULT_PLATFORMS,
    DEFAULT_PYTHON,
    python_tag,
    run_pip,
    source_args,
    target_args,
    target_environment,
)
from clusterctl.progress import Reporter, silent

# PyPI has only source archives of these (pure Python); a node builds them offline from the wheelhouse.
SOURCE_ONLY: tuple[str, ...] = ("pyspark", "face-recognition-models")
# What pip installs to build a setup.py project without pyproject.toml (both of the above).
SETUPTOOLS_BUILD: tuple[str, ...] = ("setuptools>=40.8.0", "wheel")
SDIST_SUFFIXES = (".tar.gz", ".zip")

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?P<options>(?:\s+--hash=\S+)*)\s*$")
_HASH = re.compile(r"--hash=sha256:(?P<hex>[0-9a-f]{64})$")
_HEADER = re.compile(r"^#\s*(?P<key>[a-z][a-z -]*):\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class LockEntry:
    """One locked package: the only files a node may install for it are those with these sha256s."""

    name: NormalizedName
    version: str
    sha256: tuple[str, ...]  # sorted
    file: str | None = None  # the archive's name when the lock recorded it (tells a wheel from an sdist)

    @property
    def requirement(self) -> str:
        """``name==version``."""
        return f"{self.name}=={self.version}"

    @property
    def line(self) -> str:
        """The normalised requirement line (what ``lock_hash`` covers)."""
        return self.requirement + "".join(f" --hash=sha256:{h}" for h in sorted(self.sha256))

    @property
    def is_sdist(self) -> bool:
        """Whether the locked file is a source archive (built on the node) rather than a wheel."""
        return self.file is not None and self.file.endswith(SDIST_SUFFIXES)


@dataclass(frozen=True)
class Lock:
    """A lock file as read: its pins and the platform and Python they were resolved for."""

    path: Path
    entries: tuple[LockEntry, ...]
    platforms: tuple[str, ...]
    python_version: str
    header: tuple[str, ...] = ()  # the comment lines above the pins, as written

    @property
    def hash(self) -> str:
        """``lock_hash(self)``."""
        return lock_hash(self)

    def entry(self, name: str) -> LockEntry | None:
        """The pin of ``name`` (any spelling), or None."""
        wanted = canonicalize_name(name)
        return next((e for e in self.entries if e.name == wanted), None)


def lock_hash(lock: Lock) -> str:
    """sha256 of the normalised, sorted requirement lines: the lock's id in workdirs and benchmark sessions.

    Comments, the header, line continuations and name spellings do not change it; any pin or hash does.
    """
    text = "".join(line + "\n" for line in sorted(e.line for e in lock.entries))
    return hashlib.sha256(text.encode()).hexdigest()


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Requirement-file lines with backslash continuations joined, numbered from their first line."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        yield start, pending + raw
        pending = ""
    if pending:
        yield start, pending


def read_lock(path: Path) -> Lock:
    """Parse a lock file; anything but exact, hashed pins is an error naming the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ClusterctlError(f"{path}: no such lock; make one with `clusterctl nodeenv lock --out {path}`") from None
    header: list[str] = []
    fields: dict[str, str] = {}
    entries: dict[NormalizedName, LockEntry] = {}
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not entries and stripped.startswith("#"):
            header.append(stripped)
            if match := _HEADER.match(stripped):
                fields.setdefault(match["key"], match["value"])
        requirement, _, comment = stripped.partition("#")  # pins hold no "#": the rest is a comment
        if not requirement.strip():
            continue
        entry = _parse_pin(requirement.strip(), comment.strip(), f"{path}:{number}")
        if entry.name in entries:
            raise ClusterctlError(f"{path}:{number}: {entry.name} is pinned twice; keep one line (or regenerate)")
        entries[entry.name] = entry
    if not entries:
        raise ClusterctlError(f"{path}: no pins; regenerate it with `clusterctl nodeenv lock --out {path}`")
    platforms = tuple(fields.get("platform", "").split()) or DEFAULT_PLATFORMS
    python_version = fields.get("python", DEFAULT_PYTHON).split()[0]
    return Lock(path, tuple(sorted(entries.values(), key=lambda e: e.name)), platforms, python_version, tuple(header))


def _parse_pin(requirement: str, comment: str, where: str) -> LockEntry:
    """One ``name==version --hash=sha256:HEX ...`` line."""
    fix = "a lock holds only `name==version --hash=sha256:HEX` lines; regenerate it with `clusterctl nodeenv lock`"
    match = _PIN.match(requirement)
    if not match:
        raise ClusterctlError(f"{where}: `{requirement}` is not an exact pin with hashes; {fix}")
    hashes = []
    for option in match["options"].split():
        hashed = _HASH.match(option)
        if not hashed:
            raise ClusterctlError(f"{where}: `{option}` is not a sha256 hash of 64 hex digits; {fix}")
        hashes.append(hashed["hex"])
    if not hashes:
        raise ClusterctlError(f"{where}: {match['name']} has no --hash; {fix}")
    try:
        version = str(Version(match["version"]))
    except InvalidVersion:
        raise ClusterctlError(f"{where}: {match['version']!r} is not a version; {fix}") from None
    file = comment if comment.endswith((".whl", *SDIST_SUFFIXES)) else None
    return LockEntry(canonicalize_name(match["name"]), version, tuple(sorted(set(hashes))), file)


def format_lock(entries: Iterable[LockEntry], header: Sequence[str]) -> str:
    """The text of a lock: ``header`` (each line a comment), then one pin a line, sorted by name."""
    lines = [line if line.startswith("#") else f"# {line}" for line in header]
    for entry in sorted(entries, key=lambda e: e.name):
        lines.append(entry.line + (f"  # {entry.file}" if entry.file else ""))
    return "\n".join(lines) + "\n"


def write_lock(path: Path, entries: Sequence[LockEntry], header: Sequence[str]) -> Lock:
    """Write a lock atomically (a reader never sees half of one) and read it back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(format_lock(entries, header))
    partial.replace(path)
    return read_lock(path)


def public_location(location: str) -> str:
    """An index URL or find-links place as it may appear in a committed file.

    Credentials are dropped from URLs; a local absolute path (or file:// URL) becomes ``LOCAL_DIR``.
    """
    parsed = urllib.parse.urlsplit(location)
    if parsed.scheme in ("http", "https"):
        host = parsed.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit((parsed.scheme, host, parsed.path, parsed.query, ""))
    if parsed.scheme == "file" or Path(location).is_absolute():
        return "LOCAL_DIR"
    return location


def _pip_command(
    platforms: Sequence[str],
    python_version: str,
    index_url: str | None,
    extra_index_urls: Sequence[str],
    find_links: Sequence[str],
) -> str:
    """The equivalent pip resolution, without local paths or credentials (the header's default)."""
    args = source_args(
        public_location(index_url) if index_url else None,
        [public_location(u) for u in extra_index_urls],
        [public_location(f) for f in find_links],
    )
    pip = "pip install --dry-run --ignore-installed --report REPORT.json --only-binary=:all:"
    return " ".join([pip, *target_args(platforms, python_version), *args, "-r", "REQUIREMENTS"])


def _entries(report: dict[str, Any], where: str) -> list[LockEntry]:
    """Lock entries from a pip installation report (its ``install`` items)."""
    entries = []
    for item in report.get("install", []):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        archive = item.get("download_info", {}).get("archive_info")
        if archive is None:
            raise ClusterctlError(
                f"{where}: {name} {version} resolved to a directory or VCS checkout; lock only released archives"
            )
        hashes = dict(archive.get("hashes") or {})
        if not hashes and "=" in archive.get("hash", ""):
            algorithm, _, digest = archive["hash"].partition("=")
            hashes[algorithm] = digest
        if "sha256" not in hashes:
            raise ClusterctlError(
                f"{where}: the index gave no sha256 for {name} {version}; use an index that publishes "
                "hashes (PEP 503 #sha256= links, as PyPI does)"
            )
        url = item["download_info"]["url"]
        file = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        entries.append(LockEntry(canonicalize_name(name), str(Version(version)), (hashes["sha256"],), file))
    return entries


def _requires(report: dict[str, Any], extras: dict[NormalizedName, set[str]], python_version: str) -> list[str]:
    """The dependencies (markers evaluated for a node) of the packages in a ``--no-deps`` report."""
    deps = []
    for item in report.get("install", []):
        name = canonicalize_name(item["metadata"]["name"])
        for line in item["metadata"].get("requires_dist") or []:
            req = Requirement(line)
            wanted = {""} | extras.get(name, set())
            env = target_environment(python_version)
            if req.marker is None or any(req.marker.evaluate(env | {"extra": extra}) for extra in wanted):
                req.marker = None
                deps.append(str(req))
    return deps


def make_lock(
    requirements: Sequence[str],
    out: Path,
    index_url: str | None = None,
    find_links: Sequence[str] = (),
    platform: str | Sequence[str] = DEFAULT_PLATFORMS,
    python_version: str = DEFAULT_PYTHON,
    *,
    extra_index_urls: Sequence[str] = (),
    sdists: Iterable[str] = SOURCE_ONLY,
    build_requires: Sequence[str] = SETUPTOOLS_BUILD,
    regenerate: str | None = None,
    title: str = "a hash-pinned lock",
    report: Reporter = silent,
) -> Lock:
    """Resolve ``requirements`` for ``platform`` (manylinux tags) and CPython ``python_version``; write the lock.

    Packages come only from ``index_url`` (default PyPI), ``extra_index_urls`` and ``find_links``.
    Names in ``sdists`` are locked as their source archive (with ``build_requires`` beside them, so a
    node builds them offline); everything else must be a wheel for the platform. ``regenerate`` is the
    command the header tells (default: the equivalent pip command); it must hold no local paths.
    """
    platforms = (platform,) if isinstance(platform, str) else tuple(platform)
    python_tag(python_version)  # fail early on a malformed version
    from_source = {canonicalize_name(name) for name in sdists}
    parsed = []
    for line in requirements:
        try:
            parsed.append(Requirement(line))
        except InvalidRequirement as exc:
            raise ClusterctlError(f"requirement {line!r} is not valid: {exc}; write it as in pyproject.toml") from None
    sources = [str(r) for r in parsed if canonicalize_name(r.name) in from_source]
    wheels = [str(r) for r in parsed if canonicalize_name(r.name) not in from_source]
    where = f"resolving for {platforms[0]} / CPython {python_version}"
    sources_args = source_args(index_url, extra_index_urls, find_links)
    fix = (
        "check the requirement and --index-url/--extra-index-url/--find-links; a pure-Python package "
        "published only as a source archive needs to be named in sdists"
    )
    with tempfile.TemporaryDirectory(prefix="clusterctl-lock-") as tmp:

        def resolve(reqs: Sequence[str], name: str, extra_args: Sequence[str]) -> dict[str, Any]:
            req_file, report_file = Path(tmp, f"{name}.txt"), Path(tmp, f"{name}.json")
            req_file.write_text("".join(r + "\n" for r in reqs))
            args = ["install", "--dry-run", "--ignore-installed", "--report", str(report_file)]
            args += ["--target", str(Path(tmp, "target")), *extra_args, *target_args(platforms, python_version)]
            run_pip([*args, *sources_args, "-r", str(req_file)], lambda line: _progress(line, report), where, fix)
            return json.loads(report_file.read_text())

        entries: dict[NormalizedName, LockEntry] = {}
        # Source archives first, each without its dependencies (pip resolves sdists for a foreign
        # platform only so); their dependencies join the wheel resolution. Repeat for sdists among those.
        pending, round_ = sources, 0
        while pending:
            round_ += 1
            report(f"resolving source archives ({', '.join(pending)})")
            extras = {canonicalize_name(r.name): set(r.extras) for r in map(Requirement, pending)}
            resolved = resolve(pending, f"sources-{round_}", ["--no-deps"])
            for entry in _entries(resolved, where):
                entries[entry.name] = entry
            deps = _requires(resolved, extras, python_version)
            pending = [d for d in deps if canonicalize_name(Requirement(d).name) in from_source - entries.keys()]
            wheels += [d for d in deps if canonicalize_name(Requirement(d).name) not in from_source]
        if any(e.is_sdist for e in entries.values()):
            wheels += build_requires
        report(f"resolving {len(wheels)} requirements for {platforms[0]} / CPython {python_version}")
        for entry in _entries(resolve(wheels, "wheels", ["--only-binary=:all:"]), where) if wheels else []:
            if entry.name in entries:  # named in sdists, yet a wheel requires it: pip found a wheel after all
                raise ClusterctlError(f"{where}: {entry.name} resolved both as source and as wheel; {fix}")
            entries[entry.name] = entry
    regenerate = regenerate or _pip_command(platforms, python_version, index_url, extra_index_urls, find_links)
    header = [
        f"# {title}: generated by clusterctl; do not edit (regenerate instead)",
        f"# platform: {' '.join(platforms)}",
        f"# python: {python_version} (cp{python_tag(python_version)})",
        f"# regenerate: {regenerate}",
        f"# install: python -m pip install --no-index --find-links WHEELHOUSE --require-hashes -r {Path(out).name}",
    ]
    if "LOCAL_DIR" in regenerate:
        header.append("# LOCAL_DIR: a local directory of wheels (its path is not recorded; the hashes are what count)")
    if any(e.is_sdist for e in entries.values()):
        built = ", ".join(sorted(e.name for e in entries.values() if e.is_sdist))
        tools = f" with the locked {', '.join(build_requires)}" if build_requires else ""
        header.append(f"# source archives (built at install{tools}): {built}")
    return write_lock(Path(out), list(entries.values()), header)


def _progress(line: str, report: Reporter) -> None:
    """pip's ``Collecting NAME`` lines as progress."""
    if line.startswith("Collecting "):
        report(f"resolving: {line.removeprefix('Collecting ').split(' (from')[0]}")


def exclude(lock: Lock, names: Iterable[str]) -> Lock:
    """A lock without ``names``, written beside ``lock`` as ``<stem>.without-<names>.lock``.

    For nodes that bring some packages themselves (EMR ships its own pyspark); what only those
    packages needed stays pinned, harmlessly.
    """
    dropped = sorted({canonicalize_name(n) for n in names})
    missing = [name for name in dropped if lock.entry(name) is None]
    if missing:
        raise ClusterctlError(f"{lock.path}: {', '.join(missing)} not in the lock; name packages it pins")
    out = lock.path.with_name(f"{lock.path.stem}.without-{'-'.join(dropped)}{lock.path.suffix}")
    header = [line for line in lock.header if not line.startswith(("# install:", "# derived from:"))]
    header += [
        f"# derived from: {lock.path.name} (lock {lock.hash[:16]}) without {', '.join(dropped)}",
        f"# install: python -m pip install --no-index --find-links WHEELHOUSE --require-hashes -r {out.name}",
    ]
    return write_lock(out, [e for e in lock.entries if e.name not in dropped], header)
