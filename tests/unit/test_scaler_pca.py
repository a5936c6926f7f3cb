"""StandardScaler + PCA from per-partition sums (``workloads.fruits.scaler_pca``): numpy only, no Spark."""

import numpy as np
import pandas as pd
import pytest

from workloads.fruits.scaler_pca import (
    Moments,
    combine_partitions,
    fit,
    sum_moments,
)


def _data(rows: int = 300, dim: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dim)) @ rng.normal(size=(dim, dim)) + 5
    x[:, 3] = 2.5  # a constant column: scaled to 0, as Spark ML's StandardScaler does
    return x


def test_fit_matches_the_definition_on_standardised_data():
    x = _data()
    model = fit(Moments.of(x), 4)
    std = x.std(0, ddof=1)
    z = np.where(std > 0, (x - x.mean(0)) / np.where(std > 0, std, 1), 0.0)
    eig = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False)))[::-1]
    np.testing.assert_allclose(model.mean, x.mean(0), rtol=1e-10)
    np.testing.assert_allclose(model.std, std, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.explained_variance, eig[:4] / eig.sum(), rtol=1e-8)
    proj = model.transform(x)
    assert proj.shape == (300, 4) and proj.dtype == np.float32
    np.testing.assert_allclose(proj.var(0, ddof=1), eig[:4], rtol=1e-5)
    corr = np.corrcoef(proj, rowvar=False)
    assert np.abs(corr - np.eye(4)).max() < 1e-4


def test_moments_of_partitions_add_up_to_the_whole():
    x = _data()
    parts = [Moments.from_bytes(Moments.of(chunk).to_bytes()) for chunk in np.array_split(x, 7)]
    whole, summed = Moments.of(x), sum_moments(p.to_bytes() for p in parts)
    assert summed.n == whole.n == 300
    np.testing.assert_allclose(summed.gram, whole.gram, rtol=1e-12)
    a, b = fit(whole, 5), fit(summed, 5)
    np.testing.assert_allclose(a.components, b.components, atol=1e-9)  # signs are fixed, so equal


def test_component_signs_are_fixed_whatever_the_row_order():
    x = _data()
    a = fit(Moments.of(x), 3)
    b = fit(Moments.of(x[::-1].copy()), 3)
    np.testing.assert_allclose(a.components, b.components, atol=1e-9)
    assert (a.components[np.abs(a.components).argmax(0), range(3)] > 0).all()


def test_one_row_and_no_rows():
    one = fit(Moments.of(np.ones((1, 4))), 1)
    assert one.transform(np.ones((1, 4))).tolist() == [[0.0]] and one.explained_variance.tolist() == [0.0]
    with pytest.raises(ValueError, match="no rows"):
        fit(Moments(0, np.zeros(4), np.zeros((4, 4))), 1)
    with pytest.raises(ValueError, match="no moments"):
        sum_moments([])


def test_a_tree_level_adds_up_one_partitions_moments_rows():
    """What the executors run past MOMENTS_FAN_IN partitions: moments rows in, one summed row out."""
    x = _data(40, 6)
    rows = [pd.DataFrame({"moments": [Moments.of(part).to_bytes()]}) for part in (x[:25], x[25:])]
    out = list(combine_partitions(iter(rows)))
    assert len(out) == 1 and len(out[0]) == 1
    summed = sum_moments(out[0]["moments"])
    assert summed.n == 40
    np.testing.assert_allclose(summed.gram, Moments.of(x).gram, rtol=1e-12)
    assert list(combine_partitions(iter([]))) == []
