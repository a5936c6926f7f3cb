"""`data upload` to S3 (a moto server on 127.0.0.1) and to a folder: interrupted and resumed, verified."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from clusterctl.data.manifest import file_digest
from clusterctl.data.subset import make_subset
from tests.conftest import local_spec, run_cli
from tests.support.moto_endpoint import moto_endpoint

pytestmark = pytest.mark.integration
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-3"}


@pytest.fixture
def s3():
    with moto_endpoint() as url:
        # moto's backends live in this process and outlive a server: start from an empty account each time
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
        client = boto3.client("s3", endpoint_url=url, region_name="eu-west-3", **_keys())
        client.create_bucket(Bucket="data", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        yield url, client


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def objects(client, prefix: str) -> dict[str, dict]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="data", Prefix=prefix)
    return {o["Key"]: o for page in pages for o in page.get("Contents", [])}


@pytest.fixture
def images(shared_data, tmp_path) -> Path:
    """400 real Fruits-360 images in 20 class folders."""
    return make_subset(shared_data / "fruits-360" / "Test", tmp_path / "Fruits", classes=20, per_class=20, seed=5)


def test_interrupted_s3_upload_resumes_and_every_object_is_there_once(s3, images, tmp_path):
    url, client = s3
    env = {**os.environ, **CREDS, "CLUSTERCTL_AWS_ENDPOINT": url, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "clusterctl", "data", "upload", str(images), "--to", "s3://data/sets/fruits"]
    first = subprocess.Popen([*cmd, "--concurrency", "1"], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(objects(client, "sets/fruits/")) < 40 and time.monotonic() < deadline:
        assert first.poll() is None, first.stderr.read().decode()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # an interruption nothing can clean up after
    first.wait()
    present = len(objects(client, "sets/fruits/"))
    assert 40 <= present < 400

    second = run_cli(*cmd[3:], "--json", cwd=tmp_path, env={**CREDS, "CLUSTERCTL_AWS_ENDPOINT": url})
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert (report["uploaded"], report["skipped"], report["failed"]) == (400 - present, present, {})
    assert report["verify"]["ok"] and report["verify"]["present"] == 400
    stored = objects(client, "sets/fruits/")
    local = {p.relative_to(images).as_posix(): p for p in images.rglob("*.jpg")}
    assert set(stored) == {f"sets/fruits/{rel}" for rel in local}  # every object exactly once, same names
    for rel, path in local.items():
        head = client.head_object(Bucket="data", Key=f"sets/fruits/{rel}")
        assert head["ContentLength"] == path.stat().st_size
        assert head["Metadata"]["sha256"] == file_digest(path)

    third = run_cli(*cmd[3:], "--json", cwd=tmp_path, env={**CREDS, "CLUSTERCTL_AWS_ENDPOINT": url})
    assert json.loads(third.stdout)["uploaded"] == 0  # nothing left to send


def test_changed_files_are_sent_again_and_bad_sources_fail_in_one_line(images, tmp_path):
    dest = tmp_path / "copy"
    first = run_cli("data", "upload", str(images), "--to", dest.as_uri(), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["uploaded"] == 400
    victim = next(iter(sorted(dest.rglob("*.jpg"))))
    victim.write_bytes(b"x" * victim.stat().st_size)  # same size, other bytes
    second = json.loads(run_cli("data", "upload", str(images), "--to", str(dest), "--json", cwd=tmp_path).stdout)
    assert (second["uploaded"], second["skipped"]) == (1, 399)
    assert file_digest(victim) == file_digest(images / victim.relative_to(dest))

    missing = run_cli("data", "upload", str(tmp_path / "nope"), "--to", str(dest), cwd=tmp_path)
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    (images / "Broken").mkdir()
    (images / "Broken" / "gone.jpg").symlink_to(tmp_path / "does-not-exist.jpg")
    unreadable = run_cli("data", "upload", str(images), "--to", str(dest), cwd=tmp_path)
    assert unreadable.returncode == 1
    errors = [line for line in unreadable.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "gone.jpg: unreadable" in errors[0] and unreadable.stderr.rstrip().endswith("retry")


def test_default_destination_is_the_clusters_own(images, tmp_path):
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(local_spec()))
    assert run_cli("render", cwd=tmp_path).returncode == 0
    proc = run_cli("data", "upload", str(images), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / ".clusterctl" / "tc" / "data" / "Fruits"
    assert json.loads(proc.stdout)["destination"] == dest.resolve().as_uri()
    assert len(list(dest.rglob("*.jpg"))) == 400


def test_s3_store_removes_every_object_under_its_prefix_over_several_pages(s3, monkeypatch):
    from clusterctl.data.upload import S3Store

    url, client = s3
    for key, value in CREDS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLUSTERCTL_AWS_ENDPOINT", url)
    for i in range(1100):  # more than one listing page (1,000 keys) and one delete request
        client.put_object(Bucket="data", Key=f"p/scratch/s1/out/r1/part-{i:04d}", Body=b"x")
    for key in ("p/scratch/s1/in/8/a.jpg", "p/scratch/s10/keep", "p/data/set/b.jpg"):
        client.put_object(Bucket="data", Key=key, Body=b"x")
    store = S3Store("s3://data/p/scratch/s1", "eu-west-3", 8)
    store.remove("out/r1")
    assert sorted(objects(client, "p/")) == ["p/data/set/b.jpg", "p/scratch/s1/in/8/a.jpg", "p/scratch/s10/keep"]
    store.remove()  # everything under s1/, and nothing of s10 (a prefix of its name)
    assert sorted(objects(client, "p/")) == ["p/data/set/b.jpg", "p/scratch/s10/keep"]
    store.remove("out/none")
