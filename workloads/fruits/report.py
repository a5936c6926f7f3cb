"""What the fruits pipeline reports besides its parquet and timings: plots and a neighbourhood-quality figure.

Works on a driver-side sample (numpy arrays), so the Spark job and the plain baseline share it.
"""

from pathlib import Path

import numpy as np

MAX_LEGEND = 20


def nn_same_label_rate(labels: np.ndarray, points: np.ndarray) -> float:
    """Share of points whose nearest other point (Euclidean) has the same label."""
    if len(points) < 2:
        return float("nan")
    sq = (points * points).sum(axis=1)
    dist = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    np.fill_diagonal(dist, np.inf)
    return float(np.mean(labels[dist.argmin(axis=1)] == labels))


def _scatter(ax, xy: np.ndarray, labels: np.ndarray) -> None:
    import matplotlib

    classes = sorted(set(labels.tolist()))
    cmap = matplotlib.colormaps["tab20" if len(classes) <= 20 else "gist_ncar"]
    for i, name in enumerate(classes):
        mask = labels == name
        ax.scatter(xy[mask, 0], xy[mask, 1], s=6, color=cmap(i / max(len(classes) - 1, 1)), label=name)
    if len(classes) <= MAX_LEGEND:
        ax.legend(fontsize=6, markerscale=2, loc="best")


def write_plots(
    labels: np.ndarray, pca: np.ndarray, variance_ratio: np.ndarray, out_dir: Path, tsne_sample: int, seed: int
) -> dict[str, str]:
    """pca_2d.png, tsne.png (of at most ``tsne_sample`` points) and explained_variance.png in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}

    fig, ax = plt.subplots(figsize=(8, 6))
    _scatter(ax, pca[:, :2] if pca.shape[1] >= 2 else np.c_[pca[:, 0], np.zeros(len(pca))], labels)
    ax.set(title=f"First two principal components ({len(pca)} images)", xlabel="PC1", ylabel="PC2")
    fig.savefig(out_dir / "pca_2d.png", dpi=110, bbox_inches="tight")
    written["pca_2d"] = "pca_2d.png"
    plt.close(fig)

    if len(pca) >= 5:
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(pca), size=min(tsne_sample, len(pca)), replace=False)
        sub = pca[idx, : min(50, pca.shape[1])]
        xy = TSNE(
            n_components=2, perplexity=min(30.0, (len(idx) - 1) / 3), init="pca", random_state=seed, n_jobs=1
        ).fit_transform(sub)
        fig, ax = plt.subplots(figsize=(8, 6))
        _scatter(ax, xy, labels[idx])
        ax.set(title=f"t-SNE of {len(idx)} sampled images (first {sub.shape[1]} PCs)")
        fig.savefig(out_dir / "tsne.png", dpi=110, bbox_inches="tight")
        written["tsne"] = "tsne.png"
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ks = np.arange(1, len(variance_ratio) + 1)
    ax.plot(ks, np.cumsum(variance_ratio))
    ax.set(
        title="Cumulative explained variance",
        xlabel="principal components",
        ylabel="explained variance",
        ylim=(0, 1.01),
    )
    ax.grid(alpha=0.3)
    fig.savefig(out_dir / "explained_variance.png", dpi=110, bbox_inches="tight")
    written["explained_variance"] = "explained_variance.png"
    plt.close(fig)
    return written
