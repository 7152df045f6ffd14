"""One way in for data: the rows object behind every public entry point.

Each public method of the estimators that takes data (``fit``, ``partial_fit``,
``transform``, ``inverse_transform``) first turns ``X`` into one *rows object*
with :func:`validate_rows`: :class:`InMemoryRows` for an array in memory,
:class:`DaskRows` for a dask array. This module is the only place that asks
"numpy or dask?"; below the entry points the stages (whitening, standardisation,
both solvers, streaming, the blockwise transforms) use what the rows object
offers:

- ``moments()``: the mean, the covariance about it and each column's peak, in
  float64, reduced over row chunks (dask reductions over the blocks), scaled by a
  power of two when the values lie beyond ``2**±64`` so that neither the moments
  nor the float32 products of the solver overflow or underflow;
- ``centred_svd``, ``source_std``: the other reductions of VCRegICA;
- ``solver_rows(device)``: what the torch solver reads, a tensor of the rows or
  a dask array's blocks (:func:`hold_rows` and :func:`row_sum` read either);
- ``column_moments``, ``training_chunks``, ``first_chunk``: what
  VCRegEmbedder's standardisation and streaming read;
- ``affine`` and ``map_rows``: the transforms, at once in memory, lazily block
  by block for a dask array, each block checked for NaN and infinity.

The metrics enter here too: :func:`validate_metric_rows` checks a metric's
``X`` by the metrics' rules (a 1-D array is one column, a nullable pandas frame
is float64, NaN, infinity and ranges that overflow float64 are refused with the
metrics' messages) into the same two rows objects, whose ``in_memory`` says
which engines can read them and whose ``sample`` gives checked rows of either.

Validation is complete before anything is set on the estimator:
:func:`validate_rows` returns the fitted feature bookkeeping (``n_features_in_``,
``feature_names_in_``) for the caller to assign with the rest of the fit.

Dask is optional: nothing here imports it unless the input already is a dask
array (and so dask is already imported).
"""

import sys
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from scipy import linalg
from sklearn.utils import assert_all_finite, check_array
from sklearn.utils.validation import validate_data

__all__ = [
    "DaskRows",
    "InMemoryRows",
    "check_dask_array",
    "check_finite_range",
    "finite_range_row",
    "hold_rows",
    "is_dask_array",
    "row_ranges",
    "row_sum",
    "numeric_pandas_to_numpy",
    "validate_metric_rows",
    "validate_rows",
]

# Bytes of a row subset the solver may hold (a refinement stage on a subset of
# a dask array). The subsets grow tenfold from 20,000 rows while they fit.
_HELD_BYTES = 2**28
_CHUNK_ROWS = 65_536  # rows per chunk of the in-memory reductions
# Values within 2**-64 .. 2**64 are used as they are; beyond, the rows are
# divided by a power of two (exactly) so that their peak lies in [0.5, 1).
_SAFE_RANGE = 2.0**64
_FITTED = ("n_features_in_", "feature_names_in_")


def is_dask_array(X):
    """Whether ``X`` is a :class:`dask.array.Array` (without importing dask)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def power_of_two_scale(peak):
    """``1.0`` when ``peak`` is zero or within ``2**±64``, otherwise the power
    of two ``s`` with ``peak / s`` in ``[0.5, 1)`` (dividing by it is exact)."""
    peak = float(peak)
    if peak == 0.0 or 1.0 / _SAFE_RANGE <= peak <= _SAFE_RANGE:
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(peak)[1])))


def check_dask_array(
    X, *, n_features=None, what="the estimator", input_name="X", min_samples=2
):
    """The checks of ``validate_data`` that need no computation, for a dask
    array: two dimensions, known row counts, a real numeric dtype (integers and
    booleans become float64, lazily), at least ``min_samples`` rows, the
    expected width. Returns ``X`` with its columns in one chunk and no empty
    row chunk, float32 or float64. NaN and infinity are found where the blocks
    are computed."""
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
    # Empty blocks (a boolean mask's, after compute_chunk_sizes) join their
    # neighbours: no reduction or block function need expect one.
    rows = tuple(size for size in X.chunks[0] if size) or (0,)
    return da.rechunk(X, {0: rows, 1: -1})


def validate_rows(
    estimator,
    X,
    *,
    reset,
    min_samples=None,
    copy=False,
    check=None,
    n_features=None,
    what=None,
):
    """``X`` checked as ``validate_data`` checks it, as a rows object.

    Parameters
    ----------
    estimator : estimator
        Gives its name to the messages and, with ``reset=False``, the fitted
        width and feature names to check against.
    X : array-like or dask array of shape (n_samples, n_features)
    reset : bool
        Whether this is a fit (the width and names are then returned, not set).
    min_samples : int, default=None
        Fewest rows: 2 when fitting, 1 otherwise.
    copy : bool, default=False
        Copy an in-memory ``X`` (as ``validate_data``'s ``copy``).
    check : callable, default=None
        ``check(X, **options)`` in place of ``validate_data(estimator, X,
        **options)`` for an in-memory ``X`` (a caller's clearer messages, or
        another expected width).
    n_features, what : int and str, default=None
        The width a dask array must have and who expects it, in place of the
        fitted ``n_features_in_`` and the estimator's name (``inverse_transform``
        takes components); the feature names are then not checked.

    Returns
    -------
    rows : InMemoryRows or DaskRows
    fitted : dict
        With ``reset``, the ``n_features_in_`` and ``feature_names_in_`` (absent
        when ``X`` has no string column names) that the caller assigns once the
        whole fit has succeeded; empty otherwise. The estimator is left as it was.
    """
    if min_samples is None:
        min_samples = 2 if reset else 1
    state = vars(estimator)
    before = {name: state[name] for name in _FITTED if name in state}
    try:
        if is_dask_array(X):
            own_width = n_features is None
            X = check_dask_array(
                X,
                n_features=None if reset or not own_width else state["n_features_in_"],
                what=what or type(estimator).__name__,
                min_samples=min_samples,
            )
            if own_width:
                validate_data(estimator, X, reset=reset, skip_check_array=True)
            if n_features is not None and X.shape[1] != n_features:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {what} expects {n_features}."
                )
            rows = DaskRows(X)
        else:
            options = dict(
                reset=reset,
                dtype=[np.float64, np.float32],
                order="C",
                ensure_min_samples=min_samples,
                copy=copy,
            )
            if check is None:
                X = validate_data(estimator, X, **options)
            else:
                X = check(X, **options)
            # In C order (a copy of a transposed or strided array, such as a
            # recording's data transposed into rows; one copy with ``copy``):
            # the order of the sums over a row follows the layout, and where
            # the likelihood is flat a fit grew that rounding into a different
            # unmixing. A caller's own check may ignore ``order``.
            rows = InMemoryRows(np.ascontiguousarray(X))
        fitted = {name: state[name] for name in _FITTED if name in state}
    finally:
        if reset:  # validate_data set them: put the previous fit's back
            for name in _FITTED:
                state.pop(name, None)
            state.update(before)
    return rows, (fitted if reset else {})


def assign_fitted(estimator, fitted):
    """Set a fit's ``n_features_in_`` and ``feature_names_in_`` (removing the
    names of an earlier fit on named columns when this one has none)."""
    if "feature_names_in_" not in fitted:
        estimator.__dict__.pop("feature_names_in_", None)
    for name, value in fitted.items():
        setattr(estimator, name, value)


def _check_block(block, input_name="X"):
    """A computed block, checked for NaN and infinity (an empty one is fine)."""
    assert_all_finite(block, input_name=input_name)
    return block


# ---------------------------------------------------------------- metrics

_IN_MEMORY_ONLY = (
    "{name} is a dask array, and this function works on arrays in memory. "
    "pairwise_hsic(..., method='rff') and pairwise_independence_score accept "
    "dask arrays and reduce over their chunks; or pass {name}.compute() if it "
    "fits in memory."
)


def validate_metric_rows(x, name="X", *, min_samples=2, lazy=True, dtype=np.float64):
    """A metric's ``x`` checked by the metrics' rules, as a rows object.

    Parameters
    ----------
    x : array-like, pandas object or dask array of shape (n_samples,) or \
            (n_samples, n_columns)
        A 1-D ``x`` is one column.
    name : str, default="X"
        The argument's name in the messages.
    min_samples : int, default=2
        Fewest rows.
    lazy : bool, default=True
        Whether a dask array is accepted (as :class:`DaskRows`); otherwise it
        is refused with a ``TypeError`` naming the metrics that take one.
    dtype : dtype or tuple of dtypes, default=np.float64
        The dtype(s) an in-memory ``x`` may keep; any other becomes float64.

    Returns
    -------
    rows : InMemoryRows or DaskRows
        In memory, ``rows.X`` is 2-D, finite, with a float64-safe range, of
        ``dtype``. A dask array is checked for everything that needs no
        computation; its values are checked where its blocks are read
        (:meth:`DaskRows.sample`, :func:`check_finite_range`).
    """
    if sp.issparse(x):
        raise TypeError(
            f"{name} is a sparse matrix; HSIC needs a dense array (call .toarray())."
        )
    if is_dask_array(x):
        if not lazy:
            raise TypeError(_IN_MEMORY_ONLY.format(name=name))
        return DaskRows(_check_metric_dask(x, name, min_samples))
    return InMemoryRows(_check_metric_array(x, name, min_samples, dtype))


def _check_kind(dtype, name):
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"{name} must be real, got a complex array.")
    if dtype.kind == "O":
        raise ValueError(f"{name} must be numeric, got an object array.")


def _check_shape(shape, name, min_samples):
    if len(shape) != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got {len(shape)} dimensions.")
    if shape[1] == 0:
        raise ValueError(f"{name} has no columns (shape {shape}).")
    if shape[0] < min_samples:
        raise ValueError(
            f"{name} has {shape[0]} sample(s); at least {min_samples} are needed."
        )


def _check_metric_array(x, name, min_samples, dtype):
    x = np.asarray(numeric_pandas_to_numpy(x))
    _check_kind(x.dtype, name)
    if x.ndim == 1:
        x = x[:, None]
    _check_shape(x.shape, name, min_samples)
    keep = tuple(np.dtype(d) for d in np.atleast_1d(dtype))
    x = x if x.dtype in keep else np.asarray(x, dtype=np.float64)
    check_finite_range(name, np.all(np.isfinite(x)), x.min(axis=0), x.max(axis=0))
    return x


def _check_metric_dask(x, name, min_samples):
    """The metrics' checks that need no data, then :func:`check_dask_array`
    (float, one column chunk, no empty row chunk)."""
    if sp.issparse(getattr(x, "_meta", None)):
        raise TypeError(
            f"{name} is a dask array of sparse chunks; HSIC needs dense chunks "
            "(map_blocks(lambda b: b.toarray()))."
        )
    _check_kind(x.dtype, name)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}.")
    if x.ndim == 1:
        x = x[:, None]
    if any(np.isnan(size) for size in x.shape):
        raise ValueError(
            f"{name} is a dask array with unknown chunk sizes; call "
            f"{name}.compute_chunk_sizes() first."
        )
    _check_shape(x.shape, name, min_samples)
    return check_dask_array(x, input_name=name, min_samples=min_samples)


def numeric_pandas_to_numpy(x):
    """A pandas DataFrame or Series whose columns are all of real numeric
    dtypes, one of them a nullable extension type (``Float64``, ``Int64``,
    ``boolean``), as a float64 array with NaN for missing values (then refused
    as NaN); anything else unchanged. ``np.asarray`` makes such a frame an
    object array, which the estimators (through scikit-learn) accept."""
    if not type(x).__module__.startswith("pandas"):
        return x
    from pandas.api.types import is_complex_dtype, is_numeric_dtype

    dtypes = list(x.dtypes) if hasattr(x, "columns") else [getattr(x, "dtype", None)]
    extension = any(not isinstance(d, np.dtype) for d in dtypes)
    numeric = all(is_numeric_dtype(d) and not is_complex_dtype(d) for d in dtypes)
    if dtypes and extension and numeric:
        return x.to_numpy(dtype=np.float64, na_value=np.nan)
    return x


def check_finite_range(name, all_finite, low, high):
    """The metrics' value checks, from a finiteness flag and the columns'
    minima and maxima (so that a chunked pass can compute them)."""
    if not all_finite:
        raise ValueError(f"{name} contains NaN or infinity.")
    with np.errstate(over="ignore"):
        spread = np.asarray(high, dtype=np.float64) - low
    if not np.all(np.isfinite(spread)):
        raise ValueError(
            f"The range of values of {name} overflows float64 (differences of "
            "about 1e308); rescale it."
        )


def finite_range_row(block):
    """For the 2-D ``block``: its number of non-finite values, each column's
    minimum, each column's maximum (inf and -inf for no rows), as a float64
    row of shape (1, 1 + 2 d)."""
    x = np.asarray(block)
    bad = x.size - np.count_nonzero(np.isfinite(x))
    if x.shape[0]:
        low, high = x.min(axis=0), x.max(axis=0)
    else:
        low, high = np.full(x.shape[1], np.inf), np.full(x.shape[1], -np.inf)
    return np.concatenate([[bad], low, high]).astype(np.float64)[None, :]


# -------------------------------------------------------------- in memory


def _chunks(n, size=_CHUNK_ROWS):
    return (slice(start, start + size) for start in range(0, n, size))


class InMemoryRows:
    """Validated rows in memory (float32 or float64 numpy array ``X``)."""

    in_memory = True  # every engine of the metrics reads it

    def __init__(self, X):
        self.X = X
        self.shape = X.shape
        self.dtype = X.dtype

    def sample(self, index, name="X", whole=True):
        """``X[index]`` as float64 (the whole array was checked when it was
        validated, whatever ``whole``)."""
        return np.asarray(self.X[index], dtype=np.float64)

    def moments(self):
        """Mean, covariance (normalised by ``n``), the residual mean of the
        centred rows and per-column peak of ``X / scale``, float64, and
        ``scale`` (:func:`power_of_two_scale` of the peak).

        The covariance is reduced about a first-pass mean over row chunks, so
        no large offset cancels and memory does not grow with the rows; the
        first pass's rounding is the residual mean ``r`` (``cov - r r^T`` is
        the corrected two-pass covariance, zero on a constant column)."""
        n, p = self.shape
        total = np.zeros(p)
        peak = np.zeros(p)
        for rows in _chunks(n):
            chunk = np.asarray(self.X[rows], dtype=np.float64)
            total += chunk.sum(axis=0)
            peak = np.maximum(peak, np.abs(chunk).max(axis=0, initial=0.0))
        scale = power_of_two_scale(peak.max(initial=0.0))
        if scale != 1.0:  # the sums again, of the scaled rows (no overflow)
            total[:] = 0.0
            for rows in _chunks(n):
                total += (np.asarray(self.X[rows], dtype=np.float64) / scale).sum(0)
        mean = total / n
        cov = np.zeros((p, p))
        residual = np.zeros(p)
        for rows in _chunks(n):
            chunk = np.asarray(self.X[rows], dtype=np.float64)
            chunk = (chunk if scale == 1.0 else chunk / scale) - mean
            cov += chunk.T @ chunk
            residual += chunk.sum(axis=0)
        return mean, cov / n, residual / n, peak / scale, scale

    def centred_svd(self, mean, scale, divisor=None):
        """Standard deviations and right singular vectors (columns) of
        ``(X / scale - mean) / divisor``, float64, in memory."""
        Xc = np.asarray(self.X, dtype=np.float64)
        Xc = (Xc if scale == 1.0 else Xc / scale) - mean
        # Again about its own mean: far from zero (an offset a thousand times
        # the spread) the mean is known to a few of its roundings, and what is
        # left of it would be a direction of its own in the decomposition.
        Xc -= Xc.mean(axis=0)
        if divisor is not None:
            Xc /= divisor
        vectors, singular = linalg.svd(Xc.T, full_matrices=False, check_finite=False)[
            :2
        ]
        return singular / np.sqrt(self.shape[0]), vectors

    def source_std(self, mean, components, scale):
        """Standard deviation of the columns of ``(X / scale - mean) @
        components.T``, reduced over row chunks in float64."""
        squares = np.zeros(components.shape[0])
        for rows in _chunks(self.shape[0]):
            chunk = np.asarray(self.X[rows], dtype=np.float64)
            chunk = chunk if scale == 1.0 else chunk / scale
            squares += np.square((chunk - mean) @ components.T).sum(axis=0)
        return np.sqrt(squares / self.shape[0])

    def solver_rows(self, device, scale=1.0):
        """The rows as a tensor on ``device`` (``X / scale``, in ``X``'s dtype);
        the memory of ``X`` is shared when it can be."""
        X = self.X
        if scale != 1.0:  # in float64: the scale may be beyond float32's range
            X = (X.astype(np.float64) / scale).astype(self.dtype)
        elif any(stride < 0 for stride in X.strides):  # torch takes none
            X = np.ascontiguousarray(X)
        with warnings.catch_warnings():
            # X may be read-only (a memory map, scikit-learn's checks); the
            # solver only reads it, so sharing its memory is safe.
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            return torch.from_numpy(X).to(device)

    def affine(self, matrix, offset_before=None, offset_after=None, in_place=False):
        """``(X - offset_before) @ matrix.T + offset_after`` in ``X``'s dtype;
        with ``in_place``, ``offset_before`` is subtracted from ``X`` itself (the
        validated array: a copy unless the caller asked for none)."""
        X, dtype = self.X, self.dtype
        if offset_before is not None and in_place:
            X -= np.asarray(offset_before).astype(dtype)
        elif offset_before is not None:
            X = X - np.asarray(offset_before).astype(dtype)
        X = X @ np.asarray(matrix).T.astype(dtype)
        if offset_after is not None:
            X = X + np.asarray(offset_after).astype(dtype)
        return X

    def map_rows(self, fn, width, checked=False):
        """``fn`` of the rows (a numpy array in, one of ``width`` columns out;
        the rows are already checked)."""
        return fn(self.X)

    def column_moments(self, check=None):
        """Each column's peak (1 for a zero column), and the mean and
        population variance of the columns divided by their peaks (neither
        overflows nor underflows): the embedder's standardisation."""
        X = np.asarray(self.X, dtype=np.float64)
        peak = np.abs(X).max(axis=0)
        peak = np.where(peak > 0, peak, 1.0)
        scaled = X / peak
        return scaled.mean(axis=0), scaled.var(axis=0), peak

    def first_chunk(self, min_rows=2, check=None):
        """The rows the embedder checks its representation on: all of them."""
        return self.X

    def training_chunks(self, prepare, generator, min_rows=2, check=None):
        """``chunks()`` of the embedder's epochs: the rows, prepared once."""
        prepared = (prepare(self.X),)
        return lambda: prepared

    def digest_array(self):
        """The array whose bytes identify the rows (ranks of a distributed fit
        compare it)."""
        return self.X


# ------------------------------------------------------------------- dask


def row_ranges(row_chunks, min_rows=2):
    """``(start, stop)`` of each row chunk; one under ``min_rows`` joins a
    neighbour, an empty one is skipped (the embedder draws its batches within a
    chunk, and a batch needs two rows, W-MSE more)."""
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


class DaskRows:
    """Validated rows of a dask array (:func:`check_dask_array`), never
    materialised: its reductions are dask reductions over the blocks, checked
    for NaN and infinity on the way."""

    in_memory = False  # the metrics read it by chunks (random features)

    def __init__(self, X):
        self.X = X
        self.shape = X.shape
        self.dtype = X.dtype

    def sample(self, index, name="X", whole=True):
        """``X[index]`` computed as a float64 ndarray, checked as the metrics
        check an array in memory (NaN, infinity, a range that overflows
        float64): with ``whole``, all of ``X`` in the same pass over the
        blocks; otherwise the sampled rows only (for a caller whose ``X`` was
        checked before, such as a fit's)."""
        import dask

        if not whole:
            held = np.asarray(self.X[index].compute(), dtype=np.float64)
            finite = np.isfinite(held).all()
            check_finite_range(name, finite, held.min(axis=0), held.max(axis=0))
            return held
        d = self.shape[1]
        checks = self.X.map_blocks(
            finite_range_row,
            chunks=(1, 1 + 2 * d),
            dtype=np.float64,
            meta=np.empty((0, 0), dtype=np.float64),
        )
        held, n_bad, low, high = dask.compute(
            self.X[index],
            checks[:, 0].sum(),
            checks[:, 1 : 1 + d].min(axis=0),
            checks[:, 1 + d :].max(axis=0),
        )
        check_finite_range(name, n_bad == 0, low, high)
        return np.asarray(held, dtype=np.float64)

    def _reduce(self, scale, shift):
        import dask
        import dask.array as da

        X = self.X.astype(np.float64)
        centred = (X if scale == 1.0 else X / scale) - shift
        return dask.compute(
            centred.sum(axis=0),
            centred.T @ centred,
            da.nanmax(da.where(da.isinf(self.X), 0, abs(self.X)), axis=0),
            da.isnan(self.X).any(),
            da.isinf(self.X).any(),
        )

    def moments(self):
        """As :meth:`InMemoryRows.moments`, in one pass over the blocks (two
        when the first non-empty block misjudges the scale), with a
        ``ValueError`` as scikit-learn's if the array holds NaN or infinity.

        The cross-products are taken about the mean of the first non-empty
        block, so a large common offset cancels before the products."""
        first = next(i for i, size in enumerate(self.X.chunks[0]) if size)
        block = np.asarray(self.X.blocks[first].compute(), dtype=np.float64)
        scale = power_of_two_scale(np.abs(block).max(initial=0.0))
        shift = np.where(np.isfinite(block).all(0), block.mean(axis=0) / scale, 0.0)
        total, cross, peak, has_nan, has_inf = self._reduce(scale, shift)
        if has_nan:
            raise ValueError("Input X contains NaN.")
        if has_inf:
            raise ValueError(
                f"Input X contains infinity or a value too large for {self.dtype!r}."
            )
        peak = np.asarray(peak, dtype=np.float64)
        right = power_of_two_scale(peak.max(initial=0.0))
        if right != scale:
            shift = shift * scale / right
            scale = right
            total, cross = self._reduce(scale, shift)[:2]
        n = self.shape[0]
        offset = np.asarray(total) / n
        cov = np.asarray(cross) / n - np.outer(offset, offset)
        return shift + offset, cov, np.zeros_like(offset), peak / scale, scale

    def centred_svd(self, mean, scale, divisor=None):
        """As :meth:`InMemoryRows.centred_svd`, by a tall-and-skinny QR of the
        blocks (dask)."""
        import dask
        import dask.array as da

        X = self.X.astype(np.float64)
        Xc = (X if scale == 1.0 else X / scale) - mean
        _, singular, vectors_t = da.linalg.svd(Xc if divisor is None else Xc / divisor)
        singular, vectors_t = dask.compute(singular, vectors_t)
        return singular / np.sqrt(self.shape[0]), vectors_t.T

    def source_std(self, mean, components, scale):
        """As :meth:`InMemoryRows.source_std`, a dask reduction."""
        X = self.X.astype(np.float64)
        sources = ((X if scale == 1.0 else X / scale) - mean) @ components.T
        return np.sqrt(np.asarray((sources**2).sum(axis=0).compute()) / self.shape[0])

    def solver_rows(self, device, scale=1.0):
        """The blocks as the torch solver reads them (:class:`_SolverBlocks`)."""
        X = self.X
        if scale != 1.0:
            X = (X.astype(np.float64) / scale).astype(self.dtype)
        return _SolverBlocks(X, device)

    def affine(self, matrix, offset_before=None, offset_after=None, in_place=False):
        """``(X - offset_before) @ matrix.T + offset_after`` block by block,
        lazily: a dask array with ``X``'s row chunks and dtype, each block
        checked for NaN and infinity when it is computed (``in_place`` has no
        effect: every block is new)."""
        dtype = self.dtype
        matrix = np.asarray(matrix, dtype=dtype)
        before = None if offset_before is None else np.asarray(offset_before, dtype)
        after = None if offset_after is None else np.asarray(offset_after, dtype)

        def block(B):
            B = _check_block(B)
            if before is not None:
                B = B - before
            B = B @ matrix.T
            return B if after is None else B + after

        return self.map_rows(block, matrix.shape[0], checked=True)

    def map_rows(self, fn, width, checked=False):
        """``fn`` mapped over the row blocks, lazily; the output keeps the row
        chunks, has one column chunk of ``width`` and ``X``'s dtype. Each block
        is checked for NaN and infinity before ``fn`` sees it (unless
        ``checked``: ``fn`` checks it)."""
        dtype = self.dtype

        def block(B):
            return fn(B if checked else _check_block(B))

        return self.X.map_blocks(
            block,
            dtype=dtype,
            chunks=(self.X.chunks[0], (width,)),
            meta=np.empty((0, 0), dtype=dtype),
        )

    def column_moments(self, check):
        """As :meth:`InMemoryRows.column_moments`, from two dask reductions
        over the blocks (the peaks first, then the moments of the rescaled
        columns); ``check`` validates each block as it is computed."""
        import dask.array as da

        def checked(block):
            return check(block).astype(np.float64, copy=False)

        X = self.X.map_blocks(checked, dtype=np.float64)
        peak = da.absolute(X).max(axis=0).compute()
        peak = np.where(peak > 0, peak, 1.0)
        scaled = X / peak
        mean, var = da.compute(scaled.mean(axis=0), scaled.var(axis=0))
        return np.asarray(mean), np.asarray(var), peak

    def first_chunk(self, min_rows=2, check=None):
        """The first training chunk, computed and checked."""
        block = self.X[slice(*row_ranges(self.X.chunks[0], min_rows)[0])].compute()
        return block if check is None else check(block)

    def training_chunks(self, prepare, generator, min_rows=2, check=None):
        """``chunks()`` of the embedder's epochs: the row chunks (short ones
        joined) in an order drawn from ``generator``, each computed, checked and
        prepared in turn, so one chunk is held at a time."""
        ranges = row_ranges(self.X.chunks[0], min_rows)

        def chunks():
            order = [0]
            if len(ranges) > 1:
                order = torch.randperm(len(ranges), generator=generator).tolist()
            for index in order:
                block = self.X[slice(*ranges[index])].compute()
                yield prepare(block if check is None else check(block))

        return chunks

    def digest_array(self):
        """``None``: a dask array's bytes are not read to compare ranks."""
        return None


def _block_sum(block, fn, device, rows):
    """Sum of ``fn`` over the row chunks of one block (numpy in, numpy out);
    ``None`` for an empty block."""
    data = torch.from_numpy(np.ascontiguousarray(block)).to(device)
    total = None
    for start in range(0, data.shape[0], rows):
        part = fn(data[start : start + rows])
        total = part if total is None else total + part
    return None if total is None else total.cpu().numpy()


class _SolverBlocks:
    """A dask array seen by the torch solver as rows: ``shape``, ``device``,
    ``rows[index]`` (a held tensor of the indexed rows), :meth:`sample` and
    :meth:`row_sum`.

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
        non-empty blocks, ``fn`` taking a tensor of rows and returning a float64
        tensor; the blocks are computed (and summed) by dask."""
        import dask

        blocks = [
            block
            for block, size in zip(
                self.X.to_delayed().ravel(), self.X.chunks[0], strict=True
            )
            if size
        ]
        parts = dask.compute(
            *(
                dask.delayed(_block_sum)(block, fn, self.device, chunk_rows)
                for block in blocks
            )
        )
        return torch.from_numpy(np.sum(parts, axis=0)).to(self.device)


# --------------------------------------------------------- solver helpers


def hold_rows(data, generator):
    """The rows the solver holds: all of a tensor; a random subset of a dask
    array's blocks within a fixed number of bytes (all of them when they fit)."""
    if isinstance(data, torch.Tensor):
        return data
    return data.sample(data.max_held_rows, generator)


def row_sum(data, fn, chunk_rows):
    """``sum(fn(chunk))`` over chunks of at most ``chunk_rows`` rows: slices of
    a tensor, or the blocks of a dask array summed by dask. ``fn`` maps a chunk
    of rows to a float64 tensor."""
    if not isinstance(data, torch.Tensor):
        return data.row_sum(fn, chunk_rows)
    total = None
    for start in range(0, data.shape[0], chunk_rows):
        part = fn(data[start : start + chunk_rows])
        total = part if total is None else total + part
    return total


def check_block(block, estimator):
    """A computed block of a dask array validated as ``validate_data`` would
    (NaN, infinity, dtype); an empty block passes."""
    return check_array(
        block,
        dtype=[np.float64, np.float32],
        input_name="X",
        estimator=estimator,
        ensure_min_samples=0,
    )
