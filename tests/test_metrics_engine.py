"""The metrics' internal engine: kernels, random features, rows, threads."""

import contextlib
import threading

import numpy as np
import pytest
from _metrics_reference import gram
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_info

from skvcreg.metrics import _engine


def _limits():
    return sorted(
        (i["user_api"], i["filepath"], i["num_threads"]) for i in threadpool_info()
    )


def test_single_threaded_limits_blas_and_openmp_and_restores_them():
    original = _limits()
    with _engine.single_threaded():
        assert {n for api, _, n in _limits() if api in ("blas", "openmp")} == {1}
    assert _limits() == original


def test_single_threaded_from_several_threads_limits_their_openmp():
    # OpenMP's limit is per thread: each thread of dask's scheduler that enters
    # sees one OpenMP thread, and leaves the process's limits as they were.
    original = _limits()
    entered, release = threading.Barrier(3), threading.Event()
    seen = []

    def user():
        with _engine.single_threaded():
            entered.wait()
            seen.append({n for api, _, n in _limits() if api == "openmp"})
            release.wait()

    threads = [threading.Thread(target=user) for _ in range(2)]
    for thread in threads:
        thread.start()
    entered.wait()
    release.set()
    for thread in threads:
        thread.join()
    assert seen == [{1}, {1}]
    assert _limits() == original


def test_single_threaded_leaves_other_devices_alone():
    import torch

    for context in [
        _engine.single_threaded(torch.device("meta")),
        _engine.single_threaded(enabled=False),
    ]:
        assert isinstance(context, contextlib.nullcontext)


def test_subsample_rows():
    assert _engine.subsample_rows(10, 10) == slice(None)
    assert_array_equal(_engine.subsample_rows(101, 5), np.array([0, 25, 50, 75, 100]))
    rows = _engine.subsample_rows(1000, 50, random_state=3)
    assert_array_equal(rows, _engine.subsample_rows(1000, 50, random_state=3))
    assert rows.size == 50 and np.all(np.diff(rows) > 0) and rows.max() < 1000
    expected = np.sort(np.random.RandomState(3).choice(1000, 50, replace=False))
    assert_array_equal(rows, expected)


def test_gaussian_grams_rows_full_and_columns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    bandwidths = np.array([0.5, 1.0, 2.0])
    grams = _engine.GaussianGrams(X, bandwidths)
    full = grams.full()
    for v in range(3):
        assert_allclose(full[v], gram(X[:, v], bandwidths[v]), rtol=1e-13)
    blocks = np.concatenate([b.numpy() for _, _, b in grams.blocks()], axis=1)
    assert_array_equal(blocks, full)
    pivots = np.array([4, 0, 29])
    assert_allclose(grams.columns(None, pivots), full[np.arange(3), :, pivots])
    assert_allclose(grams.columns(np.array([2]), pivots[2:]), full[2:, :, 29])
    vector = _engine.GaussianGrams([X[:, :2], X[:, 2:]], [1.5, 0.7]).full()
    assert_allclose(vector[0], gram(X[:, :2], 1.5), rtol=1e-13)


@pytest.mark.parametrize("split", [1, 7, 29])
def test_random_features_of_a_row_do_not_depend_on_the_others(split):
    X = np.random.default_rng(1).normal(size=(40, 3)) * 100
    features = _engine.RandomFeatures([1.0, 2.0, 3.0], 8, 0, X[:10])
    whole = features.features(X)
    parts = np.concatenate([features.features(X[:split]), features.features(X[split:])])
    assert_array_equal(parts, whole)
    assert whole.dtype == np.float32 and whole.shape == (40, 24)
    # Shifted by the mean features of the first rows; cos^2 + sin^2 = 1.
    assert_allclose(features.features(X[:10]).mean(axis=0), 0, atol=1e-6)
    raw = whole + features.shift
    assert_allclose(raw[:, :12] ** 2 + raw[:, 12:] ** 2, 1, rtol=1e-6)
