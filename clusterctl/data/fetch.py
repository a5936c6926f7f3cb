"""``clusterctl data fetch``: data sets from their canonical locations or a mirror, checked, resumable.

Each data set is described in ``datasets.yaml``. A fetch

1. gets every file from its URL, from ``--mirror URL`` (same file name under that base), or from
   ``--mirror DIR`` (the file itself, or the data set already extracted, as in ``../shared/data``);
2. resumes an interrupted download from where it stopped (HTTP ``Range``) and checks each file
   against the publisher's checksum (sha512, sha256 or md5); a mismatch deletes the file and fails;
3. extracts archives (tar/zip, members confined to the target) and keeps what ``take`` names;
4. checks the result's tree digest where one is pinned, then moves it into place atomically.

Work in progress lives in ``DEST/.<name>.partial`` (kept after a failure so the next run resumes);
a finished data set is ``DEST/<name>`` plus ``DEST/<name>.fetched.json`` (source and checksums).
"""

import fnmatch
import hashlib
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from clusterctl.data.manifest import file_digest
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.progress import Reporter, silent

CATALOG = Path(__file__).resolve().parent / "datasets.yaml"
CHUNK = 1 << 20  # download chunk


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: where it is, its checksum, and what to keep if it is an archive."""

    url: str
    md5: str | None = None
    sha256: str | None = None
    sha512: str | None = None  # Apache releases publish SHA-512
    extract: bool = False
    take: dict[str, str] = field(default_factory=dict)  # archive glob -> path under the data set

    @property
    def name(self) -> str:
        """The file name, also its name under a mirror."""
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name


@dataclass(frozen=True)
class Dataset:
    """A data set ``data fetch`` knows."""

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    mirror_dir: str | None = None  # its extracted layout's folder name in a mirror directory
    tree_sha256: str | None = None
    tree_files: int | None = None
    tree_path: str = "."  # the part of the data set the tree digest covers


def load_datasets(path: Path = CATALOG) -> dict[str, Dataset]:
    """The data sets described in ``path``."""
    doc = yaml.safe_load(path.read_text())
    out = {}
    for name, d in doc.items():
        tree = d.get("tree") or {}
        out[name] = Dataset(
            name=name,
            description=d["description"],
            files=tuple(RemoteFile(**f) for f in d["files"]),
            mirror_dir=d.get("mirror_dir"),
            tree_sha256=tree.get("sha256"),
            tree_files=tree.get("files"),
            tree_path=tree.get("path", "."),
        )
    return out


def tree_digest(root: Path) -> tuple[str, int]:
    """(sha256 over the sorted ``path<TAB>sha256`` lines of every file under ``root``, file count)."""
    lines = sorted(
        f"{(Path(d) / f).relative_to(root).as_posix()}\t{file_digest(Path(d) / f, 'sha256')}\n"
        for d, _, files in os.walk(root)
        for f in files
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


def _check(path: Path, remote: RemoteFile, origin: str) -> dict[str, str]:
    """Verify ``path`` against ``remote``'s checksum; delete it and fail on a mismatch."""
    for algorithm in ("sha512", "sha256", "md5"):
        want = getattr(remote, algorithm)
        if want:
            got = file_digest(path, algorithm)
            if got != want:
                path.unlink()
                raise ClusterctlError(
                    f"{remote.name} from {origin}: {algorithm} {got} is not the published {want}; the file was "
                    "deleted: run the command again, or use --mirror with a good copy"
                )
            return {algorithm: got}
    return {}


def download(url: str, part: Path, report: Reporter = silent, timeout: float = 60) -> None:
    """Download ``url`` into ``part``, resuming from ``part``'s size with an HTTP Range request."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the file is complete
            return
        raise ClusterctlError(
            f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the URL or --mirror"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ClusterctlError(f"cannot reach {url} ({reason}); check the network or use --mirror DIR|URL") from None
    with response:
        if have and response.status != 206:  # the server ignored Range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        done = have
        try:
            with part.open("ab" if have else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    report(f"{part.name.removesuffix('.part')}: {done / 1e6:,.1f} MB", done, total)
        except (OSError, urllib.error.URLError) as exc:
            raise ClusterctlError(
                f"download of {url} interrupted after {done:,} bytes ({exc}); run the same command again to resume"
            ) from None
    if total is not None and done < total:
        raise ClusterctlError(
            f"download of {url} stopped at {done:,} of {total:,} bytes; run the same command again to resume"
        )


def _fetch_file(remote: RemoteFile, mirror: str | None, into: Path, report: Reporter) -> tuple[Path, dict[str, Any]]:
    """Bring one file into ``into`` from the mirror or its URL; return it and where it came from."""
    into.mkdir(parents=True, exist_ok=True)
    final = into / remote.name
    if final.exists():  # fetched and checked by an earlier, interrupted run
        return final, {"file": remote.name, "source": "earlier run", **_check(final, remote, "an earlier run")}
    if mirror and not _is_url(mirror):
        src = Path(mirror) / remote.name
        if not src.is_file():
            raise SpecError(f"--mirror {mirror}: no {remote.name} there (nor the extracted data set)")
        report(f"copying {src}")
        shutil.copyfile(src, final)
        return final, {"file": remote.name, "source": str(src), **_check(final, remote, str(src))}
    url = f"{mirror.rstrip('/')}/{remote.name}" if mirror else remote.url
    part = into / f"{remote.name}.part"
    download(url, part, report)
    checked = _check(part, remote, url)
    part.rename(final)
    return final, {"file": remote.name, "source": url, **checked}


def _is_url(text: str) -> bool:
    return urllib.parse.urlparse(text).scheme in ("http", "https")


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a tar or zip archive into ``dest``; no member may land outside it."""
    dest.mkdir(parents=True, exist_ok=True)
    with archive.open("rb") as f:
        # by the leading magic, not zipfile.is_zipfile: that looks for a zip directory near the end,
        # which a tar holding .jar files (zips) also has
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if not (dest / member).resolve().is_relative_to(dest.resolve()):
                    raise ClusterctlError(f"{archive.name}: member {member!r} would land outside {dest}; refusing")
            zf.extractall(dest)
    elif tarfile.is_tarfile(archive):
        try:
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")  # refuses absolute paths, '..' and links out of dest
        except tarfile.TarError as exc:
            raise ClusterctlError(
                f"{archive.name}: cannot extract ({exc}); refusing a damaged or unsafe archive"
            ) from None
    else:
        raise ClusterctlError(f"{archive.name}: neither a tar nor a zip archive; check the URL or --mirror")


def _take(extracted: Path, take: dict[str, str], out: Path, archive: str) -> None:
    """Move what ``take`` names from ``extracted`` into ``out`` (``.`` = the data set's own folder)."""
    for pattern, target in take.items():
        hits = [
            p
            for p in sorted(extracted.glob("*/*") if "/" in pattern else extracted.iterdir())
            if fnmatch.fnmatch(p.relative_to(extracted).as_posix(), pattern)
        ]
        if len(hits) != 1:
            raise ClusterctlError(f"{archive}: expected one {pattern!r} inside, found {len(hits)}; wrong archive?")
        dest = out / target
        if target == ".":
            for child in hits[0].iterdir():
                shutil.move(str(child), out / child.name)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(hits[0]), dest)


def _copy_extracted(ds: Dataset, src: Path, out: Path, report: Reporter) -> list[dict[str, Any]]:
    """Copy a mirror's already-extracted data set; plain files are checked against their checksums."""
    report(f"copying {src}")
    targets = [t for f in ds.files for t in (f.take.values() if f.extract else [f.name])]
    records = []
    for target in targets:
        source = src if target == "." else src / target
        if not source.exists():
            raise SpecError(f"--mirror {src.parent}: {ds.mirror_dir}/ has no {target}")
        if source.is_dir():
            shutil.copytree(source, out if target == "." else out / target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, out / target)
        records.append({"file": target, "source": str(source)})
    for remote in ds.files:
        if not remote.extract:
            records.append({"file": remote.name, **_check(out / remote.name, remote, str(src))})
    return records


def fetch(ds: Dataset, dest_root: Path, mirror: str | None = None, report: Reporter = silent) -> dict[str, Any]:
    """Fetch ``ds`` into ``dest_root/<name>``; a no-op when it is already there. Returns what was done."""
    target = dest_root / ds.name
    record = dest_root / f"{ds.name}.fetched.json"
    if target.is_dir() and record.is_file():
        return json.loads(record.read_text()) | {"path": str(target), "already": True}
    if target.exists():
        raise ClusterctlError(f"{target} exists but was not fetched by clusterctl; move it away or pass another --dest")
    if mirror and not _is_url(mirror) and not Path(mirror).is_dir():
        raise SpecError(f"--mirror {mirror}: no such directory (give a directory or an http(s) URL)")
    work = dest_root / f".{ds.name}.partial"
    out = work / "out"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    extracted_mirror = Path(mirror) / ds.mirror_dir if mirror and not _is_url(mirror) and ds.mirror_dir else None
    archives_in_mirror = mirror and not _is_url(mirror) and all((Path(mirror) / f.name).is_file() for f in ds.files)
    if extracted_mirror is not None and extracted_mirror.is_dir() and not archives_in_mirror:
        files = _copy_extracted(ds, extracted_mirror, out, report)
    else:
        files = []
        for remote in ds.files:
            path, rec = _fetch_file(remote, mirror, work / "downloads", report)
            files.append(rec)
            if remote.extract:
                report(f"extracting {path.name}")
                scratch = work / "extract"
                shutil.rmtree(scratch, ignore_errors=True)
                _safe_extract(path, scratch)
                _take(scratch, remote.take, out, path.name)
                shutil.rmtree(scratch)
            else:
                shutil.copyfile(path, out / remote.name)
    if ds.tree_sha256:
        report(f"checking {ds.name}'s files")
        digest, count = tree_digest(out / ds.tree_path)
        if digest != ds.tree_sha256:
            raise ClusterctlError(
                f"{ds.name}: the fetched files ({count} under {ds.tree_path}) are not the pinned version "
                f"({ds.tree_files} files, tree sha256 {ds.tree_sha256[:12]}…); use --mirror with that version"
            )
    dest_root.mkdir(parents=True, exist_ok=True)
    out.rename(target)
    shutil.rmtree(work)
    done = {
        "dataset": ds.name,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mirror": mirror,
        "files": files,
        "tree_sha256": ds.tree_sha256,
    }
    record.write_text(json.dumps(done, indent=2) + "\n")
    return done | {"path": str(target), "already": False}
