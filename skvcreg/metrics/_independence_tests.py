"""Independence tests from HSIC: gamma approximation and permutations, with
multiple-testing corrections for the pairwise matrix."""

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

from ._bandwidth import median_bandwidth, median_bandwidths
from ._engine import GaussianGrams, gram_product, metric_device, squared_block_sums
from ._exact import centred_square_sums, gram_statistics
from ._lowrank import lowrank_statistics
from ._validation import (
    check_bandwidth,
    check_choice,
    check_positive_int,
    check_samples,
)

_METHODS = ("gamma", "permutation")
_CORRECTIONS = (None, "holm", "bh")
# Gretton et al.'s variance needs (n - 4)(n - 5) > 0.
_MIN_SAMPLES = 6
_PERMUTATION_MAX_SAMPLES = 10_000


def _gamma_pvalues(S, row_sums, W, n):
    """Gamma approximation of the null of ``n HSIC_b`` (Gretton et al. 2008).

    ``S`` holds ``tr(K~ L~)`` with ``K~ = HKH``, ``row_sums`` the raw Gram row
    sums, ``W`` the sums over ``a != b`` of ``K~_ab^2 L~_ab^2``. Pairs whose null
    mean or variance is 0 (a constant variable) get p-value 1.
    """
    mu = (row_sums.sum(axis=1) - n) / (n * (n - 1))  # mean off-diagonal kernel
    mean = np.outer(1.0 - mu, 1.0 - mu)  # E[n HSIC_b] under independence
    var = (
        2.0
        * (n - 4)
        * (n - 5)
        / (n * (n - 1) * (n - 2) * (n - 3))
        * W
        / (n * (n - 1))
        * n**2
    )
    statistic = S / n  # n HSIC_b, HSIC_b = tr(K~ L~) / n^2
    ok = (mean > 0) & (var > 0)
    mean_ok = np.where(ok, mean, 1.0)
    var_ok = np.where(ok, var, 1.0)
    shape = mean_ok**2 / var_ok
    scale = var_ok / mean_ok
    return np.where(ok, stats.gamma.sf(statistic, shape, scale=scale), 1.0)


def _adjust(pvalues, correction):
    """Holm or Benjamini-Hochberg adjustment of a 1-D array of p-values."""
    m = pvalues.size
    if correction is None or m == 0:
        return pvalues
    order = np.argsort(pvalues)
    ranked = pvalues[order]
    if correction == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def adjust_pairwise(pvalues, correction):
    """Holm or Benjamini-Hochberg adjustment of a symmetric (d, d) matrix of
    pairwise p-values over its ``d (d - 1) / 2`` pairs (the upper triangle);
    returns the adjusted symmetric matrix, 0 on the diagonal. The metrics
    package's pairwise tests share it."""
    d = pvalues.shape[0]
    upper = np.triu_indices(d, k=1)
    adjusted = np.zeros((d, d))
    adjusted[upper] = _adjust(pvalues[upper], correction)
    return adjusted + adjusted.T


def _check_test_options(method, n_permutations, correction=None):
    method = check_choice(method, "method", _METHODS)
    n_permutations = check_positive_int(n_permutations, "n_permutations")
    check_choice(correction, "correction", _CORRECTIONS)
    return method, n_permutations


def _centred_gram(x, bandwidth):
    K = GaussianGrams([x], [bandwidth]).full()[0]
    return K - K.mean(axis=0) - K.mean(axis=1)[:, None] + K.mean()


def hsic_test(
    x,
    y,
    *,
    method="gamma",
    bandwidth="median",
    n_permutations=1000,
    random_state=None,
):
    """Test the independence of two variables with HSIC.

    Parameters
    ----------
    x : array-like of shape (n_samples,) or (n_samples, p)
        First variable.
    y : array-like of shape (n_samples,) or (n_samples, q)
        Second variable, same number of samples (at least 6).
    method : {"gamma", "permutation"}, default="gamma"
        ``"gamma"``: the null distribution of ``n HSIC_b`` (``HSIC_b =
        tr(KHLH)/n^2``) is approximated by a gamma law with the null mean and
        variance of Gretton et al. (2008); ``O(n^2)`` time, no randomness.
        ``"permutation"``: ``p = (1 + #{HSIC(x, y_perm) >= HSIC(x, y)}) /
        (1 + n_permutations)``; keeps two ``n x n`` matrices (at most 10 000
        samples).
    bandwidth : "median", float or pair of floats, default="median"
        As in :func:`hsic`.
    n_permutations : int, default=1000
        Number of permutations for ``method="permutation"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations.

    Returns
    -------
    statistic : float
        The biased HSIC, ``tr(K H L H) / (n - 1)^2`` (as :func:`hsic`).
    pvalue : float
        p-value of the hypothesis that ``x`` and ``y`` are independent; 1 when a
        variable is constant.

    Raises
    ------
    ValueError
        For NaN or infinity, mismatched lengths, fewer than 6 samples or an
        invalid option.

    See Also
    --------
    pairwise_hsic_test : all pairs of columns at once.
    dhsic_test : joint independence of several variables.

    References
    ----------
    .. [1] A. Gretton, K. Fukumizu, C. H. Teo, L. Song, B. Schoelkopf and
       A. Smola, "A kernel statistical test of independence", NeurIPS 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import hsic_test
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, size=300)
    >>> stat, p = hsic_test(x, x**2 + 0.1 * rng.normal(size=300))
    >>> bool(p < 1e-3)
    True
    >>> stat, p = hsic_test(x, rng.normal(size=300))
    >>> bool(p > 0.01)
    True
    """
    method, n_permutations = _check_test_options(method, n_permutations)
    x = check_samples(x, "x", min_samples=_MIN_SAMPLES)
    y = check_samples(y, "y", min_samples=_MIN_SAMPLES)
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(
            f"x and y must have the same number of samples, got {n} and {y.shape[0]}."
        )
    bandwidths = check_bandwidth(bandwidth, 2)
    if bandwidths is None:
        bandwidths = np.array([median_bandwidth(x), median_bandwidth(y)])
    if np.ptp(x, axis=0).max() == 0 or np.ptp(y, axis=0).max() == 0:
        return 0.0, 1.0
    if method == "gamma":
        grams = GaussianGrams([x, y], bandwidths)
        S, row_sums = gram_statistics(grams, estimator="biased")
        W = centred_square_sums(grams, row_sums)
        pvalue = _gamma_pvalues(S, row_sums, W, n)[0, 1]
        return float(S[0, 1] / (n - 1) ** 2), float(pvalue)
    if n > _PERMUTATION_MAX_SAMPLES:
        raise ValueError(
            f"method='permutation' stores two {n} x {n} matrices; use at most "
            f"{_PERMUTATION_MAX_SAMPLES} samples or method='gamma'."
        )
    K = _centred_gram(x, bandwidths[0])
    L = _centred_gram(y, bandwidths[1])
    observed = np.sum(K * L)
    rng = check_random_state(random_state)
    exceed = 0
    for _ in range(n_permutations):
        perm = rng.permutation(n)
        exceed += np.sum(K * L[np.ix_(perm, perm)]) >= observed
    pvalue = (1.0 + exceed) / (1.0 + n_permutations)
    return float(observed / (n - 1) ** 2), float(pvalue)


def _permutation_pvalues(X, bandwidths, n_permutations, random_state, device):
    """Permute each column independently; the statistics of all pairs come from
    one product of the row-permuted low-rank factors per permutation."""
    n, d = X.shape
    S, _, factors = lowrank_statistics(X, bandwidths, rtol=1e-6, device=device)
    # The factors of the permuted data are the row-permuted factors.
    F, offsets = factors.centred()
    owner = np.repeat(np.arange(d), factors.rank)
    product = gram_product(device)
    rng = check_random_state(random_state)
    exceed = np.zeros((d, d))
    for _ in range(n_permutations):
        perms = np.argsort(rng.random_sample((d, n)), axis=1)
        Fp = np.take_along_axis(F, perms[owner], axis=1)
        exceed += squared_block_sums(product(Fp), offsets) >= S
    return S, (1.0 + exceed) / (1.0 + n_permutations)


def pairwise_hsic_test(
    X,
    *,
    method="gamma",
    bandwidth="median",
    correction=None,
    n_permutations=200,
    random_state=None,
    device=None,
):
    """Test the independence of every pair of columns of ``X`` with HSIC.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Each column is one scalar variable; at least 6 samples.
    method : {"gamma", "permutation"}, default="gamma"
        ``"gamma"``: Gretton et al.'s gamma approximation for every pair, from
        exact Gram sums (two passes over row blocks, ``O(d^2 n^2)`` time).
        ``"permutation"``: each column is permuted independently (so every pair
        sees an independent relative permutation) and all pair statistics are
        recomputed with one product of the low-rank factors of
        :func:`pairwise_hsic` per permutation.
    bandwidth : "median", float or array-like of shape (n_features,), \
default="median"
        As in :func:`pairwise_hsic`.
    correction : {None, "holm", "bh"}, default=None
        Multiple-testing adjustment over the ``d (d - 1) / 2`` off-diagonal pairs:
        Holm's step-down (family-wise error) or Benjamini-Hochberg (false
        discovery rate).
    n_permutations : int, default=200
        Number of permutations for ``method="permutation"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations.
    device : str, torch.device or None, default=None
        Torch device for the Gram sums of ``method="gamma"`` and the factor
        product of ``method="permutation"``.

    Returns
    -------
    statistic : ndarray of shape (n_features, n_features)
        Biased HSIC of every pair, as :func:`pairwise_hsic`.
    pvalues : ndarray of shape (n_features, n_features)
        Symmetric (adjusted) p-values. The diagonal is 0 (a variable depends on
        itself) except for constant columns, whose row is 1 (a constant is
        independent of everything).

    Raises
    ------
    ValueError
        For NaN or infinity, fewer than 6 samples or an invalid option.

    See Also
    --------
    hsic_test : one pair of (possibly vector) variables.
    pairwise_hsic : the statistic alone.

    References
    ----------
    .. [1] A. Gretton et al., "A kernel statistical test of independence",
       NeurIPS 2008.
    .. [2] S. Holm, "A simple sequentially rejective multiple test procedure",
       Scand. J. Statist. 6, 1979.
    .. [3] Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate",
       JRSS B 57, 1995.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import pairwise_hsic_test
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> X[:, 2] = X[:, 0] ** 2 + 0.2 * rng.normal(size=300)
    >>> stat, p = pairwise_hsic_test(X, correction="holm")
    >>> bool(p[0, 2] < 1e-3), bool(p[0, 1] > 0.01)
    (True, True)
    """
    method, n_permutations = _check_test_options(method, n_permutations, correction)
    X = check_samples(X, "X", min_samples=_MIN_SAMPLES)
    n, d = X.shape
    bandwidths = check_bandwidth(bandwidth, d)
    if bandwidths is None:
        bandwidths = median_bandwidths(X)
    device = metric_device(device)
    if method == "gamma":
        grams = GaussianGrams(X, bandwidths, device)
        S, row_sums = gram_statistics(grams, estimator="biased")
        W = centred_square_sums(grams, row_sums)
        pvalues = _gamma_pvalues(S, row_sums, W, n)
    else:
        S, pvalues = _permutation_pvalues(
            X, bandwidths, n_permutations, random_state, device
        )
    constant = np.ptp(X, axis=0) == 0
    S = 0.5 * (S + S.T)
    S[constant, :] = 0.0
    S[:, constant] = 0.0
    pvalues = np.minimum(pvalues, pvalues.T)  # symmetric up to rounding
    adjusted = adjust_pairwise(pvalues, correction)
    adjusted[constant, :] = 1.0
    adjusted[:, constant] = 1.0
    return S / (n - 1) ** 2, adjusted
