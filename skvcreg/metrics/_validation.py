"""Input checks shared by the metrics: arrays, bandwidths and options."""

import numbers

import numpy as np
import scipy.sparse as sp

from ._engine import is_dask_array

_ESTIMATORS = ("biased", "unbiased")


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


def check_finite_range(name, all_finite, low, high):
    """The value checks of :func:`check_samples`, from a finiteness flag and
    the columns' minima and maxima (so that a chunked pass can compute them)."""
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


def dask_finite_range(x):
    """What :func:`check_finite_range` needs of a 2-D dask array with one
    column chunk, as lazy dask values: the number of non-finite values and
    the columns' minima and maxima. Compute them with the pass that reads
    the data for another purpose, so that the array is read once."""
    d = x.shape[1]
    rows = x.map_blocks(
        finite_range_row,
        chunks=(1, 1 + 2 * d),
        dtype=np.float64,
        meta=np.empty((0, 0), dtype=np.float64),
    )
    return rows[:, 0].sum(), rows[:, 1 : 1 + d].min(axis=0), rows[:, 1 + d :].max(0)


def _numeric_pandas_to_numpy(x):
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


def check_samples(x, name, *, min_samples=2):
    """Return ``x`` as a finite float64 array of shape (n_samples, n_columns).

    A 1-D ``x`` is one column. Raises a ``TypeError`` for sparse or dask input
    and a ``ValueError`` for complex, non-finite, empty, >2-D or too short
    input.
    """
    if sp.issparse(x):
        raise TypeError(
            f"{name} is a sparse matrix; HSIC needs a dense array (call .toarray())."
        )
    if is_dask_array(x):
        raise TypeError(
            f"{name} is a dask array, and this function works on arrays in memory. "
            "pairwise_hsic(..., method='rff') and pairwise_independence_score "
            f"accept dask arrays and reduce over their chunks; or pass "
            f"{name}.compute() if it fits in memory."
        )
    x = np.asarray(_numeric_pandas_to_numpy(x))
    _check_kind(x.dtype, name)
    if x.ndim == 1:
        x = x[:, None]
    _check_shape(x.shape, name, min_samples)
    x = np.asarray(x, dtype=np.float64)
    check_finite_range(name, np.all(np.isfinite(x)), x.min(axis=0), x.max(axis=0))
    return x


def check_dask_samples(x, name, *, min_samples=2):
    """The checks of :func:`check_samples` that need no data, for a dask array:
    returns it 2-D (a 1-D array is one column), not computed. Its values are
    checked where they are read, with :func:`check_finite_range`."""
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
    return x


def min_samples_for(estimator):
    """Smallest sample size an estimator accepts (the unbiased one divides by
    ``n (n - 3)``)."""
    return 4 if estimator == "unbiased" else 2


def check_estimator(estimator):
    if estimator not in _ESTIMATORS:
        raise ValueError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}.")
    return estimator


def check_bandwidth(bandwidth, n_variables):
    """``"median"`` or positive finite float(s): one, or one per variable.

    Returns ``None`` for ``"median"`` and a float64 array of length
    ``n_variables`` otherwise.
    """
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ValueError(
                f"bandwidth must be 'median' or positive float(s), got {bandwidth!r}."
            )
        return None
    values = np.asarray(bandwidth)
    if values.dtype.kind not in "iuf":  # not bool (True is not a bandwidth)
        raise ValueError(
            f"bandwidth must be 'median' or positive float(s), got {bandwidth!r}."
        )
    values = values.astype(np.float64)
    if values.ndim == 0:
        values = np.full(n_variables, float(values))
    if values.shape != (n_variables,):
        raise ValueError(
            f"bandwidth must be a float or {n_variables} floats (one per variable), "
            f"got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"bandwidth must be positive and finite, got {bandwidth!r}.")
    return values


def check_positive_int(value, name, *, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def check_bool(value, name):
    """Return ``value`` as a bool if it is one (a numpy bool included); raise
    otherwise: the string ``"False"`` is true in Python, and would silently
    turn an option on."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_open_unit_interval(value, name):
    """Return ``value`` as a float in ``(0, 1)``, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a float in (0, 1), got {value!r}.")
    if not (np.isfinite(value) and 0 < value < 1):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}.")
    return float(value)


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
    return value
