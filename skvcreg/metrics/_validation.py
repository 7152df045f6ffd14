"""Input checks shared by the metrics: arrays, bandwidths and options."""

import numbers

import numpy as np
import scipy.sparse as sp

_ESTIMATORS = ("biased", "unbiased")


def check_samples(x, name, *, min_samples=2):
    """Return ``x`` as a finite float64 array of shape (n_samples, n_columns).

    A 1-D ``x`` is one column. Raises a ``TypeError`` for sparse input and a
    ``ValueError`` for complex, non-finite, empty, >2-D or too short input.
    """
    if sp.issparse(x):
        raise TypeError(
            f"{name} is a sparse matrix; HSIC needs a dense array (call .toarray())."
        )
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise ValueError(f"{name} must be real, got a complex array.")
    if x.dtype == object:
        raise ValueError(f"{name} must be numeric, got an object array.")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got {x.ndim} dimensions.")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no columns (shape {x.shape}).")
    if x.shape[0] < min_samples:
        raise ValueError(
            f"{name} has {x.shape[0]} sample(s); at least {min_samples} are needed."
        )
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinity.")
    with np.errstate(over="ignore"):
        spread = np.ptp(x, axis=0)
    if not np.all(np.isfinite(spread)):
        raise ValueError(
            f"The range of values of {name} overflows float64 (differences of "
            "about 1e308); rescale it."
        )
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
    values = np.asarray(bandwidth, dtype=np.float64)
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


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
    return value
