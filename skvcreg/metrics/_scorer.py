"""Pairwise independence of a representation as a scikit-learn score."""

import numpy as np

from .._data import validate_metric_rows
from ._bandwidth import median_bandwidths
from ._engine import normalise, scale_sums, subsample_rows
from ._lowrank import lowrank_statistics
from ._validation import check_bool, check_choice, check_positive_int

_AGGREGATES = ("mean", "max")
# Certified relative accuracy used for scoring: ample to rank models, and the
# low-rank factors stay small (about two thirds of the rank needed for 1e-6).
_SCORE_RTOL = 1e-2


def _check_score_options(aggregate, normalize, max_samples):
    """The options of :func:`pairwise_independence_score`, checked."""
    return (
        check_choice(aggregate, "aggregate", _AGGREGATES),
        check_bool(normalize, "normalize"),
        check_positive_int(max_samples, "max_samples", minimum=2),
    )


def pairwise_independence_score(
    Z, *, aggregate="mean", normalize=True, max_samples=1000, random_state=None
):
    """How pairwise independent the columns of ``Z`` are; greater is better.

    The score is minus the mean (or maximum) over pairs ``i < j`` of the biased
    Gaussian-kernel HSIC of columns ``i`` and ``j`` (median-heuristic bandwidth
    per column), normalised to a centred kernel alignment by default. With
    ``normalize=True`` it lies in ``[-1, 0]``: 0 for independent columns (in the
    limit of many samples), -1 when every pair is deterministically related.

    Collapse is never rewarded: a constant column (after subsampling) counts as
    maximally dependent on every other column (CKA 1; with ``normalize=False``
    the largest ``HSIC(z_k, z_k)`` of the representation, an upper bound of every
    off-diagonal value), so a constant representation gets the worst score. A
    single non-constant column scores 0, a single constant one -1 (or minus that
    bound). The kernels adapt to each column's scale, so the score is invariant to
    rescaling columns: it measures dependence, not variance.

    Parameters
    ----------
    Z : array-like or dask array of shape (n_samples, n_components)
        Representation, e.g. ``estimator.transform(X)``; at least 2 samples.
        A dask array is not loaded whole: one pass over its chunks gathers the
        rows of ``max_samples`` (the same rows as for the array in memory, so
        the score is the same) and checks every value for NaN and infinity.
    aggregate : {"mean", "max"}, default="mean"
        How the ``n_components (n_components - 1) / 2`` pair values are combined.
    normalize : bool, default=True
        Use centred kernel alignment (scale-free, in ``[0, 1]``) rather than raw
        HSIC.
    max_samples : int, default=1000
        Rows used; above it, a subsample: evenly spaced rows when
        ``random_state`` is None, a random subset drawn from ``random_state``
        otherwise (both deterministic for a fixed ``random_state``).
    random_state : int, RandomState instance or None, default=None
        See ``max_samples``.

    Returns
    -------
    score : float
        Finite for every finite input.

    Raises
    ------
    ValueError
        For NaN or infinity (anywhere, not only in the rows used), fewer than 2
        samples or an invalid option.

    See Also
    --------
    PairwiseIndependenceScorer : the same as a ``scoring=`` callable.
    pairwise_hsic : the full matrix.

    Notes
    -----
    The matrix comes from the low-rank method of :func:`pairwise_hsic` with a
    certified relative accuracy of ``1e-2`` per pair (the value is never above
    the exact one), enough to rank representations.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import pairwise_independence_score
    >>> rng = np.random.default_rng(0)
    >>> S = rng.uniform(-1, 1, size=(500, 3))
    >>> independent = pairwise_independence_score(S)
    >>> mixed = pairwise_independence_score(S @ rng.normal(size=(3, 3)))
    >>> bool(mixed < independent < 0)
    True
    >>> pairwise_independence_score(np.ones((500, 3)))
    -1.0
    """
    aggregate, normalize, max_samples = _check_score_options(
        aggregate, normalize, max_samples
    )
    rows = validate_metric_rows(Z, "Z", min_samples=2)
    Z = rows.sample(subsample_rows(rows.shape[0], max_samples, random_state), "Z")
    n, d = Z.shape
    constant = np.ptp(Z, axis=0) == 0
    if d == 1:
        return -1.0 if constant[0] else 0.0
    live = np.nonzero(~constant)[0]
    H = np.zeros((d, d))
    if live.size:
        Zl = Z[:, live]
        S, _, _ = lowrank_statistics(Zl, median_bandwidths(Zl), rtol=_SCORE_RTOL)
        S = scale_sums(0.5 * (S + S.T), n, "biased")
        H[np.ix_(live, live)] = normalise(S) if normalize else S
    worst = 1.0 if normalize else (np.max(np.diag(H)) if live.size else 1.0)
    H[constant, :] = worst
    H[:, constant] = worst
    pairs = H[np.triu_indices(d, k=1)]
    value = pairs.mean() if aggregate == "mean" else pairs.max()
    return float(-value)


class PairwiseIndependenceScorer:
    """Scorer for ``scoring=``: pairwise independence of ``estimator.transform(X)``.

    A callable ``(estimator, X, y=None) -> float`` (greater is better) that
    returns :func:`pairwise_independence_score` of ``estimator.transform(X)``.
    It needs nothing else from the estimator, so it works on any transformer and
    on a :class:`~sklearn.pipeline.Pipeline` ending with one, in
    :class:`~sklearn.model_selection.GridSearchCV` and
    :func:`~sklearn.model_selection.cross_validate`, alone or in a multimetric
    dict, with or without ``y``. Collapsed (constant) representations get the
    worst score (see :func:`pairwise_independence_score`). A transform that
    returns a dask array (dask-ml transformers, a ``FunctionTransformer`` of
    array operations) is scored without loading it whole. The options are
    checked when the scorer is made, so that a bad one stops a search before it
    starts (raised while scoring, inside the search, it would only make every
    score NaN).

    Parameters
    ----------
    aggregate : {"mean", "max"}, default="mean"
        How pair values are combined.
    normalize : bool, default=True
        Centred kernel alignment (True) or raw HSIC (False).
    max_samples : int, default=1000
        Rows used per call (subsampled above).
    random_state : int, RandomState instance or None, default=None
        Subsampling seed; None takes evenly spaced rows.

    See Also
    --------
    pairwise_independence_score : the function it calls.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import FastICA, PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skvcreg.metrics import PairwiseIndependenceScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.laplace(size=(600, 3)) @ rng.normal(size=(3, 3))
    >>> scorer = PairwiseIndependenceScorer()
    >>> bool(scorer(FastICA(random_state=0).fit(X), X) > scorer(PCA().fit(X), X))
    True
    >>> search = GridSearchCV(PCA(), {"whiten": [False, True]}, scoring=scorer, cv=3)
    >>> bool(search.fit(X).best_score_ <= 0)
    True
    """

    def __init__(
        self, aggregate="mean", normalize=True, max_samples=1000, random_state=None
    ):
        # A scorer is not an estimator (nothing clones it or sets its
        # parameters), and the options must be checked here: raised at the first
        # call, inside a search, the error would become a NaN score per fit.
        _check_score_options(aggregate, normalize, max_samples)
        self.aggregate = aggregate
        self.normalize = normalize
        self.max_samples = max_samples
        self.random_state = random_state

    def __call__(self, estimator, X, y=None, **kwargs):
        """Score ``estimator.transform(X)``; ``y`` and keyword arguments are
        accepted and ignored."""
        return pairwise_independence_score(
            estimator.transform(X),
            aggregate=self.aggregate,
            normalize=self.normalize,
            max_samples=self.max_samples,
            random_state=self.random_state,
        )

    def __repr__(self):
        return (
            f"PairwiseIndependenceScorer(aggregate={self.aggregate!r}, "
            f"normalize={self.normalize!r}, max_samples={self.max_samples!r}, "
            f"random_state={self.random_state!r})"
        )
