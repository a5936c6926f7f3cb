"""The manifest of an image folder: one row per file (and per empty folder), never failing on a bad file.

Columns: ``path`` (relative, POSIX), ``label`` (the parent folder's name), ``bytes``, ``sha256``,
``width``, ``height``, ``ok`` (decoded completely) and ``error`` (why not: not an image, truncated,
unreadable, empty folder). Written as parquet; ``upload --verify`` compares a destination with it.
Files are hashed and decoded on a thread pool (hashlib and Pillow's decoder release the GIL).
"""

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.progress import Reporter, silent
from workloads.common.images import IMAGE_SUFFIXES

CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One manifest row."""

    path: str
    label: str
    bytes: int
    sha256: str | None
    width: int | None
    height: int | None
    ok: bool
    error: str | None


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (sha256 unless told otherwise)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(root: Path, path: Path) -> Entry:
    from PIL import Image

    rel = path.relative_to(root).as_posix()
    label = path.parent.name if path.parent != root else ""
    try:
        size = path.stat().st_size
        digest = file_digest(path)
    except OSError as exc:
        return Entry(rel, label, 0, None, None, None, False, f"unreadable: {exc.strerror or exc}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return Entry(rel, label, size, digest, None, None, False, f"not an image ({path.suffix or 'no suffix'})")
    try:
        with Image.open(path) as img:
            img.load()  # decode every pixel: a truncated JPEG fails here, not at open
            width, height = img.size
    except Exception as exc:  # Pillow raises many types for bad data; each is this file's error, never fatal
        return Entry(rel, label, size, digest, None, None, False, f"{type(exc).__name__}: {exc}")
    return Entry(rel, label, size, digest, width, height, True, None)


def _walk(root: Path) -> Iterator[Path | tuple[Path, str]]:
    """Files under ``root`` in sorted order, and ``(folder, "empty folder")`` for folders with nothing inside."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        if not dirnames and not filenames and here != root:
            yield here, "empty folder"
        for name in sorted(filenames):
            yield here / name


def build_manifest(root: Path, threads: int | None = None, report: Reporter = silent) -> list[Entry]:
    """Every file under ``root`` (recursive) with its checksum and decode result, in path order."""
    if not root.is_dir():
        raise SpecError(f"{root}: no such directory; pass a folder of images (one sub-folder per class)")
    items = list(_walk(root))
    empty = [
        Entry(f"{p.relative_to(root).as_posix()}/", p.name, 0, None, None, None, False, why)
        for p, why in (i for i in items if isinstance(i, tuple))
    ]
    files = [i for i in items if isinstance(i, Path)]
    entries: list[Entry] = []
    with ThreadPoolExecutor(max_workers=threads or min(8, (os.cpu_count() or 1) * 2)) as pool:
        for done, entry in enumerate(pool.map(lambda p: _entry(root, p), files), 1):
            entries.append(entry)
            if done % 500 == 0 or done == len(files):
                report(f"manifest of {root}", done, len(files))
    return sorted(entries + empty, key=lambda e: e.path)


def summarize(entries: list[Entry]) -> dict[str, Any]:
    """Counts for people: files, images decoded, errors (with the first few), classes, bytes."""
    ok = [e for e in entries if e.ok]
    bad = [e for e in entries if not e.ok]
    return {
        "files": sum(1 for e in entries if not e.path.endswith("/")),
        "images": len(ok),
        "classes": len({e.label for e in ok}),
        "bytes": sum(e.bytes for e in entries),
        "errors": len(bad),
        "error_kinds": dict(Counter((e.error or "").split(":")[0].split(" (")[0] for e in bad)),
        "first_errors": [{"path": e.path, "error": e.error} for e in bad[:10]],
    }


def write_manifest(entries: list[Entry], dest: Path) -> Path:
    """Write ``entries`` as a parquet file at ``dest``."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ClusterctlError("the manifest needs pyarrow: pip install 'clusterctl[workloads]'") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("path", pa.string()),
            ("label", pa.string()),
            ("bytes", pa.int64()),
            ("sha256", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("ok", pa.bool_()),
            ("error", pa.string()),
        ]
    )
    table = pa.Table.from_pylist([asdict(e) for e in entries], schema=schema)
    pq.write_table(table, dest)
    return dest


def read_manifest(path: Path) -> list[Entry]:
    """A manifest written by ``write_manifest``."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise SpecError(f"{path}: no such manifest; write one with `clusterctl data manifest SRC -o {path}`")
    return [Entry(**row) for row in pq.read_table(path).to_pylist()]
