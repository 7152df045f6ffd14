"""VCRegICA on dask arrays: never materialised, the numpy path's answers and errors."""

import numpy as np
import pytest

from skvcreg import VCRegICA
from skvcreg.metrics import amari_distance

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


def _mixtures(n=6000, m=3, seed=0):
    rng = np.random.default_rng(seed)
    S = np.column_stack(
        [rng.laplace(size=n), rng.uniform(-1, 1, size=n), rng.exponential(size=n)]
    )[:, :m]
    A = rng.normal(size=(m, m))
    return S @ A.T + 5.0, A


@pytest.fixture
def never_materialised(monkeypatch):
    """Converting a whole dask array to numpy fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("the whole dask array was materialised")

    monkeypatch.setattr(da.Array, "__array__", refuse)


def test_fit_on_dask_equals_numpy_fit(never_materialised):
    X, A = _mixtures()
    Xd = da.from_array(X, chunks=(1700, 3))
    ours = VCRegICA(random_state=0).fit(Xd)
    reference = VCRegICA(random_state=0).fit(X)
    np.testing.assert_allclose(ours.mean_, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.whitening_, reference.whitening_, rtol=1e-9)
    np.testing.assert_allclose(ours.components_, reference.components_, atol=1e-6)
    assert ours.n_features_in_ == 3


def test_rows_beyond_the_held_subset_are_reduced_over_blocks(monkeypatch):
    """When the array exceeds what the solver may hold, the last refinement
    reads every row through dask reductions, and reaches the accuracy of an
    in-memory fit on all rows (not that of the held subset)."""
    import skvcreg._data as dask_data

    X, A = _mixtures(n=60_000, m=3, seed=1)
    held_rows = 3000
    monkeypatch.setattr(dask_data, "_HELD_BYTES", held_rows * 3 * 8)
    sums = []
    row_sum = dask_data._SolverBlocks.row_sum
    monkeypatch.setattr(
        dask_data._SolverBlocks,
        "row_sum",
        lambda self, *a: sums.append(1) or row_sum(self, *a),
    )
    Xd = da.from_array(X, chunks=(7000, 3))
    ours = amari_distance(VCRegICA(random_state=0).fit(Xd).components_, A)
    full = amari_distance(VCRegICA(random_state=0).fit(X).components_, A)
    subset = amari_distance(VCRegICA(random_state=0).fit(X[:held_rows]).components_, A)
    assert len(sums) >= 2  # refinement steps over all rows, then the scales
    assert ours < 1.3 * full + 1e-3
    assert ours < 0.7 * subset


def test_transform_is_lazy_and_blockwise():
    X, _ = _mixtures()
    Xd = da.from_array(X.astype(np.float32), chunks=(1000, 3))
    est = VCRegICA(random_state=0).fit(Xd)
    S = est.transform(Xd)
    assert isinstance(S, da.Array)
    assert S.dtype == np.float32
    assert S.chunks[0] == Xd.chunks[0]
    np.testing.assert_allclose(
        S.blocks[2].compute(), est.transform(X[2000:3000].astype(np.float32)), rtol=1e-6
    )
    back = est.inverse_transform(S)
    assert isinstance(back, da.Array)
    np.testing.assert_allclose(back.compute(), X, rtol=1e-4, atol=1e-4)
    fitted = VCRegICA(random_state=0).fit_transform(Xd)
    assert isinstance(fitted, da.Array)
    np.testing.assert_allclose(fitted.compute(), S.compute(), rtol=1e-6)


@pytest.mark.parametrize(
    "value, message", [(np.nan, "contains NaN"), (np.inf, "contains infinity")]
)
def test_nan_or_inf_in_a_late_block_is_found(value, message):
    X, _ = _mixtures()
    X[5500, 1] = value
    with pytest.raises(ValueError, match=message):
        VCRegICA().fit(da.from_array(X, chunks=(1000, 3)))


def test_bad_dask_inputs_name_the_problem():
    X, _ = _mixtures()
    est = VCRegICA(random_state=0).fit(da.from_array(X, chunks=(1000, 3)))
    with pytest.raises(
        ValueError, match="X has 2 features, but VCRegICA is expecting 3"
    ):
        est.transform(da.from_array(X[:, :2], chunks=(1000, 2)))
    with pytest.raises(ValueError, match="inverse_transform expects 3"):
        est.inverse_transform(da.ones((10, 4), chunks=(5, 4)))
    with pytest.raises(ValueError, match="2D array"):
        VCRegICA().fit(da.ones(10, chunks=5))
    with pytest.raises(ValueError, match="Complex data not supported"):
        VCRegICA().fit(da.ones((10, 2), chunks=5, dtype=complex))
    unknown = da.from_array(X, chunks=(1000, 3))
    unknown = unknown[unknown[:, 0] > 0]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        VCRegICA().fit(unknown)


def test_integer_dask_array_is_fitted_as_float64():
    rng = np.random.default_rng(0)
    X = rng.integers(-50, 50, size=(3000, 2)) @ np.array([[1, 2], [0, 1]])
    est = VCRegICA(random_state=0).fit(da.from_array(X, chunks=(1000, 2)))
    assert est.components_.dtype == np.float64
    np.testing.assert_allclose(
        est.components_, VCRegICA(random_state=0).fit(X).components_, atol=1e-6
    )


def test_svd_whitening_of_dask_array_equals_numpy():
    X, _ = _mixtures()
    Xd = da.from_array(X, chunks=(1500, 3))
    ours = VCRegICA(whiten_solver="svd", random_state=0).fit(Xd)
    reference = VCRegICA(whiten_solver="svd", random_state=0).fit(X)
    np.testing.assert_allclose(
        np.abs(ours.whitening_), np.abs(reference.whitening_), rtol=1e-8
    )
    np.testing.assert_allclose(
        np.abs(ours.components_), np.abs(reference.components_), atol=1e-6
    )


def test_fit_on_a_distributed_cluster(dask_client):
    X, A = _mixtures(n=20_000)
    est = VCRegICA(random_state=0).fit(da.from_array(X, chunks=(4000, 3)))
    S = est.transform(da.from_array(X, chunks=(4000, 3))).compute()
    assert amari_distance(est.components_, A) < 0.05
    np.testing.assert_allclose(S, est.transform(X), rtol=1e-6, atol=1e-9)


def test_one_row_dask_array_is_transformed():
    X, _ = _mixtures()
    est = VCRegICA(random_state=0).fit(X)
    one = da.from_array(X[:1], chunks=(1, 3))
    np.testing.assert_allclose(est.transform(one).compute(), est.transform(X[:1]))
    with pytest.raises(ValueError, match="minimum of 2 is required by VCRegICA"):
        VCRegICA().fit(one)
