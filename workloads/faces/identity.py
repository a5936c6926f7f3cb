"""Who a face is, or "unknown": the saved classifier plus two gates, shared by ``faces-classify`` and ``faces-stream``.

A closed-set classifier names one of its people for every face, so a face is only accepted when
both gates pass:

- probability: the classifier's top (calibrated) probability is at least ``unknown_threshold``;
- distance: the face is within ``unknown_distance`` of the predicted person's mean training
  embedding, measured in the embedder's metric (``faces.metric``: cosine for SFace). By default
  that distance is learnt from the training faces: 99% of them lie within it of the mean of their
  own person's other training faces (leave-one-out), so it adapts to the embedder and to how
  varied the photos are; the quantile, not the maximum, so that one odd training photo (a
  profile, a wrong face) does not open the gate for everyone.
"""

from dataclasses import dataclass

import numpy as np

from workloads.faces.metric import distance as measure

UNKNOWN = "unknown"


def class_means(x: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Mean embedding of each class, rows in ``classes`` order."""
    return np.stack([x[labels == c].mean(axis=0) for c in classes])


def leave_one_out_distance(
    x: np.ndarray, labels: np.ndarray, metric: str = "euclidean", quantile: float = 0.99
) -> float:
    """The ``quantile`` of the training faces' distances (in ``metric``) from the mean of their class's other faces."""
    distances = []
    for c in np.unique(labels):
        members = x[labels == c]
        if len(members) >= 2:
            others_mean = (members.sum(axis=0) - members) / (len(members) - 1)
            distances.append(measure(members, others_mean, metric))
    return float(np.quantile(np.concatenate(distances), quantile)) if distances else 0.0


@dataclass
class Identified:
    """Per face: the best class, its probability, the distance to that class's mean, and the decision."""

    best: np.ndarray  # class names
    probability: np.ndarray
    distance: np.ndarray
    accepted: np.ndarray  # both gates passed

    def names(self) -> list[str]:
        """The predicted person, or ``UNKNOWN`` where a gate failed."""
        return [str(b) if ok else UNKNOWN for b, ok in zip(self.best, self.accepted, strict=True)]


def identify(saved: dict, x: np.ndarray) -> Identified:
    """Apply the dict ``faces-classify`` saves (classifier, labels, means, thresholds, metric) to embeddings ``x``."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, saved["dim"])
    if not len(x):  # scikit-learn refuses an empty batch
        empty = np.zeros(0)
        return Identified(np.zeros(0, dtype=object), empty, empty, np.zeros(0, bool))
    proba = saved["classifier"].predict_proba(x)
    top = proba.argmax(axis=1)
    probability = proba[np.arange(len(x)), top]
    distance = measure(x, saved["means"][top], saved.get("metric", "euclidean"))
    accepted = (probability >= saved["unknown_threshold"]) & (distance <= saved["unknown_distance"])
    return Identified(np.asarray(saved["labels"])[top], probability, distance, accepted)
