"""The Hilbert-Schmidt independence criterion (HSIC) with Gaussian kernels.

Definitions (``K``, ``L`` Gram matrices of ``exp(-||a - b||^2 / (2 s^2))``,
``H = I - 11^T / n``, ``K~`` and ``L~`` the Grams with zeroed diagonals):

- biased (V-statistic): ``tr(K H L H) / (n - 1)^2``. This is the normalisation of
  the separable projector lemma: it equals the squared Frobenius norm of the
  cross-covariance (normalised by ``n - 1``) of the kernel feature maps. Some codes
  divide by ``n^2`` instead.
- unbiased (Song et al. 2012, needs ``n >= 4``): ``[tr(K~ L~) + (1^T K~ 1)
  (1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3))``.
- normalised: ``HSIC(x, y) / sqrt(HSIC(x, x) HSIC(y, y))``, centred kernel
  alignment (CKA); in ``[0, 1]`` for the biased estimator.
"""

import warnings

import numpy as np

from .._data import check_finite_range, validate_metric_rows
from ._bandwidth import bandwidth_rows, median_bandwidth, median_bandwidths
from ._engine import GaussianGrams, finish_statistics, metric_device
from ._exact import gram_statistics
from ._lowrank import lowrank_statistics
from ._rff import (
    chunk_rows,
    dask_rff_moments,
    make_features,
    rff_statistics,
    statistics_from_moments,
)
from ._validation import (
    check_bandwidth,
    check_bool,
    check_choice,
    check_estimator,
    check_open_unit_interval,
    check_positive_int,
    check_samples,
    min_samples_for,
)

_METHODS = ("auto", "exact", "lowrank", "rff")
# Above this many samples the exact fallback of method="auto" is too slow.
_EXACT_FALLBACK_MAX_SAMPLES = 5000


def hsic(x, y, *, bandwidth="median", estimator="biased", normalize=False):
    """HSIC between two variables, with Gaussian kernels.

    Parameters
    ----------
    x : array-like of shape (n_samples,) or (n_samples, p)
        First variable; several columns form one vector variable (Euclidean
        distances).
    y : array-like of shape (n_samples,) or (n_samples, q)
        Second variable, same number of samples.
    bandwidth : "median", float or pair of floats, default="median"
        Gaussian kernel ``exp(-||a - b||^2 / (2 s^2))``. ``"median"``: for each
        variable, ``s`` is the median of the Euclidean distances over all pairs of
        distinct samples (mean of the two middle values for an even count; the
        median of the non-zero distances if that is 0; above 10 000 samples, or
        2 000 for a vector variable, the pairs of an evenly spaced subsample).
        A float is used for both variables, a pair gives ``(s_x, s_y)``.
    estimator : {"biased", "unbiased"}, default="biased"
        ``"biased"``: ``tr(K H L H) / (n - 1)^2``; ``"unbiased"``: Song et al.'s
        U-statistic (needs ``n >= 4``, may be slightly negative).
    normalize : bool, default=False
        Return ``HSIC(x, y) / sqrt(HSIC(x, x) HSIC(y, y))`` (centred kernel
        alignment), 0 if either variable is constant.

    Returns
    -------
    value : float
        The HSIC (or CKA) value. A constant variable gives 0.

    Raises
    ------
    ValueError
        For NaN or infinity, mismatched lengths, too few samples (2, or 4 for
        ``"unbiased"``) or an invalid option.

    See Also
    --------
    pairwise_hsic : all pairs of columns of one matrix at once.
    hsic_test : p-value for the hypothesis of independence.

    Notes
    -----
    Memory is ``O(n)`` times a fixed block size: the Gram matrices are built in
    row blocks and never stored; time is ``O(n^2 (p + q))``.

    References
    ----------
    .. [1] A. Gretton, O. Bousquet, A. Smola and B. Schoelkopf, "Measuring
       statistical dependence with Hilbert-Schmidt norms", ALT 2005.
    .. [2] L. Song, A. Smola, A. Gretton, J. Bedo and K. Borgwardt, "Feature
       selection via dependence maximization", JMLR 13, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import hsic
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500)
    >>> dependent = hsic(x, x**2 + 0.1 * rng.normal(size=500), normalize=True)
    >>> independent = hsic(x, rng.normal(size=500), normalize=True)
    >>> bool(dependent > 0.3 > 0.05 > independent)
    True
    """
    estimator = check_estimator(estimator)
    normalize = check_bool(normalize, "normalize")
    minimum = min_samples_for(estimator)
    x = check_samples(x, "x", min_samples=minimum)
    y = check_samples(y, "y", min_samples=minimum)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same number of samples, got {x.shape[0]} and "
            f"{y.shape[0]}."
        )
    bandwidths = check_bandwidth(bandwidth, 2)
    if bandwidths is None:
        bandwidths = np.array([median_bandwidth(x), median_bandwidth(y)])
    constant = np.array([np.ptp(x, axis=0).max() == 0, np.ptp(y, axis=0).max() == 0])
    S, _ = gram_statistics(GaussianGrams([x, y], bandwidths), estimator=estimator)
    return float(finish_statistics(S, constant, x.shape[0], estimator, normalize)[0, 1])


def pairwise_statistics(
    X, bandwidths, *, estimator, method, rtol, n_features, random_state, device
):
    """Unscaled pairwise sums ``S`` (see the engines) and the method used."""
    n = X.shape[0]
    if method == "auto":
        method = "lowrank" if estimator == "biased" else "exact"
    if method == "lowrank":
        if estimator != "biased":
            raise ValueError(
                "method='lowrank' computes the biased estimator only; use "
                "method='exact' or 'rff' for estimator='unbiased'."
            )
        S, converged, _ = lowrank_statistics(X, bandwidths, rtol=rtol, device=device)
        if converged:
            return S, method
        if n <= _EXACT_FALLBACK_MAX_SAMPLES:
            method = "exact"
        else:
            warnings.warn(
                f"The low-rank factors reached their maximum rank before the "
                f"relative error could be certified below rtol={rtol}; the values "
                "are lower bounds of the exact ones. Use method='exact' (slow) or "
                "a larger rtol.",
                UserWarning,
                stacklevel=3,
            )
            return S, method
    if method == "exact":
        grams = GaussianGrams(X, bandwidths, device)
        return gram_statistics(grams, estimator=estimator)[0], method
    S = rff_statistics(
        X,
        bandwidths,
        n_features=n_features,
        random_state=random_state,
        estimator=estimator,
        device=device,
    )
    return S, method


def pairwise_hsic(
    X,
    *,
    bandwidth="median",
    estimator="biased",
    normalize=False,
    method="auto",
    rtol=1e-6,
    n_features=64,
    random_state=None,
    device=None,
):
    """HSIC between every pair of columns of ``X``, all pairs at once.

    Parameters
    ----------
    X : array-like or dask array of shape (n_samples, n_features)
        Each column is one scalar variable. A dask array is never loaded whole:
        ``method="rff"`` sums its moments over the chunks (see Notes).
    bandwidth : "median", float or array-like of shape (n_features,), \
default="median"
        Gaussian kernel bandwidth per column; ``"median"`` is the median of
        ``|x_a - x_b|`` over all pairs ``a < b`` of the column (see :func:`hsic`
        for the exact variant). Above 10 000 rows it comes from the evenly
        spaced rows ``round(linspace(0, n_samples - 1, 10000))``, for arrays in
        memory and dask arrays alike (no randomness: both get the same
        bandwidths).
    estimator : {"biased", "unbiased"}, default="biased"
        As in :func:`hsic`.
    normalize : bool, default=False
        Return centred kernel alignments (CKA) instead; the diagonal is 1, and
        rows of constant columns are 0.
    method : {"auto", "lowrank", "exact", "rff"}, default="auto"
        - ``"lowrank"``: pivoted incomplete Cholesky factors ``G_f`` of each
          column's Gram matrix, centred and stacked, and one product of the
          stacked factors; each entry of the result is certified to lie within
          ``rtol`` (relative) below the exact value (see Notes). Biased only.
          If the rank needed exceeds ``4 sqrt(n)`` the exact method is used
          instead (up to 5 000 samples; above, a warning).
        - ``"exact"``: the Gram matrices in row blocks, flattened and multiplied
          by their transpose, ``O(d^2 n^2)`` time and ``O(d n)`` memory
          (plus a 64 MiB block).
        - ``"rff"``: random Fourier features (``n_features`` per column), one
          streamed product, ``O(n (d n_features)^2)`` time and memory independent
          of ``n``; an approximation whose error decreases like
          ``n_features^{-1/2}``. The only method for dask arrays.
        - ``"auto"``: ``"lowrank"`` for the biased estimator, ``"exact"`` for the
          unbiased one; ``"rff"`` for a dask array.
    rtol : float, default=1e-6
        Certified relative accuracy of ``method="lowrank"``.
    n_features : int, default=64
        Number of random features per column for ``method="rff"`` (even: half
        cosines, half sines).
    random_state : int, RandomState instance or None, default=None
        Seeds the random frequencies of ``method="rff"``.
    device : str, torch.device or None, default=None
        Torch device for the heavy products (``"cpu"``, ``"cuda"``, ``"auto"``);
        ``None`` keeps everything on the CPU. Computations are in float64
        (``"rff"``: float32 features and chunk products, float64 sums).

    Returns
    -------
    H : ndarray of shape (n_features, n_features)
        Symmetric matrix, ``H[i, j] = HSIC(X[:, i], X[:, j])``. Constant columns
        give rows of zeros.

    Raises
    ------
    ValueError
        For NaN or infinity, fewer than 2 samples (4 for ``"unbiased"``), an
        invalid option, ``method="lowrank"`` with ``estimator="unbiased"``, or
        ``method="exact"`` or ``"lowrank"`` with a dask array.
    TypeError
        For a sparse matrix.

    See Also
    --------
    hsic : one pair of (possibly vector) variables.
    pairwise_hsic_test : p-values for every pair.

    Notes
    -----
    Error bound of ``method="lowrank"``: with ``K_f = G_f G_f^T + E_f``, ``E_f``
    positive semi-definite with trace ``eps_f`` (the Cholesky residual), and
    ``F_f = H G_f``, ``(n-1)^2 HSIC_ij - ||F_i^T F_j||_F^2`` is a sum of traces of
    products of positive semi-definite matrices, hence in
    ``[0, eps_i lam_j + eps_j lam_i]`` with ``lam_f = ||F_f^T F_f||_F + eps_f``.
    The factors are refined until this bound is below ``rtol`` times the
    estimate for every pair, so the result is never above the exact value and
    never below it by more than ``rtol`` relative (up to floating-point rounding
    of the products). CKA values then also lie within ``rtol`` relative.

    Dask arrays: ``method="rff"`` needs only sums over rows of the random
    features ``q`` of each row, ``sum q q^T`` and ``sum q``. Each chunk of rows
    (all columns: column chunks are joined) yields its sums, with its count of
    NaN and infinite values and its columns' minima and maxima, and dask adds
    them up in a tree; the current dask scheduler runs it (a
    ``distributed.Client`` when one is active). Memory is a few chunks plus
    ``8 (d n_features)^2`` bytes per partial sum, whatever ``n_samples``. The
    array is read once, twice with ``bandwidth="median"`` (the first pass
    gathers the bandwidth rows). With the same ``random_state`` and
    bandwidths, the result equals that of the array in memory up to float32
    rounding (about 1e-7 relative). NaN or infinity in any chunk raises the
    same ``ValueError`` as in memory.

    On the CPU the numpy matrix products of ``"lowrank"`` and ``"rff"`` run with
    a single BLAS thread: for these small products, threads that share busy
    cores wait for each other (see the benchmarks page). ``"exact"`` uses
    torch's threads.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import pairwise_hsic
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> X[:, 2] = np.cos(2 * X[:, 0]) + 0.1 * rng.normal(size=300)
    >>> np.round(pairwise_hsic(X, normalize=True), 2)
    array([[1. , 0. , 0.4],
           [0. , 1. , 0. ],
           [0.4, 0. , 1. ]])
    """
    estimator = check_estimator(estimator)
    normalize = check_bool(normalize, "normalize")
    rtol = check_open_unit_interval(rtol, "rtol")
    minimum = min_samples_for(estimator)
    rows = validate_metric_rows(X, "X", min_samples=minimum)
    X = rows.X
    method = check_choice(method, "method", _METHODS)
    n_features = check_positive_int(n_features, "n_features", minimum=2)
    if n_features % 2:
        raise ValueError(f"n_features must be even, got {n_features}.")
    bandwidths = check_bandwidth(bandwidth, X.shape[1])
    device = metric_device(device)
    if not rows.in_memory:
        if method not in ("auto", "rff"):
            raise ValueError(
                f"method={method!r} needs X in memory, and X is a dask array: use "
                "method='rff' (or 'auto'), which sums over its chunks, or pass "
                "X.compute() if it fits in memory."
            )
        return _pairwise_hsic_dask(
            X, bandwidths, estimator, normalize, n_features, random_state, device
        )
    if bandwidths is None:
        bandwidths = median_bandwidths(X)
    S, _ = pairwise_statistics(
        X,
        bandwidths,
        estimator=estimator,
        method=method,
        rtol=rtol,
        n_features=n_features,
        random_state=random_state,
        device=device,
    )
    constant = np.ptp(X, axis=0) == 0
    return finish_statistics(S, constant, X.shape[0], estimator, normalize)


def _pairwise_hsic_dask(
    X, bandwidths, estimator, normalize, n_features, random_state, device
):
    """``method="rff"`` on a dask array: the first rows (the features' offset
    and shift) and the bandwidth rows in a first pass, the moments in a second."""
    import dask

    n, d = X.shape
    first = X[: chunk_rows(d, n_features)]
    if bandwidths is None:
        first, sample = dask.compute(first, X[bandwidth_rows(n)])
        bandwidths = median_bandwidths(check_samples(np.asarray(sample), "X"))
    else:
        first = first.compute()
    first = check_samples(np.asarray(first), "X", min_samples=1)
    features = make_features(
        first, bandwidths, n_features=n_features, random_state=random_state
    )
    P, u, n_bad, low, high = dask_rff_moments(X, features, device)
    check_finite_range("X", n_bad == 0, low, high)
    S = statistics_from_moments(P, u, n, features, estimator)
    return finish_statistics(S, high == low, n, estimator, normalize)
