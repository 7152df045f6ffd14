import numpy as np
import pandas as pd
import pytest
from _metrics_reference import pairwise_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.decomposition import PCA, FastICA
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvcreg.metrics import (
    PairwiseIndependenceScorer,
    pairwise_hsic,
    pairwise_independence_score,
)


def _mixture(n=600, seed=0):
    rng = np.random.default_rng(seed)
    S = np.column_stack([rng.laplace(size=n), rng.uniform(-1, 1, size=n)])
    return S @ np.array([[1.0, 0.6], [0.4, 1.0]])


@pytest.mark.parametrize("aggregate", ["mean", "max"])
@pytest.mark.parametrize("normalize", [True, False])
def test_score_is_minus_aggregate_of_pairwise_hsic(aggregate, normalize):
    Z = np.random.default_rng(0).normal(size=(300, 4))
    Z[:, 3] += Z[:, 0] ** 2
    H = pairwise_hsic(Z, normalize=normalize, method="exact")
    pairs = H[np.triu_indices(4, 1)]
    expected = -(pairs.mean() if aggregate == "mean" else pairs.max())
    score = pairwise_independence_score(Z, aggregate=aggregate, normalize=normalize)
    # The scorer certifies 1e-2 relative accuracy per pair.
    assert_allclose(score, expected, rtol=1e-2)


def test_collapse_is_never_rewarded():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(200, 3))
    base = pairwise_independence_score(Z)
    Z[:, 1] = 0.0
    assert pairwise_independence_score(Z) < base - 0.3
    assert pairwise_independence_score(np.zeros((200, 3))) == -1.0
    assert pairwise_independence_score(np.zeros((200, 1))) == -1.0
    assert pairwise_independence_score(Z[:, :1]) == 0.0
    raw = pairwise_independence_score(Z, normalize=False)
    assert raw < pairwise_independence_score(rng.normal(size=(200, 3)), normalize=False)
    assert np.isfinite(pairwise_independence_score(np.zeros((50, 3)), normalize=False))


def test_subsampling_is_deterministic():
    Z = np.random.default_rng(2).normal(size=(3000, 3))
    a = pairwise_independence_score(Z, max_samples=500, random_state=0)
    assert a == pairwise_independence_score(Z, max_samples=500, random_state=0)
    evenly = pairwise_independence_score(Z, max_samples=500)
    rows = np.round(np.linspace(0, 2999, 500)).astype(int)
    assert evenly == pairwise_independence_score(Z[rows], max_samples=500)


def test_scorer_ranks_ica_above_mixture():
    X = _mixture()
    scorer = PairwiseIndependenceScorer()
    ica = FastICA(random_state=0, whiten="unit-variance").fit(X)
    assert scorer(ica, X) > scorer(PCA().fit(X), X)
    assert scorer(ica, X, None) == scorer(ica, X)
    assert "aggregate='mean'" in repr(scorer)


def test_grid_search_and_cross_validate_without_y():
    X = _mixture(400)
    pipe = make_pipeline(StandardScaler(), FastICA(random_state=0, max_iter=500))
    grid = {"fastica__fun": ["logcosh", "cube"]}
    search = GridSearchCV(pipe, grid, scoring=PairwiseIndependenceScorer(), cv=2)
    search.fit(X)
    # Each candidate's score is minus the mean off-diagonal CKA of the held-out
    # transform, computed here with the explicit Gram matrices; the search
    # keeps the candidate with the highest one.
    direct = []
    for fun in grid["fastica__fun"]:
        folds = []
        for train, test in KFold(2).split(X):
            Z = (
                clone(pipe)
                .set_params(fastica__fun=fun)
                .fit(X[train])
                .transform(X[test])
            )
            folds.append(-pairwise_reference(Z, normalize=True)[0, 1])
        direct.append(np.mean(folds))
    # The scorer's low-rank CKA is certified within 1e-2 relative, from below.
    assert_allclose(search.cv_results_["mean_test_score"], direct, rtol=1e-2)
    assert (
        search.best_params_["fastica__fun"] == grid["fastica__fun"][np.argmax(direct)]
    )
    scoring = {
        "independence": PairwiseIndependenceScorer(aggregate="max"),
        "mean": PairwiseIndependenceScorer(random_state=0),
    }
    result = cross_validate(pipe, X, scoring=scoring, cv=2)
    assert np.all(np.isfinite(result["test_independence"]))
    assert np.all(result["test_independence"] <= result["test_mean"] + 1e-12)
    multi = GridSearchCV(pipe, grid, scoring=scoring, refit="mean", cv=2).fit(X)
    assert "mean_test_independence" in multi.cv_results_


def test_scorer_with_pandas_output():
    X = pd.DataFrame(_mixture(300), columns=["a", "b"])
    pca = PCA().set_output(transform="pandas").fit(X)
    assert np.isfinite(PairwiseIndependenceScorer()(pca, X))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"aggregate": "median"}, "aggregate must be one of"),
        ({"max_samples": 1}, "max_samples must be >= 2"),
        ({"normalize": "False"}, "normalize must be True or False, got 'False'"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pairwise_independence_score(np.ones((10, 2)), **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        pairwise_independence_score(np.full((10, 2), np.nan))


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 50), st.integers(1, 4)),
        elements=st.sampled_from([0.0, 1.0, -3.0])
        | st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    )
)
def test_score_is_finite_and_bounded(Z):
    score = pairwise_independence_score(Z)
    assert np.isfinite(score) and -1.0 - 1e-9 <= score <= 0.0
    assert np.isfinite(pairwise_independence_score(Z, normalize=False))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"aggregate": "worst"}, "aggregate must be one of .*got 'worst'"),
        ({"normalize": "yes"}, "normalize must be True or False"),
        ({"max_samples": 1.5}, "max_samples must be an integer"),
    ],
)
def test_scorer_checks_its_options_at_construction(kwargs, match):
    """Checked at the first call, the error was raised inside GridSearchCV's
    scoring, which turns it into a NaN score per fit (and an arbitrary
    best_params_): it must come before the search starts."""
    with pytest.raises(ValueError, match=match):
        PairwiseIndependenceScorer(**kwargs)


def test_grid_search_with_a_bad_scorer_option_fails_loudly():
    X = np.random.default_rng(0).laplace(size=(60, 3))
    with pytest.raises(ValueError, match="aggregate must be one of"):
        GridSearchCV(
            PCA(),
            {"whiten": [False, True]},
            scoring=PairwiseIndependenceScorer(aggregate="worst"),
            cv=2,
        ).fit(X)
