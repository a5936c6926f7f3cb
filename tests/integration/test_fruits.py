"""The fruits pipeline on a real local Spark cluster with real Fruits-360 images."""

import json
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.dataset as ds
import pytest
from PIL import Image

from tests.conftest import DATA
from tests.support.local_cluster import started_cluster
from workloads.fruits.scaler_pca import Moments, fit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17+"),
    pytest.mark.skipif(
        not (DATA / "fruits-360" / "Test").is_dir(),
        reason=f"real images not available: {DATA}/fruits-360/Test is missing",
    ),
]
pytest.importorskip("torch", reason="the workloads extra (torch==2.13.0) is not installed")

CLASSES, PER_CLASS, K = 10, 12, 20
# Measured on 10 classes spread over Fruits-360 Test, 12 images each: 1.0 (EfficientNet-Lite0, k=20).
# Fruits-360 images of one class are views of one fruit, so its nearest neighbour is almost always
# of the same class; 0.9 leaves room for other splits and versions of the data set.
NN_SAME_LABEL_MIN = 0.9


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from started_cluster(tmp_path_factory.mktemp("fruits-cluster"))


@pytest.fixture(scope="module")
def fruits_input(tmp_path_factory):
    """10 classes spread over the sorted class list, 12 seeded images each, one corrupt JPEG, one text 'PNG'."""
    src = DATA / "fruits-360" / "Test"
    classes = sorted(p for p in src.iterdir() if p.is_dir())
    rng = random.Random(4)
    picked = classes[:: len(classes) // CLASSES][:CLASSES]
    root = tmp_path_factory.mktemp("fruits-input")
    for cls in picked:
        (root / cls.name).mkdir()
        for f in rng.sample(sorted(cls.iterdir()), PER_CLASS):
            shutil.copy(f, root / cls.name / f.name)
    (root / picked[0].name / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (root / picked[1].name / "zz_text.png").write_text("a text file with an image suffix")
    return root


@pytest.fixture(scope="module")
def fruits_run(cluster, fruits_input, tmp_path_factory):
    out = tmp_path_factory.mktemp("fruits-output") / "result"
    proc = cluster.cli("submit", "fruits", "--input", str(fruits_input), "--output", str(out), "--k", str(K))
    printed = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    return printed, out


def test_summary_counts_and_failures(fruits_run, fruits_input):
    printed, out = fruits_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"] == CLASSES * PER_CLASS + 2
    assert (summary["images"], summary["failed"], summary["classes"]) == (CLASSES * PER_CLASS, 2, CLASSES)
    assert {f["path"].rsplit("/", 1)[-1] for f in summary["failures"]} == {"zz_broken.jpg", "zz_text.png"}
    assert all(f["error"] for f in summary["failures"])
    assert sum(c["failed"] for c in summary["per_class"].values()) == 2
    assert all(c["images"] == PER_CLASS for c in summary["per_class"].values())
    assert summary["k"] == K and len(summary["explained_variance_curve"]) == K
    assert 0 < summary["explained_variance_curve"][0] < summary["explained_variance_at_k"] <= 1
    assert summary["model"] == {
        "name": "efficientnet_lite0",
        "framework": "pytorch",
        "dim": 1280,
        "input_size": 224,
        "batch_size": 32,
    }
    assert set(summary["timings"]) >= {"session_s", "list_s", "features_s", "fit_s", "write_s", "plots_s"}
    assert summary["features_core_seconds"]["inference"] > 0 and summary["feature_tasks"] >= 1
    assert printed["images"] == summary["images"]


def test_parquet_has_features_pca_and_error_rows(fruits_run):
    _, out = fruits_run
    table = ds.dataset(out / "features", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == CLASSES * PER_CLASS + 2
    assert len({p.name for p in (out / "features").iterdir() if p.name.startswith("label=")}) == CLASSES
    rows = table.to_pydict()
    ok = [i for i, err in enumerate(rows["error"]) if err is None]
    bad = [i for i, err in enumerate(rows["error"]) if err is not None]
    assert len(ok) == CLASSES * PER_CLASS and len(bad) == 2
    feats = np.array([rows["features"][i] for i in ok], dtype=np.float32)
    pca = np.array([rows["pca"][i] for i in ok], dtype=np.float32)
    assert feats.shape == (len(ok), 1280) and np.isfinite(feats).all() and feats.std() > 0
    assert pca.shape == (len(ok), K) and np.isfinite(pca).all()
    assert all(rows["features"][i] is None and rows["pca"][i] is None for i in bad)
    # principal components come out uncorrelated, in decreasing variance
    var = pca.var(axis=0)
    assert (np.diff(var) <= 1e-3 * var[0]).all()
    corr = np.corrcoef(pca, rowvar=False)
    assert np.abs(corr - np.eye(K)).max() < 1e-3
    # the sums made partition by partition during the features pass give the fit of the whole matrix
    whole = fit(Moments.of(feats), K)
    np.testing.assert_allclose(pca, whole.transform(feats), atol=1e-3 * float(np.abs(pca).max()))


def test_nearest_neighbour_in_pca_space_has_the_same_label(fruits_run):
    _, out = fruits_run
    table = ds.dataset(out / "features", format="parquet", partitioning="hive").to_table()
    rows = [
        (lab, vec)
        for lab, vec in zip(table["label"].to_pylist(), table["pca"].to_pylist(), strict=True)
        if vec is not None
    ]
    labels = np.array([lab for lab, _ in rows])
    pts = np.array([vec for _, vec in rows], dtype=np.float64)
    dist = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    rate = float(np.mean(labels[dist.argmin(1)] == labels))
    assert rate >= NN_SAME_LABEL_MIN


def test_plots_and_fitted_pipeline_are_saved(fruits_run):
    _, out = fruits_run
    for name in ("pca_2d.png", "tsne.png", "explained_variance.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG" and min(img.size) > 200
    stages = sorted(p.name.split("_")[1] for p in (out / "pipeline" / "stages").iterdir())
    assert stages == ["PCA", "StandardScaler"]
    meta = json.loads(next((out / "pipeline" / "metadata").glob("part-00000*")).read_text())
    assert meta["class"] == "org.apache.spark.ml.PipelineModel"
    # Spark ML loads it and, applied to the stored features, gives the stored projection
    script = f"""
import json
import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
rows = spark.read.parquet({str(out / "features")!r}).where("error is null")
rows = rows.withColumn("vec", array_to_vector("features"))
got = PipelineModel.load({str(out / "pipeline")!r}).transform(rows)
got = got.select("pca", vector_to_array("pca_vec", "float32").alias("again")).toPandas()
print(json.dumps([len(got), float(np.abs(np.stack(got["pca"]) - np.stack(got["again"])).max())]))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    count, max_diff = json.loads(proc.stdout.splitlines()[-1])
    assert count == CLASSES * PER_CLASS and max_diff < 1e-3


def test_spark_and_plain_baseline_agree(fruits_run, fruits_input, tmp_path):
    """The Spark job and the plain single-process baseline: same images, same variance explained."""
    printed, _ = fruits_run
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workloads.fruits.plain",
            "--input",
            str(fruits_input),
            "--output",
            str(tmp_path / "plain"),
            "--k",
            str(K),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    plain = json.loads(proc.stdout.splitlines()[-1])
    assert (plain["images"], plain["failed"]) == (printed["images"], printed["failed"])
    assert plain["explained_variance_at_k"] == pytest.approx(printed["explained_variance_at_k"], abs=1e-3)


def test_empty_input_and_missing_weights_are_clear_errors(cluster, tmp_path):
    (tmp_path / "empty" / "some class").mkdir(parents=True)
    empty = cluster.cli(
        "submit", "fruits", "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "o"), check=False
    )
    assert empty.returncode == 1 and "no files matching" in empty.stderr
    weights = tmp_path / "nowhere" / "mobilenet.h5"
    missing = cluster.cli(
        "submit",
        "fruits",
        "--input",
        str(tmp_path / "empty"),
        "--output",
        str(tmp_path / "o"),
        "--model",
        "mobilenet_v2",
        "--weights",
        str(weights),
        check=False,
    )
    assert missing.returncode == 1 and f"weights file not found ({weights})" in missing.stderr
    nowhere = cluster.cli(
        "submit", "fruits", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o"), check=False
    )
    assert nowhere.returncode == 1
    assert f"fruits_features: --input {tmp_path / 'nowhere'}: [PATH_NOT_FOUND]" in nowhere.stderr
    assert not (tmp_path / "o").exists()


def test_moments_of_many_partitions_are_added_up_in_the_executors_first():
    """Past MOMENTS_FAN_IN partitions, the driver gets ~sqrt(n) partial sums, and they add up to the whole."""
    script = """
import json
import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from workloads.fruits.scaler_pca import Moments, sum_moments
from workloads.jobs.fruits import MOMENTS_FAN_IN, summed_by_tree
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
rng = np.random.default_rng(3)
parts = [Moments.of(rng.normal(size=(5, 6))) for _ in range(MOMENTS_FAN_IN + 8)]
df = spark.createDataFrame(pd.DataFrame({"moments": [p.to_bytes() for p in parts]})).repartition(len(parts))
got = summed_by_tree(df, df.rdd.getNumPartitions()).toPandas()["moments"]
whole = sum_moments(p.to_bytes() for p in parts)
total = sum_moments(got)
err = float(np.abs(total.gram - whole.gram).max())
print(json.dumps([len(parts), len(got), total.n, whole.n, err]))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parts, received, n, whole_n, err = json.loads(proc.stdout.splitlines()[-1])
    assert parts > 32 and 1 <= received <= 7 and n == whole_n == 5 * parts and err < 1e-9
