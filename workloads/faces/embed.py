"""Face embedders behind one interface: name → dimension, same-person distance threshold, loader.

Each reads aligned crops (``faces.detect.align``) and the face box within them, and returns one
vector per face; the loaded model is cached per process (a Spark Python worker loads it once).

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

Box = tuple[float, float, float, float]
Embed = Callable[[Sequence[np.ndarray], Sequence[Box]], np.ndarray]


@dataclass(frozen=True)
class Embedder:
    """One embedding model: its output size, decision threshold and how to load it."""

    name: str
    dim: int
    threshold: float  # Euclidean distance under which two faces are the same person
    needs_weights: bool
    loader: Callable[[str | None, int, int], Embed]  # (weights, threads, jitters)
    jitters: bool  # supports averaging over randomly jittered copies of each face

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


EMBEDDERS: dict[str, Embedder] = {
    "dlib_resnet": Embedder("dlib_resnet", 128, 0.6, False, _load_dlib, jitters=True),
    "facenet": Embedder("facenet", 512, 1.1, True, _load_facenet, jitters=False),
}
DEFAULT_EMBEDDER = "dlib_resnet"


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


def embedder(ref: ModelRef, weights: str | None, threads: int, seconds: Counter | None = None) -> Embed:
    """The loaded model, loading it on first use in this process (time added to ``seconds["load"]``)."""
    return load_once(
        ("embedder", ref, weights, threads),
        lambda: get_embedder(ref.name).loader(weights, threads, ref.jitters),
        seconds,
    )
