"""Score estimation shared by VCRegICA's refinement and the separation
certificate: score matching of a source's score ``phi = -p'/p`` on ramps at
knots from the extreme quantiles, and the Fisher information it implies.

A fitted score is piecewise linear between its knots, so it is evaluated by
locating each value among the knots (two divisions: the knots are evenly
spaced in ``y / (c + |y|)``) and the score-matching moments are per-interval
sums of ``1, y, y^2``.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["fisher_information", "score_fit_rules", "score_information"]

# Quantile levels of the first and last knots: far into the tails, where a
# recording's artefacts put a component's largest values.
_LOW, _HIGH = 0.0005, 0.9995
# Each source's ridge in its second score fit: the base ridge times
# _RIDGE_GAIN / (E[phi'] - 1) of the first, within _RIDGE_RANGE times the base.
_RIDGE_GAIN = 0.1
_RIDGE_RANGE = (0.1, 3.0)
_RIDGE = 10.0  # the ridge on r rows is _RIDGE / r (the information's at any r)
_RIDGE_ROWS = 1000  # beyond, the refinement's falls as 1 / sqrt(r), not 1 / r


def score_fit_rules(r):
    """Knots and ridge of the refinement's score fit on ``r`` rows: ``20
    sqrt(r / 1000)`` ramps rounded, between 20 and 40, so the scores get finer
    as the rows allow, and a ridge on the ramps' coefficients (relative to
    their mean diagonal) of ``10 / r`` up to :data:`_RIDGE_ROWS` rows, ``10 /
    sqrt(1000 r)`` beyond.

    The ridge shrinks more slowly than ``1 / r`` on many rows: there the
    estimating equations of nearly Gaussian sources still follow the error of
    their fitted scores, which the ridge damps, while the scores of sources far
    from a Gaussian keep their detail through their own, lower ridge
    (:func:`_source_ridge`). The Fisher information is estimated with the
    ridge of ``10 / r`` at any ``r`` (:func:`score_information`): a stronger
    one biases it towards a Gaussian's."""
    n_knots = int(min(40, max(20, round(20 * math.sqrt(r / 1000)))))
    return n_knots, _RIDGE / math.sqrt(r * min(r, _RIDGE_ROWS))


class Knots(NamedTuple):
    """The knots of each row's score, evenly spaced in the coordinate ``u =
    y / (scale + |y|)``: ``values`` (m, K) float64 in ``y``, and per row (m, 1)
    the ``scale``, the first knot's ``low`` and the ``step`` in ``u``."""

    values: torch.Tensor
    scale: torch.Tensor
    low: torch.Tensor
    step: torch.Tensor


def _coordinate(Y, scale):
    """``y / (scale + |y|)`` of each entry of ``Y`` (m, n), in its dtype;
    ``scale`` (m, 1). Only correctly rounded operations, so that the value, and
    with it a value's bucket, is the same on any number of threads and any
    vector width (a transcendental function's is not)."""
    return Y / Y.abs().add_(scale.to(Y.dtype))


def sort_rows(Y, order=False):
    """Each row of ``Y`` (m, n) sorted, and with ``order`` also the order of its
    entries (as ``Tensor.sort``): numpy's sort on the CPU, which torch's is many
    times slower than (benchmarks page)."""
    if Y.device.type != "cpu":
        return Y.sort(dim=1) if order else Y.sort(dim=1).values
    if not order:
        return torch.from_numpy(np.sort(Y.numpy(), axis=1))
    index = torch.from_numpy(np.argsort(Y.numpy(), axis=1))
    return Y.gather(1, index), index


def _knots(Y, n_knots):
    """``n_knots`` knots per row of ``Y`` (m, n) from its 0.05% to its 99.95%
    quantile, evenly spaced in ``u = y / (c + |y|)`` with ``c`` the row's
    interquartile range over 1.349 (its standard deviation if it is a
    Gaussian's): about evenly spaced over the bulk of the values, ever wider
    apart in the tails. A heavy-tailed component (a recording's artefact, with
    an excess kurtosis in the hundreds) gets knots where its large values are;
    on knots evenly spaced between nearer quantiles its score there was the
    bulk's slope extrapolated.

    The spacing in ``u`` lets :func:`_buckets` locate a value with two
    divisions instead of a binary search, the most expensive operation of a
    step.
    """
    Y = Y[:, :: max(1, Y.shape[1] // 100_000)].double()
    ordered = sort_rows(Y)  # torch.quantile's linear interpolation, from one sort
    last = Y.shape[1] - 1

    def quantile(level):
        position = level * last
        below = int(position)
        return torch.lerp(
            ordered[:, below], ordered[:, min(below + 1, last)], position - below
        )[:, None]

    low, high = quantile(_LOW), quantile(_HIGH)
    scale = (quantile(0.75) - quantile(0.25)) / 1.349
    # Most values equal (a discrete or mostly constant row): the spread of the
    # knots' range instead, and a positive scale in every case.
    scale = torch.where(scale > 0, scale, (high - low) / 4)
    scale = scale.clamp(min=torch.finfo(torch.float64).tiny)
    u_low, u_high = _coordinate(low, scale), _coordinate(high, scale)
    fraction = torch.linspace(0.0, 1.0, n_knots, dtype=Y.dtype, device=Y.device)
    u = torch.addcmul(u_low, u_high - u_low, fraction)
    values = u * scale / (1 - u.abs())
    step = (u_high - u_low) / (n_knots - 1)
    return Knots(values, scale, u_low, step)


def _buckets(Y, knots):
    """Index of the knot interval of each entry of ``Y`` (m, n), same shape: the
    number of the row's knots below the value (up to rounding for a value
    within a few ulps of a knot, where the score's pieces meet)."""
    n_knots = knots.values.shape[1]
    u = _coordinate(Y, knots.scale)
    low, step = knots.low.to(Y.dtype), knots.step.to(Y.dtype)
    return u.sub_(low).div_(step).ceil_().clamp_(0, n_knots).long()


def _bucket_sums(Y, index, size):
    """Sums of ``1``, ``y``, ``y^2`` over the entries of each row of ``Y`` (m, n)
    in each of the ``size`` knot intervals, shape (m, size, 3), float64;
    ``index`` holds the intervals of the entries (:func:`_buckets`)."""
    m = Y.shape[0]
    flat = (index + torch.arange(m, device=Y.device)[:, None] * size).reshape(-1)
    y = Y.reshape(-1).double()
    sums = [
        torch.bincount(flat, weight, minlength=m * size).double()
        for weight in (None, y, y * y)
    ]
    return torch.stack(sums, dim=-1).reshape(m, size, 3)


@functools.cache
def _basis_layout(size, device):
    """Constant index arrays of :func:`_basis_moments` for ``size`` knots.

    ``tail`` (K + 2,): the threshold of each basis function as an index into
    the tail sums (0, all rows, for ``y`` and the constant); ``upper`` (K + 2,
    K + 2): for two basis functions, the index of the larger threshold;
    ``alpha`` (K + 2,): the slopes.
    """
    tail = torch.arange(size + 2)
    tail[-1] = 0
    upper = torch.maximum(tail[:, None], tail[None, :])
    alpha = torch.ones(size + 2, dtype=torch.float64)
    alpha[-1] = 0.0
    return tail.to(device), upper.to(device), alpha.to(device)


def _basis_moments(sums, knots):
    """``E[b b^T]`` (m, K + 2, K + 2) and ``E[b']`` (m, K + 2) of the basis
    ``b = [y, max(0, y - k_1), ..., max(0, y - k_K), 1]`` of each column, from
    its per-interval sums (:func:`_bucket_sums`, float64).

    Each basis function is ``(alpha y + beta) 1[y > tau]``: ``y`` is
    ``(1, 0, -inf)``, the ramp at knot ``k`` is ``(1, -k, k)`` and the constant
    ``(0, 1, -inf)``. The sum of a product of two of them is
    ``alpha alpha' t_2 + (alpha beta' + beta alpha') t_1 + beta beta' t_0`` with
    ``t_p`` the sum of ``y^p`` above the larger threshold (a tail sum of the
    per-interval sums), and the sum of a derivative is ``alpha t_0`` above its
    own threshold. ``knots``: a :class:`Knots`.
    """
    m, size = knots.values.shape
    tails = sums.flip(1).cumsum(1).flip(1)  # index 0: all rows; 1 + k: above k
    tail, upper, alpha = _basis_layout(size, sums.device)
    beta = torch.nn.functional.pad(-knots.values, (1, 1), value=1.0)
    beta[:, 0] = 0.0
    t0, t1, t2 = (tails[:, upper, p] for p in range(3))  # each (m, K + 2, K + 2)
    mixed = beta[:, :, None] * alpha  # beta_i alpha_j; plus its transpose: t_1's
    gram = (
        t2.mul_(alpha[:, None] * alpha)
        .addcmul_(mixed + mixed.transpose(1, 2), t1)
        .addcmul_(beta[:, :, None] * beta[:, None, :], t0)
    )
    count = tails[:, :1, 0]
    return gram / count[..., None], alpha * tails[:, tail, 0] / count


def _fit_scores(sums, knots, ridge):
    """Score-matching coefficients of each column's score, and the score as a
    piecewise-linear function: ``(slopes, intercepts, curvature)``, each of
    shape (m, K + 1) but the curvature ``E[phi']`` (m,).

    The score-matching risk ``E[f^2] - 2 E[f']`` is minimised over the span of
    the basis, with a ridge on the ramps' coefficients relative to their mean
    diagonal: it shrinks each score towards the linear score of a Gaussian, not
    towards zero. The fit is made twice: with ``ridge``, then with each
    column's own ridge from the curvature of the first (:func:`_source_ridge`).
    """
    gram, target = _basis_moments(sums, knots)
    ramps = gram.diagonal(dim1=-2, dim2=-1)[:, 1:-1]
    scale = ramps.mean(dim=-1)
    # The floor keeps a ramp above every row (a zero column) solvable.
    floor = 1e-9 * gram[:, 0, 0]

    def solve(column_ridge):
        ridged = gram.clone()
        ridged.diagonal(dim1=-2, dim2=-1)[:, 1:-1] += (column_ridge * scale + floor)[
            :, None
        ]
        # Symmetric positive definite: a Cholesky solve.
        factor = torch.linalg.cholesky_ex(ridged)[0]
        return torch.cholesky_solve(target[..., None], factor)[..., 0]

    coef = solve(ridge)
    coef = solve(_source_ridge(ridge, (target * coef).sum(dim=1)))
    ramp = torch.nn.functional.pad(coef[:, 1:-1], (1, 0))  # no ramp below k_1
    slopes = coef[:, :1] + ramp.cumsum(1)
    knot = torch.nn.functional.pad(knots.values, (1, 0))
    intercepts = coef[:, -1:] - (ramp * knot).cumsum(1)
    return slopes, intercepts, (target * coef).sum(dim=1)


def _source_ridge(ridge, curvature):
    """The ridge of each source's score fit from the curvature ``E[phi']`` of
    a first fit: far from a Gaussian (``E[phi'] >> 1``) the score has detail
    (narrow modes, sharp edges) that a strong ridge smooths away, while near
    one the estimate is most sensitive to the score's noise, which the ridge
    damps."""
    low, high = _RIDGE_RANGE
    excess = (curvature - 1.0).clamp(min=1e-12)
    return (ridge * _RIDGE_GAIN / excess).clamp(ridge * low, ridge * high)


def _scores(Y, knots, slopes, intercepts, index=None):
    """The fitted scores of the entries of ``Y`` (m, n), same shape."""
    index = _buckets(Y, knots) if index is None else index
    dtype = Y.dtype
    return torch.addcmul(
        intercepts.to(dtype).gather(1, index), slopes.to(dtype).gather(1, index), Y
    )


def fisher_information(Y):
    """Estimated Fisher information ``J`` of each row of ``Y`` (m, r), at unit
    variance, from the score fit of the refinement: the first of
    :func:`score_information`'s results (float64, shape (m,))."""
    return score_information(Y)[0]


def score_information(Y, scores=False):
    """The fitted scores of each row of ``Y`` (m, r), at unit variance: the
    estimated Fisher information ``J``, and the held-out moments ``E[phi']``
    and ``E[phi^2]`` of the refinement's fitted score ``phi``; with
    ``scores``, also that score fitted on all the rows.

    Each row is centred and scaled to unit variance and its score is fitted by
    score matching on the refinement's quantile-knot ramps (:func:`_fit_scores`,
    with the knots of :func:`score_fit_rules` for the rows fitted). The
    score-matching value ``2 E[phi'] - E[phi^2]`` of a fitted score estimates
    ``J``: on the rows of the fit it equals ``E[phi']`` and overstates ``J`` by
    the fit's optimism, on other rows it understates it by about as much (it
    is ``J - E[(phi - psi)^2]`` for the true score ``psi``). ``J`` is the mean
    of the two, the second from two-fold cross-fitting (even and odd rows),
    which removes the bias that makes nearly Gaussian sources look
    identifiable; clipped below at 1 (a Gaussian's value, the least of any
    density). Its fits use a ridge of ``10 / r``, whose bias towards a
    Gaussian's score vanishes with the rows. The moments ``E[phi']`` and
    ``E[phi^2]`` are those of the same cross-fitting with the refinement's
    ridge: its fitted score on rows it was not fitted on, what the sandwich
    variance of the refinement's estimate needs
    (:func:`skvcreg.metrics.separation_certificate`).

    Returns three float64 tensors of shape (m,): ``J``, ``E[phi']`` and
    ``E[phi^2]``; with ``scores``, three more from the same pass over all the
    rows: the rows centred and at unit variance and the refinement's scores
    ``phi`` of their entries (both (m, r)), and ``E[phi']`` (m,) on them, as
    the refinement's estimating equations use them.
    """
    Y = Y.double()
    Y = Y - Y.mean(dim=1, keepdim=True)
    scale = Y.square().mean(dim=1, keepdim=True).sqrt()
    Y = Y / torch.where(scale > 0, scale, 1.0)

    def fits(part, refinement=True):
        """Knots, the rows' intervals among them, and the scores with the
        information's ridge (and the refinement's), from one pass of bucket
        sums."""
        r = part.shape[1]
        n_knots, ridge = score_fit_rules(r)
        knots = _knots(part, n_knots)
        index = _buckets(part, knots)
        sums = _bucket_sums(part, index, n_knots + 1)
        ridges = (_RIDGE / r, ridge) if refinement else (_RIDGE / r,)
        return knots, index, [_fit_scores(sums, knots, each) for each in ridges]

    whole_knots, whole_index, whole = fits(Y, refinement=scores)
    inside = whole[0][2]
    information = torch.zeros_like(inside)
    curvature = torch.zeros_like(inside)
    square = torch.zeros_like(inside)
    for first, second in ((Y[:, ::2], Y[:, 1::2]), (Y[:, 1::2], Y[:, ::2])):
        knots, _, (information_fit, refinement_fit) = fits(first)
        index = _buckets(second, knots)
        k, v = _held_out_moments(second, knots, index, information_fit)
        information += 0.5 * (2.0 * k - v)
        k, v = _held_out_moments(second, knots, index, refinement_fit)
        curvature += 0.5 * k
        square += 0.5 * v
    information = (0.5 * (inside + information)).clamp(min=1.0)
    if not scores:
        return information, curvature, square
    slopes, intercepts, refinement_curvature = whole[1]
    phi = _scores(Y, whole_knots, slopes, intercepts, whole_index)
    return information, curvature, square, Y, phi, refinement_curvature


def _held_out_moments(Y, knots, index, fit):
    """``E[phi']`` and ``E[phi^2]`` over the rows of ``Y`` (m, r) of a score
    ``fit`` of :func:`_fit_scores` made on other rows; ``index`` locates ``Y``
    among ``knots``."""
    slopes, intercepts, _ = fit
    phi = _scores(Y, knots, slopes, intercepts, index)
    return slopes.gather(1, index).mean(dim=1), phi.square().mean(dim=1)
