"""Solver layer of VCRegICA: one entry point, :func:`solve_ica`, over two stages.

- The *kernel stage* (:mod:`._rotation`) rotates pairs of white components to
  the minimum of a kernel independence contrast (a normalised HSIC, the VCReg
  covariance term of a frozen random separable projector). It sees every kind of
  dependence, so it finds the basin of the sources where likelihood methods have
  spurious solutions (Bach & Jordan's densities (g), (j), (q)), but its cost
  grows as ``m^2`` pairs times ``L^2`` features.
- The *score refinement* (:mod:`._refine`) solves the efficient estimating
  equations with estimated scores: semiparametric maximum likelihood, which
  reaches the Cramér-Rao floor from a start in the right basin, at a cost linear
  in the rows and ``m^2`` per row.

With few components (at most :data:`KERNEL_FIRST`) the kernel stage sweeps all
pairs first and the refinement polishes. With more, the refinement starts from
scikit-learn's FastICA (logcosh, on all white rows; up to :data:`_FASTICA_ENTRIES`
rows x components in memory, from the white data beyond): with many nearly
Gaussian sources, likelihood with estimated scores started from the white data
settles far from the sources, while FastICA's fixed contrast lands near them.
The kernel contrast of all pairs is then computed at once, and only the pairs
still dependent beyond what independence explains get the kernel stage's global
search, followed by another refinement. Every refinement runs on random subsets
of 20,000 rows, then ten times more, and so on, before all rows: its steps on a
subset are cheap, and each stage starts the next within a few
steps of its solution.

This module only optimises and reports ``(W, info)``; warnings, validation and
numpy conversion belong to the estimator.
"""

import functools
import math
import warnings

import numpy as np
import torch
from sklearn.decomposition import fastica
from sklearn.exceptions import ConvergenceWarning

from .._data import hold_rows
from .._scores import sort_rows
from .._threads import settle_thread_count, single_threaded
from ..projectors import SeparableRandomProjector
from ._refine import centred_rows, refine_unmixing
from ._rotation import (
    _SMALL_PROBLEM,
    _single_threaded,
    all_pair_contrasts,
    dependent_pairs,
    rotate_pairs,
    solve_rotation,
)

__all__ = ["KERNEL_FIRST", "MIN_REFINE_ROWS", "solve_ica"]

KERNEL_FIRST = 8  # components up to which the kernel stage sweeps all pairs first
# Projector widths of projector_widths="auto": narrow where the kernel sweeps
# only choose the basin the refinement starts in (it polishes the same
# solution from either), wide where the contrast screens refined components or
# is itself the estimate (there a narrow projector's errors are larger).
_BASIN_WIDTHS = (16,)
_CONTRAST_WIDTHS = (32,)
# Grids of n_angles="auto": with the refinement the global searches only choose
# basins (a coarser grid loses nothing); without it the contrast's minimum is
# the estimate, which a finer grid places better.
_REFINED_ANGLES = 8
_CONTRAST_ANGLES = 12
# Rows of max_samples="auto": the sweeps over all pairs choose every basin, and
# on 1000 rows they left a skewed multimodal source (Bach & Jordan's (q)) mixed
# with Gaussian ones; the screen of a larger problem only flags pairs, and on
# more rows flagged more of a real recording's dependent background.
_SWEEP_SAMPLES = 2000
_SCREEN_SAMPLES = 1000
MIN_REFINE_ROWS = 50  # fewer rows cannot fit a score: the kernel stage alone
_START_ROWS = 20_000  # rows of the first refinement stage (then 10x, ..., all)
_SUBSET_TOL = 1.5  # a subset stage stops at steps of 1.5 / sqrt(its rows)
# Rows x components up to which the refinement starts from FastICA (on all rows,
# in memory); beyond, from the white data: FastICA's passes and its float64 copy
# of the white data would dominate the time and the memory.
_FASTICA_ENTRIES = 2**24
_SCREEN_LEVEL = 0.01  # family-wise level of the dependent-pair screen
_SCREEN_ROUNDS = 2  # screen, rotate and refine at most this many times
# A screen round is undone when the likelihood of its refined unmixing is
# lower than before it by more than this many standard errors; the likelihood
# is compared on at most _LIKELIHOOD_ROWS of the held rows.
_LIKELIHOOD_Z = 2.0
_LIKELIHOOD_ROWS = 2**17
_LIKELIHOOD_ENTRIES = 2**21  # rows x components of the likelihood's chunks
# A pair the screen rotates by less stays in its basin: the refinement would
# only undo the move (a spurious solution of likelihood lies a large angle away).
_SCREEN_ANGLE = 0.1
# The refinement on all rows also stops once each entry of a step is below
# half its own sampling error: between nearly Gaussian components (most of a
# recording's background) the steps only follow the scores' noise, and went on
# to max_iter without lowering the error.
_SAMPLING_TOL = 0.5
# Iterations of the FastICA start: it only has to land in the sources' basin,
# the refinement goes on from there; run to FastICA's own tolerance it would
# dominate the time of a fit beyond eight components.
_START_ITER = 25


def _rows(n, size, generator, device):
    """Indices of a random subset of ``size`` of ``n`` rows, in order (all
    rows when ``size`` is ``None`` or at least ``n``)."""
    if size is None or n <= size:
        return None
    return torch.randperm(n, generator=generator)[:size].sort().values.to(device)


def _fastica_start(white, generator):
    """Orthogonal unmixing (m, m) of white rows ``white`` (r, m) by FastICA.

    Only a start: its convergence does not matter (the refinement follows), so
    its warning is silenced; its seed is drawn from ``generator``.
    """
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    # On one BLAS thread: a threaded BLAS splits the sums over the rows between
    # its threads, and the start's last places then changed with their
    # number, a difference the refinement grew (where the likelihood is nearly
    # flat, between nearly Gaussian components) into a different unmixing.
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, W, _ = fastica(
            white.cpu().numpy().astype(np.float64),
            whiten=False,
            max_iter=_START_ITER,
            random_state=seed,
            compute_sources=False,
        )
    return torch.as_tensor(W, dtype=torch.float64, device=white.device)


def _one_thread_when_small(solver):
    """Run ``solver(X, whitening, ...)`` on one OpenMP thread when the problem is
    small (rows x components up to ``_SMALL_PROBLEM``): its passes are too short
    to share, and a second thread only waits on the first, or on whatever else
    holds the cores (the spinning threads of a BLAS that just ran numpy).
    Before that, on the CPU, torch's threads are settled once per process
    (:func:`skvcreg._threads.settle_thread_count`), with the caller's thread
    count still in place."""

    @functools.wraps(solver)
    def wrapped(X, whitening, **options):
        if X.device.type == "cpu":
            settle_thread_count()
        small = X.shape[0] * whitening.shape[0] <= _SMALL_PROBLEM
        with _single_threaded(X.device, enabled=small):
            return solver(X, whitening, **options)

    return wrapped


def _screen_threshold(m):
    """The standardised excess above which a pair counts as dependent: the
    normal quantile at the Bonferroni level of the screen."""
    n_pairs = max(1, m * (m - 1) // 2)
    level = torch.tensor(1 - _SCREEN_LEVEL / n_pairs, dtype=torch.float64)
    return float(torch.special.ndtri(level))


# Nothing here is differentiated: inference mode skips autograd's bookkeeping,
# whose cost is per operation, not per entry (a small fit runs many small ones).
@torch.inference_mode()
@_one_thread_when_small
def solve_ica(
    X,
    whitening,
    *,
    mean=None,
    w_init=None,
    max_iter=20,
    tol=2e-3,
    projector_widths="auto",
    projector="relu",
    bandwidths=(0.5, 1.0, 2.0),
    n_angles="auto",
    regularization=0.1,
    max_samples="auto",
    refine=True,
    generator=None,
    callback=None,
):
    """Unmix ``X``: the solver behind :class:`skvcreg.VCRegICA`.

    The defaults are the estimator's, so calling this alone on data and their
    whitening gives the estimator's unmixing. ``X`` is never copied whole: the
    white components are computed over row chunks (in float32, their moments
    accumulating in float64), and only row subsets are held.

    Parameters
    ----------
    X : Tensor of shape (n, p) or a dask array's blocks
        The data (float32 or float64), on the device that computes, or a dask
        array's rows (:meth:`skvcreg._data.DaskRows.solver_rows`): its row subsets
        are then held up to a fixed number of bytes, and the passes over all
        rows are reductions over its blocks.
    whitening : Tensor of shape (m, p), float64
        ``(X - mean) @ whitening.T`` is white (zero mean, identity covariance).
    mean : Tensor of shape (p,), default=None
        The mean of ``X``; ``None`` when ``X`` is already centred.
    w_init : Tensor of shape (m, m), default=None
        Starting unmixing of the white data; it replaces the first stage (the
        kernel sweeps, or the refinement on a subset of rows).
    max_iter : int, default=20
        Maximum number of kernel sweeps over all pairs.
    tol : float, default=2e-3
        Convergence of the kernel sweeps, in radians; the refinement converges
        when no entry of its update exceeds ``min(tol, 0.1 / sqrt(n))``, or
        each entry is below half its own asymptotic standard error (see
        ``sampling_tol`` of ``refine_unmixing``).
    projector_widths : tuple of int or "auto", default="auto"
        Widths of the random separable projector of the kernel contrast;
        ``"auto"``: ``(16,)`` when the kernel sweeps go first and the refinement
        follows (at most :data:`KERNEL_FIRST` components), ``(32,)`` otherwise.
    projector : {"relu", "fourier"}, default="relu"
        First layer of the projector.
    bandwidths : float or tuple of float, default=(0.5, 1.0, 2.0)
        Scales of the projector's random weights.
    n_angles : int or "auto", default="auto"
        Grid of angles of the kernel stage's global searches; ``"auto"``: 8
        when the refinement runs, 12 otherwise.
    regularization : float, default=0.1
        Relative ridge of the kernel contrast.
    max_samples : int, None or "auto", default="auto"
        Rows (a random subset) on which the kernel contrast is evaluated;
        ``None`` uses them all; ``"auto"``: 2000 when the kernel sweeps go
        first (at most :data:`KERNEL_FIRST` components, or without the
        refinement), 1000 for the screen of a larger problem. The refinement
        always uses every row.
    refine : bool, default=True
        Run the score refinement (with at least :data:`MIN_REFINE_ROWS` rows).
        Without it the kernel stage sweeps all pairs whatever the number of
        components.
    generator : torch.Generator, default=None
        Draws the projector and the subsets of rows.
    callback : callable, default=None
        Called as ``callback(stage, step, value)``: ``("start", 1, None)``
        after the FastICA start, ``("sweep", k, contrast)`` after each kernel
        sweep, ``("refine", k, largest_update)`` after each
        refinement step and ``("screen", k, n_dependent)`` after each screen.

    Returns
    -------
    U : Tensor of shape (m, p), float64
        Unmixing of ``X - mean``: its components have unit variance over the
        rows when ``refine`` is true, and ``U`` is a rotation of the whitening
        otherwise.
    info : dict
        ``converged`` (the kernel sweeps and every refinement on all rows),
        ``n_iter`` (kernel sweeps), ``n_refine_iter`` (refinement steps, all
        stages), ``loss_curve`` (summed pair contrasts of the kernel sweeps),
        ``n_screened`` (pairs given a global search after a screen),
        ``projector_widths``, ``n_angles`` and ``max_samples`` (the values
        used).
    """
    n = X.shape[0]
    m = whitening.shape[0]
    refine = refine and n >= MIN_REFINE_ROWS
    kernel_first = not refine or m <= KERNEL_FIRST
    if isinstance(projector_widths, str):  # "auto"
        basin_only = refine and kernel_first
        projector_widths = _BASIN_WIDTHS if basin_only else _CONTRAST_WIDTHS
    if isinstance(n_angles, str):  # "auto"
        n_angles = _REFINED_ANGLES if refine else _CONTRAST_ANGLES
    if isinstance(max_samples, str):  # "auto"
        max_samples = _SWEEP_SAMPLES if kernel_first else _SCREEN_SAMPLES
    problem = _Problem(
        X,
        whitening,
        mean,
        SeparableRandomProjector(
            tuple(projector_widths),
            kind=projector,
            bandwidths=bandwidths,
            generator=generator,
            dtype=torch.float32,
        ).to(X.device),
        max_samples=max_samples,
        tol=tol,
        n_angles=n_angles,
        regularization=regularization,
        generator=generator,
        callback=callback,
    )
    U, info = _start(problem, w_init, kernel_first, refine, max_iter)
    info.update(
        n_refine_iter=0,
        n_screened=0,
        projector_widths=tuple(projector_widths),
        n_angles=n_angles,
        max_samples=max_samples,
    )
    if not refine:
        return U, info
    U, steps, converged = _polish(problem, problem.K if U is None else U)
    info["n_refine_iter"] += steps
    info["converged"] &= converged
    if kernel_first and w_init is None:
        return U, info
    U, steps, converged, n_screened = _screen(problem, U)
    info["n_refine_iter"] += steps
    info["converged"] &= converged
    info["n_screened"] = n_screened
    return U, info


class _Problem:
    """What every stage of :func:`solve_ica` reads: the rows (held in memory,
    or a dask array's blocks with a random subset of them held), the mean and
    whitening on their device, the projector, the kernel stage's rows centred
    and white, and the options."""

    def __init__(self, X, whitening, mean, projector, **options):
        self.__dict__.update(options)
        device = X.device
        self.K = whitening.to(device=device, dtype=torch.float64)
        self.mean = None if mean is None else mean.to(device, torch.float64)
        self.projector = projector
        self.n = X.shape[0]
        # A dask array's rows are read once for a random subset held in memory
        # (at most a fixed number of bytes): every stage but the last on all
        # rows draws its rows from it, so the array is read once more per final
        # step.
        self.held = hold_rows(X, self.generator)
        self.n_held = self.held.shape[0]
        self.X = self.held if self.n_held == self.n else X  # all of it fits
        # The rows the kernel contrast sees, centred (float32), and white.
        rows = _rows(self.n_held, self.max_samples, self.generator, device)
        self.centred = centred_rows(
            self.held, self.mean, slice(None) if rows is None else rows
        )
        self.white = (self.centred.double() @ self.K.T).float()
        # A tenth of the sampling error of an entry of the unmixing: stopping
        # there costs no accuracy, and finer steps only follow the scores' noise.
        self.refine_tol = min(self.tol, 0.1 / math.sqrt(self.n))

    def report(self, stage):
        """The callback of one stage, as ``(step, value, ...)``, or None."""
        if self.callback is None:
            return None
        return lambda step, *values: self.callback(stage, step, values[0])


def _start(problem, w_init, kernel_first, refine, max_iter):
    """The first unmixing of ``X - mean`` (or ``None``: the whitening) and the
    kernel sweeps' ``info``: ``w_init``, else FastICA on all white rows (more
    than :data:`KERNEL_FIRST` components, in memory), else the kernel sweeps
    over all pairs (none when the refinement starts from the white data)."""
    info = {"converged": True, "n_iter": 0, "loss_curve": []}
    K, X = problem.K, problem.X
    n, m = problem.n, K.shape[0]
    if w_init is not None:
        return w_init.to(device=K.device, dtype=torch.float64) @ K, info
    if not kernel_first and problem.held is X and n * m <= _FASTICA_ENTRIES:
        # FastICA needs every row: on a fraction of the rows of a simulated
        # 64-channel recording it did not converge.
        white = centred_rows(X, problem.mean).double() @ K.T
        U = _fastica_start(white, problem.generator) @ K
        if problem.callback is not None:
            problem.callback("start", 1, None)
        return U, info
    if not kernel_first:
        return None, info
    W, sweeps = solve_rotation(
        problem.white,
        problem.projector,
        max_iter=max_iter,
        tol=problem.tol,
        n_angles=problem.n_angles,
        regularization=problem.regularization,
        callback=problem.report("sweep"),
    )
    info.update(
        converged=sweeps["converged"],
        n_iter=sweeps["n_iter"],
        loss_curve=sweeps["loss_curve"],
    )
    return W @ K, info


def _polish(problem, U):
    """Refine ``U`` on growing random subsets of rows, ten times larger each
    time, then on all rows; returns it, the steps run and whether the last
    stage converged.

    A subset's stage stops once its steps are within its own sampling error
    (it only brings the next stage near its solution, and leaves alone
    components already there); only the last stage's convergence is reported.
    """
    X, held, n_held = problem.X, problem.held, problem.n_held
    generator, device = problem.generator, problem.K.device
    size, steps = _START_ROWS, 0
    while True:
        rows = _rows(n_held, size, generator, device) if size < n_held else None
        last = rows is None and (held is X or size > n_held)
        data, fit_data = X if rows is None else held[rows], None
        if rows is None and not last:  # the held rows of a dask array
            data, size = held, n_held
        elif last and held is not X:  # the scores of the last stage
            fit_rows = _rows(n_held, _START_ROWS, generator, device)
            fit_data = held if fit_rows is None else held[fit_rows]
        U, result = refine_unmixing(
            data,
            U,
            center=problem.mean,
            tol=problem.refine_tol if last else _SUBSET_TOL / math.sqrt(size),
            # tol=0 asks for every step (and warns): no other rule stops.
            sampling_tol=_SAMPLING_TOL if last and problem.tol > 0 else None,
            fit_data=fit_data,
            generator=generator,
            callback=problem.report("refine"),
        )
        steps += result["n_iter"]
        if last:
            return U, steps, result["converged"]
        size *= 10


def _row_log_likelihoods(rows, mean, U):
    """Each row's log-likelihood under the unmixing ``U``, shape (r,), float64:
    ``log |det U|`` plus the log-densities of its components, each density
    estimated from the spacing of the component's sorted values around the
    row's own (Vasicek's estimate, a window of ``sqrt(r)`` ranks), so that two
    unmixings are compared on the same rows without a model of the densities.
    The components are computed a few at a time (float32 products, float64
    spacings): the memory is the rows' and a few components'.
    """
    centred = centred_rows(rows, mean)
    r, m = centred.shape[0], U.shape[0]
    window = max(1, int(math.sqrt(r) + 0.5))
    ranks = torch.arange(r, device=U.device)
    above, below = (ranks + window).clamp(max=r - 1), (ranks - window).clamp(min=0)
    total = torch.zeros(r, dtype=torch.float64, device=U.device)
    jacobian = torch.linalg.slogdet(U)[1]
    step = max(1, _LIKELIHOOD_ENTRIES // r)
    for start in range(0, m, step):
        Y = (U[start : start + step].float() @ centred.T).double()  # components in rows
        scale = Y.std(dim=1, keepdim=True)
        jacobian = jacobian - torch.log(scale).sum()
        ordered, order = sort_rows(Y / scale, order=True)
        spread = (ordered[:, above] - ordered[:, below]).clamp(min=1e-300)
        log_density = torch.empty_like(Y)
        log_density.scatter_(1, order, -torch.log(r / (2 * window) * spread))
        total += log_density.sum(dim=0)
    return jacobian + total


def _likelihood_fell(before, after):
    """Whether the mean of the per-row differences ``after - before`` is below
    zero by more than :data:`_LIKELIHOOD_Z` standard errors, the error from the
    means of consecutive blocks of ``sqrt(r)`` rows (rows of a recording are
    serially correlated)."""
    difference = after - before
    block = max(1, int(math.sqrt(difference.shape[0])))
    means = difference[: difference.shape[0] // block * block]
    means = means.reshape(-1, block).mean(dim=1)
    error = means.std() / math.sqrt(means.shape[0]) if means.shape[0] > 1 else 0.0
    return bool(difference.mean() < -_LIKELIHOOD_Z * error)


def _screen(problem, U):
    """The kernel contrast of every pair of the refined components at once;
    the pairs still dependent beyond what independence explains get the kernel
    stage's global search and a new refinement (at most
    :data:`_SCREEN_ROUNDS` times). A round whose refined unmixing has a
    likelihood lower than before it, beyond its standard error, is undone and
    ends the screen: the kernel contrast proposes a move away from a spurious
    solution of likelihood, and a move to a less likely one is not that (on a
    real EEG with a strong injected source, a second round split the source
    between components). Returns the unmixing, the refinement steps, whether
    every refinement converged and the number of pairs searched."""
    m = U.shape[0]
    threshold = _screen_threshold(m)
    steps, converged, n_screened = 0, True, 0
    likelihood = held = None
    for screen in range(1, _SCREEN_ROUNDS + 1):
        # One thread where the kernel stage uses one: its decisions (the
        # screen's threshold, the grid's minimum) then do not change with the
        # number of threads.
        small = problem.centred.shape[0] * m <= _SMALL_PROBLEM
        with _single_threaded(U.device, enabled=small):
            Y = problem.centred @ U.T.float()
            Y = Y / Y.std(dim=0, keepdim=True)
            _, z = all_pair_contrasts(
                Y, problem.projector, regularization=problem.regularization
            )
        rounds = dependent_pairs(z, threshold)
        n_pairs = sum(len(r) for r in rounds)
        if problem.callback is not None:
            problem.callback("screen", screen, n_pairs)
        if not rounds:
            break
        R, largest = rotate_pairs(
            Y,
            rounds,
            problem.projector,
            n_angles=problem.n_angles,
            regularization=problem.regularization,
        )
        n_screened += n_pairs
        if largest < _SCREEN_ANGLE:  # no pair left its basin
            break
        V, more, polished = _polish(problem, R @ U)
        steps += more
        if likelihood is None:  # the rows and U's likelihood, once
            sample = _rows(
                problem.n_held, _LIKELIHOOD_ROWS, problem.generator, U.device
            )
            held = problem.held if sample is None else problem.held[sample]
            likelihood = _row_log_likelihoods(held, problem.mean, U)
        moved = _row_log_likelihoods(held, problem.mean, V)
        if _likelihood_fell(likelihood, moved):
            break
        U, likelihood = V, moved
        converged &= polished
    return U, steps, converged, n_screened
