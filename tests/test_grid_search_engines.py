"""GridSearchCV over projector widths on joblib's engines: loky, a dask cluster, Ray.

The search gives the same ``cv_results_`` whichever engine runs the fits, and
torch in each worker runs on its share of the cores (the engines set
``OMP_NUM_THREADS`` in the workers they start, which torch reads at import)."""

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from skvcreg import VCRegICA


def _search():
    rng = np.random.default_rng(0)
    S = np.column_stack([rng.laplace(size=1500), rng.uniform(-1, 1, size=1500)])
    X = S @ np.array([[1.0, 0.6], [0.4, 1.0]]).T
    search = GridSearchCV(
        VCRegICA(random_state=0, max_samples=300),
        {"projector_widths": [(8,), (16,), (32,)]},
        cv=KFold(3),
        n_jobs=2,
    )
    return search, X


def _torch_threads():
    import torch

    return torch.get_num_threads()


def _scores(search):
    keys = ("params", "mean_test_score", "split0_test_score", "rank_test_score")
    return {key: search.cv_results_[key] for key in keys}


@pytest.fixture(scope="module")
def loky_scores():
    search, X = _search()
    with joblib.parallel_backend("loky"):
        search.fit(X)
    return _scores(search)


def _assert_same(scores, reference):
    assert scores["params"] == reference["params"]
    for key in ("mean_test_score", "split0_test_score", "rank_test_score"):
        np.testing.assert_array_equal(scores[key], reference[key])


@pytest.mark.slow
def test_loky_caps_torch_threads_per_worker():
    threads = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_torch_threads)() for _ in range(2)
    )
    assert max(threads) <= max(1, os.cpu_count() // 2)


@pytest.mark.slow
def test_dask_backend_on_a_local_cluster_gives_loky_scores(loky_scores, dask_client):
    search, X = _search()
    with joblib.parallel_backend("dask"):
        search.fit(X)
    threads = dask_client.run(_torch_threads)
    _assert_same(_scores(search), loky_scores)
    assert len(threads) == 2
    assert set(threads.values()) == {1}


@pytest.mark.slow
def test_ray_backend_gives_loky_scores(loky_scores):
    ray = pytest.importorskip("ray", reason="Ray is not installed")
    from ray.util.joblib import register_ray

    register_ray()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        search, X = _search()
        with joblib.parallel_backend("ray"):
            search.fit(X)

        def threads_in_worker():  # nested: Ray ships it by value, not by module
            import torch

            return torch.get_num_threads()

        threads = ray.get([ray.remote(threads_in_worker).remote() for _ in range(2)])
    finally:
        ray.shutdown()
    _assert_same(_scores(search), loky_scores)
    assert max(threads) <= 1
