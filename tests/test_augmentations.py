"""Tests for skvcreg.augmentations."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skvcreg.augmentations import (
    TabularAugmentation,
    gaussian_noise_dropout,
    marginal_resampling,
    neighbor_interpolation,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _data(n=200, d=5, seed=0, dtype=torch.float64):
    return torch.randn(n, d, generator=_gen(seed), dtype=dtype)


AUGMENTATIONS = {
    "noise_dropout": lambda X, g: gaussian_noise_dropout(
        X, g, noise_std=0.3, dropout_rate=0.2
    ),
    "resampling": lambda X, g: marginal_resampling(X, g, rate=0.4),
    "neighbors": lambda X, g: neighbor_interpolation(X, g, n_neighbors=3),
    "chain": TabularAugmentation(
        None, n_neighbors=3, resample_rate=0.2, dropout_rate=0.1, noise_std=0.1
    ),
}


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_and_reproducibility(name, dtype):
    augment = AUGMENTATIONS[name]
    X = _data(dtype=dtype)
    state = torch.get_rng_state()
    a, b = augment(X, _gen(1)), augment(X, _gen(1))
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    assert a.shape == X.shape and a.dtype == dtype
    assert torch.equal(a, b)
    assert not torch.equal(a, augment(X, _gen(2)))
    assert torch.isfinite(a).all()


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_input_is_not_modified(name):
    X = _data()
    before = X.clone()
    AUGMENTATIONS[name](X, _gen())
    assert torch.equal(X, before)


@pytest.mark.parametrize("dropout_rate", [0.1, 0.5])
def test_dropout_rate_is_the_fraction_zeroed(dropout_rate):
    X = torch.ones(400, 50, dtype=torch.float64)
    view = gaussian_noise_dropout(X, _gen(), noise_std=0.0, dropout_rate=dropout_rate)
    # 20000 Bernoulli draws: the fraction is within 0.02 of the rate.
    assert abs(float((view == 0).double().mean()) - dropout_rate) < 0.02
    assert set(torch.unique(view).tolist()) <= {0.0, 1.0}


def test_noise_std():
    X = torch.zeros(500, 40, dtype=torch.float64)
    view = gaussian_noise_dropout(X, _gen(), noise_std=0.5, dropout_rate=0.0)
    assert_allclose(float(view.std()), 0.5, rtol=0.03)


def test_zero_strengths_are_identity():
    X = _data()
    g = _gen()
    assert torch.equal(gaussian_noise_dropout(X, g, noise_std=0, dropout_rate=0), X)
    assert torch.equal(marginal_resampling(X, g, rate=0), X)
    assert torch.equal(neighbor_interpolation(X, g, n_neighbors=0), X)
    chain = TabularAugmentation(X, n_neighbors=0, resample_rate=0)
    assert torch.equal(chain(X, g), X)


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_marginal_resampling_rate_and_marginals(rate):
    """About ``rate`` of the entries change; every value comes from its column."""
    n, d = 300, 8
    # Distinct values per column, so a replaced entry is recognisable.
    pool = torch.arange(n * d, dtype=torch.float64).reshape(n, d)
    X = -torch.ones(n, d, dtype=torch.float64)
    view = marginal_resampling(X, _gen(), rate=rate, pool=pool)
    replaced = view != -1
    assert abs(float(replaced.double().mean()) - rate) < 0.03
    for j in range(d):
        values = view[replaced[:, j], j]
        assert torch.isin(values, pool[:, j]).all()


def test_marginal_resampling_keeps_each_column_distribution():
    pool = _data(n=2000, d=3) * torch.tensor([1.0, 5.0, 0.1], dtype=torch.float64)
    view = marginal_resampling(pool, _gen(), rate=1.0)
    assert_allclose(view.std(dim=0).numpy(), pool.std(dim=0).numpy(), rtol=0.1)
    # Full resampling destroys the dependence between rows' columns.
    mixed = pool.clone()
    mixed[:, 1] = pool[:, 0] * 5.0
    view = marginal_resampling(mixed, _gen(), rate=1.0)
    correlation = np.corrcoef(view[:, 0].numpy(), view[:, 1].numpy())[0, 1]
    assert abs(correlation) < 0.1


def test_neighbor_interpolation_moves_towards_a_near_neighbor():
    # Two far clusters: a view never leaves the segment to a same-cluster row.
    g = _gen()
    left = torch.randn(50, 2, generator=g, dtype=torch.float64) * 0.1
    X = torch.cat([left, left + 100.0])
    view = neighbor_interpolation(X, _gen(1), n_neighbors=5)
    assert (view[:50] < 50).all() and (view[50:] > 50).all()
    moved = (view - X).norm(dim=1)
    assert (moved > 0).all()  # the row itself (distance 0) is never its neighbour


def test_neighbor_interpolation_skips_duplicates_and_large_pool():
    X = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    view = neighbor_interpolation(X, _gen(), n_neighbors=1)
    assert (view[:2, 0] > 0).all()  # towards [1, 0], not the duplicate
    pool = _data(n=500, d=2)
    view = neighbor_interpolation(pool[:10], _gen(), n_neighbors=3, max_pool_size=64)
    assert view.shape == (10, 2) and torch.isfinite(view).all()


def test_tabular_augmentation_uses_the_pool():
    pool = torch.full((20, 3), 7.0, dtype=torch.float64)
    X = torch.zeros(4, 3, dtype=torch.float64)
    augment = TabularAugmentation(pool, n_neighbors=0, resample_rate=1.0)
    assert torch.equal(augment(X, _gen()), torch.full((4, 3), 7.0, dtype=X.dtype))
