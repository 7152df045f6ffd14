"""Dask arrays as the data of VCRegICA (estimator and solver layers).

A dask array is never materialised: its checks and moments are dask reductions,
the solver draws row subsets across its blocks, and the passes of the score
refinement over all rows are sums of per-block results computed by dask (on its
threads, or on the workers of a ``distributed`` cluster), so only one block per
worker and a few ``p x p`` results are ever held.

Dask is optional: nothing here imports it unless the input already is a dask
array (and so dask is already imported).
"""

import sys

import numpy as np
import torch

__all__ = [
    "DaskRows",
    "check_dask_array",
    "finite_moments",
    "is_dask_array",
    "lazy_affine",
]

# Bytes of a row subset the solver may hold (a refinement stage on a subset of
# a dask array). The subsets grow tenfold from 20,000 rows while they fit.
_HELD_BYTES = 2**28


def is_dask_array(X):
    """Whether ``X`` is a :class:`dask.array.Array` (without importing dask)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def check_dask_array(
    X, *, n_features=None, what="VCRegICA", input_name="X", min_samples=2
):
    """The checks of ``validate_data`` that need no computation, for a dask
    array: two dimensions, known row counts, a real numeric dtype (integers and
    booleans become float64, lazily), at least ``min_samples`` rows, the
    expected width. Returns ``X`` with
    its columns in one chunk, float32 or float64. NaN and infinity are found by
    the reductions that follow (:func:`finite_moments`)."""
    import dask.array as da

    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got a {X.ndim}D dask array for {input_name} instead."
        )
    if any(np.isnan(c) for chunks in X.chunks for c in chunks):
        raise ValueError(
            f"{input_name} is a dask array with unknown chunk sizes; call "
            f"{input_name}.compute_chunk_sizes() first."
        )
    kind = X.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {input_name} is {X.dtype}.")
    if kind not in "fiub":
        raise ValueError(
            f"{input_name} must hold real numbers; its dtype is {X.dtype}."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.shape[0] < min_samples:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a "
            f"minimum of {min_samples} is required by {what}."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{input_name} has {X.shape[1]} features, but {what} is expecting "
            f"{n_features} features as input."
        )
    return da.rechunk(X, {1: -1})


def finite_moments(X):
    """Mean and covariance (normalised by ``n``, float64) and largest magnitude
    of a dask array ``X`` in one pass over its blocks, with a ``ValueError`` as
    scikit-learn's if it holds NaN or infinity.

    The cross-products are taken about the mean of the first block, so a large
    common offset cancels before the products (as a first-pass mean would,
    without a second pass over the data)."""
    import dask
    import dask.array as da

    shift = np.asarray(X.blocks[0].compute(), dtype=np.float64).mean(axis=0)
    centred = X.astype(np.float64) - np.where(np.isfinite(shift), shift, 0.0)
    total, cross, magnitude, has_nan, has_inf = dask.compute(
        centred.sum(axis=0),
        centred.T @ centred,
        da.nanmax(da.where(da.isinf(X), 0, abs(X))),
        da.isnan(X).any(),
        da.isinf(X).any(),
    )
    if has_nan:
        raise ValueError("Input X contains NaN.")
    if has_inf:
        raise ValueError(
            f"Input X contains infinity or a value too large for {X.dtype!r}."
        )
    n = X.shape[0]
    offset = np.asarray(total) / n
    cov = np.asarray(cross) / n - np.outer(offset, offset)
    return shift + offset, cov, float(magnitude)


def lazy_affine(X, matrix, offset_before=None, offset_after=None):
    """``(X - offset_before) @ matrix.T + offset_after`` block by block, lazily:
    a dask array with ``X``'s row chunks and dtype."""
    dtype = X.dtype
    matrix = np.asarray(matrix, dtype=dtype)
    before = None if offset_before is None else np.asarray(offset_before, dtype)
    after = None if offset_after is None else np.asarray(offset_after, dtype)

    def block(B):
        if before is not None:
            B = B - before
        B = B @ matrix.T
        return B if after is None else B + after

    return X.map_blocks(block, dtype=dtype, chunks=(X.chunks[0], (matrix.shape[0],)))


def _block_sum(block, fn, device, rows):
    """Sum of ``fn`` over the row chunks of one block (numpy in, numpy out)."""
    data = torch.from_numpy(np.ascontiguousarray(block)).to(device)
    total = None
    for start in range(0, data.shape[0], rows):
        part = fn(data[start : start + rows])
        total = part if total is None else total + part
    return total.cpu().numpy()


class DaskRows:
    """A dask array seen by the torch solver as rows: ``shape``, ``device``,
    ``rows[index]`` (a held tensor of the indexed rows) and :meth:`row_sum`.

    Parameters
    ----------
    X : dask.array.Array of shape (n, p)
        Float32 or float64, columns in one chunk (:func:`check_dask_array`).
    device : torch.device
        Where the held rows and the per-block computations go.
    """

    def __init__(self, X, device):
        self.X = X
        self.shape = X.shape
        self.device = torch.device(device)
        self.dtype = torch.from_numpy(np.zeros(0, dtype=X.dtype)).dtype
        # The largest subset held: a refinement stage beyond it runs on all rows.
        self.max_held_rows = max(1, _HELD_BYTES // (X.dtype.itemsize * X.shape[1]))

    def sample(self, size, generator):
        """A random subset of ``min(size, n)`` rows, in order, held as a tensor
        (one pass over the blocks)."""
        n = self.shape[0]
        if size >= n:
            return self[slice(None)]
        # Not a permutation of all n rows (8 bytes a row: 800 MB at 10^8, and
        # numpy's choice without replacement permutes too): uniform draws,
        # duplicates dropped and drawn again, in memory of the subset's size.
        seed = int(torch.randint(2**62, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        rows = np.unique(rng.integers(0, n, size))
        while rows.size < size:
            more = rng.integers(0, n, size - rows.size)
            rows = np.unique(np.concatenate([rows, more]))
        return self[rows]

    def __getitem__(self, rows):
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu().numpy()
        held = np.asarray(self.X[rows].compute())
        return torch.from_numpy(np.ascontiguousarray(held)).to(self.device)

    def row_sum(self, fn, chunk_rows):
        """``sum(fn(chunk))`` over chunks of at most ``chunk_rows`` rows of the
        blocks, ``fn`` taking a tensor of rows and returning a float64 tensor;
        the blocks are computed (and summed) by dask."""
        import dask

        blocks = self.X.to_delayed().ravel()
        parts = dask.compute(
            *(
                dask.delayed(_block_sum)(block, fn, self.device, chunk_rows)
                for block in blocks
            )
        )
        return torch.from_numpy(np.sum(parts, axis=0)).to(self.device)
