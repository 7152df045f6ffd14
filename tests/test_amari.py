import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from skvcreg.metrics import amari_distance, match_sources


def _amari_loops(P):
    P = np.abs(P)
    m = P.shape[0]
    total = 0.0
    for i in range(m):
        total += sum(P[i, j] for j in range(m)) / max(P[i, :]) - 1
    for j in range(m):
        total += sum(P[i, j] for i in range(m)) / max(P[:, j]) - 1
    return total / (2 * m)


@pytest.mark.parametrize("m", [2, 3, 7])
@pytest.mark.parametrize("seed", [0, 1])
def test_amari_distance_matches_loops(m, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(m, m))
    A = rng.normal(size=(m, m))
    # Bach & Jordan's formula evaluated entry by entry; 1e-12 covers summation order.
    assert_allclose(amari_distance(W, A), _amari_loops(W @ A), rtol=1e-12)


@pytest.mark.parametrize("m", [2, 5])
def test_amari_distance_zero_for_scaled_permutation(m):
    rng = np.random.default_rng(m)
    A = rng.normal(size=(m, m))
    perm = np.eye(m)[rng.permutation(m)]
    scale = np.diag(rng.uniform(0.5, 3.0, size=m) * rng.choice([-1, 1], size=m))
    W = scale @ perm @ np.linalg.inv(A)
    assert amari_distance(W, A) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("m", [2, 4])
def test_amari_distance_range(m):
    assert amari_distance(np.eye(m), np.ones((m, m))) == pytest.approx(m - 1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = amari_distance(rng.normal(size=(m, m)), rng.normal(size=(m, m)))
        assert 0.0 <= d <= m - 1


def test_amari_distance_rectangular_unmixing():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 2))  # 2 sources observed through 5 sensors
    W = np.linalg.pinv(A)[::-1]  # (2, 5), a permutation of the pseudo-inverse
    assert amari_distance(W, A) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("scale", [1e160, 1e-160, 1e300, 1e-300, 3.7])
def test_amari_distance_is_scale_free(scale):
    # W @ A overflowed (NaN) at 1e160 and lost digits to subnormals at 1e-160.
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    W = np.linalg.inv(A)[[2, 0, 3, 1]]
    assert amari_distance(W * scale, A * scale) == pytest.approx(0.0, abs=1e-12)
    W_noisy = W + 0.05 * rng.normal(size=(4, 4))
    expected = _amari_loops(W_noisy @ A)
    assert_allclose(amari_distance(W_noisy * scale, A / scale), expected, rtol=1e-12)
    assert_allclose(amari_distance(W_noisy * scale, A * scale), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "W, A, match",
    [
        (np.zeros((2, 2)), np.eye(2), "W is a zero matrix"),
        (np.eye(2), np.zeros((2, 2)), "A is a zero matrix"),
        (np.eye(2), np.array([[np.inf, 0.0], [0.0, 1.0]]), "A contains NaN or inf"),
        (np.eye(2), np.ones((3, 2)), "undefined"),
        (np.ones((2, 3)), np.ones((3, 3)), "square"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), np.eye(2), "zeros"),
        (np.array([[np.nan, 0.0], [0.0, 1.0]]), np.eye(2), "NaN"),
        (np.ones(3), np.eye(3), "2-D"),
    ],
)
def test_amari_distance_errors(W, A, match):
    with pytest.raises(ValueError, match=match):
        amari_distance(W, A)


def test_match_sources_against_numpy():
    rng = np.random.default_rng(0)
    S = rng.laplace(size=(400, 4))
    perm = np.array([2, 0, 3, 1])
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    S_est = (S @ np.diag([1.0, 2.0, 0.5, 3.0]))[:, perm] * signs
    S_est += 0.1 * rng.normal(size=S_est.shape)
    match = match_sources(S, S_est)
    corr = np.corrcoef(S.T, S_est.T)[:4, 4:]
    expected_perm = np.argsort(perm)
    assert_array_equal(match.permutation, expected_perm)
    assert_array_equal(match.signs, signs[expected_perm])
    # np.corrcoef and our centred products differ only by rounding.
    assert_allclose(
        match.correlations, np.abs(corr[np.arange(4), expected_perm]), rtol=1e-12
    )
    assert_allclose(match.aligned, S_est[:, expected_perm] * signs[expected_perm])
    assert np.all(match.correlations > 0.9)


def test_match_sources_extra_columns_and_unpacking():
    rng = np.random.default_rng(1)
    S = rng.uniform(size=(300, 2))
    S_est = np.column_stack([rng.normal(size=300), S[:, 1], -S[:, 0]])
    aligned, permutation, signs, correlations = match_sources(S, S_est)
    assert_array_equal(permutation, [2, 1])
    assert_array_equal(signs, [-1.0, 1.0])
    assert_allclose(correlations, 1.0)
    assert_allclose(aligned, S)


def test_match_sources_constant_column():
    rng = np.random.default_rng(2)
    S = rng.normal(size=(100, 2))
    S_est = np.column_stack([np.ones(100), S[:, 0]])
    match = match_sources(S, S_est)
    assert np.all(np.isfinite(match.correlations))
    assert_array_equal(match.permutation, [1, 0])
    assert match.correlations[1] == 0.0


@pytest.mark.parametrize("scale", [1e-200, 1e200, 1e-300, 1e300])
def test_match_sources_is_scale_free(scale):
    # The norms of the centred columns underflowed to 0 (every correlation 0)
    # or overflowed (NaN, refused by the assignment solver).
    rng = np.random.default_rng(0)
    S = rng.laplace(size=(300, 3))
    S_est = -S[:, [1, 2, 0]] + 0.1 * rng.normal(size=(300, 3))
    expected = match_sources(S, S_est)
    match = match_sources(S * scale, S_est * scale)
    assert_array_equal(match.permutation, expected.permutation)
    assert_array_equal(match.signs, expected.signs)
    assert_allclose(match.correlations, expected.correlations, rtol=1e-12)
    assert_allclose(match_sources(S * scale, S * scale).correlations, 1.0)
    mixed = match_sources(S * scale, S_est / scale)
    assert_allclose(mixed.correlations, expected.correlations, rtol=1e-12)


def test_match_sources_constant_column_with_rounding_in_its_mean():
    # The mean of 0.1 repeated is not exactly 0.1: the column is still constant.
    rng = np.random.default_rng(3)
    S = rng.normal(size=(100, 2))
    match = match_sources(S, np.column_stack([S[:, 0], np.full(100, 0.1)]))
    assert_array_equal(match.correlations[1], 0.0)


@pytest.mark.parametrize(
    "S_true, S_est, match",
    [
        (np.ones((10, 2)), np.ones((9, 2)), "same number of samples"),
        (np.ones((10, 3)), np.ones((10, 2)), "fewer than"),
        (np.full((10, 2), np.inf), np.ones((10, 2)), "NaN or infinity"),
    ],
)
def test_match_sources_errors(S_true, S_est, match):
    with pytest.raises(ValueError, match=match):
        match_sources(S_true, S_est)


_seeds = st.integers(0, 2**32 - 1)
_exponents = st.integers(-200, 200)


@settings(max_examples=40, deadline=None)
@given(_seeds, st.integers(2, 6), _exponents, _exponents)
def test_amari_distance_scale_free_property(seed, m, k_w, k_a):
    # A global scale of W or of A leaves the Amari error unchanged; compared
    # with the formula entry by entry on the unscaled product (rounding only).
    rng = np.random.default_rng(seed)
    W, A = rng.normal(size=(m, m)), rng.normal(size=(m, m))
    value = amari_distance(W * 10.0**k_w, A * 10.0**k_a)
    assert_allclose(value, _amari_loops(W @ A), rtol=1e-10, atol=1e-13)
    perm = np.eye(m)[rng.permutation(m)] * rng.uniform(0.5, 2.0, size=m)
    separated = perm @ np.linalg.inv(A) * 10.0**k_w
    assert amari_distance(separated, A * 10.0**k_a) == pytest.approx(0.0, abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(_seeds, st.integers(1, 4), st.lists(_exponents, min_size=5, max_size=5))
def test_match_sources_scale_free_property(seed, m, exponents):
    # Correlations ignore each column's scale, whatever it is.
    rng = np.random.default_rng(seed)
    S = rng.laplace(size=(50, m))
    perm = rng.permutation(m)
    S_est = S[:, perm] * rng.choice([-1.0, 1.0], size=m) + rng.normal(size=(50, m))
    expected = match_sources(S, S_est)
    true_scale = 10.0 ** exponents[0]
    est_scales = 10.0 ** np.array(exponents[1 : m + 1], dtype=float)
    match = match_sources(S * true_scale, S_est * est_scales)
    assert_allclose(match.correlations, expected.correlations, rtol=1e-10)
    assert_array_equal(match.permutation, expected.permutation)
    assert_array_equal(match.signs, expected.signs)
    assert_allclose(match.aligned, expected.aligned * est_scales[expected.permutation])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_matrices_are_read_as_dense(fmt):
    """Before: "setting an array element with a sequence"."""
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    W, A = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    W[0, 1] = A[2, 0] = 0.0
    expected = amari_distance(W, A)
    assert amari_distance(sparse.csr_matrix(W).asformat(fmt), A) == expected
    assert amari_distance(W, sparse.csr_matrix(A).asformat(fmt)) == expected
    S = rng.laplace(size=(50, 3))
    match = match_sources(sparse.csr_matrix(S).asformat(fmt), S[:, ::-1])
    assert_array_equal(match.permutation, [2, 1, 0])
