"""Dask arrays in the metrics: chunked random-feature moments, the scorer's row
subsample, the checks of the numpy path, and a real two-process cluster."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skvcreg.metrics import (
    PairwiseIndependenceScorer,
    _bandwidth,
    _rff,
    dhsic,
    dhsic_test,
    hsic,
    hsic_test,
    pairwise_hsic,
    pairwise_hsic_test,
    pairwise_independence_score,
)

da = pytest.importorskip(
    "dask.array", reason="dask is optional (the 'distributed' extra)"
)

# Row and column layouts: uneven row chunks (one of a single row), one chunk,
# chunks over rows and columns, many small row chunks.
CHUNKS = {
    "uneven": ((1500, 1, 2499, 2000), (5,)),
    "one-chunk": (-1, -1),
    "rows-and-columns": ((3000, 3000), (2, 3)),
    "many-small": (700, -1),
}


def _data(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 1] = X[:, 0] ** 2 + 0.5 * X[:, 1]
    X[:, 2] = rng.laplace(size=n) + 10.0  # an offset far from the spread
    X[:, 3] = np.sin(2 * X[:, 2]) + 0.3 * X[:, 3]
    return X


def _close(Hd, H):
    # The features of a row never depend on the chunking; only the float32
    # products of the row blocks that a chunk boundary cuts are rounded
    # differently (about 1e-7 relative), and values near 0 get an absolute
    # tolerance at that level.
    assert isinstance(Hd, np.ndarray)
    assert_allclose(Hd, H, rtol=1e-6, atol=1e-7 * np.abs(H).max())


@pytest.mark.parametrize("chunks", list(CHUNKS.values()), ids=list(CHUNKS))
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("bandwidth", [0.8, "median"])
def test_pairwise_hsic_rff_on_dask_equals_numpy(chunks, estimator, bandwidth):
    X = _data()
    kwargs = {"method": "rff", "estimator": estimator, "bandwidth": bandwidth}
    H = pairwise_hsic(X, random_state=0, **kwargs)
    Hd = pairwise_hsic(da.from_array(X, chunks=chunks), random_state=0, **kwargs)
    _close(Hd, H)
    assert np.max(H - np.diag(np.diag(H))) > 100 * np.abs(H[0, 4])  # not all ~0


@pytest.mark.parametrize("chunks", [(997, -1), (4096, 2)], ids=["odd", "columns"])
def test_chunks_cut_inside_feature_blocks(monkeypatch, chunks):
    # Small feature blocks (64 rows here): the dask chunks cut many of them.
    monkeypatch.setattr(_rff, "_CHUNK_BYTES", 64 * 4 * 3 * 5 * 16)
    X = _data()
    H = pairwise_hsic(X, method="rff", n_features=16, random_state=1)
    Hd = pairwise_hsic(
        da.from_array(X, chunks=chunks), method="rff", n_features=16, random_state=1
    )
    _close(Hd, H)


def test_median_bandwidth_rows_are_those_of_numpy(monkeypatch):
    # Above the row limit both paths take the same evenly spaced rows, so the
    # bandwidths, and the results, agree.
    monkeypatch.setattr(_bandwidth, "_MAX_ROWS_SCALAR", 500)
    X = _data()
    H = pairwise_hsic(X, method="rff", random_state=0, normalize=True)
    Hd = pairwise_hsic(
        da.from_array(X, chunks=CHUNKS["uneven"]),
        method="rff",
        random_state=0,
        normalize=True,
    )
    _close(Hd, H)


def test_auto_is_rff_and_other_layouts_of_input():
    X = _data(n=3000)
    X[:, 4] = 2.5  # constant column: rows of zeros, as in memory
    H = pairwise_hsic(X, method="rff", random_state=0, normalize=True)
    Xd = da.from_array(X, chunks=(800, -1))
    Hd = pairwise_hsic(Xd, random_state=0, normalize=True)  # method="auto"
    _close(Hd, H)
    assert np.all(Hd[4] == 0) and np.all(Hd[:, 4] == 0)
    # float32 and integer chunks are converted per chunk, as numpy converts
    # the whole array; a 1-D array is one column.
    X32 = X.astype(np.float32)
    _close(
        pairwise_hsic(da.from_array(X32, chunks=700), method="rff", random_state=2),
        pairwise_hsic(X32, method="rff", random_state=2),
    )
    ints = np.random.default_rng(0).integers(0, 5, size=(2000, 3))
    _close(
        pairwise_hsic(da.from_array(ints, chunks=300), method="rff", random_state=0),
        pairwise_hsic(ints, method="rff", random_state=0),
    )
    _close(
        pairwise_hsic(da.from_array(X[:, 0], chunks=500), method="rff", random_state=0),
        pairwise_hsic(X[:, 0], method="rff", random_state=0),
    )


def test_torch_device_on_chunks():
    X = _data(n=2000)
    H = pairwise_hsic(X, method="rff", random_state=0, device="cpu")
    Hd = pairwise_hsic(
        da.from_array(X, chunks=600), method="rff", random_state=0, device="cpu"
    )
    _close(Hd, H)


def test_dask_array_is_never_loaded_whole(monkeypatch):
    # Each chunk is read once for the moments (plus the first chunk for the
    # feature offsets), once more for "median" bandwidth rows; np.asarray on
    # the whole array is never called.
    calls = []

    def record(block, block_info=None):
        calls.append(block_info[0]["chunk-location"][0])
        return block

    monkeypatch.setattr(_rff, "_CHUNK_BYTES", 100 * 4 * 3 * 5 * 64)  # 100 rows
    X = _data()
    Xd = da.from_array(X, chunks=(1000, -1)).map_blocks(
        record, dtype=X.dtype, meta=np.empty((0, 0))
    )

    def refuse(*args, **kwargs):
        raise AssertionError("the whole dask array was converted")

    monkeypatch.setattr(da.Array, "__array__", refuse)
    pairwise_hsic(Xd, method="rff", bandwidth=1.0, random_state=0)
    assert sorted(calls) == [0, *range(6)]
    calls.clear()
    monkeypatch.setattr(_bandwidth, "_MAX_ROWS_SCALAR", 100)
    pairwise_hsic(Xd, method="rff", random_state=0)
    assert sorted(calls) == sorted([*range(6), *range(6)])


def _numpy_message(func, X, **kwargs):
    with pytest.raises(ValueError) as info:
        func(X, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [10, 3500, 5999], ids=["first", "middle", "last"])
@pytest.mark.parametrize("bandwidth", [1.0, "median"])
def test_nonfinite_in_one_chunk_raises_the_numpy_error(
    monkeypatch, value, row, bandwidth
):
    # With few bandwidth rows, the bad row is outside them: the moments pass
    # must find it.
    monkeypatch.setattr(_bandwidth, "_MAX_ROWS_SCALAR", 50)
    X = _data()
    X[row, 3] = value
    message = _numpy_message(pairwise_hsic, X, method="rff", bandwidth=bandwidth)
    assert message == "X contains NaN or infinity."
    Xd = da.from_array(X, chunks=CHUNKS["uneven"])
    with pytest.raises(ValueError, match=f"^{message}$"):
        pairwise_hsic(Xd, method="rff", bandwidth=bandwidth)
    Z = da.from_array(X, chunks=(1000, 2))
    message = _numpy_message(pairwise_independence_score, X)
    with pytest.raises(ValueError, match=f"^{message}$"):
        pairwise_independence_score(Z, max_samples=50)


def test_overflowing_range_and_metadata_errors():
    X = _data(n=100)
    X[10, 0], X[90, 0] = 1e308, -1e308
    message = _numpy_message(pairwise_hsic, X, method="rff", bandwidth=1.0)
    with pytest.raises(ValueError, match="overflows float64"):
        pairwise_hsic(da.from_array(X, chunks=50), method="rff", bandwidth=1.0)
    assert "overflows float64" in message
    with pytest.raises(ValueError, match="must be real"):
        pairwise_hsic(da.from_array(np.ones((10, 2)) * 1j), method="rff")
    Xd = da.from_array(_data(n=100), chunks=30)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        pairwise_hsic(Xd[Xd[:, 0] > 0], method="rff")
    with pytest.raises(ValueError, match="at least 4 are needed"):
        pairwise_hsic(Xd[:3], method="rff", estimator="unbiased")
    with pytest.raises(ValueError, match="n_features must be even"):
        pairwise_hsic(Xd, method="rff", n_features=3)


@pytest.mark.parametrize("method", ["exact", "lowrank"])
def test_in_memory_methods_refuse_dask_arrays(method):
    Xd = da.from_array(_data(n=100), chunks=30)
    with pytest.raises(ValueError, match=f"method='{method}' needs X in memory.*'rff'"):
        pairwise_hsic(Xd, method=method)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: hsic(x[:, 0], x[:, 1]),
        lambda x: hsic_test(x[:, 0], x[:, 1]),
        lambda x: pairwise_hsic_test(x),
        lambda x: dhsic(x),
        lambda x: dhsic_test(x),
    ],
    ids=["hsic", "hsic_test", "pairwise_hsic_test", "dhsic", "dhsic_test"],
)
def test_exact_functions_refuse_dask_arrays(call):
    Xd = da.from_array(_data(n=100), chunks=30)
    with pytest.raises(TypeError, match=r"dask array.*method='rff'.*\.compute\(\)"):
        call(Xd)


@pytest.mark.parametrize("chunks", list(CHUNKS.values()), ids=list(CHUNKS))
@pytest.mark.parametrize("random_state", [None, 3])
def test_score_on_dask_uses_the_numpy_rows(chunks, random_state):
    X = _data()
    kwargs = {"max_samples": 400, "random_state": random_state}
    expected = pairwise_independence_score(X, **kwargs)
    assert pairwise_independence_score(da.from_array(X, chunks=chunks), **kwargs) == (
        pytest.approx(expected, rel=1e-12)
    )


def test_scorer_on_dask_input_and_pipeline():
    X = _data()
    Xd = da.from_array(X, chunks=(1000, -1))
    scorer = PairwiseIndependenceScorer(max_samples=500, random_state=0)
    # A transform that works on dask arrays returns one: the scorer takes it.
    lazy = FunctionTransformer(np.tanh).fit(Xd)
    assert isinstance(lazy.transform(Xd), da.Array)
    assert scorer(lazy, Xd) == pytest.approx(scorer(lazy, X), rel=1e-12)
    pipeline = make_pipeline(
        FunctionTransformer(lambda Z: Z - Z.mean(axis=0)), FunctionTransformer(np.tanh)
    ).fit(Xd)
    assert isinstance(pipeline.transform(Xd), da.Array)
    assert scorer(pipeline, Xd) == pytest.approx(scorer(pipeline, X), rel=1e-12)


def test_scorer_with_dask_ml_transformer():
    preprocessing = pytest.importorskip("dask_ml.preprocessing")
    X = _data()
    Xd = da.from_array(X, chunks=(1000, -1))
    scaler = preprocessing.StandardScaler().fit(Xd)
    assert isinstance(scaler.transform(Xd), da.Array)
    scorer = PairwiseIndependenceScorer()
    assert scorer(scaler, Xd) == pytest.approx(scorer(scaler, X), rel=1e-9)


def test_numpy_users_do_not_import_dask():
    code = (
        "import sys, numpy as np\n"
        "from skvcreg.metrics import pairwise_hsic, pairwise_independence_score\n"
        "X = np.random.default_rng(0).normal(size=(200, 3))\n"
        "pairwise_hsic(X, method='rff'); pairwise_hsic(X)\n"
        "pairwise_independence_score(X)\n"
        "assert 'dask' not in sys.modules, 'dask was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_pairwise_hsic_through_a_local_cluster(dask_client):
    distributed = pytest.importorskip("distributed")
    X = _data()
    H = pairwise_hsic(X, method="rff", random_state=0)
    Xd = da.from_array(X, chunks=CHUNKS["uneven"])
    with distributed.get_task_stream(dask_client) as stream:
        Hd = pairwise_hsic(Xd, method="rff", random_state=0)
    _close(Hd, H)
    # The chunks' moments were computed by the cluster's workers, one chain
    # of additions per worker thread.
    workers = {task["worker"] for task in stream.data if "accumulate" in task["key"]}
    assert workers == set(dask_client.nthreads())
    X[4000, 1] = np.nan
    with pytest.raises(ValueError, match="^X contains NaN or infinity.$"):
        pairwise_hsic(da.from_array(X, chunks=1000), method="rff", bandwidth=1.0)
