"""dHSIC: the HSIC of the joint law against the product of the marginals."""

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.utils import check_random_state

from ._bandwidth import median_bandwidths
from ._engine import GaussianGrams, scale_by_bandwidth
from ._validation import check_bandwidth, check_positive_int, check_samples

# The permutation test keeps the d Gram matrices when they fit in this budget:
# each permutation then gathers and multiplies them instead of recomputing the
# kernels' exponentials (figures in docs/benchmarks.rst).
_GRAM_BYTES = 256 * 2**20


def _column_grams(X):
    """The Gram matrices ``K_v[a, b] = exp(-(t_va - t_vb)^2 / 2)`` of the columns
    of ``X`` (scaled by the bandwidths)."""
    return GaussianGrams(X, np.ones(X.shape[1]))


def _log_row_means(X):
    """``log m_v[a]`` with ``m_v[a] = mean_b K_v[a, b]``, shape (d, n); ``X`` is
    scaled by the bandwidths."""
    n, d = X.shape
    out = np.empty((d, n))
    for start, stop, block in _column_grams(X).blocks():
        out[:, start:stop] = torch.log(block.mean(dim=2)).cpu().numpy()
    return out


def _joint_mean(X):
    """``T1 = mean_ab prod_v K_v[a, b] = mean_ab exp(-sum_v (t_va - t_vb)^2 / 2)``,
    the Gram of the rows of ``X`` as one vector variable (never underflows: the
    diagonal contributes 1/n)."""
    n = X.shape[0]
    grams = GaussianGrams([X], np.ones(1))
    total = sum(float(block.sum()) for _, _, block in grams.blocks())
    return total / n**2


def _combine_terms(t1, log_m):
    """dHSIC from the V-statistic ``T1 + T2 - 2 T3`` (Pfister et al. 2018), the
    products over variables of the marginal terms taken in log space."""
    n = log_m.shape[1]
    log_t2 = np.sum(np.log(np.mean(np.exp(log_m), axis=1)))
    log_t3 = logsumexp(log_m.sum(axis=0)) - np.log(n)
    return max(t1 + np.exp(log_t2) - 2.0 * np.exp(log_t3), 0.0)


def _dhsic_terms(X, log_m):
    """dHSIC of the rows of ``X`` (scaled by the bandwidths)."""
    return _combine_terms(_joint_mean(X), log_m)


def _dhsic_terms_from_grams(grams, perms, log_m):
    """:func:`_dhsic_terms` of the rows ``X[perms[:, v], v]`` from stored Grams.

    ``perms[:, 0]`` is the identity. The product of the permuted Grams is at
    least ``1/n`` on the diagonal, as in :func:`_joint_mean`.
    """
    d, n, _ = grams.shape
    product = grams[0].copy()
    for v in range(1, d):
        p = perms[:, v]
        product *= np.take(np.take(grams[v], p, axis=0), p, axis=1)
    return _combine_terms(product.sum() / n**2, log_m)


def _prepare(X, bandwidth):
    X = check_samples(X, "X", min_samples=2)
    if X.shape[1] < 2:
        raise ValueError(
            f"dHSIC needs at least 2 variables (columns), got {X.shape[1]}."
        )
    bandwidths = check_bandwidth(bandwidth, X.shape[1])
    if bandwidths is None:
        bandwidths = median_bandwidths(X)
    return scale_by_bandwidth(X, bandwidths)


def dhsic(X, *, bandwidth="median"):
    """Joint (mutual) independence criterion dHSIC of the columns of ``X``.

    With product kernel ``prod_v k_v`` and Gaussian ``k_v`` per column, the
    V-statistic of Pfister et al. (2018):

    ``dHSIC = mean_ab prod_v K_v[a,b] + prod_v mean_ab K_v[a,b]
    - 2 mean_a prod_v mean_b K_v[a,b]``,

    the squared RKHS distance between the embedding of the joint law and that of
    the product of the marginals; 0 (in the population) if and only if the
    columns are mutually independent. For two columns it equals
    ``tr(K H L H) / n^2``, i.e. ``(n-1)^2 / n^2`` times :func:`hsic`.

    The products over variables are taken in log space and the first term is a
    mean of ``exp(-sum_v ...)`` (at least ``1/n``), so the value neither
    underflows nor loses precision however many columns are given; rounding
    below 0 is clipped to 0.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_variables)
        Each column is one scalar variable (at least 2 columns).
    bandwidth : "median", float or array-like of shape (n_variables,), \
default="median"
        Gaussian bandwidth per column, as in :func:`pairwise_hsic`.

    Returns
    -------
    value : float
        dHSIC, non-negative.

    Raises
    ------
    ValueError
        For NaN or infinity, fewer than 2 samples or columns, or a bad bandwidth.

    See Also
    --------
    dhsic_test : permutation test of joint independence.
    pairwise_hsic : pairwise dependence only.

    References
    ----------
    .. [1] N. Pfister, P. Buehlmann, B. Schoelkopf and J. Peters, "Kernel-based
       tests for joint independence", JRSS B 80, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import dhsic
    >>> rng = np.random.default_rng(0)
    >>> X = rng.choice([-1.0, 1.0], size=(400, 2))
    >>> X = np.column_stack([X, X[:, 0] * X[:, 1]])  # pairwise independent only
    >>> bool(dhsic(X) > 10 * dhsic(rng.choice([-1.0, 1.0], size=(400, 3))))
    True
    """
    X = _prepare(X, bandwidth)
    return float(_dhsic_terms(X, _log_row_means(X)))


def dhsic_test(X, *, bandwidth="median", n_permutations=200, random_state=None):
    """Permutation test of the joint (mutual) independence of the columns of ``X``.

    Every column but the first is permuted independently, which leaves the
    marginals unchanged and breaks any dependence; the p-value is
    ``(1 + #{dHSIC_perm >= dHSIC}) / (1 + n_permutations)``. Each permutation
    costs ``O(d n^2)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_variables)
        Each column is one scalar variable (at least 2 columns).
    bandwidth : "median", float or array-like of shape (n_variables,), \
default="median"
        As in :func:`dhsic`.
    n_permutations : int, default=200
        Number of permutations.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations.

    Returns
    -------
    statistic : float
        :func:`dhsic` of ``X``.
    pvalue : float
        p-value of the hypothesis of joint independence.

    See Also
    --------
    dhsic : the statistic.
    pairwise_hsic_test : tests of pairwise independence.

    References
    ----------
    .. [1] N. Pfister et al., "Kernel-based tests for joint independence",
       JRSS B 80, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import dhsic_test
    >>> rng = np.random.default_rng(0)
    >>> S = rng.choice([-1.0, 1.0], size=(200, 2))
    >>> X = np.column_stack([S, S[:, 0] * S[:, 1]])  # pairwise independent only
    >>> stat, p = dhsic_test(X, n_permutations=100, random_state=0)
    >>> bool(p < 0.05)
    True
    """
    n_permutations = check_positive_int(n_permutations, "n_permutations")
    X = _prepare(X, bandwidth)
    n, d = X.shape
    log_m = _log_row_means(X)
    observed = _dhsic_terms(X, log_m)
    rng = check_random_state(random_state)
    grams = _column_grams(X).full() if d * n * n * 8 <= _GRAM_BYTES else None
    exceed = 0
    for _ in range(n_permutations):
        perms = np.argsort(rng.random_sample((n, d)), axis=0)
        perms[:, 0] = np.arange(n)
        permuted_log_m = np.take_along_axis(log_m, perms.T, axis=1)
        if grams is None:
            value = _dhsic_terms(X[perms, np.arange(d)], permuted_log_m)
        else:
            value = _dhsic_terms_from_grams(grams, perms, permuted_log_m)
        exceed += value >= observed
    return float(observed), float((1.0 + exceed) / (1.0 + n_permutations))
