"""Score refinement of VCRegICA: semiparametric maximum likelihood (solver layer).

Starting from nearly independent white components, find the unmixing ``M`` whose
components ``y = M z`` solve the efficient estimating equations of linear ICA,

    E[phi_i(y_i) y_j] = 0    (i != j),

with each score ``phi_i = -p_i' / p_i`` estimated from the data by score matching
in the span of ``y``, ``1`` and ramps ``max(0, y - k)`` at fixed knots ``k``.
Each equation is a cross-covariance between a separable feature of one component
and another component, the same object the kernel contrast measures; here the
feature is the one that makes the estimate efficient (it reaches the Cramér-Rao
floor when the scores are right).

A fitted score is piecewise linear between its knots, so it is evaluated by
locating each value among the knots (``O(n m log K)``) and the score-matching
moments are per-bucket sums of ``1, y, y^2`` (``O(n m)``). The only
``O(n m^2)`` work of a step is the product of the components with the data and
the moment ``E[phi(y) y^T]``, over row chunks with float64 accumulation: memory
is ``O(m^2 + chunk m)`` beyond the data.

This module only optimises and reports ``(M, info)``; warnings belong to the
estimator.
"""

import math

import torch

from .._data import row_sum
from .._scores import (
    _bucket_sums,
    _buckets,
    _fit_scores,
    _knots,
    _scores,
    score_fit_rules,
)
from .._threads import single_threaded

__all__ = ["centred_rows", "refine_unmixing"]

_CHUNK_ROWS = 32_768  # rows per chunk of the O(n m^2) passes
_COLLAPSE = 0.5  # correlation of two components that undoes the last step
_COLLAPSE_ROWS = 2048  # rows on which that correlation is measured
_REPLACE = 0.05  # step size below which the knots are placed again, once
# Steps nearly parallel to the last (cosine above _ALIGNED) and shorter by a
# ratio in _RATIO converge linearly (the 2x2 blocks leave out the coupling
# of pairs through dependent components, as in a recording): the next step
# jumps to their geometric sum, at most _MAX_JUMP steps.
_ALIGNED = 0.9
_RATIO = (0.5, 1.0)
_MAX_JUMP = 10.0


def centred_rows(X, center, rows=slice(None)):
    """``X[rows] - center`` in float32: the subtraction in ``X``'s dtype (a large
    offset cancels exactly), the products that follow in float32."""
    chunk = X[rows]
    if center is not None:
        chunk = chunk - center.to(chunk.dtype)
    return chunk.to(torch.float32)


def _row_sum(X, fn):
    """``sum(fn(rows))`` over row chunks of ``X`` (a tensor, or a dask array's
    blocks); ``fn`` maps a chunk of rows to a float64 tensor."""
    return row_sum(X, fn, _CHUNK_ROWS)


def _components(chunk, center, M):
    """``y = M (x - center)`` of the rows of ``chunk``, shape (m, rows)."""
    return M.to(torch.float32) @ centred_rows(chunk, center).T


def _cross_moment(phi, Y):
    """``phi @ Y.T`` (m, m) of two (m, r) tensors, float64, summed over the
    rows on one thread: a threaded BLAS may split a long sum between its
    threads (on some CPUs it does for these shapes), and its last places then
    change with their number, a difference the refinement grows where the
    likelihood is nearly flat."""
    with single_threaded(phi.device, blas=False, torch_threads=True):
        return (phi @ Y.T).double()


def _score_covariance(X, center, M, knots, slopes, intercepts):
    """``E[phi(y) y^T]`` over all rows of ``X`` with ``y = M (x - center)``,
    float64."""

    def moment(chunk):
        Y = _components(chunk, center, M)
        return _cross_moment(_scores(Y, knots, slopes, intercepts), Y)

    return _row_sum(X, moment) / X.shape[0]


def _scale(X, center, M):
    """Root mean square of each component ``y = M (x - center)`` over all rows."""

    def squares(chunk):
        return _components(chunk, center, M).double().square().sum(dim=1)

    return (_row_sum(X, squares) / X.shape[0]).sqrt()


def _scale_and_correlation(Y):
    """Root mean square of each row of ``Y`` (m, r), float64, and the largest
    absolute correlation between two rows, from every k-th column (at most
    :data:`_COLLAPSE_ROWS`): it only tells a collapse, a correlation beyond
    :data:`_COLLAPSE`, which that many rows place within a few hundredths."""
    r = Y.shape[1]
    scale = torch.linalg.vector_norm(Y, dim=1, dtype=torch.float64) / math.sqrt(r)
    some = Y[:, :: -(-r // _COLLAPSE_ROWS)].double()
    C = _cross_moment(some, some)
    norm = C.diagonal().sqrt()
    correlation = (C / norm[:, None] / norm).fill_diagonal_(0.0)
    return scale, float(correlation.abs().max())


def _newton_step(G, curvature, min_curvature):
    """Quasi-Newton step ``E`` (m, m) of the relative gradient: for each pair
    ``i < j`` the 2x2 system ``[[k_i, 1], [1, k_j]] (E_ij, E_ji) = (G_ij, G_ji)``
    (``k_i = E[phi_i']``), its eigenvalues clipped below at ``min_curvature``.

    The clipped inverse is written with the spectral projectors of each block,
    ``P = (H - l' I) / (l - l')`` for an eigenvalue ``l`` and the other ``l'``
    (``|l - l'| >= 2``): entry ``(i, j)`` of the ``(m, m)`` arrays below holds
    the block of pair ``(i, j)`` with ``k_i`` first, so its first row acts on
    ``(G_ij, G_ji)`` and gives ``E_ij``, and the transpose gives ``E_ji``.
    """
    k_i, k_j = curvature[:, None], curvature[None, :]
    half_gap = 0.5 * (k_i - k_j)
    radius = torch.sqrt(half_gap * half_gap + 1.0)
    middle = 0.5 * (k_i + k_j)
    inv_upper = (middle + radius).clamp_(min=min_curvature).reciprocal_()
    inv_lower = (middle - radius).clamp_(min=min_curvature).reciprocal_()
    # With l = middle +- radius and k_i - middle = half_gap, the first row of
    # the clipped inverse is (first, cross).
    cross = (inv_upper - inv_lower).div_(2 * radius)
    first = (inv_upper + inv_lower).mul_(0.5).addcmul_(half_gap, cross)
    return torch.addcmul(first * G, cross, G.T).fill_diagonal_(0.0)


def _extrapolation(E, previous):
    """The factor by which to lengthen step ``E``: where it repeats the last
    one (``previous``, nearly parallel) at a ratio ``r`` of its length, the
    steps converge linearly, and their geometric sum is ``1 / (1 - r)`` times
    the step (at most :data:`_MAX_JUMP`); 1 otherwise."""
    if previous is None:
        return 1.0
    norm, last = float(E.norm()), float(previous.norm())
    if norm == 0.0 or last == 0.0:
        return 1.0
    cosine = float((E * previous).sum()) / (norm * last)
    ratio = norm / last
    if cosine < _ALIGNED or not _RATIO[0] <= ratio < _RATIO[1]:
        return 1.0
    return min(1.0 / (1.0 - ratio), _MAX_JUMP)


def _sampling_error(curvature, n):
    """Asymptotic standard error of each entry ``(i, j)`` of the estimate of
    the unmixing (relative to the sources) from ``n`` rows:
    ``sqrt(k_j / ((k_i k_j - 1) n))`` with ``k = E[phi']`` (the Cramér-Rao
    bound when the scores are the true ones), infinite where ``k_i k_j <= 1``
    (the pair is not identifiable from its likelihood, as two Gaussians)."""
    k = curvature.clamp(min=0.0)
    det = k[:, None] * k[None, :] - 1.0
    variance = k[None, :] / (det.clamp(min=1e-300) * n)
    return torch.where(det > 0, variance.sqrt(), math.inf)


def refine_unmixing(
    X,
    M=None,
    *,
    center=None,
    max_iter=200,
    tol=1e-3,
    n_knots=None,
    ridge=None,
    fit_rows=20_000,
    fit_data=None,
    min_curvature=1e-2,
    max_step=0.2,
    sampling_tol=None,
    generator=None,
    callback=None,
):
    """Solve the efficient estimating equations of ICA near a start ``M``.

    The steps are quasi-Newton steps of the relative gradient with the usual
    2x2 Hessian blocks (:func:`_newton_step`), the step's largest entry clipped
    at ``max_step``; a step that turns back on the last one without being 10%
    smaller halves the steps from then on (the estimated scores change in small
    jumps as rows cross the fixed knots, which can make the steps cycle). A
    step nearly parallel to the last and shorter by a ratio ``r`` is lengthened
    to the geometric sum ``1 / (1 - r)`` of the steps that would follow (at
    most 10 steps; never two such jumps in a row): where the components are
    dependent, as a recording's are, the blocks leave out the coupling
    between pairs and the plain steps converge only linearly. A
    step after which two components correlate beyond 0.5 is undone and the
    steps halved: far from the solution, with many nearly Gaussian sources,
    free steps can drive two components towards one source. The
    knots are placed at the quantiles of the starting components, and once
    more when the steps first fall below 0.05 (the components are then nearly
    the sources, whose quantiles the final scores need).

    This is a local method: it converges to the solution of the estimating
    equations near the start. From white data it is the maximum-likelihood ICA
    of Picard and Infomax with estimated densities; densities for which
    likelihood has spurious solutions need the kernel contrast's start.

    Parameters
    ----------
    X : Tensor of shape (n, p)
        The data (any float dtype; never copied whole: the components are
        computed in float32 over row chunks and their moments accumulate in
        float64).
    M : Tensor of shape (m, p), default=None
        Starting unmixing of ``X - center`` (float64), for instance a whitening
        matrix; ``None`` is the identity (``X`` already white).
    center : Tensor of shape (p,), default=None
        Subtracted from the rows of ``X`` (its mean); ``None`` subtracts nothing.
    max_iter : int, default=200
        Maximum number of steps.
    tol : float, default=1e-3
        Converged when the largest entry of a step is below ``tol``.
    sampling_tol : float, default=None
        Also converged when every entry ``(i, j)`` of a step is below
        ``sampling_tol`` times its asymptotic standard error
        ``sqrt(k_j / ((k_i k_j - 1) n))`` (``k = E[phi']``; infinite when
        ``k_i k_j <= 1``): steps that small only follow the sampling noise of
        the scores, as they do between nearly Gaussian components, whose
        likelihood is nearly flat. ``None``: ``tol`` alone.
    n_knots : int, default=None
        Ramps of each score; ``None``: ``20 sqrt(r / 1000)`` rounded, between 20
        and 40, with ``r`` the rows of the score fit, so the scores get finer as
        the rows allow.
    ridge : float, default=None
        Ridge on the ramps' coefficients of the score fit, relative to their
        mean diagonal; ``None``: ``10 / r``. Each source's score is fitted
        again with this ridge times ``0.1 / (E[phi'] - 1)`` from the first fit,
        within 0.1 and 3 times it: less smoothing for a score with detail far
        from a Gaussian's, more near one.
    fit_rows : int, default=20_000
        Rows (a random subset) on which the scores are fitted; the estimating
        equations always use every row. ``None`` fits on all rows.
    fit_data : Tensor of shape (r, p), default=None
        Rows of ``X`` already held on which to fit the scores, in place of
        drawing ``fit_rows`` of them (a dask array's rows are drawn once, in
        one pass, by the caller).
    min_curvature : float, default=1e-2
        Lower bound of the Hessian blocks' eigenvalues.
    max_step : float, default=0.2
        Largest entry of a step.
    generator : torch.Generator, default=None
        Draws the rows of the score fit.
    callback : callable, default=None
        Called as ``callback(step, largest_entry)`` after each step.

    Returns
    -------
    M : Tensor of shape (m, p), float64
        Unmixing of ``X - center`` whose components have unit variance over the
        rows.
    info : dict
        ``converged`` (bool), ``n_iter`` (steps run) and ``step_sizes`` (the
        largest entry of each step).
    """
    n, p = X.shape
    M = torch.eye(p, dtype=torch.float64, device=X.device) if M is None else M
    m = M.shape[0]
    if fit_data is not None:
        fit = centred_rows(fit_data, center)
    else:
        rows = slice(None)
        if fit_rows is not None and n > fit_rows:
            rows = torch.randperm(n, generator=generator)[:fit_rows].sort().values
            rows = rows.to(X.device)
        fit = centred_rows(X, center, rows)
    r = fit.shape[0]
    all_rows = fit_data is None and r == n  # the fit's rows are all the rows
    default_knots, default_ridge = score_fit_rules(r)
    n_knots = default_knots if n_knots is None else n_knots
    ridge = default_ridge if ridge is None else ridge
    converged, step, sizes = m < 2, 0, []
    previous, damping, knots, placed, accepted = None, 1.0, None, 0, None
    jumped = False
    while not converged and step < max_iter:
        step += 1
        Y = M.to(torch.float32) @ fit.T  # (m, r): components in rows
        scale, correlation = _scale_and_correlation(Y)
        if accepted is not None and correlation > _COLLAPSE:
            # The last step drove two components towards one source: undo it
            # and halve the steps.
            M, damping, previous = accepted, 0.5 * damping, None
            Y = M.to(torch.float32) @ fit.T
            scale, _ = _scale_and_correlation(Y)
        accepted = M
        M, Y = M / scale[:, None], Y / scale.to(Y.dtype)[:, None]
        if knots is None:
            knots, placed = _knots(Y, n_knots), placed + 1
        index = _buckets(Y, knots)
        slopes, intercepts, curvature = _fit_scores(
            _bucket_sums(Y, index, n_knots + 1), knots, ridge
        )
        if all_rows:
            phi = _scores(Y, knots, slopes, intercepts, index)
            G = _cross_moment(phi, Y) / n
        else:
            G = _score_covariance(X, center, M, knots, slopes, intercepts)
        E = _newton_step(G, curvature, min_curvature)
        newton = float(E.abs().max())
        turns_back = previous is not None and float((E * previous).sum()) < 0
        if turns_back and newton > 0.9 * float(previous.abs().max()) and not jumped:
            damping *= 0.5
        gain = 1.0 if jumped else _extrapolation(E, previous)
        jumped = gain > 1.0
        previous = E
        E = (damping * gain * E).clamp(-max_step, max_step)
        largest = min(damping * gain * newton, max_step)
        sizes.append(largest)
        M = M - E @ M
        converged = largest < tol
        if not converged and sampling_tol is not None:  # each bound is >= tol
            bound = (sampling_tol * _sampling_error(curvature, n)).clamp(min=tol)
            converged = bool((E.abs() < bound).all())
        if placed == 1 and largest < _REPLACE and not converged:
            knots, previous, damping = None, None, 1.0
        if callback is not None:
            callback(step, largest)
    scale = _scale(X, center, M)
    return M / scale[:, None], {
        "converged": converged,
        "n_iter": step,
        "step_sizes": sizes,
    }
