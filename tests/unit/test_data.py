"""Data sets: manifests that list every file (bad ones included), reproducible subsets, the bundled sample."""

import io
import json

import pytest
from PIL import Image

from clusterctl.data.manifest import build_manifest, file_digest, read_manifest, summarize, write_manifest
from clusterctl.data.sets import SAMPLE_FRUITS, default_fruits
from clusterctl.data.subset import class_images
from clusterctl.data.upload import UploadReport
from tests.conftest import run_cli


def jpeg(color, size=(32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def messy(tmp_path):
    """Two classes of good images, a truncated JPEG, a text file named .jpg, a README and an empty folder."""
    root = tmp_path / "messy"
    for label, color in (("Apple", (200, 0, 0)), ("Kiwi", (0, 150, 0))):
        (root / label).mkdir(parents=True)
        for i in range(3):
            (root / label / f"{i}.jpg").write_bytes(jpeg(color))
    whole = jpeg((10, 20, 30), (64, 64))
    (root / "Kiwi" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "Apple" / "notes.jpg").write_text("this is text, not a JPEG")
    (root / "README.txt").write_text("about the data")
    (root / "Empty").mkdir()
    return root


def test_manifest_lists_every_file_and_why_the_bad_ones_are_bad(messy, tmp_path):
    entries = build_manifest(messy, threads=2)
    by_path = {e.path: e for e in entries}
    assert set(by_path) == {
        *(f"{label}/{i}.jpg" for label in ("Apple", "Kiwi") for i in range(3)),
        "Kiwi/truncated.jpg",
        "Apple/notes.jpg",
        "README.txt",
        "Empty/",
    }
    good = by_path["Apple/0.jpg"]
    assert (good.ok, good.label, good.width, good.height, good.error) == (True, "Apple", 32, 24, None)
    assert (
        good.sha256 == file_digest(messy / "Apple" / "0.jpg")
        and good.bytes == (messy / "Apple" / "0.jpg").stat().st_size
    )
    assert not by_path["Kiwi/truncated.jpg"].ok and "truncated" in by_path["Kiwi/truncated.jpg"].error.lower()
    assert not by_path["Apple/notes.jpg"].ok and "UnidentifiedImageError" in by_path["Apple/notes.jpg"].error
    assert by_path["README.txt"].error == "not an image (.txt)"
    assert by_path["Empty/"].error == "empty folder"
    summary = summarize(entries)
    assert (summary["files"], summary["images"], summary["classes"], summary["errors"]) == (9, 6, 2, 4)
    dest = write_manifest(entries, tmp_path / "m.parquet")
    assert read_manifest(dest) == entries


def test_manifest_cli_writes_parquet_and_reports(messy, tmp_path):
    proc = run_cli("data", "manifest", str(messy), "-o", "out/m.parquet", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["errors"] == 4 and (tmp_path / "out" / "m.parquet").is_file()
    missing = run_cli("data", "manifest", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_manifest_of_the_real_fruits_test_split(shared_data):
    summary = summarize(build_manifest(shared_data / "fruits-360" / "Test"))
    assert (summary["classes"], summary["files"], summary["errors"]) == (103, 17845, 0)


def test_subset_cli_is_seeded_filters_by_class_size_and_protects_dest(messy, tmp_path):
    for i in range(3, 6):
        (messy / "Kiwi" / f"{i}.jpg").write_bytes(jpeg((0, 100 + i, 0)))
    args = ("data", "subset", str(messy), "--min-per-class", "5", "--per-class", "4", "--seed", "3", "--json")
    first = run_cli(*args[:3], "a", *args[3:], cwd=tmp_path)
    again = run_cli(*args[:3], "b", *args[3:], cwd=tmp_path)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert json.loads(first.stdout)["classes"] == {"Kiwi": 4}  # Kiwi has 7 .jpg files, Apple only 4
    listing = sorted(p.name for p in (tmp_path / "a" / "Kiwi").iterdir())
    assert listing == sorted(p.name for p in (tmp_path / "b" / "Kiwi").iterdir())
    exists = run_cli(*args[:3], "a", *args[3:], cwd=tmp_path)
    assert exists.returncode == 2 and "--force" in exists.stderr
    inside = run_cli("data", "subset", str(messy), str(messy / "sub"), cwd=tmp_path)
    assert inside.returncode == 2 and "inside" in inside.stderr
    too_big = run_cli("data", "subset", str(messy), "c", "--min-per-class", "50", cwd=tmp_path)
    assert too_big.returncode == 2 and "--min-per-class" in too_big.stderr


def test_the_bundled_sample_is_a_whole_class_folder_and_the_default_until_fetched(tmp_path, monkeypatch):
    classes = class_images(SAMPLE_FRUITS)
    assert len(classes) == 32 and {len(files) for files in classes.values()} == {10}
    assert (SAMPLE_FRUITS / "LICENSE").read_text().startswith("MIT License")
    monkeypatch.setenv("CLUSTERCTL_DATA", str(tmp_path))
    assert default_fruits() == SAMPLE_FRUITS
    (tmp_path / "fruits360" / "Test").mkdir(parents=True)
    assert default_fruits() == tmp_path / "fruits360" / "Test"


def test_an_upload_says_why_it_is_incomplete_first_failure_then_what_verify_found():
    done = UploadReport("s3://b/p", verify={"ok": True, "missing_count": 0, "differ_count": 0})
    assert done.incomplete() is None
    failed = UploadReport("s3://b/p", failed={"a/1.jpg": "AccessDenied", "a/2.jpg": "x"}, verify={"ok": False})
    assert failed.incomplete() == "a/1.jpg: AccessDenied"
    short = UploadReport("s3://b/p", verify={"ok": False, "missing_count": 2, "differ_count": 1})
    assert short.incomplete() == "2 missing, 1 differ"
