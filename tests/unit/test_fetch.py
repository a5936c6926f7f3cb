"""`data fetch` against a real HTTP server on 127.0.0.1: checksums, resumed downloads, mirrors, extraction."""

import hashlib
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from clusterctl.data.fetch import Dataset, RemoteFile, fetch, load_datasets, tree_digest
from clusterctl.errors import ClusterctlError, SpecError


class _Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with Range support; ``cut`` makes the next response stop after that many bytes."""

    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[dict[str, int]] = {}
    ranges: ClassVar[list[str | None]] = []

    def do_GET(self):
        body = self.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        stop = self.cut.pop(self.path.lstrip("/"), None)
        self.wfile.write(body[start : start + stop] if stop is not None else body[start:])
        if stop is not None:
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Files.files, _Files.cut, _Files.ranges = {}, {}, []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def faces_dataset(base: str, archive: bytes, **extra) -> Dataset:
    remote = RemoteFile(f"{base}/faces.tgz", md5=hashlib.md5(archive).hexdigest(), extract=True, take={"faces": "."})
    return Dataset("faces", "test faces", (remote,), **extra)


MEMBERS = {f"faces/Person_{p}/Person_{p}_{i:04d}.jpg": bytes([p, i]) * 40_000 for p in range(2) for i in range(3)}


def test_interrupted_download_resumes_with_range_and_the_result_is_checked(server, tmp_path):
    archive = tgz(MEMBERS)
    _Files.files["faces.tgz"] = archive
    _Files.cut["faces.tgz"] = len(archive) // 3
    ds = faces_dataset(server, archive)
    with pytest.raises(ClusterctlError, match="run the same command again to resume"):
        fetch(ds, tmp_path)
    part = tmp_path / ".faces.partial" / "downloads" / "faces.tgz.part"
    assert part.stat().st_size == len(archive) // 3  # kept for the next run
    result = fetch(ds, tmp_path)
    assert _Files.ranges == [None, f"bytes={len(archive) // 3}-"]  # the second request asked for the rest only
    assert result["files"][0]["md5"] == hashlib.md5(archive).hexdigest()
    images = sorted(p.relative_to(tmp_path / "faces").as_posix() for p in (tmp_path / "faces").rglob("*.jpg"))
    assert images == sorted(m.removeprefix("faces/") for m in MEMBERS)
    assert not (tmp_path / ".faces.partial").exists()
    again = fetch(ds, tmp_path)  # already there: nothing downloaded
    assert again["already"] and len(_Files.ranges) == 2
    assert json.loads((tmp_path / "faces.fetched.json").read_text())["dataset"] == "faces"


def test_checksum_mismatch_is_rejected_and_nothing_is_left_in_place(server, tmp_path):
    archive = tgz(MEMBERS)
    _Files.files["faces.tgz"] = archive[:-10] + b"0123456789"  # same size, other bytes
    with pytest.raises(ClusterctlError, match="is not the published"):
        fetch(faces_dataset(server, archive), tmp_path)
    assert not (tmp_path / "faces").exists()
    assert not list((tmp_path / ".faces.partial" / "downloads").iterdir())  # the bad file was deleted


def test_mirror_url_and_mirror_dir_serve_the_same_files(server, tmp_path):
    archive = tgz(MEMBERS)
    _Files.files["faces.tgz"] = archive
    ds = faces_dataset("http://127.0.0.1:9/unreachable", archive)  # the canonical host is down
    with pytest.raises(ClusterctlError, match="--mirror"):
        fetch(ds, tmp_path / "none")
    fetch(ds, tmp_path / "by-url", mirror=server)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "faces.tgz").write_bytes(archive)
    fetch(ds, tmp_path / "by-dir", mirror=str(mirror))
    assert tree_digest(tmp_path / "by-url" / "faces") == tree_digest(tmp_path / "by-dir" / "faces")
    with pytest.raises(SpecError, match="no such directory"):
        fetch(ds, tmp_path / "x", mirror=str(tmp_path / "missing"))


def test_a_pinned_tree_digest_rejects_another_version(server, tmp_path):
    archive = tgz(MEMBERS)
    _Files.files["faces.tgz"] = archive
    digest, count = tree_digest_of_members()
    fetch(faces_dataset(server, archive, tree_sha256=digest, tree_files=count), tmp_path / "ok")
    with pytest.raises(ClusterctlError, match="not the pinned version"):
        fetch(faces_dataset(server, archive, tree_sha256="0" * 64, tree_files=count), tmp_path / "other")
    assert not (tmp_path / "other" / "faces").exists()


def tree_digest_of_members() -> tuple[str, int]:
    lines = sorted(f"{m.removeprefix('faces/')}\t{hashlib.sha256(d).hexdigest()}\n" for m, d in MEMBERS.items())
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


def test_archive_members_cannot_escape_the_target(server, tmp_path):
    evil = tgz({"faces/ok.jpg": b"x", "../../escaped.txt": b"boom"})
    _Files.files["faces.tgz"] = evil
    with pytest.raises(ClusterctlError, match="unsafe archive"):
        fetch(faces_dataset(server, evil), tmp_path / "d")
    assert not (tmp_path / "escaped.txt").exists()


def test_catalog_datasets_from_the_shared_mirror(shared_data, tmp_path):
    datasets = load_datasets()
    assert set(datasets) == {"lfw", "lfw-deepfunneled", "lfw-pairs", "fruits360"}
    pairs = fetch(datasets["lfw-pairs"], tmp_path, mirror=str(shared_data))
    assert {f["file"] for f in pairs["files"] if "md5" in f} >= {"pairs.txt", "people.txt"}  # publisher's md5s
    fruits = fetch(datasets["fruits360"], tmp_path, mirror=str(shared_data))
    assert Path(fruits["path"], "Test").is_dir() and Path(fruits["path"], "LICENSE").is_file()
    assert tree_digest(Path(fruits["path"]) / "Test")[1] == 17845
    lfw = fetch(datasets["lfw-deepfunneled"], tmp_path, mirror=str(shared_data))
    assert len(list(Path(lfw["path"]).iterdir())) == 5749
