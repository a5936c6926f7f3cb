"""workloads.common.io's output commit (``committed_output``) and streaming batch files (``write_batch``),
on a local stand-in for Hadoop's FileSystem: no JVM."""

import errno
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from workloads.common.io import (
    batch_file,
    committed_output,
    failure_cause,
    staging_uris,
    strangers,
    write_batch,
)
from workloads.common.job import JobError


def _local(uri: str) -> Path:
    return Path(urlparse(uri).path)


class LocalFs:
    """``FileSystem`` on this machine's files, for file: and (pretend) s3a: URIs; records the calls."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[str, ...]] = []
        self.refuse: dict[str, OSError] = {}  # call name -> the error it raises

    def _path(self, uri: str) -> Path:
        parsed = urlparse(uri)
        return Path(parsed.path) if parsed.scheme == "file" else self.root / parsed.netloc / parsed.path.lstrip("/")

    def _call(self, name: str, *uris: str) -> None:
        self.calls.append((name, *uris))
        if name in self.refuse:
            raise self.refuse[name]

    def kind(self, uri: str) -> str | None:
        path = self._path(uri)
        return "dir" if path.is_dir() else "file" if path.exists() else None

    def names(self, uri: str) -> list[str]:
        return sorted(os.listdir(self._path(uri)))

    def mkdirs(self, uri: str) -> None:
        self._call("mkdirs", uri)
        self._path(uri).mkdir(parents=True, exist_ok=True)

    def rename(self, src: str, dst: str) -> None:
        self._call("rename", src, dst)
        assert not self._path(dst).exists()
        self._path(src).rename(self._path(dst))

    def delete(self, uri: str) -> None:
        self._call("delete", uri)
        path = self._path(uri)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def put(self, local: Path, uri: str) -> None:
        self._call("put", local.name, uri)
        shutil.copyfile(local, self._path(uri))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _old_output(out: Path) -> dict[str, bytes]:
    (out / "features" / "label=a").mkdir(parents=True)
    (out / "features" / "label=a" / "part-0.parquet").write_bytes(b"old rows")
    (out / "features" / "_SUCCESS").write_bytes(b"")
    (out / "summary.json").write_text('{"run": "old"}')
    return _tree(out)


def _write_new(stage, marker: str = "summary.json", path=_local) -> None:
    """What a job does inside the block: Spark's files under stage.uri, driver files (the marker) in stage.files."""
    features = path(stage.uri) / "features"
    features.mkdir()
    (features / "part-0.parquet").write_bytes(b"new rows")
    (stage.files / "plot.png").write_bytes(b"png")
    (stage.files / marker).write_text('{"run": "new"}')


def test_a_complete_output_replaces_the_old_one_and_leaves_nothing_beside_it(tmp_path):
    out = tmp_path / "result"
    _old_output(out)
    fs = LocalFs(tmp_path)
    with committed_output(None, str(out), fs=fs) as stage:
        assert stage.output == out.as_uri()
        assert _local(stage.uri).parent == tmp_path and _local(stage.uri).name.startswith(".result.staging-")
        _write_new(stage)
    assert _tree(out) == {
        "features/part-0.parquet": b"new rows",
        "plot.png": b"png",
        "summary.json": b'{"run": "new"}',
    }
    assert os.listdir(tmp_path) == ["result"]  # no staging, no previous output
    puts = [c[1] for c in fs.calls if c[0] == "put"]
    assert puts == ["plot.png", "summary.json"]  # the marker last


def test_a_failed_write_leaves_the_old_output_untouched_and_says_why_in_one_line(tmp_path):
    out = tmp_path / "result"
    before = _old_output(out)
    with pytest.raises(JobError) as err, committed_output(None, str(out), fs=LocalFs(tmp_path)) as stage:
        (_local(stage.uri) / "features").mkdir()
        (_local(stage.uri) / "features" / "part-0.parquet").write_bytes(b"half")
        # what a Spark write to a full disk raises, naming the staging location
        raise RuntimeError(
            f"Job aborted due to stage failure: Task failed while writing rows to {stage.uri}/features.\n"
            "\tat org.apache.spark.sql.execution.datasources.FileFormatWriter...\n"
            "Caused by: java.io.IOException: No space left on device\n\tat java.base/java.io.FileOutputStream"
        )
    assert str(err.value) == (
        f"--output {out.as_uri()}: write failed (No space left on device); "
        "nothing was committed, the previous output is untouched"
    )
    assert _tree(out) == before and os.listdir(tmp_path) == ["result"]


def test_errors_that_are_not_about_the_output_propagate_unchanged(tmp_path):
    out = tmp_path / "result"
    with pytest.raises(ValueError, match="a bug in the job"), committed_output(None, str(out), fs=LocalFs(tmp_path)):
        raise ValueError("a bug in the job")
    with (
        pytest.raises(JobError, match=r"^none of the files decoded$"),
        committed_output(None, str(out), fs=LocalFs(tmp_path)),
    ):
        raise JobError("none of the files decoded")
    assert os.listdir(tmp_path) == []  # no output, no staging left


def test_an_unwritable_destination_fails_before_the_job_runs(tmp_path):
    fs = LocalFs(tmp_path)
    fs.refuse["mkdirs"] = OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / ".result.staging-x"))
    ran = []
    with pytest.raises(JobError) as err, committed_output(None, str(tmp_path / "result"), fs=fs):
        ran.append(True)
    assert (
        str(err.value)
        == f"--output {(tmp_path / 'result').as_uri()}: write failed (Read-only file system); nothing was committed"
    )
    assert ran == [] and os.listdir(tmp_path) == []


def test_a_refused_rename_puts_the_old_output_back(tmp_path):
    out = tmp_path / "result"
    before = _old_output(out)
    fs = LocalFs(tmp_path)
    real_rename = fs.rename

    def rename(src: str, dst: str) -> None:
        if ".staging-" in src:
            raise OSError(f"the file system refused to rename {src} to {dst}")
        real_rename(src, dst)

    fs.rename = rename  # type: ignore[method-assign]
    with (
        pytest.raises(JobError, match=r"write failed .*the previous output is untouched"),
        committed_output(None, str(out), fs=fs) as stage,
    ):
        _write_new(stage)
    assert _tree(out) == before and os.listdir(tmp_path) == ["result"]


def test_an_output_holding_what_the_job_does_not_write_is_not_replaced(tmp_path):
    out = tmp_path / "home"
    (out / "thesis").mkdir(parents=True)
    (out / "thesis" / "chapter1.tex").write_text("precious")
    (out / "features").mkdir()
    before = _tree(out)
    with pytest.raises(JobError) as err, committed_output(None, str(out), fs=LocalFs(tmp_path)) as stage:
        _write_new(stage)
    assert "not replaced: it holds thesis, which this job does not write, and no summary.json" in str(err.value)
    assert _tree(out) == before and os.listdir(tmp_path) == ["home"]


def test_strangers():
    new = ["features", "pipeline", "summary.json", "pca_2d.png"]
    assert strangers(["features", "_SUCCESS", ".summary.json.crc"], new, "summary.json") == []  # a partial output
    assert strangers(["features", "tsne.png", "summary.json"], new, "summary.json") == []  # a complete one
    assert strangers(["features", "images", "notes.txt"], new, "summary.json") == ["images", "notes.txt"]


def test_the_job_must_write_the_marker(tmp_path):
    with (
        pytest.raises(RuntimeError, match=r"wrote no report\.json"),
        committed_output(None, str(tmp_path / "r"), marker="report.json", fs=LocalFs(tmp_path)) as stage,
    ):
        (stage.files / "model.joblib").write_bytes(b"m")
    assert os.listdir(tmp_path) == []


def test_on_an_object_store_the_marker_is_copied_in_last(tmp_path):
    """s3a's rename copies file by file: the marker is held back so that its presence means complete."""
    fs = LocalFs(tmp_path)
    out = "s3a://bucket/results/fruits"
    fs.mkdirs(out)
    (fs._path(out) / "summary.json").write_text("old")
    with committed_output(None, out, fs=fs) as stage:
        assert stage.uri.startswith("s3a://bucket/results/.fruits.staging-")
        fs._path(f"{stage.uri}/features").mkdir()
        (stage.files / "summary.json").write_text("new")
    renames = [c[1:] for c in fs.calls if c[0] == "rename"]
    uris = staging_uris(out, stage.uri.rsplit("-", 1)[1], "summary.json")
    assert renames == [
        (f"{uris['staging']}/summary.json", uris["marker"]),
        (out, uris["previous"]),
        (uris["staging"], out),
        (uris["marker"], f"{out}/summary.json"),
    ]
    assert (fs._path(out) / "summary.json").read_text() == "new"


def test_a_commit_that_fails_half_way_on_an_object_store_puts_the_old_output_back(tmp_path):
    fs = LocalFs(tmp_path)
    out = "s3a://bucket/results/fruits"
    before = _old_output(fs._path(out))
    real_rename = fs.rename

    def rename(src: str, dst: str) -> None:
        if dst == f"{out}/summary.json":  # the new output is in place, its marker is not
            raise OSError("copy failed: 503 Slow Down")
        real_rename(src, dst)

    fs.rename = rename  # type: ignore[method-assign]
    with (
        pytest.raises(JobError) as err,
        committed_output(None, out, fs=fs) as stage,
    ):
        _write_new(stage, path=fs._path)
    assert str(err.value) == (
        f"--output {out}: write failed (copy failed: 503 Slow Down); "
        "nothing was committed, the previous output is untouched"
    )
    assert _tree(fs._path(out)) == before and os.listdir(fs._path("s3a://bucket/results")) == ["fruits"]


def test_staging_names_and_roots():
    uris = staging_uris("hdfs://nn:9000/user/me/out", "abc", "summary.json")
    assert uris == {
        "staging": "hdfs://nn:9000/user/me/.out.staging-abc",
        "previous": "hdfs://nn:9000/user/me/.out.previous-abc",
        "marker": "hdfs://nn:9000/user/me/.out.summary.json-abc",
    }
    with (
        pytest.raises(JobError, match=r"--output s3a://bucket: .* is the root of its file system"),
        committed_output(None, "s3a://bucket", fs=LocalFs(Path("/nonexistent"))),
    ):
        pass


def test_failure_cause():
    assert failure_cause(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"
    nested = (
        "An error occurred while calling o98.parquet.\n: org.apache.spark.SparkException: Job aborted.\n"
        "Caused by: org.apache.spark.SparkException: [TASK_WRITE_FAILED] Task failed while writing rows\n"
        "Caused by: org.apache.hadoop.fs.FSError: java.io.IOException: Disk quota exceeded\n"
    )
    assert failure_cause(RuntimeError(nested)) == "java.io.IOException: Disk quota exceeded"
    assert failure_cause(RuntimeError("Caused by: java.nio.file.AccessDeniedException")) == "AccessDeniedException"
    assert failure_cause(RuntimeError("first line\nsecond")) == "first line"


class _Writer:
    """A DataFrame stand-in whose ``coalesce(1).write.mode(...).parquet(uri)`` writes one part file of its rows."""

    def __init__(self, rows: list[str]) -> None:
        self.rows = rows
        self.write = self

    def coalesce(self, n: int) -> "_Writer":
        return self

    def mode(self, mode: str) -> "_Writer":
        assert mode == "overwrite"
        return self

    def parquet(self, uri: str) -> None:
        path = _local(uri)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        (path / "part-00000-1234.snappy.parquet").write_text("\n".join(self.rows))
        (path / "_SUCCESS").write_text("")


def test_a_replayed_batch_replaces_its_file_instead_of_adding_rows(tmp_path):
    results = (tmp_path / "results").as_uri()
    fs = LocalFs(tmp_path)
    write_batch(_Writer(["a.jpg", "b.jpg"]), results, 0, fs)  # type: ignore[arg-type]
    write_batch(_Writer(["c.jpg"]), results, 1, fs)  # type: ignore[arg-type]
    # the query died after batch 1's write, before its commit: batch 1 runs again on restart
    write_batch(_Writer(["c.jpg"]), results, 1, fs)  # type: ignore[arg-type]
    files = sorted(os.listdir(tmp_path / "results"))
    assert files == [batch_file(0), batch_file(1)] == ["batch-000000000000.parquet", "batch-000000000001.parquet"]
    rows = [r for f in files for r in (tmp_path / "results" / f).read_text().splitlines()]
    assert sorted(rows) == ["a.jpg", "b.jpg", "c.jpg"]
