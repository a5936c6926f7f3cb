"""The upload benchmark times full uploads (nothing skipped) for each destination and mode, and says so."""

import json

from clusterctl.bench.upload import run_upload_bench
from clusterctl.data.sets import SAMPLE_FRUITS


def test_every_run_uploads_the_whole_folder_and_the_results_are_written(tmp_path):
    targets = [(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()]
    doc = run_upload_bench(SAMPLE_FRUITS, targets, 4, 2, tmp_path / "out", "us-east-1", "clusterctl bench upload ...")
    assert len(doc["runs"]) == 2 * 2 * 2  # repeats x destinations x modes
    assert {(r["uploaded"], r["skipped"]) for r in doc["runs"]} == {(321, 0)}  # 320 images and the LICENSE
    assert len(list((tmp_path / "a").glob("*-run-*/*/*.jpg"))) == 2 * 2 * 320
    again = run_upload_bench(SAMPLE_FRUITS, targets[:1], 4, 1, tmp_path / "out2", "us-east-1", "again")
    assert {(r["uploaded"], r["skipped"]) for r in again["runs"]} == {(321, 0)}  # earlier runs' files do not count
    for target in targets:
        modes = doc["summary"][target]
        assert modes["parallel"]["concurrency"] == 4 and modes["sequential"]["concurrency"] == 1
        assert modes["speedup"] > 0
    saved = json.loads((tmp_path / "out" / "upload.json").read_text())
    assert saved["data"]["files"] == 321  # the sample's 320 images and its LICENSE
    assert "| 4 |" in (tmp_path / "out" / "upload.md").read_text()
