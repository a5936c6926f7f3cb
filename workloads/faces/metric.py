"""Distances between face embeddings, in the metric of the embedder that made them.

- ``euclidean``: ``|a - b|`` (dlib's ResNet, FaceNet);
- ``cosine``: ``1 - a.b / (|a| |b|)``, 0 for the same direction, 2 for opposite ones (SFace).

Verification thresholds, the classifier's unknown-person gate and the stream all measure with the
same function, so a threshold learnt in one place means the same in the others.
"""

import numpy as np

METRICS = ("euclidean", "cosine")


def distance(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Row-wise distances between ``a`` and ``b`` (N x d each, or one side a single d-vector)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=-1)
    if metric == "cosine":
        norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
        return 1.0 - (a * b).sum(axis=-1) / np.maximum(norms, 1e-12)
    raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` with every row scaled to length 1 (cosine embeddings are stored so)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
