"""Input checks shared by the metrics: arrays, bandwidths and options."""

import numbers

import numpy as np

from .._data import validate_metric_rows

_ESTIMATORS = ("biased", "unbiased")


def check_samples(x, name, *, min_samples=2):
    """Return ``x`` as a finite float64 array of shape (n_samples, n_columns).

    A 1-D ``x`` is one column. Raises a ``TypeError`` for sparse or dask input
    and a ``ValueError`` for complex, non-finite, empty, >2-D or too short
    input (the metrics' rules, :func:`skvcreg._data.validate_metric_rows`, for
    the functions that work in memory only).
    """
    return validate_metric_rows(x, name, min_samples=min_samples, lazy=False).X


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
