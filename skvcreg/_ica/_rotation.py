"""Kernel stage of VCRegICA: Jacobi sweeps of plane rotations on white data.

The contrast is the covariance part of VCReg on the output of a frozen random
separable projector, with each component's block of features whitened (the ideal
that VCReg's variance and covariance terms push a projector towards). For a pair of
components it is the normalised cross-covariance of their features,

    T(y_i, y_j) = || (C_ii + eps I)^-1/2 C_ij (C_jj + eps I)^-1/2 ||_F^2,

which by the projector lemma is a normalised HSIC (NOCCO, Fukumizu et al. 2008):
zero when ``y_i`` and ``y_j`` are independent. On white data the unmixing is a
rotation; a rotation is a product of plane (Givens) rotations, so each sweep visits
every pair of components and sets its angle to the global minimiser of ``T`` over
``[-pi/4, pi/4)`` (the contrast has period ``pi/2``): a grid of angles evaluated in
one batched product and interpolated by its trigonometric series. Later sweeps
polish with parabolic descent steps that never increase the contrast, and a last
global sweep checks that no pair can jump to a lower basin. Disjoint pairs are
rotated together (a round-robin schedule), so a sweep is ``m - 1``
batched steps.

This module only optimises and reports: ``(W, info)`` with ``converged``,
``n_iter`` and ``loss_curve``. Warnings and numpy conversion belong to the estimator.
"""

import math

import torch

from .._threads import single_threaded
from ..losses import normalized_cross_covariance_loss

__all__ = [
    "all_pair_contrasts",
    "dependent_pairs",
    "pair_contrast",
    "round_robin",
    "rotate_pairs",
    "solve_rotation",
]

_PERIOD = math.pi / 2
_JUMP = 0.1  # relative drop of a pair's contrast that a check sweep acts on
_STALL = 1e-3  # relative drop of a sweep's contrast below which polishing stops
_SMALL_PROBLEM = 100_000  # rows x components below which one thread is used
_PAIR_BATCH = 8  # pairs whose angles a screen searches at once


def _single_threaded(device, enabled=True):
    """One thread for small batched work on the CPU: one OpenMP thread and,
    from the main thread, one torch thread (:func:`skvcreg._threads.single_threaded`
    with ``torch_threads=True``), so that the kernel stage's contrasts, and the
    choices of its grid searches and screen, do not depend on the machine's
    thread count."""
    return single_threaded(device, enabled=enabled, blas=False, torch_threads=True)


def pair_contrast(Y, projector, *, regularization=0.1):
    """Normalised cross-covariance contrast of pairs of components.

    Parameters
    ----------
    Y : Tensor of shape (..., n, 2)
        Pairs of components (batch dimensions first).
    projector : SeparableRandomProjector
        The frozen separable map ``psi`` applied to each component.
    regularization : float, default=0.1
        ``eps`` relative to the mean eigenvalue of each feature covariance.

    Returns
    -------
    Tensor of shape (...,)
        ``T(y_1, y_2)``, zero for independent components.
    """
    n = Y.shape[-2]
    columns = Y.reshape(-1, n, 2).transpose(1, 2).contiguous()  # (B, 2, n)
    features = projector.feature_map(columns)  # (B, 2, n, L)
    with _single_threaded(Y.device):
        # The features of checked data are finite: no pass to check them.
        values = normalized_cross_covariance_loss(
            features[:, 0],
            features[:, 1],
            regularization=regularization,
            check_finite=False,
        )
    return values.reshape(Y.shape[:-2])


def round_robin(m):
    """Rounds of disjoint pairs covering every pair of ``range(m)`` once."""
    players = list(range(m)) + ([None] if m % 2 else [])
    rounds = []
    for _ in range(len(players) - 1):
        half = len(players) // 2
        pairs = [
            (min(a, b), max(a, b))
            for a, b in zip(players[:half], players[::-1][:half], strict=True)
            if a is not None and b is not None
        ]
        rounds.append(pairs)
        players = [players[0], players[-1], *players[1:-1]]
    return rounds


def _rotate(Y, theta):
    """Rotate pairs ``Y (..., n, 2)`` by angles ``theta (...,)``: the new pair
    is ``(c y_1 + s y_2, c y_2 - s y_1)``, one product with ``[[c, -s], [s, c]]``."""
    c, s = torch.cos(theta), torch.sin(theta)
    return Y @ torch.stack((c, -s, s, c), dim=-1).unflatten(-1, (2, 2))


def _parabola_vertex(values, step, limit=None):
    """Step towards the minimum from three values spaced ``step`` apart.

    The vertex of the parabola through them where it is convex, clamped to
    ``[-limit, limit]`` (default ``step``); a step of ``limit`` towards the lower
    neighbour where it is not.
    """
    limit = step if limit is None else limit
    left, mid, right = values.unbind(-1)
    curvature = left - 2 * mid + right
    convex = curvature > 0
    offset = 0.5 * step * (left - right) / torch.where(convex, curvature, 1.0)
    downhill = limit * torch.sign(left - right)
    return torch.where(convex, offset, downhill).clamp(-limit, limit)


def _contrast_at(pairs, projector, theta, regularization):
    """Contrast of each pair ``(P, n, 2)`` at angles ``theta (P, k)``."""
    return pair_contrast(
        _rotate(pairs[:, None], theta), projector, regularization=regularization
    )


def _local_angles(pairs, projector, step, regularization):
    """Descent step from angle zero: a parabolic fit, then a check.

    The stencil ``{-h, 0, h}`` gives the parabola vertex ``t`` (at most ``2h``
    away); the angle returned is the best of ``-h``, ``0``, ``h`` and ``t``, so
    the contrast never increases. Returns ``(theta, value)``.
    """
    offsets = torch.tensor([-1.0, 0.0, 1.0], dtype=pairs.dtype, device=pairs.device)
    values = _contrast_at(pairs, projector, step * offsets[None, :], regularization)
    vertex = _parabola_vertex(values, step, limit=2 * step)[:, None]
    vertex_value = _contrast_at(pairs, projector, vertex, regularization)
    candidates = torch.cat((step * offsets.expand(len(pairs), 3), vertex), dim=1)
    candidate_values = torch.cat((values, vertex_value), dim=1)
    best = candidate_values.argmin(dim=1, keepdim=True)
    return candidates.gather(1, best)[:, 0], candidate_values.gather(1, best)[:, 0]


def _global_angles(pairs, projector, n_angles, regularization):
    """Global minimiser of the contrast over the angle for a batch of pairs.

    ``pairs`` has shape ``(P, n, 2)``. The contrast is evaluated on a grid of
    ``n_angles`` angles over one period, interpolated by its trigonometric series
    (the contrast is smooth and ``pi/2``-periodic) and minimised on a fine grid.
    Returns ``(theta, value)``.
    """
    dtype, device = pairs.dtype, pairs.device
    step = _PERIOD / n_angles
    grid = torch.arange(n_angles, dtype=dtype, device=device) * step - _PERIOD / 2
    values = pair_contrast(
        _rotate(pairs[:, None], grid[None, :]),
        projector,
        regularization=regularization,
    )  # (P, K)
    oversample = 32
    fine = torch.fft.irfft(torch.fft.rfft(values, dim=1), n=n_angles * oversample)
    fine = fine * oversample  # irfft of the zero-padded series
    fine_step = step / oversample
    best = fine.argmin(dim=1)
    neighbours = torch.stack((best - 1, best, best + 1), dim=1) % fine.shape[1]
    theta = grid[0] + best.to(dtype) * fine_step
    theta = theta + _parabola_vertex(fine.gather(1, neighbours), fine_step)
    value = fine.gather(1, best[:, None])[:, 0]
    return theta, value


def _checked_angles(pairs, projector, n_angles, regularization):
    """The global angles of :func:`_global_angles`, kept only where the
    contrast there is lower than at angle zero by more than ``_JUMP``.

    The interpolated grid places a minimum to within a fraction of its step,
    so near a polished solution its angle can land beside the minimum, and on
    a flat, noisy contrast it can land anywhere; such a pair stays where it
    is. Returns ``(theta, value)``.
    """
    theta, _ = _global_angles(pairs, projector, n_angles, regularization)
    both = torch.stack((torch.zeros_like(theta), theta), dim=1)
    values = _contrast_at(pairs, projector, both, regularization)  # (P, 2)
    lower = values[:, 1] < (1 - _JUMP) * values[:, 0]
    return torch.where(lower, theta, 0.0), values.amin(dim=1)


def solve_rotation(
    Z,
    projector,
    *,
    max_iter=20,
    tol=1e-3,
    n_angles=16,
    regularization=0.1,
    callback=None,
):
    """Find the rotation ``W`` making the columns of ``Z @ W.T`` independent.

    Parameters
    ----------
    Z : Tensor of shape (n, m)
        White data (zero mean, identity covariance).
    projector : SeparableRandomProjector
        Frozen separable random projector defining the contrast.
    max_iter : int, default=20
        Maximum number of sweeps over all pairs.
    tol : float, default=1e-3
        The polishing sweeps stop when no plane rotation exceeds ``tol`` radians
        (or the summed contrast stops falling); the sweeps converge when a global
        check sweep then rotates no pair by more than half a grid step, or when
        the polishing after it stops again (with two components, after the first
        sweep's global search). ``0`` runs ``max_iter`` sweeps, not converged.
    n_angles : int, default=16
        Size of the global grid of angles searched for each pair.
    regularization : float, default=0.1
        Relative ridge added to each block's feature covariance.
    callback : callable, default=None
        Called as ``callback(sweep, loss, max_angle)`` after each sweep.

    Returns
    -------
    W : Tensor of shape (m, m), float64
        Orthogonal unmixing of ``Z``.
    info : dict
        ``converged`` (bool), ``n_iter`` (sweeps run) and ``loss_curve`` (the sum
        of the pair contrasts accepted during each sweep).
    """
    n, m = Z.shape
    # Small problems run on one thread: the passes are too short to share.
    with _single_threaded(Z.device, enabled=n * m <= _SMALL_PROBLEM):
        return _sweeps(Z, projector, max_iter, tol, n_angles, regularization, callback)


def _sweeps(Z, projector, max_iter, tol, n_angles, regularization, callback):
    """The Jacobi sweeps of :func:`solve_rotation` from the identity.

    The first sweep searches each pair's angle globally, later ones polish
    locally. Polishing stops when no rotation exceeds ``tol`` or when a sweep
    no longer lowers the summed contrast by 0.1% (with many components on a
    subsample of rows the angles keep moving in the contrast's noise). Then one
    global sweep checks the solution: polishing can stop in a local minimum
    that the first sweep, made from the identity, did not rule out (as with
    some mixtures of eight of Bach & Jordan's densities, at several times the
    others' error). The check moves a pair only where its contrast
    drops by more than 10%; the sweeps have converged if it rotates no pair by
    more than the polishing stencil's step, and otherwise when the polishing
    that resumes from there stops again.
    """
    m = Z.shape[1]
    # The rotation accumulates in float64 whatever the contrast's dtype, and the
    # rotated data are recomputed from it each sweep, so no rounding drifts.
    W = torch.eye(m, dtype=torch.float64, device=Z.device)
    rounds = round_robin(m)
    step = _PERIOD / n_angles / 2
    loss_curve, converged, sweep = [], m < 2, 0
    search = True  # the next sweep searches globally
    checked = False  # the check sweep has run
    lowest = math.inf  # the lowest contrast of a polishing sweep so far
    while not converged and sweep < max_iter:
        sweep += 1
        loss, max_angle = 0.0, 0.0
        Y = Z @ W.T.to(Z.dtype)
        for pairs in rounds:
            index = torch.tensor(pairs, device=Z.device)  # (P, 2)
            batch = Y[:, index].permute(1, 0, 2)  # (P, n, 2)
            if search and sweep == 1:
                theta, value = _global_angles(
                    batch, projector, n_angles, regularization
                )
            elif search:
                theta, value = _checked_angles(
                    batch, projector, n_angles, regularization
                )
            else:
                theta, value = _local_angles(batch, projector, step, regularization)
            theta = torch.remainder(theta + _PERIOD / 2, _PERIOD) - _PERIOD / 2
            Y[:, index] = _rotate(batch, theta).permute(1, 0, 2)
            W[index] = _rotate(W[index].mT, theta.double()).mT
            loss += float(value.sum())
            max_angle = max(max_angle, float(theta.abs().max()))
        loss_curve.append(loss)
        if m == 2:  # the first sweep's global search is the solution
            converged = True
        elif search and sweep > 1:  # the check: did any pair leave its basin?
            converged, search, checked = max_angle < step, False, True
        else:  # polished, or no longer improving: check it once, globally
            stalled = loss > (1 - _STALL) * lowest  # never after the first sweep
            if sweep > 1:  # the first sweep's values are interpolated
                lowest = min(lowest, loss)
            if max_angle < tol or stalled:
                converged, search = checked, not checked
        converged = converged and tol > 0  # tol=0 runs max_iter sweeps
        if callback is not None:
            callback(sweep, loss, max_angle)
    info = {"converged": converged, "n_iter": sweep, "loss_curve": loss_curve}
    return W, info


def all_pair_contrasts(Y, projector, *, regularization=0.1):
    """The contrast of every pair of components at once, and its null scale.

    Each component's block of features is centred and whitened once (with the
    ridge of :func:`pair_contrast`); the cross-covariance of all whitened blocks
    is then one matrix product, and ``T[i, j]`` is the squared Frobenius norm of
    its ``(i, j)`` block divided by ``L``: :func:`pair_contrast` of every pair.

    For independent components ``(n - 1) L T[i, j]`` is a sum of squared,
    nearly independent normalised cross-covariances: its mean is ``d_i d_j``
    and its variance ``2 e_i e_j``, with ``d_i`` the trace and ``e_i`` the
    squared Frobenius norm of the whitened block's own covariance (its
    effective number of features). The standardised excess over that mean is
    returned as ``z``.

    Parameters
    ----------
    Y : Tensor of shape (n, m)
        Components (unit variance).
    projector : SeparableRandomProjector
        The frozen separable map ``psi``.
    regularization : float, default=0.1
        ``eps`` relative to the mean eigenvalue of each feature covariance.

    Returns
    -------
    T, z : Tensor of shape (m, m)
        Contrasts and their standardised excess over independence (zero
        diagonals).
    """
    n, m = Y.shape
    features = projector.feature_map(Y.T.contiguous())  # (m, n, L)
    width = features.shape[-1]
    features = features - features.mean(dim=1, keepdim=True)
    C = features.mT @ features / (n - 1)  # (m, L, L)
    scale = C.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None]
    eye = torch.eye(width, dtype=Y.dtype, device=Y.device)
    factor = torch.linalg.cholesky_ex(C + (regularization * scale + 1e-12) * eye)[0]
    white = torch.linalg.solve_triangular(factor, features.mT, upper=False)
    white = white.permute(2, 0, 1).reshape(n, m * width)  # (n, m L)
    cross = (white.mT @ white / (n - 1)).reshape(m, width, m, width)
    squares = cross.square().sum(dim=(1, 3))  # (m, m)
    own = cross.diagonal(dim1=0, dim2=2)  # (L, L, m)
    d = own.diagonal(dim1=0, dim2=1).sum(dim=-1)  # (m,)
    e = squares.diagonal()
    z = ((n - 1) * squares - d[:, None] * d) / torch.sqrt(2 * e[:, None] * e)
    z.fill_diagonal_(0.0)
    T = squares / width
    T.fill_diagonal_(0.0)
    return T, z


def dependent_pairs(z, threshold):
    """Pairs ``(i, j)``, ``i < j``, with ``z[i, j]`` above ``threshold``, in
    rounds of disjoint pairs, the most dependent first (a greedy matching)."""
    i, j = torch.triu_indices(len(z), len(z), offset=1, device=z.device)
    values = z[i, j]
    order = torch.argsort(values, descending=True)
    remaining = [
        (int(i[k]), int(j[k])) for k in order.tolist() if values[k] > threshold
    ]
    rounds = []
    while remaining:
        used, chosen, rest = set(), [], []
        for pair in remaining:
            if used.isdisjoint(pair):
                chosen.append(pair)
                used.update(pair)
            else:
                rest.append(pair)
        rounds.append(chosen)
        remaining = rest
    return rounds


def rotate_pairs(Y, rounds, projector, *, n_angles=12, regularization=0.1):
    """Move each listed pair of components to the global minimum of its
    contrast in its plane, where that lowers the contrast by more than 10%.

    Parameters
    ----------
    Y : Tensor of shape (n, m)
        Components; rotated in place.
    rounds : list of list of (int, int)
        Rounds of disjoint pairs (:func:`dependent_pairs`).
    projector : SeparableRandomProjector
        The frozen separable map ``psi``.
    n_angles : int, default=12
        Size of the global grid of angles.
    regularization : float, default=0.1
        Relative ridge of the contrast.

    Returns
    -------
    R : Tensor of shape (m, m), float64
        The rotation applied: the new components are ``Y_old @ R.T``.
    largest : float
        The largest angle applied, in radians.
    """
    m = Y.shape[1]
    R = torch.eye(m, dtype=torch.float64, device=Y.device)
    largest = 0.0
    with _single_threaded(Y.device, enabled=Y.shape[0] * m <= _SMALL_PROBLEM):
        for pairs in rounds:
            # Disjoint pairs, searched a few at a time: the grid's features
            # take n_angles x n x 2L values per pair.
            for start in range(0, len(pairs), _PAIR_BATCH):
                index = torch.tensor(
                    pairs[start : start + _PAIR_BATCH], device=Y.device
                )
                batch = Y[:, index].permute(1, 0, 2)
                theta, _ = _checked_angles(batch, projector, n_angles, regularization)
                Y[:, index] = _rotate(batch, theta).permute(1, 0, 2)
                R[index] = _rotate(R[index].mT, theta.double()).mT
                largest = max(largest, float(theta.abs().max()))
    return R, largest
