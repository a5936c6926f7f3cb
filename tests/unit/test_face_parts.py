"""The face workloads' parts without Spark: crop geometry, face choice, pairs protocol, open set, weights, split."""

import argparse

import numpy as np
import pytest

from tests.conftest import DATA
from workloads.common.weights import WeightsNotFound
from workloads.faces.detect import Face, align, central_first, decode_rgb, detect, encode_jpeg
from workloads.faces.embed import ModelRef, get_embedder
from workloads.faces.identity import Identified, class_means, identify, leave_one_out_distance
from workloads.faces.pipeline import crop_name
from workloads.faces.report import best_threshold, k_fold_accuracy, open_set, parse_pairs
from workloads.jobs.faces_classify import split


def _face(box, eyes=((110, 100), (150, 100)), detector="mtcnn") -> Face:
    (lx, ly), (rx, ry) = eyes
    return Face(box, 0.99, [(lx, ly), (rx, ry), (130, 130), (115, 150), (145, 150)], detector)


def test_crop_is_square_around_the_box_with_the_margin():
    rgb = np.zeros((250, 250, 3), np.uint8)
    rgb[80:180, 100:160] = 255  # the "face": a white 60 x 100 box
    a = align(rgb, _face((100, 80, 160, 180)), size=160, margin=32)
    assert a.crop.shape == (160, 160, 3) and a.angle == 0
    side = 100 + 32  # the longer side + margin, not stretched to the box's aspect
    x1, y1, x2, y2 = a.crop_box
    assert (x2 - x1, y2 - y1) == pytest.approx((60 * 160 / side, 100 * 160 / side))
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((80, 80))
    inside = a.crop[int(y1) + 3 : int(y2) - 3, int(x1) + 3 : int(x2) - 3]
    assert inside.min() > 200 and a.crop[:, : int(x1) - 3].max() < 50


def test_crop_outside_the_image_is_black():
    rgb = np.full((100, 100, 3), 255, np.uint8)
    a = align(rgb, _face((0, 0, 40, 40)), size=64, margin=40)
    assert a.crop.shape == (64, 64, 3) and a.crop[0, 0].max() == 0 and a.crop[40, 40].min() == 255


def test_rotate_levels_the_eyes():
    rgb = np.zeros((250, 250, 3), np.uint8)
    face = _face((90, 70, 170, 170), eyes=((105, 95), (155, 115)))  # tilted by atan(20/50) = 21.8 degrees
    a = align(rgb, face, rotate=True)
    (lx, ly), (rx, ry) = a.crop_landmarks[:2]
    assert a.angle == pytest.approx(np.degrees(np.arctan2(20, 50)))
    assert ly == pytest.approx(ry, abs=1e-6) and rx - lx == pytest.approx(np.hypot(50, 20) * 160 / 132, rel=1e-6)
    dlib_face = Face(face.box, 1.0, [(160, 115), (150, 113), (100, 93), (110, 97), (130, 130)], "hog")
    left, right = dlib_face.eyes()  # dlib's points: outer/inner corners of one eye, then the other's, then the nose
    assert tuple(left) == (105, 95) and tuple(right) == (155, 114)


def test_central_face_beats_a_larger_one_at_the_edge():
    big_edge, small_centre = _face((0, 0, 120, 120)), _face((100, 100, 180, 180))
    assert central_first([big_edge, small_centre], (250, 250, 3))[0] is small_centre
    big_near = _face((10, 60, 150, 200))  # much larger, a little off-centre: area wins
    assert central_first([_face((110, 110, 140, 140)), big_near], (250, 250, 3))[0] is big_near


def test_detectors_and_images():
    with pytest.raises(ValueError, match="choose one of auto, yunet, mtcnn, hog"):
        detect(np.zeros((10, 10, 3), np.uint8), "haar")
    assert detect(np.zeros((120, 120, 3), np.uint8), "hog") == []
    with pytest.raises(Exception):  # noqa: B017 - PIL's own error type
        decode_rgb(b"not an image")
    rgb = (np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(64, 48, 3)
    assert decode_rgb(encode_jpeg(rgb)).shape == (64, 48, 3)
    assert crop_name("Jo Doe", "file:/x/Jo%20Doe/Jo_0001.jpg", 0) == "Jo Doe/Jo_0001.jpg"
    assert crop_name("Jo", "s3://b/Jo/Jo_0001.png", 2) == "Jo/Jo_0001_2.jpg"


@pytest.mark.skipif(not (DATA / "lfw").is_dir(), reason=f"real images not available: {DATA}/lfw is missing")
def test_dlib_embeddings_of_a_real_face_are_deterministic_and_person_specific():
    pytest.importorskip("dlib", reason="the faces extra is not installed")
    from workloads.faces.embed import embedder

    people = [p for p in sorted((DATA / "lfw").iterdir()) if len(list(p.glob("*.jpg"))) >= 2][:2]
    crops, boxes, labels = [], [], []
    for person in people:
        for f in sorted(person.glob("*.jpg"))[:2]:
            rgb = decode_rgb(f.read_bytes())
            a = align(rgb, central_first(detect(rgb, "hog"), rgb.shape)[0])
            crops.append(a.crop)
            boxes.append(a.crop_box)
            labels.append(person.name)
    embed = embedder(ModelRef("dlib_resnet"), None, 1)
    x = embed(crops, boxes)
    assert x.shape == (4, 128) and x.dtype == np.float32
    np.testing.assert_array_equal(x, embed(crops, boxes))
    assert np.linalg.norm(x[0] - x[1]) < 0.6 < np.linalg.norm(x[0] - x[2])
    jittered = embedder(ModelRef("dlib_resnet", jitters=4), None, 1)(crops, boxes)
    assert 0 < np.linalg.norm(jittered - x, axis=1).max() < 0.3  # averaged over jittered copies: near, not equal
    assert np.linalg.norm(jittered[0] - jittered[1]) < 0.6 < np.linalg.norm(jittered[0] - jittered[2])


def test_weights_are_checked_before_any_executor(tmp_path):
    assert get_embedder("dlib_resnet").resolve_weights(None) is None
    facenet = get_embedder("facenet")
    with pytest.raises(WeightsNotFound, match="--weights is required for facenet"):
        facenet.resolve_weights(None)
    with pytest.raises(WeightsNotFound, match="no such file"):
        facenet.resolve_weights(str(tmp_path / "none.pt"))
    with pytest.raises(WeightsNotFound, match="--weights-sha256 is required"):
        facenet.resolve_weights("https://example.invalid/w.pt")
    (tmp_path / "w.pt").write_bytes(b"x")
    assert facenet.resolve_weights(str(tmp_path / "w.pt")) == str(tmp_path / "w.pt")
    with pytest.raises(ValueError, match="unknown embedder 'arcface'"):
        get_embedder("arcface")


PAIRS = """2\t2
Ann\t1\t2
Bob\t1\t3
Ann\t1\tBob\t2
Cy\t4\tAnn\t2
Cy\t1\t2
Bob\t2\t4
Cy\t1\tBob\t1
Ann\t3\tCy\t2
"""


def test_pairs_file_is_parsed_into_folds():
    pairs = parse_pairs(PAIRS)
    assert len(pairs) == 8 and [p.fold for p in pairs] == [0] * 4 + [1] * 4
    assert (pairs[0].a, pairs[0].b, pairs[0].same) == ("Ann/Ann_0001", "Ann/Ann_0002", True)
    assert (pairs[3].a, pairs[3].b, pairs[3].same) == ("Cy/Cy_0004", "Ann/Ann_0002", False)
    assert len(parse_pairs("1\nAnn\t1\t2\nAnn\t1\tBob\t1\n")) == 2  # pairsDevTest style: one fold
    with pytest.raises(ValueError, match="header promises"):
        parse_pairs("10\t300\nAnn\t1\t2\n")
    with pytest.raises(ValueError, match="line 2"):
        parse_pairs("1\t1\nAnn\t1\nAnn\t1\tBob\t1\n")
    with pytest.raises(ValueError, match="first line"):
        parse_pairs("Ann\t1\t2\n")


def test_k_fold_threshold_comes_from_the_other_folds():
    assert best_threshold(np.array([0.2, 0.3, 0.8, 0.9]), np.array([True, True, False, False])) == pytest.approx(0.55)
    # fold 0 separates at 0.5, fold 1 at 1.5: each fold is scored with the other's threshold
    d = np.array([0.1, 0.4, 0.6, 0.9, 1.1, 1.4, 1.6, 1.9])
    same = np.array([True, True, False, False, True, True, False, False])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    r = k_fold_accuracy(d, same, folds)
    assert r["thresholds"] == pytest.approx([1.5, 0.5]) and r["fold_accuracies"] == [0.5, 0.5]
    assert k_fold_accuracy(d[:4], same[:4], folds[:4])["accuracy_mean"] == 1.0
    separable = k_fold_accuracy(np.r_[d[:4], d[:4]], np.r_[same[:4], same[:4]], folds)
    assert (separable["accuracy_mean"], separable["accuracy_std"]) == (1.0, 0.0)
    with_missing = k_fold_accuracy(np.r_[d[:3], np.inf], same[:4], np.zeros(4, int))  # no embedding: "different"
    assert with_missing["accuracy_mean"] == 1.0


class _Fixed:
    """A stand-in classifier with fixed probabilities (the gates, not the SVM, are under test)."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)

    def predict_proba(self, x):
        return self.proba[: len(x)]


def test_identify_applies_both_gates():
    means = np.array([[0.0, 0.0], [1.0, 0.0]])
    x = np.array([[0.1, 0.0], [0.9, 0.0], [0.0, 0.45], [0.1, 0.0]])
    proba = [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.55, 0.45]]
    saved = {
        "classifier": _Fixed(proba),
        "labels": ["ann", "bob"],
        "dim": 2,
        "means": means,
        "unknown_threshold": 0.6,
        "unknown_distance": 0.3,
    }
    who = identify(saved, x)
    assert list(who.best) == ["ann", "bob", "ann", "ann"]
    assert who.distance == pytest.approx([0.1, 0.1, 0.45, 0.1])
    # too far from ann's mean (distance gate); probability below 0.6 (probability gate)
    assert who.names() == ["ann", "bob", "unknown", "unknown"]
    one = identify(saved | {"classifier": _Fixed(proba[:1])}, x[0])  # a single vector, as the stream passes it
    assert one.names() == ["ann"]
    none = identify(saved, np.zeros((0, 2)))  # no faces of other people to measure the gates on
    assert none.names() == [] and len(none.distance) == 0


def test_identify_measures_in_the_embedders_metric():
    """Unit-length (SFace-like) embeddings: the gate is a cosine distance, as the threshold was learnt."""
    means = np.array([[1.0, 0.0], [0.0, 1.0]])
    near = np.array([[np.cos(0.3), np.sin(0.3)]])  # 0.3 rad from ann: cosine distance 1 - cos(0.3) = 0.0447
    far = np.array([[np.cos(0.7), np.sin(0.7)]])  # 0.7 rad: 0.235, beyond a 0.1 gate although still "ann"
    saved = {
        "classifier": _Fixed([[0.9, 0.1]]),
        "labels": ["ann", "bob"],
        "dim": 2,
        "means": means,
        "metric": "cosine",
        "unknown_threshold": 0.5,
        "unknown_distance": 0.1,
    }
    known, stranger = identify(saved, near), identify(saved, far)
    assert known.distance == pytest.approx([1 - np.cos(0.3)]) and known.names() == ["ann"]
    assert stranger.distance == pytest.approx([1 - np.cos(0.7)]) and stranger.names() == ["unknown"]
    euclid = identify(saved | {"metric": "euclidean", "unknown_distance": 0.7}, far)  # |far - ann| = 0.687
    assert euclid.names() == ["ann"]


def test_leave_one_out_distance_and_means():
    x = np.array([[0.0, 0.0], [0.0, 2.0], [0.0, 1.0], [5.0, 5.0], [5.0, 5.0]])
    labels = np.array(["a", "a", "a", "b", "b"])
    # a's faces: [0,0] is 1.5 from the mean of the other two ([0,1.5]); [0,2] likewise; [0,1] is 0 away;
    # b's two faces are 0 from each other: distances 0, 0, 0, 1.5, 1.5
    assert leave_one_out_distance(x, labels, quantile=1.0) == pytest.approx(1.5)
    assert leave_one_out_distance(x, labels, quantile=0.5) == 0.0
    assert leave_one_out_distance(x, labels) == pytest.approx(np.quantile([0, 0, 0, 1.5, 1.5], 0.99))
    assert leave_one_out_distance(x[:1], labels[:1]) == 0.0  # one face: nothing to leave out
    # cosine: a's [0,2] and [0,1] point the same way as the mean of the others; [0,0] has no direction
    assert leave_one_out_distance(x[1:3], labels[1:3], "cosine", quantile=1.0) == pytest.approx(0.0)
    assert class_means(x, labels, np.array(["b", "a"])) == pytest.approx(np.array([[5.0, 5.0], [0.0, 1.0]]))


def test_open_set_reports_both_gates_and_each_alone():
    def found(best, probability, distance, accepted):
        return Identified(np.array(best), np.array(probability), np.array(distance), np.array(accepted))

    known = found(["a", "b", "a"], [0.9, 0.55, 0.8], [0.2, 0.2, 0.7], [True, False, False])
    unknown = found(["a", "b"], [0.5, 0.95], [0.9, 0.3], [False, False])
    r = open_set(known, np.array(["a", "a", "a"]), unknown, 0.6, 0.5)
    assert (r["threshold"], r["distance"], r["unknown_faces"]) == (0.6, 0.5, 2)
    assert r["known_accepted_rate"] == pytest.approx(1 / 3, abs=1e-5) and r["accuracy_of_accepted"] == 1.0
    assert r["unknown_rejected_rate"] == 1.0
    assert r["known_named_rate"] == pytest.approx(1 / 3, abs=1e-5)
    assert r["probability_only"] == {
        "known_accepted_rate": pytest.approx(2 / 3, abs=1e-5),
        "known_named_rate": pytest.approx(2 / 3, abs=1e-5),
        "accuracy_of_accepted": 1.0,
        "unknown_rejected_rate": 0.5,
    }
    assert r["distance_only"] == {
        "known_accepted_rate": pytest.approx(2 / 3, abs=1e-5),
        "known_named_rate": pytest.approx(1 / 3, abs=1e-5),  # the second face passes but is called b
        "accuracy_of_accepted": 0.5,
        "unknown_rejected_rate": 0.5,
    }


def test_train_split_first_by_path_or_seeded():
    paths = np.array([f"p/{n}_{i:04d}.jpg" for n in ("a", "b") for i in (3, 1, 2, 4)])
    labels = np.array(["a"] * 4 + ["b"] * 4)
    first = split(paths, labels, 2, "first", 0)
    assert sorted(paths[first]) == ["p/a_0001.jpg", "p/a_0002.jpg", "p/b_0001.jpg", "p/b_0002.jpg"]
    rnd = split(paths, labels, 3, "random", 7)
    assert rnd.sum() == 6 and (rnd[:4].sum(), rnd[4:].sum()) == (3, 3)
    np.testing.assert_array_equal(rnd, split(paths, labels, 3, "random", 7))


def test_jitters_are_checked_before_any_executor():
    from workloads.common.job import JobError
    from workloads.jobs.faces_embed import model_ref

    def options(model: str, jitters: int) -> argparse.Namespace:
        return argparse.Namespace(model=model, jitters=jitters, weights=None, weights_sha256=None, flip=False)

    with pytest.raises(JobError, match=r"^--jitters 3: .*facenet does not support"):
        model_ref(None, options("facenet", 3))  # fails before it would touch Spark
    with pytest.raises(JobError, match=r"^--jitters -1: must be >= 0"):
        model_ref(None, options("dlib_resnet", -1))
    with pytest.raises(JobError, match=r"^--weights is required for facenet"):
        model_ref(None, options("facenet", 0))
    assert model_ref(None, options("dlib_resnet", 5)) == ModelRef("dlib_resnet", None, 5)
    with pytest.raises(JobError, match=r"^--jitters 2: .*sface does not support"):
        model_ref(None, options("sface", 2))
