"""Argument checks shared by the projector builders."""

from numbers import Integral

__all__ = ["check_widths"]


def check_widths(widths, name="widths"):
    """Return ``widths`` as a non-empty tuple of positive ints, or raise.

    Floats (``8.7``), booleans and strings are refused rather than truncated.
    """
    try:
        widths = tuple(widths)
    except TypeError:
        widths = None
    valid = bool(widths) and all(
        isinstance(w, Integral) and not isinstance(w, bool) and w >= 1 for w in widths
    )
    if not valid:
        raise ValueError(
            f"{name} must be a non-empty sequence of positive integers, got {widths!r}."
        )
    return tuple(int(w) for w in widths)
