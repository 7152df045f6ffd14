"""Dask arrays in :class:`~skvcreg.VCRegEmbedder` (estimator layer).

Dask is optional: nothing here imports it until the estimator is handed a dask
array, which a user can only make with dask imported. Every check runs eagerly on
the array's metadata or chunk by chunk, so the whole array is never in memory:

- :func:`check_dask_array` checks what the metadata tell (dimensions, dtype, width,
  number of rows) before anything is computed, with the checks that
  :mod:`skvcreg._dask_data` shares with ``VCRegICA``;
- :func:`scaled_column_moments` reduces over the row chunks (dask reductions) for
  the standardisation, checking each chunk as it is computed;
- :func:`row_ranges` cuts the rows into the chunks that training streams;
- :func:`transform_lazily` maps the encoder over the blocks.
"""

import numpy as np
from sklearn.utils.validation import validate_data

from .. import _dask_data

__all__ = [
    "check_dask_array",
    "row_ranges",
    "scaled_column_moments",
    "transform_lazily",
]


def check_dask_array(estimator, X, *, reset):
    """Check a dask array from its metadata; return it with one column chunk.

    The checks of :func:`skvcreg._dask_data.check_dask_array` (dimensions, known
    row counts, dtype, at least two rows to fit and one to transform, the
    fitted width with scikit-learn's message), then the bookkeeping of
    ``n_features_in_`` and feature names that ``validate_data(...,
    skip_check_array=True)`` does. NaN and infinity are found when the chunks
    are computed.
    """
    n_features = None if reset else estimator.n_features_in_
    X = _dask_data.check_dask_array(
        X,
        n_features=n_features,
        what=type(estimator).__name__,
        min_samples=2 if reset else 1,
    )
    validate_data(estimator, X, reset=reset, skip_check_array=True)
    return X


def scaled_column_moments(X, check_block):
    """Column peaks, and means and variances of the columns divided by their peaks.

    Two dask reductions over the row chunks (the peaks first, then the moments of
    the rescaled columns, as ``_column_statistics`` computes them in memory);
    ``check_block`` validates each chunk as it is computed, so a chunk holding
    NaN or infinity raises the message the in-memory path gives.

    Returns
    -------
    mean, var, peak : ndarray of shape (n_features,)
        ``peak`` is each column's largest absolute value (1 for a zero column);
        ``mean`` and ``var`` (population variance) are those of ``X / peak``.
    """
    import dask.array as da

    def checked(block):
        return check_block(block).astype(np.float64, copy=False)

    X = X.map_blocks(checked, dtype=np.float64)
    peak = da.absolute(X).max(axis=0).compute()
    peak = np.where(peak > 0, peak, 1.0)
    scaled = X / peak
    mean, var = da.compute(scaled.mean(axis=0), scaled.var(axis=0))
    return np.asarray(mean), np.asarray(var), peak


def row_ranges(row_chunks, min_rows=2):
    """``(start, stop)`` of each row chunk; one under ``min_rows`` joins a neighbour.

    Training draws its batches within a chunk, and a batch needs two rows (W-MSE
    more).
    """
    ranges, start = [], 0
    for size in row_chunks:
        if size == 0:
            continue
        if ranges and (size < min_rows or ranges[-1][1] - ranges[-1][0] < min_rows):
            ranges[-1][1] = start + size
        else:
            ranges.append([start, start + size])
        start += size
    return [tuple(r) for r in ranges]


def transform_lazily(X, encode_block, n_components):
    """``encode_block`` mapped over the row blocks of ``X``: a lazy dask array.

    The output keeps ``X``'s row chunks, has one column chunk of ``n_components``,
    and the dtype of ``X`` when it is float32 or float64 (float64 otherwise).
    """
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    return X.map_blocks(
        encode_block,
        dtype=dtype,
        chunks=(X.chunks[0], (n_components,)),
        meta=np.empty((0, 0), dtype=dtype),
    )
