"""Pairwise HSIC from random Fourier features, streamed over rows.

Each scalar feature ``f`` is mapped by ``psi_f(t) = m^{-1/2} [cos(w_fl t),
sin(w_fl t)]_{l=1..m}`` with ``w_fl ~ N(0, s_f^{-2})`` (Rahimi & Recht 2007), so
that ``psi_f(a)^T psi_f(b) = m^{-1} sum_l cos(w_fl (a - b))`` is an unbiased
estimate of ``exp(-(a - b)^2 / (2 s_f^2))`` and equals 1 on the diagonal. With
``Q = [psi_1(x_1), ..., psi_d(x_d)]`` (``n x 2dm``), the separable-projector lemma
gives ``tr(K^_i H K^_j H) = ||(Q_i - mean)^T (Q_j - mean)||_F^2``: one product
``Q^T Q``, accumulated over row chunks, so memory is ``O(chunk * 2dm + (2dm)^2)``
whatever ``n``.

The features and each chunk's product are computed in float32 (their rounding,
about 1e-7, is far below the random-feature error, about ``n_features^{-1/2}``),
after subtracting the mean of the first chunk so that the float64 sums over
chunks do not cancel. On the CPU this is numpy with a single-threaded BLAS (see
``_lowrank.single_threaded``); on a torch device, torch.
"""

import numpy as np
import torch
from sklearn.utils import check_random_state

from ._bandwidth import scale_by_bandwidth
from ._lowrank import single_threaded

_CHUNK_BYTES = 32 * 2**20
# Beyond 1e6 bandwidths every kernel value is 0 and float32 phases are
# meaningless, so larger scaled values are clipped.
_PHASE_LIMIT = 1e6


def _block_sums(M, d, m):
    """Per pair of features, the sum over its (cos/sin, frequency) block of M,
    M indexed by (cos or sin, feature, frequency) on both axes."""
    return M.reshape(2, d, m, 2, d, m).sum(axis=(0, 2, 3, 5))


def _chunks(X, bandwidths, weights, step):
    """Scaled float32 phases ``t_f w_fl`` of successive row chunks, (b, d m)."""
    low = X.min(axis=0)
    for start in range(0, X.shape[0], step):
        t = scale_by_bandwidth(X[start : start + step], bandwidths, low=low)
        t = np.clip(t, -_PHASE_LIMIT, _PHASE_LIMIT).astype(np.float32)
        yield (t[:, :, None] * weights[None]).reshape(t.shape[0], -1)


def _accumulate_numpy(X, bandwidths, weights, step):
    dm = weights.size
    P = np.zeros((2 * dm, 2 * dm))
    u = np.zeros(2 * dm)
    shift = None
    Q = np.empty((step, 2 * dm), dtype=np.float32)
    with single_threaded():
        for phase in _chunks(X, bandwidths, weights, step):
            q = Q[: phase.shape[0]]
            np.cos(phase, out=q[:, :dm])
            np.sin(phase, out=q[:, dm:])
            if shift is None:
                shift = q.mean(axis=0)
            q -= shift
            P += q.T @ q
            u += q.sum(axis=0, dtype=np.float64)
    return P, u, shift.astype(np.float64)


def _accumulate_torch(X, bandwidths, weights, step, device):
    dm = weights.size
    P = torch.zeros(2 * dm, 2 * dm, dtype=torch.float64, device=device)
    u = torch.zeros(2 * dm, dtype=torch.float64, device=device)
    shift = None
    for phase in _chunks(X, bandwidths, weights, step):
        phase = torch.as_tensor(phase, device=device)
        q = torch.cat([torch.cos(phase), torch.sin(phase)], dim=1)
        if shift is None:
            shift = q.mean(dim=0)
        q -= shift
        P += (q.T @ q).to(torch.float64)
        u += q.sum(dim=0).to(torch.float64)
    return P.cpu().numpy(), u.cpu().numpy(), shift.to(torch.float64).cpu().numpy()


def rff_statistics(X, bandwidths, *, n_features, random_state, estimator, device):
    """``S[i, j]``: ``tr(K^_i H K^_j H)`` (biased) or ``n (n-3) HSIC_u`` (unbiased)
    for the random-feature kernels ``K^``."""
    n, d = X.shape
    m = n_features // 2
    rng = check_random_state(random_state)
    weights = rng.standard_normal((d, m)).astype(np.float32)
    step = int(max(1, _CHUNK_BYTES // (4 * 3 * 2 * d * m)))
    if device is None or device.type == "cpu":
        P, u, shift = _accumulate_numpy(X, bandwidths, weights, step)
    else:
        P, u, shift = _accumulate_torch(X, bandwidths, weights, step, device)
    P, u, shift = P / m, u / np.sqrt(m), shift / np.sqrt(m)
    if estimator == "biased":
        C = P - np.outer(u, u) / n
        return _block_sums(C * C, d, m)
    # Unbiased, from the uncentred products; the kernel diagonal is exactly 1.
    P = P + np.outer(shift, u) + np.outer(u, shift) + n * np.outer(shift, shift)
    u = u + n * shift
    blocks = _block_sums(P * P, d, m)
    uPu = _block_sums(u[:, None] * P * u[None, :], d, m)
    uu = (u * u).reshape(2, d, m).sum(axis=(0, 2))
    s = uu - n
    rr = uPu - uu[:, None] - uu[None, :] + n
    return (blocks - n) + np.outer(s, s) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * rr
