"""Centring and whitening of VCRegICA's input (estimator layer, numpy).

The mean and the covariance are reduced over row chunks in float64, whatever the
input's dtype, so the memory beyond the data does not grow with the rows and a
float32 input loses nothing to its own accumulation. The rank tolerance is the
rounding of the input itself: a direction whose standard deviation is below
``eps(dtype) * max(p, 10)`` times the largest magnitude in the data is what
rounding the entries to the input's precision can create, whatever the number
of rows. With ``solver="eigh"`` the covariance's own rounding adds a floor of
``sqrt(eps(float64) * max(p, 10))`` times the largest standard deviation (about
1e-7): an eigenvalue is known to ``eps`` times the largest, so a standard
deviation only to the square root of that.
"""

import numpy as np
from scipy import linalg

from .._dask_data import finite_moments, is_dask_array

__all__ = ["fit_whitening", "source_std"]

_CHUNK_ROWS = 65_536  # rows per chunk of the reductions


def _chunks(n):
    return (slice(start, start + _CHUNK_ROWS) for start in range(0, n, _CHUNK_ROWS))


def _moments(X):
    """Mean, covariance (normalised by ``n``) and largest magnitude of ``X``,
    reduced over row chunks in float64; the covariance is taken about a
    first-pass mean so no large offset cancels. A dask array is reduced by
    dask over its blocks, and checked for NaN and infinity on the way."""
    n, p = X.shape
    if is_dask_array(X):
        return finite_moments(X)
    total = np.zeros(p)
    magnitude = 0.0
    for rows in _chunks(n):
        chunk = np.asarray(X[rows], dtype=np.float64)
        total += chunk.sum(axis=0)
        magnitude = max(magnitude, float(np.abs(chunk).max()))
    mean = total / n
    cov = np.zeros((p, p))
    for rows in _chunks(n):
        chunk = np.asarray(X[rows], dtype=np.float64) - mean
        cov += chunk.T @ chunk
    return mean, cov / n, magnitude


def fit_whitening(X, n_components, *, solver="eigh"):
    """Mean, unit-variance whitening ``K`` (``(X - mean) @ K.T`` has identity
    covariance) and the rank of the centred data.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        The data (float32 or float64).
    n_components : int or None
        Rows of ``K``; ``None`` keeps ``min(n, p)``. Clipped to the rank by the
        caller, which warns.
    solver : {"eigh", "svd"}, default="eigh"
        ``"eigh"`` diagonalises the covariance reduced over row chunks
        (memory ``O(p^2)`` beyond the data); ``"svd"`` takes the singular value
        decomposition of the centred data in memory, as
        :class:`~sklearn.decomposition.FastICA` does by default.

    Returns
    -------
    mean : ndarray of shape (p,), float64
    K : ndarray of shape (k, p), float64
        At most ``rank`` rows, signs as FastICA's (the largest-variance
        direction's first entry non-negative for each row).
    rank : int
        Directions above the rounding tolerance.
    """
    n, p = X.shape
    mean, cov, magnitude = _moments(X)
    if solver == "eigh":
        variances, vectors = linalg.eigh(cov, check_finite=False)
        variances, vectors = variances[::-1].clip(min=0.0), vectors[:, ::-1]
        stds = np.sqrt(variances)
    elif is_dask_array(X):  # a tall-and-skinny QR of the blocks, by dask
        import dask
        import dask.array as da

        _, singular, vectors_t = da.linalg.svd(X.astype(np.float64) - mean)
        singular, vectors_t = dask.compute(singular, vectors_t)
        vectors, stds = vectors_t.T, singular / np.sqrt(n)
    else:
        Xc = np.asarray(X, dtype=np.float64) - mean
        vectors, singular = linalg.svd(Xc.T, full_matrices=False, check_finite=False)[
            :2
        ]
        stds = singular / np.sqrt(n)
    factor = max(p, 10)
    tolerance = np.finfo(X.dtype).eps * factor * magnitude
    if solver == "eigh":  # a covariance's eigenvalues err by eps times the largest
        tolerance = max(tolerance, np.sqrt(np.finfo(np.float64).eps * factor) * stds[0])
    rank = int(np.sum(stds > tolerance))
    k = min(n, p) if n_components is None else n_components
    k = min(k, rank)
    vectors = vectors[:, :k] * np.where(vectors[0, :k] < 0, -1.0, 1.0)
    return mean, (vectors / stds[:k]).T, rank


def source_std(X, mean, components):
    """Standard deviation of the columns of ``(X - mean) @ components.T``,
    reduced over row chunks in float64 (the sources are never all held)."""
    if is_dask_array(X):
        sources = (X.astype(np.float64) - mean) @ components.T
        return np.sqrt(np.asarray((sources**2).sum(axis=0).compute()) / X.shape[0])
    squares = np.zeros(components.shape[0])
    for rows in _chunks(X.shape[0]):
        squares += np.square(
            (np.asarray(X[rows], dtype=np.float64) - mean) @ components.T
        ).sum(axis=0)
    return np.sqrt(squares / X.shape[0])
