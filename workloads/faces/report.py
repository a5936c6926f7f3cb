"""Driver-side evaluation of the face jobs: LFW's pairs protocol, open-set figures and the plots.

Pure numpy/scikit-learn on collected arrays, so it is unit-tested without Spark.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workloads.faces.identity import Identified


@dataclass(frozen=True)
class Pair:
    """One line of an LFW pairs file: two image keys (``person/person_NNNN``), same person or not, its fold."""

    a: str
    b: str
    same: bool
    fold: int


def _key(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}"


def parse_pairs(text: str) -> list[Pair]:
    """Pairs of LFW's ``pairs.txt`` format: a header ``folds n`` (or just ``n`` for one fold), then per fold
    n matched lines ``name i j`` and n mismatched lines ``name1 i name2 j``. Raises ValueError with the line."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or not all(t.isdigit() for t in lines[0]) or len(lines[0]) not in (1, 2):
        raise ValueError("the first line must be 'folds pairs_per_fold' (LFW pairs.txt) or 'pairs' (pairsDevTest)")
    folds, per_fold = (1, int(lines[0][0])) if len(lines[0]) == 1 else map(int, lines[0])
    body = lines[1:]
    if len(body) != folds * 2 * per_fold:
        raise ValueError(f"the header promises {folds} x 2 x {per_fold} pairs but there are {len(body)} lines")
    pairs = []
    for i, tokens in enumerate(body):
        fold = i // (2 * per_fold)
        if len(tokens) == 3:
            pairs.append(Pair(_key(tokens[0], tokens[1]), _key(tokens[0], tokens[2]), True, fold))
        elif len(tokens) == 4:
            pairs.append(Pair(_key(tokens[0], tokens[1]), _key(tokens[2], tokens[3]), False, fold))
        else:
            raise ValueError(f"line {i + 2}: expected 'name i j' or 'name1 i name2 j', got {' '.join(tokens)!r}")
    return pairs


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold (same person if distance < threshold) with the highest accuracy."""
    finite = np.unique(distances[np.isfinite(distances)])
    candidates = np.concatenate([[finite[0] - 1e-6], (finite[:-1] + finite[1:]) / 2, [finite[-1] + 1e-6]])
    accuracy = [np.mean((distances < t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def k_fold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict:
    """LFW's protocol: for each fold, the threshold is chosen on the other folds and scored on this one.

    With a single fold the threshold is chosen on the same pairs (said in ``threshold_on``)."""
    ids = sorted(set(folds.tolist()))
    accuracies, thresholds = [], []
    for k in ids:
        test = folds == k
        train = ~test if len(ids) > 1 else test
        t = best_threshold(distances[train], same[train])
        thresholds.append(t)
        accuracies.append(float(np.mean((distances[test] < t) == same[test])))
    return {
        "folds": len(ids),
        "accuracy_mean": round(float(np.mean(accuracies)), 5),
        "accuracy_std": round(float(np.std(accuracies)), 5),
        "fold_accuracies": [round(a, 5) for a in accuracies],
        "thresholds": [round(t, 5) for t in thresholds],
        "threshold_on": "the other folds" if len(ids) > 1 else "the same pairs (one fold)",
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_png(distances: np.ndarray, same: np.ndarray, path: Path, title: str) -> float:
    """ROC curve of "same person if distance < t" over all t, written to ``path``; returns its AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    score = -np.nan_to_num(distances, posinf=1e6)
    fpr, tpr, _ = roc_curve(same, score)
    auc = float(roc_auc_score(same, score))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot(fpr, tpr, label=f"AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(title=title, xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return auc


def confusion_png(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """A labelled confusion matrix (rows: true, columns: predicted) written to ``path``."""
    plt = _pyplot()
    side = max(5.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for (i, j), v in np.ndenumerate(matrix):
        if v:
            ax.text(
                j, i, str(v), ha="center", va="center", fontsize=6, color="white" if v > matrix.max() / 2 else "black"
            )
    ax.set(title=title, xlabel="predicted", ylabel="true")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def open_set(
    known: Identified, known_truth: np.ndarray, unknown: Identified, threshold: float, distance: float
) -> dict:
    """What the unknown-person gates do to the known people's test faces and to other people's faces:
    both gates (the rule ``faces-stream`` applies), and each gate alone."""

    def rates(known_ok: np.ndarray, unknown_ok: np.ndarray) -> dict:
        return {
            "known_accepted_rate": round(float(known_ok.mean()), 5) if len(known_ok) else None,
            # accepted and named right, of all the known people's test faces
            "known_named_rate": (
                round(float((known_ok & (known.best == known_truth)).mean()), 5) if len(known_ok) else None
            ),
            "accuracy_of_accepted": (
                round(float((known.best == known_truth)[known_ok].mean()), 5) if known_ok.any() else None
            ),
            "unknown_rejected_rate": round(float(1 - unknown_ok.mean()), 5) if len(unknown_ok) else None,
        }

    return {
        "threshold": threshold,
        "distance": round(distance, 4),
        "unknown_faces": len(unknown.best),
        **rates(known.accepted, unknown.accepted),
        "probability_only": rates(known.probability >= threshold, unknown.probability >= threshold),
        "distance_only": rates(known.distance <= distance, unknown.distance <= distance),
    }
