"""Scores for blind source separation: the Amari error and source matching."""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from .._data import numeric_pandas_to_numpy


def _as_finite_2d(array, name):
    # A sparse matrix is made dense: np.asarray would wrap it in a 0-d object
    # array ("setting an array element with a sequence").
    array = array.toarray() if sp.issparse(array) else numeric_pandas_to_numpy(array)
    array = np.asarray(array)
    if np.iscomplexobj(array):
        raise ValueError(f"{name} must be real, got a complex array.")
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {array.ndim} dimension(s).")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}).")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return array


def _power_of_two_below(values):
    """``2^e`` with ``2^e <= values < 2^(e+1)`` (elementwise, values > 0): dividing
    by it rescales to ``[1, 2)`` without rounding."""
    return np.ldexp(1.0, np.frexp(values)[1] - 1)


def _unit_scale(array, name):
    """``array`` divided by a power of two near its largest absolute entry.

    The quantities computed here are scale-free, but products of entries near
    1e160 overflow and products near 1e-160 fall into subnormals and lose digits.
    """
    top = np.abs(array).max()
    if top == 0:
        raise ValueError(f"{name} is a zero matrix: there is nothing to compare.")
    return array / _power_of_two_below(top)


def amari_distance(W, A):
    """Amari error of an estimated unmixing matrix against the true mixing matrix.

    With ``P = W @ A`` (``m x m``) and ``|p_ij|`` its absolute entries,

    .. math::

        d = \\frac{1}{2m} \\sum_i \\Big(\\frac{\\sum_j |p_{ij}|}{\\max_j |p_{ij}|}
        - 1\\Big) + \\frac{1}{2m} \\sum_j \\Big(\\frac{\\sum_i |p_{ij}|}
        {\\max_i |p_{ij}|} - 1\\Big)

    (Bach & Jordan 2002): absolute values, not squares, and a ``1/(2m)``
    normalisation, so that ``d`` lies in ``[0, m - 1]``. It is 0 if and only if
    ``P`` is a scaled permutation matrix (perfect separation up to order, sign and
    scale) and ``m - 1`` when every entry of ``P`` has the same magnitude. Papers
    usually report ``100 * d``; other normalisations (squared entries, a factor
    ``1 / (2m(m-1))``) give different numbers.

    Parameters
    ----------
    W : array-like or sparse matrix of shape (m, d)
        Estimated unmixing matrix (for instance ``VCRegICA().components_``).
    A : array-like or sparse matrix of shape (d, m)
        True mixing matrix, so that observations are ``X = S @ A.T``.

    Returns
    -------
    distance : float
        The Amari error, in ``[0, m - 1]``.

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, is a zero matrix, the shapes do
        not chain, ``W @ A`` is not square, or ``W @ A`` has a row or a column of
        zeros (the ratio is then undefined: a source was lost).

    Notes
    -----
    ``W`` and ``A`` are each divided by a power of two near their largest entry
    before the product, so the result does not depend on their overall scales
    (from about 1e-300 to 1e300) beyond rounding.

    See Also
    --------
    match_sources : align estimated sources with true ones.

    References
    ----------
    .. [1] F. R. Bach and M. I. Jordan, "Kernel independent component analysis",
       JMLR 3, 2002.
    .. [2] S. Amari, A. Cichocki and H. H. Yang, "A new learning algorithm for blind
       signal separation", NeurIPS 1996.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import amari_distance
    >>> A = np.array([[1.0, 0.5], [0.2, 1.0]])
    >>> W = np.array([[0.0, 3.0], [-2.0, 0.0]]) @ np.linalg.inv(A)
    >>> round(amari_distance(W, A), 12)
    0.0
    >>> float(amari_distance(np.eye(2), np.ones((2, 2))))
    1.0
    """
    W = _as_finite_2d(W, "W")
    A = _as_finite_2d(A, "A")
    if W.shape[1] != A.shape[0]:
        raise ValueError(
            f"W @ A is undefined: W has shape {W.shape} and A has shape {A.shape}."
        )
    # d is unchanged by a global scale of W or of A (not by a scale per row).
    P = np.abs(_unit_scale(W, "W") @ _unit_scale(A, "A"))
    m = P.shape[0]
    if P.shape[1] != m:
        raise ValueError(
            f"W @ A must be square to compare sources, got shape {P.shape} "
            f"(W {W.shape}, A {A.shape})."
        )
    row_max = P.max(axis=1)
    col_max = P.max(axis=0)
    if np.any(row_max == 0) or np.any(col_max == 0):
        raise ValueError(
            "W @ A has a row or a column of zeros: the Amari error is undefined "
            "(a source is missing from the estimate)."
        )
    rows = np.sum(P.sum(axis=1) / row_max - 1.0)
    cols = np.sum(P.sum(axis=0) / col_max - 1.0)
    return float((rows + cols) / (2.0 * m))


class SourceMatch(NamedTuple):
    """Result of :func:`match_sources` (a named tuple, so it also unpacks).

    Parameters
    ----------
    aligned : ndarray of shape (n_samples, n_true)
        ``S_est[:, permutation] * signs``: column ``i`` is the estimated source
        matched to true source ``i``, sign-flipped so their correlation is >= 0.
    permutation : ndarray of shape (n_true,), dtype int
        Index of the estimated column matched to each true source.
    signs : ndarray of shape (n_true,)
        ``+1.0`` or ``-1.0``, the sign of each matched correlation.
    correlations : ndarray of shape (n_true,)
        Absolute Pearson correlation of each matched pair, in ``[0, 1]``.

    See Also
    --------
    match_sources : Builds it.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import match_sources
    >>> S = np.random.default_rng(0).standard_normal((200, 2))
    >>> aligned, permutation, signs, correlations = match_sources(S, -S[:, ::-1])
    >>> permutation, signs
    (array([1, 0]), array([-1., -1.]))
    """

    aligned: np.ndarray
    permutation: np.ndarray
    signs: np.ndarray
    correlations: np.ndarray


def _unit_columns(S):
    """Centred columns of ``S`` with unit norm; constant columns are 0.

    Each column is rescaled by a power of two before the mean is taken and by
    its largest centred entry before the norm, so that neither the mean nor the
    squares overflow or underflow at any scale. A column is constant when all
    its values are equal (not when its centred values are: the mean of equal
    values can differ from them by rounding).
    """
    top = np.abs(S).max(axis=0)
    scaled = S / _power_of_two_below(np.where(top > 0, top, 1.0))
    constant = np.ptp(scaled, axis=0) == 0
    centred = scaled - scaled.mean(axis=0)
    centred[:, constant] = 0.0
    top = np.abs(centred).max(axis=0)
    centred /= np.where(constant, 1.0, top)
    norm = np.linalg.norm(centred, axis=0)
    return centred / np.where(constant, 1.0, norm)


def _correlation(S_true, S_est):
    # A constant column has no direction: its correlation with anything is 0.
    return np.clip(_unit_columns(S_true).T @ _unit_columns(S_est), -1.0, 1.0)


def match_sources(S_true, S_est):
    """Match estimated sources to true ones, up to order and sign.

    Builds the ``n_true x n_est`` matrix of Pearson correlations between the
    columns of ``S_true`` and ``S_est`` and solves the assignment problem that
    maximises the sum of absolute correlations (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`). A constant column has
    correlation 0 with every other column. Columns are rescaled before the
    products, so the correlations do not depend on the scale of any column
    (from about 1e-300 to 1e300) beyond rounding.

    Parameters
    ----------
    S_true : array-like or sparse matrix of shape (n_samples, n_true)
        True sources.
    S_est : array-like or sparse matrix of shape (n_samples, n_est)
        Estimated sources, ``n_est >= n_true`` (extra columns are left out).

    Returns
    -------
    match : SourceMatch
        Named tuple ``(aligned, permutation, signs, correlations)``:
        ``aligned = S_est[:, permutation] * signs`` has one column per true
        source; ``correlations`` are the absolute correlations of the matched
        pairs (1 for perfect recovery up to scale).

    Raises
    ------
    ValueError
        If an input is not a finite 2-D array, the numbers of samples differ, or
        ``S_est`` has fewer columns than ``S_true``.

    See Also
    --------
    amari_distance : a score of the unmixing matrix itself.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import match_sources
    >>> rng = np.random.default_rng(0)
    >>> S = rng.laplace(size=(500, 3))
    >>> S_est = -2.0 * S[:, [2, 0, 1]]
    >>> match = match_sources(S, S_est)
    >>> match.permutation, match.signs
    (array([1, 2, 0]), array([-1., -1., -1.]))
    >>> np.round(match.correlations, 6)
    array([1., 1., 1.])
    >>> bool(np.allclose(match.aligned, 2.0 * S))
    True
    """
    S_true = _as_finite_2d(S_true, "S_true")
    S_est = _as_finite_2d(S_est, "S_est")
    if S_true.shape[0] != S_est.shape[0]:
        raise ValueError(
            f"S_true and S_est must have the same number of samples, got "
            f"{S_true.shape[0]} and {S_est.shape[0]}."
        )
    if S_est.shape[1] < S_true.shape[1]:
        raise ValueError(
            f"S_est has {S_est.shape[1]} column(s), fewer than the "
            f"{S_true.shape[1]} true sources."
        )
    corr = _correlation(S_true, S_est)
    rows, cols = linear_sum_assignment(-np.abs(corr))
    permutation = cols[np.argsort(rows)]
    matched = corr[np.arange(S_true.shape[1]), permutation]
    signs = np.where(matched < 0, -1.0, 1.0)
    aligned = S_est[:, permutation] * signs
    return SourceMatch(aligned, permutation, signs, np.abs(matched))
