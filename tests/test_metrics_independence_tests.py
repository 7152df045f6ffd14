import numpy as np
import pytest
from _metrics_reference import gamma_pvalue, gram, median_distance
from numpy.testing import assert_allclose

from skvcreg.metrics import hsic, hsic_test, pairwise_hsic, pairwise_hsic_test
from skvcreg.metrics._independence_tests import _adjust


def _dependent(n, rng):
    x = rng.uniform(-1, 1, size=n)
    return x, x**2 + 0.2 * rng.normal(size=n)


@pytest.mark.parametrize("seed", [0, 1])
def test_gamma_pvalue_matches_explicit_formula(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=40)
    y = 0.3 * x + rng.normal(size=40)
    K, L = gram(x, median_distance(x)), gram(y, median_distance(y))
    stat, p = hsic_test(x, y)
    assert_allclose(p, gamma_pvalue(K, L), rtol=1e-9)
    assert_allclose(stat, hsic(x, y), rtol=1e-10)


def test_pairwise_gamma_matches_pairs():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 4))
    X[:, 3] += np.sin(2 * X[:, 0])
    stat, p = pairwise_hsic_test(X)
    assert_allclose(stat, pairwise_hsic(X, method="exact"), rtol=1e-9)
    for i in range(4):
        for j in range(i + 1, 4):
            assert_allclose(p[i, j], hsic_test(X[:, i], X[:, j])[1], rtol=1e-8)
    assert_allclose(p, p.T)
    assert np.all(np.diag(p) == 0)


def test_gamma_type_one_error_near_alpha():
    # 5 simulations x 120 pairs of independent columns (heavy and light tails).
    rng = np.random.default_rng(0)
    pvalues = []
    for _ in range(5):
        X = np.column_stack([rng.normal(size=(60, 8)), rng.standard_t(3, size=(60, 8))])
        _, p = pairwise_hsic_test(X)
        pvalues.append(p[np.triu_indices(16, k=1)])
    pvalues = np.concatenate(pvalues)
    # 600 p-values (dependent through shared columns): rejection rate near 5%.
    assert 0.02 <= np.mean(pvalues < 0.05) <= 0.09
    assert 0.07 <= np.mean(pvalues < 0.1) <= 0.15
    assert 0.4 <= np.mean(pvalues < 0.5) <= 0.6


def test_gamma_small_under_dependence_and_survival_precision():
    rng = np.random.default_rng(1)
    x, y = _dependent(300, rng)
    assert hsic_test(x, y)[1] < 1e-6
    # Survival function: a tiny p-value keeps its precision instead of 1 - cdf = 0.
    _, p = hsic_test(x, x + 0.01 * rng.normal(size=300))
    assert 0 < p < 1e-30


@pytest.mark.parametrize("n_permutations", [20, 99])
def test_permutation_pvalue_range_and_seed(n_permutations):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=40), rng.normal(size=40)
    stat, p = hsic_test(
        x, y, method="permutation", n_permutations=n_permutations, random_state=0
    )
    assert 1 / (n_permutations + 1) <= p <= 1
    assert (stat, p) == hsic_test(
        x, y, method="permutation", n_permutations=n_permutations, random_state=0
    )
    x, y = _dependent(60, rng)
    _, p = hsic_test(x, y, method="permutation", n_permutations=n_permutations)
    assert p == 1 / (n_permutations + 1)


def test_pairwise_permutation_test():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 5))
    X[:, 4] = X[:, 0] ** 2 + 0.1 * rng.normal(size=80)
    stat, p = pairwise_hsic_test(
        X, method="permutation", n_permutations=50, random_state=0
    )
    assert_allclose(stat, pairwise_hsic(X), rtol=1e-12)
    assert p[0, 4] == 1 / 51
    assert np.all(p[np.triu_indices(5, 1)] >= 1 / 51)
    null = p[:4, :4][np.triu_indices(4, 1)]
    assert np.all(null > 0.02)
    again = pairwise_hsic_test(
        X, method="permutation", n_permutations=50, random_state=0
    )[1]
    assert_allclose(p, again)


def _holm_loop(p):
    m = len(p)
    order = np.argsort(p)
    out = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def _bh_loop(p):
    m = len(p)
    out = np.empty(m)
    for i in range(m):
        out[i] = min(
            min(1.0, m * p[j] / (np.sum(p <= p[j]))) for j in range(m) if p[j] >= p[i]
        )
    return out


def test_corrections_match_loops():
    p = np.random.default_rng(5).uniform(size=15) ** 2
    assert_allclose(_adjust(p, "holm"), _holm_loop(p))
    assert_allclose(_adjust(p, "bh"), _bh_loop(p))
    assert_allclose(_adjust(p, None), p)


def test_pairwise_correction_applied_to_off_diagonal():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 4))
    _, raw = pairwise_hsic_test(X)
    upper = np.triu_indices(4, 1)
    for correction, func in [("holm", _holm_loop), ("bh", _bh_loop)]:
        _, adjusted = pairwise_hsic_test(X, correction=correction)
        assert_allclose(adjusted[upper], func(raw[upper]))
        assert np.all(adjusted >= raw - 1e-15)
        assert_allclose(adjusted, adjusted.T)


def test_constant_column():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 3))
    X[:, 1] = 2.0
    stat, p = pairwise_hsic_test(X, correction="bh")
    assert np.all(p[1] == 1.0) and np.all(stat[1] == 0.0)
    assert np.all(np.isfinite(p))
    assert hsic_test(X[:, 1], X[:, 0]) == (0.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "exact"}, "method must be one of"),
        ({"correction": "bonferroni"}, "correction must be one of"),
        ({"n_permutations": 0}, "n_permutations must be >= 1"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pairwise_hsic_test(np.random.default_rng(0).normal(size=(20, 3)), **kwargs)


def test_too_few_samples_and_mismatch():
    with pytest.raises(ValueError, match="at least 6"):
        hsic_test(np.arange(5.0), np.arange(5.0))
    with pytest.raises(ValueError, match="same number of samples"):
        hsic_test(np.arange(8.0), np.arange(9.0))
    with pytest.raises(ValueError, match="NaN"):
        pairwise_hsic_test(np.full((10, 2), np.nan))
