import warnings

import numpy as np
import pytest
import torch
from _metrics_reference import (
    gram,
    hsic_biased,
    hsic_unbiased,
    median_distance,
    pairwise_reference,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from skvcreg.metrics import _hsic, _lowrank, hsic, hsic_test, pairwise_hsic
from skvcreg.metrics._bandwidth import median_bandwidths


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 1] = X[:, 0] ** 2 + 0.3 * rng.normal(size=n)  # non-monotone dependence
    X[:, 2] = rng.standard_t(3, size=n)
    X[:, 3] = rng.integers(0, 4, size=n)  # ties
    X[:, 4] = np.cos(2 * X[:, 2]) + 0.2 * rng.uniform(size=n)
    return X


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("shape", [(80,), (80, 3)])
def test_hsic_matches_direct_formula(estimator, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    y = np.sin(x.reshape(80, -1).sum(axis=1)) + 0.3 * rng.normal(size=80)
    K, L = gram(x, median_distance(x)), gram(y, median_distance(y))
    expected = (hsic_biased if estimator == "biased" else hsic_unbiased)(K, L)
    # Row-block sums against the explicit n x n products: rounding only.
    assert_allclose(hsic(x, y, estimator=estimator), expected, rtol=1e-10)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_hsic_normalized_and_bandwidths(estimator):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=60), rng.normal(size=60)
    y += x
    func = hsic_biased if estimator == "biased" else hsic_unbiased
    K, L = gram(x, 0.7), gram(y, 2.0)
    cka = func(K, L) / np.sqrt(func(K, K) * func(L, L))
    value = hsic(x, y, bandwidth=(0.7, 2.0), estimator=estimator, normalize=True)
    assert_allclose(value, cka, rtol=1e-10)
    assert_allclose(
        hsic(x, y, bandwidth=1.5), hsic_biased(gram(x, 1.5), gram(y, 1.5)), rtol=1e-10
    )


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("method", ["exact", "lowrank", "auto"])
def test_pairwise_hsic_matches_loops(estimator, normalize, method):
    if method == "lowrank" and estimator == "unbiased":
        pytest.skip("the low-rank method is biased only")
    X = _data()
    expected = pairwise_reference(X, estimator=estimator, normalize=normalize)
    H = pairwise_hsic(X, estimator=estimator, normalize=normalize, method=method)
    # exact: rounding only; lowrank: certified 1e-6 relative by default.
    assert_allclose(H, expected, rtol=1e-6 if method != "exact" else 1e-9, atol=0)


@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-9])
def test_lowrank_error_is_certified(rtol):
    rng = np.random.default_rng(3)
    X = np.column_stack(
        [rng.standard_cauchy(300), rng.normal(size=300), rng.exponential(size=300)]
    )
    X[:, 1] += 0.1 * X[:, 2] ** 2
    exact = pairwise_hsic(X, method="exact")
    approx = pairwise_hsic(X, method="lowrank", rtol=rtol)
    # Never above the exact value, never below by more than rtol (plus rounding).
    assert np.all(approx <= exact * (1 + 1e-12))
    assert np.all(approx >= exact * (1 - rtol) - 1e-15)


def test_lowrank_falls_back_to_exact_when_rank_is_capped(monkeypatch):
    monkeypatch.setattr(_lowrank, "_LOWRANK_BYTES", 1)  # max rank 8
    X = _data(n=100)
    assert_allclose(
        pairwise_hsic(X), pairwise_reference(X), rtol=1e-9, err_msg="fallback"
    )


def test_lowrank_warns_above_fallback_size(monkeypatch):
    monkeypatch.setattr(_lowrank, "_LOWRANK_BYTES", 1)
    monkeypatch.setattr(_hsic, "_EXACT_FALLBACK_MAX_SAMPLES", 10)
    X = np.random.default_rng(0).standard_cauchy(size=(200, 3))
    with pytest.warns(UserWarning, match="lower bounds"):
        H = pairwise_hsic(X, rtol=1e-12)
    assert np.all(np.isfinite(H))


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_pairwise_hsic_rff_approaches_exact(estimator):
    X = _data(n=200)[:, :2]
    exact = pairwise_hsic(X, estimator=estimator, method="exact")
    approx = pairwise_hsic(
        X, estimator=estimator, method="rff", n_features=1000, random_state=0
    )
    # Random features: error ~ n_features^-1/2, relative to the largest value.
    assert np.abs(approx - exact).max() < 0.15 * np.abs(exact).max()
    again = pairwise_hsic(
        X, estimator=estimator, method="rff", n_features=1000, random_state=0
    )
    assert_allclose(approx, again)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_rff_matches_explicit_features(estimator):
    X = _data(n=150)[:, :3]
    m = 8
    bandwidths = [median_distance(X[:, j]) for j in range(3)]
    weights = np.random.RandomState(5).standard_normal((3, m))
    grams = []
    for j in range(3):
        t = (X[:, j] - X[:, j].min()) / bandwidths[j]
        phase = t[:, None] * weights[j]
        Q = np.hstack([np.cos(phase), np.sin(phase)]) / np.sqrt(m)
        grams.append(Q @ Q.T)
    func = hsic_biased if estimator == "biased" else hsic_unbiased
    expected = np.array(
        [[func(grams[i], grams[j]) for j in range(3)] for i in range(3)]
    )
    H = pairwise_hsic(
        X, estimator=estimator, method="rff", n_features=2 * m, random_state=5
    )
    # Same random kernel; float32 features and products: 1e-5 relative.
    assert_allclose(H, expected, rtol=1e-5, atol=1e-7 * np.abs(expected).max())


@pytest.mark.parametrize("method", ["exact", "lowrank", "rff"])
def test_engine_sums_are_symmetric_before_symmetrisation(method):
    # pairwise_hsic symmetrises its result (_finish), so symmetry is checked on
    # the engines' raw sums, against the direct formula.
    X = _data()
    bandwidths = np.array([median_distance(X[:, j]) for j in range(X.shape[1])])
    S, used = _hsic.pairwise_statistics(
        X,
        bandwidths,
        estimator="biased",
        method=method,
        rtol=1e-6,
        n_features=64,
        random_state=0,
        device=None,
    )
    assert used == method
    # exact and lowrank: float64 rounding; rff: float32 features and products.
    tol = 1e-5 if method == "rff" else 1e-12
    assert_allclose(S, S.T, rtol=tol, atol=tol * np.abs(S).max())
    if method != "rff":  # rff approximates another kernel
        expected = pairwise_reference(X) * (X.shape[0] - 1) ** 2
        assert_allclose(S, expected, rtol=1e-6 if method == "lowrank" else 1e-9)


class _Frequencies(np.random.RandomState):
    """A random state whose normal draws are given frequencies (rff draws one
    (n_columns, n_features / 2) array)."""

    def __init__(self, weights):
        super().__init__(0)
        self.weights = weights

    def standard_normal(self, size=None):
        assert size == self.weights.shape
        return self.weights.copy()


@pytest.mark.parametrize("method", ["exact", "lowrank", "rff"])
def test_pairwise_hsic_follows_row_and_column_order(method):
    X = _data()
    H = pairwise_hsic(X, method=method, random_state=0)
    # Rows permuted together: the same sample, the same HSIC. rff keeps its
    # frequencies (same seed, same columns): float32 rounding only.
    rows = np.random.default_rng(1).permutation(X.shape[0])
    tol = 1e-5 if method == "rff" else 1e-9
    assert_allclose(
        pairwise_hsic(X[rows], method=method, random_state=0),
        H,
        rtol=tol,
        atol=tol * np.abs(H).max(),
    )
    # Columns permuted: the matrix is permuted. rff draws one row of
    # frequencies per column position, so they are pinned and permuted with
    # the columns.
    perm = np.array([3, 0, 4, 2, 1])
    weights = np.random.default_rng(2).standard_normal((5, 32))
    H = pairwise_hsic(X, method=method, random_state=_Frequencies(weights))
    Hp = pairwise_hsic(
        X[:, perm], method=method, random_state=_Frequencies(weights[perm])
    )
    assert_allclose(Hp, H[np.ix_(perm, perm)], rtol=tol, atol=tol * np.abs(H).max())


@pytest.mark.parametrize("method", ["exact", "lowrank", "rff"])
def test_independence_near_zero_dependence_positive(method):
    rng = np.random.default_rng(7)
    n = 400
    x = rng.uniform(-2, 2, size=n)
    X = np.column_stack(
        [x, x**2 + 0.2 * rng.normal(size=n), rng.normal(size=n), rng.laplace(size=n)]
    )
    C = pairwise_hsic(X, normalize=True, method=method, random_state=0)
    assert C[0, 1] > 0.2  # y = x^2 + noise: uncorrelated but dependent
    assert abs(np.corrcoef(X[:, 0], X[:, 1])[0, 1]) < 0.1
    assert np.max(np.abs(C[2:, :][:, [0, 2, 3]] - np.eye(4)[2:, [0, 2, 3]])) < 0.05


def test_constant_column_gives_zeros_not_nan():
    X = _data(n=50)
    X[:, 2] = 4.0
    for method in ["exact", "lowrank", "rff"]:
        for normalize in [False, True]:
            H = pairwise_hsic(X, method=method, normalize=normalize, random_state=0)
            assert np.all(np.isfinite(H))
            assert np.all(H[2] == 0) and np.all(H[:, 2] == 0)
    assert hsic(np.ones(20), np.arange(20.0), normalize=True) == 0.0
    unbiased = pairwise_hsic(X, estimator="unbiased", method="rff", random_state=0)
    assert np.all(unbiased[2] == 0)


def test_tiny_and_huge_scales_stay_finite():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) * np.array([1e-200, 1.0, 1e200])
    X[5, 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ["exact", "lowrank", "rff"]:
            H = pairwise_hsic(X, method=method, normalize=True, random_state=0)
            assert np.all(np.isfinite(H))
            assert_allclose(
                H,
                pairwise_hsic(
                    X / np.ptp(X, axis=0), method=method, normalize=True, random_state=0
                ),
                rtol=1e-6,
                atol=1e-6,
            )


def test_pairwise_hsic_affine_invariant():
    X = _data()
    H = pairwise_hsic(X, normalize=True)
    Y = X * np.array([3.0, -0.5, 10.0, 1e-3, 2.0]) + np.array([1.0, 5.0, -2.0, 0, 7])
    assert_allclose(pairwise_hsic(Y, normalize=True), H, rtol=1e-6)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_far_points_relative_to_a_tiny_bandwidth(estimator):
    # The median distance is 1e-187, so 0.5 and 1 are ~1e186 bandwidths away:
    # scaled values are capped without merging distinct points.
    X = np.array([0.0, 1.0, 0.5, 2.0] + [3.7e-187] * 7)[:, None]
    expected = pairwise_reference(X, estimator=estimator)
    for method in ["exact", "auto"]:
        H = pairwise_hsic(X, estimator=estimator, method=method)
        assert_allclose(H, expected, rtol=1e-10)


def test_device_cpu_matches_default():
    X = _data()
    for method in ["exact", "lowrank", "rff"]:
        assert_allclose(
            pairwise_hsic(X, method=method, device="cpu", random_state=0),
            pairwise_hsic(X, method=method, random_state=0),
            rtol=1e-12,
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_device_cuda_matches_cpu():  # pragma: no cover - GPU only
    X = _data()
    for method in ["exact", "lowrank", "rff"]:
        assert_allclose(
            pairwise_hsic(X, method=method, device="cuda", random_state=0),
            pairwise_hsic(X, method=method, random_state=0),
            rtol=1e-5,
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"estimator": "other"}, "estimator must be one of"),
        ({"method": "fast"}, "method must be one of"),
        ({"bandwidth": "scott"}, "bandwidth must be 'median'"),
        ({"bandwidth": -1.0}, "positive and finite"),
        ({"bandwidth": [1.0, 2.0]}, "one per variable"),
        ({"method": "lowrank", "estimator": "unbiased"}, "biased estimator only"),
        ({"n_features": 7}, "must be even"),
        ({"n_features": 0}, "must be >= 2"),
        ({"rtol": 0.0}, "rtol must be in"),
        (
            {"device": "cuda:99"} if not torch.cuda.is_available() else {"rtol": 2.0},
            "CUDA|rtol",
        ),
    ],
)
def test_pairwise_hsic_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pairwise_hsic(_data(n=20), **kwargs)


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        ([1.0, np.nan, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], {}, "NaN or infinity"),
        ([1.0, np.inf, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], {}, "NaN or infinity"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], {}, "same number of samples"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], {"estimator": "unbiased"}, "at least 4"),
        ([1.0], [2.0], {}, "at least 2"),
        ([1 + 1j, 2.0], [1.0, 2.0], {}, "complex"),
        ([-1e308, 1e308], [1.0, 2.0], {}, "overflows"),
    ],
)
def test_hsic_bad_input(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hsic(x, y, **kwargs)


def test_sparse_input_is_refused():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="sparse"):
        pairwise_hsic(sparse.random(20, 3, density=0.5, format="csr"))


finite = st.floats(
    -100, 100, allow_nan=False, allow_infinity=False, allow_subnormal=False
)


@settings(max_examples=15, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(4, 25), st.integers(1, 3)), elements=finite
    ),
    st.sampled_from([2.0, 8.0]),  # exact: no underflow for |x| <= 100
)
def test_pairwise_hsic_properties(X, scale):
    H = pairwise_hsic(X)
    assert np.all(np.isfinite(H)) and np.all(H >= 0)
    assert_allclose(H, H.T)
    C = pairwise_hsic(X, normalize=True)
    assert np.all(C >= 0) and np.all(C <= 1 + 1e-9)
    # The median heuristic follows the scale (exact for powers of two).
    Hs = pairwise_hsic(scale * X)
    assert_allclose(Hs, H, rtol=1e-5, atol=1e-12)
    U = pairwise_hsic(X, estimator="unbiased")
    assert np.all(np.isfinite(U))
    assert_allclose(
        U, pairwise_reference(X, estimator="unbiased"), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("scale", [1e154, 1e-170, 1e300, 1e-300])
def test_vector_variable_at_extreme_scales(scale):
    # The median bandwidth of a vector variable once squared raw distances:
    # they overflowed or underflowed and HSIC reported independence (0, p=1).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = x[:, 0] ** 2
    expected = hsic(x, y)
    assert expected > 1e-3
    # Bandwidth and kernels follow the scale: rounding of x * scale only.
    assert_allclose(hsic(x * scale, y), expected, rtol=1e-9)
    assert_allclose(hsic(y, x * scale, normalize=True), hsic(y, x, normalize=True))
    statistic, pvalue = hsic_test(x * scale, y)
    assert_allclose(statistic, expected, rtol=1e-9)
    assert_allclose(pvalue, hsic_test(x, y)[1], rtol=1e-6)
    assert pvalue < 1e-6


# Values of at least 1e-6 (or 0) times 10^k stay normal floats for |k| <= 200;
# squared distances leave the floats beyond |k| of about 155.
_moderate = st.floats(-100, 100, allow_nan=False, allow_infinity=False).filter(
    lambda v: v == 0 or abs(v) >= 1e-6
)


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(6, 30), st.integers(2, 3)), elements=_moderate
    ),
    st.integers(-200, 200),
)
def test_multi_column_hsic_is_scale_free(x, k):
    # The median bandwidth follows the scale, so the kernels, HSIC and its test
    # do not change beyond the rounding of x * 10^k (atol: values near 0).
    y = x[:, 0] ** 2
    scale = 10.0**k
    for normalize in [False, True]:
        assert_allclose(
            hsic(x * scale, y, normalize=normalize),
            hsic(x, y, normalize=normalize),
            rtol=1e-8,
            atol=1e-12,
        )
    statistic, pvalue = hsic_test(x * scale, y)
    expected_statistic, expected_pvalue = hsic_test(x, y)
    assert_allclose(statistic, expected_statistic, rtol=1e-8, atol=1e-12)
    assert_allclose(pvalue, expected_pvalue, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        # Before: numpy's "ufunc 'isfinite' not supported for the input types".
        ({"rtol": "1e-3"}, r"rtol must be a float in \(0, 1\), got '1e-3'"),
        ({"rtol": True}, r"rtol must be a float in \(0, 1\), got True"),
        # Before: the non-empty string "False" was taken as True.
        ({"normalize": "False"}, "normalize must be True or False, got 'False'"),
        ({"normalize": 0}, "normalize must be True or False, got 0"),
        ({"bandwidth": True}, "bandwidth must be 'median' or positive float"),
    ],
)
def test_options_of_the_wrong_type_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pairwise_hsic(_data(n=20), **kwargs)
    if "rtol" not in kwargs:
        x = _data(n=20)
        with pytest.raises(ValueError, match=match):
            hsic(x[:, 0], x[:, 1], **kwargs)


def test_numpy_bool_is_a_bool():
    X = _data(n=30)
    assert_allclose(
        pairwise_hsic(X, normalize=np.True_), pairwise_hsic(X, normalize=True)
    )


def test_nullable_pandas_dataframe_is_numeric():
    """A DataFrame of the nullable ``Float64``/``Int64`` dtypes, which both
    estimators accept, was an "object array" here; a missing value is NaN."""
    pd = pytest.importorskip("pandas")
    X = _data(n=40)
    frame = pd.DataFrame(X).astype("Float64")
    frame[3] = frame[3].astype("Int64")
    assert_allclose(pairwise_hsic(frame), pairwise_hsic(X), rtol=1e-12)
    assert_allclose(hsic(frame[0], frame[1]), hsic(X[:, 0], X[:, 1]), rtol=1e-12)
    frame.iloc[3, 2] = pd.NA
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        pairwise_hsic(frame)
    with pytest.raises(ValueError, match="must be numeric, got an object array"):
        pairwise_hsic(pd.DataFrame({"a": ["x", "y", "z"], "b": [1.0, 2.0, 3.0]}))


def test_lowrank_factors_never_read_unwritten_memory(monkeypatch):
    # Columns that are constant but for a few huge values meet their tolerance
    # at different steps: a step over the few still active leaves the others'
    # factor column unwritten, and a later step over all of them reads it. With
    # memory from np.empty filled with NaN, the statistics must not change.
    Z = np.full((17, 4), -901264.64)
    Z[[0, 12], 0] = [-523202.058, -83346.3347]
    Z[[0, 9, 13, 16], 1] = [1.0, -639734.129, -3.0, 0.0]
    Z[[2, 9], 2] = 0.0
    Z[[3, 5, 8, 10, 11], 3] = [175825.687, 0.0, -3.0, 1.0, -3.0]
    Z[2, 0] = -3.0
    expected = _lowrank.lowrank_statistics(Z, median_bandwidths(Z), rtol=1e-2)[0]

    class PoisonedNumpy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def empty(shape, *args, **kwargs):
            return np.full(shape, np.nan)

    monkeypatch.setattr(_lowrank, "np", PoisonedNumpy())
    S = _lowrank.lowrank_statistics(Z, median_bandwidths(Z), rtol=1e-2)[0]
    assert np.isfinite(S).all()
    assert_allclose(S, expected, rtol=1e-12)
