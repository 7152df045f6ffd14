"""A metric's data enter through the one data boundary (``validate_metric_rows``):
the same rows objects as the estimators', the metrics' rules and messages, and
"numpy or dask?" asked in one module only."""

import pathlib
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skvcreg
from skvcreg._data import DaskRows, InMemoryRows, validate_metric_rows
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import (
    pairwise_hsic,
    pairwise_independence_score,
    separation_certificate,
)
from skvcreg.metrics._validation import check_samples


def _dask():
    return pytest.importorskip("dask.array", reason="dask is optional")


def _mixture(n=2000):
    X, _, A = make_ica_mixture(["b", "j", "c"], n_samples=n, random_state=0)
    return X, np.linalg.inv(A)


def test_numpy_or_dask_is_asked_in_the_data_module_only():
    root = pathlib.Path(skvcreg.__file__).parent
    askers = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if re.search(r"is_dask_array\(|check_dask_samples", path.read_text())
    }
    assert askers == {"_data.py"}


def test_in_memory_rows_follow_the_metrics_rules():
    pd = pytest.importorskip("pandas")
    x = np.arange(6.0)
    rows = validate_metric_rows(x)
    assert isinstance(rows, InMemoryRows) and rows.in_memory
    assert_array_equal(rows.X, x[:, None])  # a 1-D x is one column
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6]}).astype("Float64")
    rows = validate_metric_rows(frame)
    assert rows.X.dtype == np.float64
    assert_array_equal(rows.X, frame.to_numpy(dtype=np.float64))
    # float32 is kept where the caller allows it, made float64 otherwise
    x32 = np.ones((5, 2), dtype=np.float32)
    assert validate_metric_rows(x32).X.dtype == np.float64
    kept = validate_metric_rows(x32, dtype=(np.float64, np.float32)).X
    assert kept.dtype == np.float32
    assert validate_metric_rows(x32, dtype=(np.float64, np.float32)).sample(
        [0, 2]
    ).dtype == np.dtype(np.float64)


@pytest.mark.parametrize(
    "x, error, match",
    [
        (
            np.ones((1, 2)),
            ValueError,
            r"^Z has 1 sample\(s\); at least 2 are needed\.$",
        ),
        (np.ones((3, 2, 1)), ValueError, r"^Z must be 1-D or 2-D, got 3 dimensions\.$"),
        (np.ones((3, 0)), ValueError, r"^Z has no columns \(shape \(3, 0\)\)\.$"),
        (np.ones((3, 2)) * 1j, ValueError, r"^Z must be real, got a complex array\.$"),
        (np.full((3, 2), np.nan), ValueError, r"^Z contains NaN or infinity\.$"),
        (np.array([[1e308], [-1e308]]), ValueError, "range of values of Z overflows"),
    ],
)
def test_bad_input_same_message_in_memory_and_on_dask(x, error, match):
    da = _dask()
    with pytest.raises(error, match=match):
        pairwise_independence_score(x)
    with pytest.raises(error, match=match):
        pairwise_independence_score(da.from_array(x, chunks=1))


def test_in_memory_only_functions_refuse_a_dask_array():
    da = _dask()
    with pytest.raises(TypeError, match=r"^y is a dask array, .*y\.compute\(\)"):
        check_samples(da.ones((10, 2)), "y")
    assert isinstance(validate_metric_rows(da.ones((10, 2))), DaskRows)


def test_dask_rows_are_float_with_one_column_chunk_and_no_empty_block():
    da = _dask()
    X, _ = _mixture(300)
    Xi = da.from_array((X * 100).astype(np.int64), chunks=(50, 1))
    Xf = Xi[Xi[:, 0] > 0]
    Xf.compute_chunk_sizes()
    rows = validate_metric_rows(Xf)
    assert not rows.in_memory
    assert rows.X.dtype == np.float64
    assert len(rows.X.chunks[1]) == 1 and 0 not in rows.X.chunks[0]
    index = np.arange(0, rows.shape[0], 7)
    expected = (X * 100).astype(np.int64)[(X * 100).astype(np.int64)[:, 0] > 0]
    assert_array_equal(rows.sample(index), expected[index].astype(np.float64))


def test_dask_sample_checks_the_rows_it_does_not_return():
    da = _dask()
    X, _ = _mixture(400)
    X[399, 2] = np.inf
    rows = validate_metric_rows(da.from_array(X, chunks=100))
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity\.$"):
        rows.sample(np.arange(10))
    # whole=False (an X checked before, as a fit's): the sampled rows only
    assert_array_equal(rows.sample(np.arange(10), whole=False), X[:10])
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity\.$"):
        rows.sample(np.array([0, 399]), whole=False)


def test_metrics_of_a_masked_dask_array_with_empty_blocks_equal_numpy():
    # The user guide's recipe: a boolean mask, then compute_chunk_sizes; here
    # two of the row blocks end up empty.
    da = _dask()
    X, W = _mixture(3000)
    keep = np.ones(len(X), dtype=bool)
    keep[500:1500] = False
    Xd = da.from_array(X, chunks=(500, 3))[da.from_array(keep, chunks=500)]
    Xd.compute_chunk_sizes()
    assert 0 in Xd.chunks[0]
    Xm = X[keep]
    # float32 products of the blocks a chunk boundary cuts round differently
    # (about 1e-7 relative), as in the other dask tests.
    H = pairwise_hsic(Xm, method="rff", random_state=0)
    Hd = pairwise_hsic(Xd, method="rff", random_state=0)
    assert_allclose(Hd, H, rtol=1e-6, atol=1e-7 * np.abs(H).max())
    assert pairwise_independence_score(
        Xd, random_state=0
    ) == pairwise_independence_score(Xm, random_state=0)
    result = separation_certificate(Xd, W, random_state=0)
    expected = separation_certificate(Xm, W, random_state=0)
    assert_array_equal(result.interference_db, expected.interference_db)


def test_certificate_checks_x_as_the_metrics_do():
    da = _dask()
    X, W = _mixture(200)
    X[150, 1] = np.nan
    for data in (X, da.from_array(X, chunks=50)):
        with pytest.raises(ValueError, match=r"^X contains NaN or infinity\.$"):
            separation_certificate(data, W)
    X[150, 1] = 0.0
    with pytest.raises(ValueError, match=r"^X has 20 rows; the certificate needs"):
        separation_certificate(X[:20], W)
