"""Face detection and alignment: detectors behind one interface, and the crop that the embedders read.

Detectors (models cached per process, so a Spark Python worker loads each once):

- ``yunet``: OpenCV Zoo's YuNet (``faces.opencv_zoo``), 3-5 ms per 250 x 250 image on one core;
  landmarks are image-left eye, image-right eye, nose tip, image-left and image-right mouth corners.
- ``mtcnn``: the ``mtcnn`` package (TensorFlow, its canonical P/R/O-Net weights ship in the wheel);
  landmarks are left eye, right eye, nose, mouth left, mouth right.
- ``hog``: dlib's HOG frontal detector + the 5-point shape predictor from
  ``face-recognition-models``; landmarks are the four eye corners and the base of the nose. About
  10x faster than MTCNN on CPU, but misses more profile and occluded faces.
- ``auto``: ``yunet``, then ``mtcnn`` on images in which YuNet finds no face (MTCNN is only loaded
  when an image needs it).

Two crops (``CROPS``), chosen by the embedder that reads them:

- ``template``: the face warped by a similarity transform so that its five landmarks fall on the
  112 x 112 template SFace was trained on (``opencv_zoo.template_crop``); needs eye, nose and mouth
  landmarks (``yunet``, ``mtcnn``).
- ``square``: a square around the face box's centre (side = the box's longer side + ``margin``
  pixels, so faces are not stretched; outside the image is black), optionally rotated first so the
  eyes are level, resized to ``size`` x ``size`` (dlib's and FaceNet's input).
"""

import io
import math
import os
from dataclasses import dataclass

import numpy as np

DETECTORS = ("auto", "yunet", "mtcnn", "hog")
CROPS = ("template", "square")
TEMPLATE_DETECTORS = ("auto", "yunet", "mtcnn")  # those whose five points include the mouth corners
_CACHE: dict[str, object] = {}


@dataclass
class Face:
    """One detected face in original-image pixels."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: list[tuple[float, float]]  # 5 points; which 5 depends on ``detector``
    detector: str

    @property
    def area(self) -> float:
        """Box area in pixels."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

    def eyes(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres of the two eyes (image-left first)."""
        pts = np.asarray(self.landmarks, dtype=np.float64)
        if self.detector in ("mtcnn", "yunet"):
            left, right = pts[0], pts[1]
        else:  # dlib 5-point: 0,1 = one eye's corners, 2,3 = the other's, 4 = nose
            left, right = pts[2:4].mean(axis=0), pts[0:2].mean(axis=0)
        return (left, right) if left[0] <= right[0] else (right, left)


@dataclass
class Aligned:
    """A face cropped and aligned: the crop, and the face box and landmarks in crop pixels."""

    face: Face
    crop: np.ndarray  # size x size x 3 uint8 RGB
    crop_box: tuple[float, float, float, float]
    crop_landmarks: list[tuple[float, float]]
    angle: float  # degrees the face was turned by to level the eyes (0 for a square crop without --rotate)


def _models(name: str):
    """The loaded models of detector ``name`` ("yunet", "hog" or "mtcnn"), loading them on first use."""
    if name not in _CACHE:
        if name == "yunet":
            from workloads.faces.opencv_zoo import load_yunet

            _CACHE[name] = load_yunet(int(os.environ.get("OMP_NUM_THREADS", "1")))
        elif name == "hog":
            import dlib
            import face_recognition_models as frm

            _CACHE[name] = (
                dlib.get_frontal_face_detector(),
                dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
            )
        else:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            import tensorflow as tf

            threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            from mtcnn import MTCNN

            _CACHE[name] = MTCNN(device="CPU:0")
    return _CACHE[name]


def load_detector(name: str) -> None:
    """Load detector ``name``'s models now (``auto`` loads YuNet; MTCNN follows when an image needs it)."""
    _models("yunet" if name == "auto" else name)


def shape_predictor():
    """dlib's 5-point shape predictor (shared with the dlib embedder)."""
    return _models("hog")[1]


def _hog(rgb: np.ndarray, upsample: int) -> list[Face]:
    detector, predictor = _models("hog")
    rects, scores, _ = detector.run(rgb, upsample, 0.0)
    faces = []
    for rect, score in zip(rects, scores, strict=True):
        shape = predictor(rgb, rect)
        faces.append(
            Face(
                (float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom())),
                float(score),
                [(float(p.x), float(p.y)) for p in shape.parts()],
                "hog",
            )
        )
    return faces


def _yunet(rgb: np.ndarray) -> list[Face]:
    from workloads.faces.opencv_zoo import yunet_detect

    faces = []
    for row in yunet_detect(_models("yunet"), rgb):
        x, y, w, h = (float(v) for v in row[:4])
        points = [(float(row[i]), float(row[i + 1])) for i in range(4, 14, 2)]
        faces.append(Face((x, y, x + w, y + h), float(row[14]), points, "yunet"))
    return faces


def _mtcnn(rgb: np.ndarray, min_score: float) -> list[Face]:
    faces = []
    for found in _models("mtcnn").detect_faces(rgb):
        if found["confidence"] < min_score:
            continue
        x, y, w, h = (float(v) for v in found["box"])
        k = found["keypoints"]
        points = [k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]]
        faces.append(
            Face(
                (x, y, x + w, y + h), float(found["confidence"]), [(float(px), float(py)) for px, py in points], "mtcnn"
            )
        )
    return faces


def detect(rgb: np.ndarray, detector: str = "auto", min_score: float = 0.9) -> list[Face]:
    """Faces in an RGB image, largest first. ``min_score`` applies to MTCNN's confidence (YuNet keeps
    scores >= ``opencv_zoo.YUNET_MIN_SCORE``)."""
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    faces: list[Face] = []
    if detector in ("yunet", "auto"):
        faces = _yunet(rgb)
    elif detector == "hog":
        faces = _hog(rgb, 0) or _hog(rgb, 1)  # upsampling once finds faces under ~80 px
    if detector == "mtcnn" or (detector == "auto" and not faces):
        faces = _mtcnn(rgb, min_score)
    return sorted(faces, key=lambda f: f.area, reverse=True)


def central_first(faces: list[Face], shape: tuple[int, ...]) -> list[Face]:
    """``faces`` ordered by FaceNet's align rule: box area minus twice the squared distance of the box
    centre from the image centre. It keeps the photo's subject rather than a larger bystander."""
    cy, cx = shape[0] / 2, shape[1] / 2

    def weight(f: Face) -> float:
        dx, dy = (f.box[0] + f.box[2]) / 2 - cx, (f.box[1] + f.box[3]) / 2 - cy
        return f.area - 2.0 * (dx * dx + dy * dy)

    return sorted(faces, key=weight, reverse=True)


def align(rgb: np.ndarray, face: Face, size: int = 160, margin: int = 32, rotate: bool = False) -> Aligned:
    """Crop ``face`` out of ``rgb`` as described in the module docstring."""
    from PIL import Image

    img = Image.fromarray(rgb)
    x1, y1, x2, y2 = face.box
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    points = np.asarray(face.landmarks, dtype=np.float64)
    box_pts = np.array([[x1, y1], [x2, y2]])
    angle = 0.0
    if rotate:
        left, right = face.eyes()
        angle = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
        pivot = (left + right) / 2
        img = img.rotate(angle, resample=Image.BILINEAR, center=tuple(pivot))
        rad = math.radians(angle)  # PIL turns the picture counter-clockwise by angle: points turn the same way
        rot = np.array([[math.cos(rad), math.sin(rad)], [-math.sin(rad), math.cos(rad)]])
        points = (points - pivot) @ rot.T + pivot
        center = (center - pivot) @ rot.T + pivot
        half = np.array([(x2 - x1) / 2, (y2 - y1) / 2])  # the box keeps its size around its turned centre
        box_pts = np.array([center - half, center + half])
    side = max(x2 - x1, y2 - y1) + margin
    origin = center - side / 2
    crop = img.crop((*map(round, origin), *map(round, origin + side)))  # outside the image reads black
    crop = crop.resize((size, size), Image.BILINEAR)
    scale = size / side
    to_crop = lambda pts: (np.asarray(pts) - origin) * scale  # noqa: E731
    cb = to_crop(box_pts)
    return Aligned(
        face,
        np.asarray(crop, dtype=np.uint8),
        (cb[0, 0], cb[0, 1], cb[1, 0], cb[1, 1]),
        [tuple(p) for p in to_crop(points).tolist()],
        angle,
    )


def template_align(rgb: np.ndarray, face: Face) -> Aligned:
    """``face`` warped onto SFace's 112 x 112 five-point template (see ``opencv_zoo.template_crop``)."""
    if face.detector not in ("yunet", "mtcnn"):
        raise ValueError(f"the template crop needs eye, nose and mouth landmarks; {face.detector} has no mouth")
    from workloads.faces.opencv_zoo import template_crop

    crop, matrix = template_crop(rgb, np.asarray(face.landmarks))
    to_crop = lambda pts: np.asarray(pts, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]  # noqa: E731
    corners = to_crop([[face.box[0], face.box[1]], [face.box[2], face.box[3]]])
    return Aligned(
        face,
        crop,
        (float(corners[0, 0]), float(corners[0, 1]), float(corners[1, 0]), float(corners[1, 1])),
        [tuple(p) for p in to_crop(face.landmarks).tolist()],
        -float(math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))),  # the tilt levelled, as --rotate's
    )


def decode_rgb(blob: bytes, max_side: int = 1600) -> np.ndarray:
    """Image bytes → H x W x 3 uint8 RGB; larger images are scaled down to ``max_side`` while decoding."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(blob)) as img:
        img.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(img).convert("RGB")
        if max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    """RGB array → JPEG bytes."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()
