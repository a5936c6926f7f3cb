"""`data fetch` against a real HTTP server on 127.0.0.1: checksums, resumed downloads, mirrors, extraction."""

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from clusterctl.data.fetch import Dataset, RemoteFile, fetch, load_datasets, tree_digest
from clusterctl.errors import ClusterctlError, SpecError
from tests.support.files_server import Files


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
    Files.files["faces.tgz"] = archive
    Files.cut["faces.tgz"] = len(archive) // 3
    ds = faces_dataset(server, archive)
    with pytest.raises(ClusterctlError, match="run the same command again to resume"):
        fetch(ds, tmp_path)
    part = tmp_path / ".faces.partial" / "downloads" / "faces.tgz.part"
    assert part.stat().st_size == len(archive) // 3  # kept for the next run
    result = fetch(ds, tmp_path)
    assert Files.ranges == [None, f"bytes={len(archive) // 3}-"]  # the second request asked for the rest only
    assert result["files"][0]["md5"] == hashlib.md5(archive).hexdigest()
    images = sorted(p.relative_to(tmp_path / "faces").as_posix() for p in (tmp_path / "faces").rglob("*.jpg"))
    assert images == sorted(m.removeprefix("faces/") for m in MEMBERS)
    assert not (tmp_path / ".faces.partial").exists()
    again = fetch(ds, tmp_path)  # already there: nothing downloaded
    assert again["already"] and len(Files.ranges) == 2
    assert json.loads((tmp_path / "faces.fetched.json").read_text())["dataset"] == "faces"


def test_checksum_mismatch_is_rejected_and_nothing_is_left_in_place(server, tmp_path):
    archive = tgz(MEMBERS)
    Files.files["faces.tgz"] = archive[:-10] + b"0123456789"  # same size, other bytes
    with pytest.raises(ClusterctlError, match="is not the published"):
        fetch(faces_dataset(server, archive), tmp_path)
    assert not (tmp_path / "faces").exists()
    assert not list((tmp_path / ".faces.partial" / "downloads").iterdir())  # the bad file was deleted


def test_mirror_url_and_mirror_dir_serve_the_same_files(server, tmp_path):
    archive = tgz(MEMBERS)
    Files.files["faces.tgz"] = archive
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
    Files.files["faces.tgz"] = archive
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
    Files.files["faces.tgz"] = evil
    with pytest.raises(ClusterctlError, match="unsafe archive"):
        fetch(faces_dataset(server, evil), tmp_path / "d")
    assert not (tmp_path / "escaped.txt").exists()


def test_catalog_datasets_from_the_shared_mirror(shared_data, tmp_path):
    datasets = load_datasets()
    assert set(datasets) == {"lfw", "lfw-deepfunneled", "lfw-pairs", "fruits360", "hadoop"}
    pairs = fetch(datasets["lfw-pairs"], tmp_path, mirror=str(shared_data))
    assert {f["file"] for f in pairs["files"] if "md5" in f} >= {"pairs.txt", "people.txt"}  # publisher's md5s
    fruits = fetch(datasets["fruits360"], tmp_path, mirror=str(shared_data))
    assert Path(fruits["path"], "Test").is_dir() and Path(fruits["path"], "LICENSE").is_file()
    assert tree_digest(Path(fruits["path"]) / "Test")[1] == 17845
    lfw = fetch(datasets["lfw-deepfunneled"], tmp_path, mirror=str(shared_data))
    assert len(list(Path(lfw["path"]).iterdir())) == 5749


def test_sha512_is_checked_and_a_mismatch_names_it(server, tmp_path):
    archive = tgz(MEMBERS)
    Files.files["faces.tgz"] = archive
    digest = hashlib.sha512(archive).hexdigest()
    good = RemoteFile(f"{server}/faces.tgz", sha512=digest, extract=True, take={"faces": "."})
    done = fetch(Dataset("faces", "test faces", (good,)), tmp_path / "ok")
    assert done["files"][0]["sha512"] == good.sha512
    bad = RemoteFile(good.url, sha512=hashlib.sha512(b"another release").hexdigest(), extract=True, take={"faces": "."})
    with pytest.raises(ClusterctlError, match=r"sha512 .* is not the published"):
        fetch(Dataset("faces", "test faces", (bad,)), tmp_path / "bad")
    assert not (tmp_path / "bad" / "faces").exists()


def test_the_hadoop_release_is_pinned_by_apaches_sha512():
    hadoop = load_datasets()["hadoop"]
    (release,) = hadoop.files
    version = "3.3.6"
    assert release.url == f"https://archive.apache.org/dist/hadoop/common/hadoop-{version}/hadoop-{version}.tar.gz"
    assert release.sha512 is not None and len(release.sha512) == 128 and int(release.sha512, 16) >= 0
    assert release.extract and release.take == {f"hadoop-{version}": "."}  # HADOOP_HOME = DEST/hadoop


def test_a_tar_ending_in_a_jar_is_extracted_as_a_tar(server, tmp_path):
    """An uncompressed tar whose last member is a zip (a .jar) ends with a zip directory too."""
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("org/Main.class", b"\xca\xfe\xba\xbe")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in {"faces/README": b"hi", "faces/lib/x.jar": jar.getvalue()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(archive))  # the trap
    Files.files["faces.tgz"] = archive
    done = fetch(faces_dataset(server, archive), tmp_path)
    assert (Path(done["path"]) / "lib" / "x.jar").read_bytes() == jar.getvalue()
