"""Centring and whitening of VCRegICA's input (estimator layer, numpy).

The moments come from the rows object (:mod:`skvcreg._data`): reduced over row
chunks in float64 whatever the input's dtype, and divided by a power of two
when the values lie beyond ``2**±64``, so that neither they nor the float32
products of the solver overflow or underflow (the answer does not depend on
the scale: whitening removes it).

The rank is decided on the centred data's own spread, not on the magnitude of
the values (an offset, a timestamp column, one outlier or columns in different
units do not hide a source):

- a column is *constant* when its spread after centring is within the rounding
  of its own values (``4 eps(dtype)`` times its peak);
- the other columns are standardised, and a direction of their correlation
  matrix counts when its standard deviation exceeds ``eps(dtype) * max(p, 10)``
  times the largest (the rounding of the input, relative to each column), and
  for ``solver="eigh"`` ``sqrt(eps(float64) * max(p, 10))`` times it (an
  eigenvalue is known to ``eps`` times the largest, a standard deviation only
  to the square root of that), and 4 times the spread that the rounding of
  the input's values (``eps(dtype)`` times each column's peak) gives that
  direction: an offset far above the spread does not make a direction of
  its own.

The whitening is the covariance's principal axes (as FastICA's) whenever its own
decomposition resolves every direction kept; otherwise (directions of very
different spread, as a timestamp column beside millivolts) it is taken from the
standardised columns, which any whitening of the same rank equals up to a
rotation.
"""

import numpy as np
from scipy import linalg

__all__ = ["fit_whitening"]

# A direction of the covariance is used as it is when its standard deviation is
# this many times above the rounding floor of its decomposition.
_RESOLVED = 100.0
# A column is constant when its spread after centring is below this many times
# the rounding of its largest value (a float32 column at 1e6 moves in steps of
# 0.06; centring in float64 leaves a constant column within a few float64
# roundings of zero).
_CONSTANT = 4.0


def fit_whitening(rows, n_components, *, solver="eigh"):
    """Mean, unit-variance whitening ``K`` and rank of the centred rows, in
    the units of the rows divided by ``scale``.

    Parameters
    ----------
    rows : InMemoryRows or DaskRows
        The data (float32 or float64).
    n_components : int or None
        Rows of ``K``; ``None`` keeps ``min(n, p)``. Clipped to the rank by the
        caller, which warns.
    solver : {"eigh", "svd"}, default="eigh"
        ``"eigh"`` diagonalises the covariance reduced over row chunks
        (memory ``O(p^2)`` beyond the data); ``"svd"`` takes the singular value
        decomposition of the centred data, as
        :class:`~sklearn.decomposition.FastICA` does by default.

    Returns
    -------
    mean : ndarray of shape (p,), float64
        The mean of ``X / scale``.
    K : ndarray of shape (k, p), float64
        ``(X / scale - mean) @ K.T`` has identity covariance; at most ``rank``
        rows.
    rank : int
        Directions above the rounding tolerance.
    n_constant : int
        Columns constant to within their rounding.
    scale : float
        The power of two the rows are divided by (1 within ``2**±64``).
    """
    n, p = rows.shape
    mean, cov, residual, peak, scale = rows.moments()
    factor = max(p, 10)
    eps_input = np.finfo(rows.dtype).eps * factor
    floor = np.sqrt(np.finfo(np.float64).eps * factor)
    exact = cov - np.outer(residual, residual)  # zero on a constant column
    spread = np.sqrt(np.clip(np.diagonal(exact), 0.0, None))
    live = spread > _CONSTANT * np.finfo(rows.dtype).eps * peak
    k = min(n, p) if n_components is None else n_components
    if not live.any():
        return mean, np.zeros((0, p)), 0, p, scale
    # The principal axes of the covariance, and how far they are resolved.
    if solver == "eigh":
        variances, vectors = linalg.eigh(cov, check_finite=False)
        variances, vectors = variances[::-1].clip(min=0.0), vectors[:, ::-1]
        stds = np.sqrt(variances)
        resolved = floor * stds[0]
    else:
        stds, vectors = rows.centred_svd(mean, scale)
        resolved = np.finfo(np.float64).eps * factor * stds[0]
    # The rank, on the standardised columns.
    d = spread[live]
    if solver == "eigh":
        corr = exact[np.ix_(live, live)] / np.outer(d, d)
        corr_var, corr_vectors = linalg.eigh(corr, check_finite=False)
        corr_stds = np.sqrt(corr_var[::-1].clip(min=0.0))
        corr_vectors = corr_vectors[:, ::-1]
        directions = corr_vectors
        tolerance = max(eps_input, floor) * corr_stds[0]
    else:  # (X_c / d) = U (S V^T / d): the singular values of a p x p matrix
        _, corr_stds, directions = linalg.svd(
            (stds[:, None] * vectors.T)[:, live] / d, full_matrices=False
        )
        directions = directions.T
        tolerance = max(eps_input, np.finfo(np.float64).eps * factor) * corr_stds[0]
        corr_vectors = None
    # The input's own rounding, a step of up to eps times each value (a
    # standard deviation of the step over sqrt(12)): far from zero (an offset
    # a thousand times the spread, in float32) it is a spread of its own in
    # every direction, which would count as one more dimension of a
    # rank-deficient recording (an average reference).
    rounding = np.finfo(rows.dtype).eps * peak[live] / d / np.sqrt(12.0)
    noise = np.sqrt(np.square(directions) @ np.square(rounding))
    rank = int(np.sum(corr_stds > np.maximum(tolerance, _CONSTANT * noise)))
    k = min(k, rank)
    if stds[k - 1] > _RESOLVED * resolved:
        signs = np.where(vectors[0, :k] < 0, -1.0, 1.0)
        K = (vectors[:, :k] * signs / stds[:k]).T
    else:
        if corr_vectors is None:  # the svd of the standardised rows
            corr_stds, corr_vectors = rows.centred_svd(
                mean, scale, divisor=np.where(live, spread, 1.0)
            )
            corr_vectors = corr_vectors[live]
        K = np.zeros((k, p))
        signs = np.where(corr_vectors[0, :k] < 0, -1.0, 1.0)
        K[:, live] = (corr_vectors[:, :k] * signs / corr_stds[:k]).T / d
    return mean, K, rank, int(p - live.sum()), scale
