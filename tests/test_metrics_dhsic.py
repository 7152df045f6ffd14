import warnings

import numpy as np
import pytest
from _metrics_reference import dhsic_reference, median_distance
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from skvcreg.metrics import dhsic, dhsic_test, hsic, pairwise_hsic_test


def _xor(n, rng):
    """Three +-1 variables, pairwise independent but jointly dependent."""
    S = rng.choice([-1.0, 1.0], size=(n, 2))
    return np.column_stack([S, S[:, 0] * S[:, 1]]) + 0.05 * rng.normal(size=(n, 3))


@pytest.mark.parametrize("d", [2, 3, 5])
def test_dhsic_matches_explicit_formula(d):
    X = np.random.default_rng(d).normal(size=(40, d))
    X[:, 1] += X[:, 0]
    bandwidths = [median_distance(X[:, j]) for j in range(d)]
    # Log-space products versus the explicit products: rounding only.
    assert_allclose(dhsic(X), dhsic_reference(X, bandwidths), rtol=1e-10)
    assert_allclose(dhsic(X, bandwidth=0.8), dhsic_reference(X, [0.8] * d), rtol=1e-10)


def test_dhsic_two_variables_is_hsic():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(70, 2))
    X[:, 1] = np.abs(X[:, 0]) + 0.3 * X[:, 1]
    n = X.shape[0]
    assert_allclose(dhsic(X), hsic(X[:, 0], X[:, 1]) * (n - 1) ** 2 / n**2, rtol=1e-10)


def test_dhsic_many_variables_is_stable():
    X = np.random.default_rng(1).normal(size=(50, 400))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = dhsic(X)
    # With 400 variables the joint term is the diagonal's 1/n; the product terms
    # are below 1e-100 and no underflow or cancellation shows.
    assert np.isfinite(value)
    assert_allclose(value, 1 / 50, rtol=1e-6)


def test_dhsic_sees_joint_dependence_pairwise_tests_miss():
    rng = np.random.default_rng(2)
    X = _xor(200, rng)
    _, pairwise = pairwise_hsic_test(X)
    assert np.all(pairwise[np.triu_indices(3, 1)] > 0.01)
    stat, p = dhsic_test(X, n_permutations=50, random_state=0)
    assert p == 1 / 51
    assert stat == dhsic(X)


def test_dhsic_test_null_and_seed():
    X = np.random.default_rng(3).normal(size=(60, 3))
    stat, p = dhsic_test(X, n_permutations=40, random_state=0)
    assert p > 0.05
    assert (stat, p) == dhsic_test(X, n_permutations=40, random_state=0)


@pytest.mark.parametrize("d", [2, 4])
def test_dhsic_test_stored_grams_match_recomputed_kernels(monkeypatch, d):
    # Two code paths for the permutations (stored Gram matrices when they fit in
    # memory, kernels recomputed otherwise) must give the same test.
    X = np.random.default_rng(3).normal(size=(60, d))
    X[:, -1] += X[:, 0] * X[:, 1]
    fast = dhsic_test(X, n_permutations=30, random_state=0)
    monkeypatch.setattr("skvcreg.metrics._dhsic._GRAM_BYTES", 0)
    slow = dhsic_test(X, n_permutations=30, random_state=0)
    assert_allclose(fast, slow, rtol=1e-12)


def test_dhsic_bad_input():
    with pytest.raises(ValueError, match="at least 2 variables"):
        dhsic(np.arange(10.0))
    with pytest.raises(ValueError, match="NaN"):
        dhsic(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="n_permutations"):
        dhsic_test(np.ones((5, 2)), n_permutations=0)
    constant = np.column_stack([np.ones(10), np.arange(10.0)])
    assert dhsic(constant) == pytest.approx(0.0, abs=1e-15)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, 2**32 - 1), st.lists(st.integers(-200, 200), min_size=3, max_size=3)
)
def test_dhsic_is_scale_free_per_column(seed, exponents):
    # Each column's median bandwidth follows its own scale.
    X = _xor(60, np.random.default_rng(seed))
    scales = 10.0 ** np.array(exponents, dtype=float)
    assert_allclose(dhsic(X * scales), dhsic(X), rtol=1e-9, atol=1e-13)
