import numpy as np
import pytest
from _metrics_reference import median_distance
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from skvcreg.metrics import _bandwidth
from skvcreg.metrics._bandwidth import median_bandwidth, median_bandwidths


def _columns(n, rng):
    return np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 3, size=n),  # heavy ties
            np.r_[np.zeros(n - n // 3), np.arange(n // 3)],  # zero median
            np.full(n, 2.5),  # constant
            rng.standard_cauchy(size=n),
            np.round(rng.normal(size=n), 1),
            rng.integers(0, 2, size=n) * 0.1 + 0.7,  # rounding-sensitive ties
        ]
    )


@pytest.mark.parametrize("n", [2, 3, 4, 5, 17, 200, 1001, 2000])
def test_median_bandwidths_match_all_pairs(n):
    X = _columns(n, np.random.default_rng(n))
    expected = [median_distance(X[:, j]) for j in range(X.shape[1])]
    # The selection returns one of the computed differences; 1e-12 covers the
    # rounding of x_b - x_a versus the reference's |x_a - x_b|.
    assert_allclose(median_bandwidths(X), expected, rtol=1e-12)


def test_median_bandwidth_vector_variable():
    x = np.random.default_rng(0).normal(size=(150, 3))
    assert_allclose(median_bandwidth(x), median_distance(x), rtol=1e-12)
    assert median_bandwidth(np.ones((20, 2))) == 1.0


@pytest.mark.parametrize("scale", [1e154, 1e-170, 2.0**1000, 1e-300])
def test_median_bandwidth_vector_variable_at_extreme_scales(scale):
    # Squared distances of the raw rows overflow above ~1e154 and underflow
    # below ~1e-162; the bandwidth must follow the scale all the same.
    x = np.random.default_rng(0).normal(size=(200, 2))
    assert_allclose(median_bandwidth(x * scale), scale * median_distance(x), rtol=1e-12)
    assert_allclose(median_bandwidth(x * scale), median_distance(x * scale), rtol=1e-12)


def test_median_bandwidth_vector_variable_with_columns_far_apart_in_scale():
    # Most pairs tie in the large column; the tiny one separates them, and
    # holds the median.
    rng = np.random.default_rng(1)
    x = np.column_stack([(rng.uniform(size=40) < 0.15) * 1e100, rng.normal(size=40)])
    x[:, 1] *= 1e-200
    assert_allclose(median_bandwidth(x), median_distance(x), rtol=1e-12)


def test_median_bandwidths_subsample_above_limit(monkeypatch):
    monkeypatch.setattr(_bandwidth, "_MAX_ROWS_SCALAR", 100)
    X = np.random.default_rng(0).normal(size=(251, 2))
    rows = np.round(np.linspace(0, 250, 100)).astype(int)
    expected = [median_distance(X[rows, j]) for j in range(2)]
    assert_allclose(median_bandwidths(X), expected, rtol=1e-12)


def test_median_bandwidths_scale_equivariant():
    X = np.random.default_rng(1).normal(size=(300, 3))
    assert_allclose(
        median_bandwidths(3.0 * X + 7.0), 3.0 * median_bandwidths(X), rtol=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 60), st.integers(1, 3)),
        elements=st.sampled_from([-2.0, -0.5, 0.0, 0.1, 0.3, 1.0, 4.0])
        | st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    )
)
def test_median_bandwidths_property(X):
    out = median_bandwidths(X)
    assert np.all(np.isfinite(out)) and np.all(out > 0)
    expected = [median_distance(X[:, j]) for j in range(X.shape[1])]
    assert_allclose(out, expected, rtol=1e-12)
