"""Pairwise HSIC from random Fourier features, as moments summed over rows.

With the engine's :class:`~skvcreg.metrics._engine.RandomFeatures`
``psi_f(t) = [cos(w_fl t), sin(w_fl t)]_{l=1..m}`` of each scalar feature and
``Q = [psi_1(x_1), ..., psi_d(x_d)] / sqrt(m)`` (``n x 2dm``),
``psi_f(a)^T psi_f(b) / m`` estimates the Gaussian kernel and equals 1 on the
diagonal, and the separable-projector lemma gives
``tr(K^_i H K^_j H) = ||(Q_i - mean)^T (Q_j - mean)||_F^2``. Everything comes
from two moments, ``P = Q^T Q`` and ``u = Q^T 1``: sums over rows, accumulated
over row chunks, so memory is ``O(chunk * 2dm + (2dm)^2)`` whatever ``n``, and a
dask array is reduced chunk by chunk (:func:`dask_rff_moments`) to the same sums.

The features and each chunk's product are float32 (their rounding, about 1e-7,
is far below the random-feature error, about ``n_features^{-1/2}``), shifted by
the mean features of the first rows so that the float64 sums over chunks do not
cancel. The chunks are the rows ``[k step, (k + 1) step)`` whatever the layout
of the input: a dask array's blocks are cut at the same global multiples of
``step``, so its float32 products are those of the in-memory array except where
a block boundary splits one. On the CPU this is numpy with one BLAS thread (the
engine's ``single_threaded``); on a torch device, torch.
"""

import itertools
import os

import numpy as np
import torch

from .._data import finite_range_row
from ._engine import RandomFeatures, single_threaded

_CHUNK_BYTES = 32 * 2**20


def _block_sums(M, d, m):
    """Per pair of features, the sum over its (cos/sin, frequency) block of M,
    M indexed by (cos or sin, feature, frequency) on both axes."""
    return M.reshape(2, d, m, 2, d, m).sum(axis=(0, 2, 3, 5))


def chunk_rows(d, n_features):
    """Rows per float32 chunk of features (about 32 MiB with its temporaries)."""
    return int(max(1, _CHUNK_BYTES // (4 * 3 * d * n_features)))


def make_features(first_rows, bandwidths, *, n_features, random_state):
    """The feature map: frequencies from ``random_state``, offset and shift from
    ``first_rows`` (the first :func:`chunk_rows` rows of the data)."""
    return RandomFeatures(bandwidths, n_features, random_state, first_rows)


def _edges(start, stop, step):
    """Chunk edges of the rows ``[start, stop)`` at the global multiples of
    ``step``."""
    inner = range((start // step + 1) * step, stop, step)
    return [start, *inner, stop]


def rff_moments(x, features, *, start=0, device=None, out=None):
    """``(P, u)``: the sums over the rows of ``x`` of ``q q^T`` (float64,
    (2dm, 2dm)) and ``q`` (2dm,), ``q`` the shifted features of a row; ``x``
    holds the rows ``start, start + 1, ...`` of the data. ``out``: an optional
    float64 buffer of ``(2dm)^2 + 2dm`` zeros to accumulate into."""
    width = features.width
    step = chunk_rows(x.shape[1], 2 * features.m)
    if out is None:
        out = np.zeros(width * width + width)
    P = out[: width * width].reshape(width, width)
    u = out[width * width :]
    edges = _edges(start, start + x.shape[0], step)
    pairs = [(a - start, b - start) for a, b in itertools.pairwise(edges) if b > a]
    if device is None or device.type == "cpu":
        Q = np.empty((min(step, x.shape[0]), width), dtype=np.float32)
        with single_threaded():
            for a, b in pairs:
                q = features.features(x[a:b], out=Q[: b - a])
                P += q.T @ q
                u += q.sum(axis=0, dtype=np.float64)
        return P, u
    P_t = torch.zeros(width, width, dtype=torch.float64, device=device)
    u_t = torch.zeros(width, dtype=torch.float64, device=device)
    for a, b in pairs:
        q = features.features_torch(x[a:b], device)
        P_t += (q.T @ q).to(torch.float64)
        u_t += q.sum(dim=0).to(torch.float64)
    P += P_t.cpu().numpy()
    u += u_t.cpu().numpy()
    return P, u


def _row_group_sums(P, d, m, terms):
    """Per pair of features, block sums of matrices built from ``P`` one row
    group at a time: ``terms(rows, R)`` maps the rows ``rows`` of ``P`` (one
    cos-or-sin, one feature: ``m`` rows ``R``) to a list of arrays of ``R``'s
    shape, and the result is the list of their (d, d) block sums. Only one
    group's temporaries are held beside ``P`` (a (2dm)^2 matrix: 128 MiB at
    32 features of 64 frequencies)."""
    totals = None
    for group in range(2 * d):
        rows = slice(group * m, (group + 1) * m)
        parts = [
            T.reshape(m, 2, d, m).sum(axis=(0, 1, 3)) for T in terms(rows, P[rows])
        ]
        if totals is None:
            totals = [np.zeros((d, d)) for _ in parts]
        for total, part in zip(totals, parts, strict=True):
            total[group % d] += part
    return totals


def statistics_from_moments(P, u, n, features, estimator):
    """``S[i, j]``: ``tr(K^_i H K^_j H)`` (biased) or ``n (n-3) HSIC_u``
    (unbiased) for the random-feature kernels ``K^``, from the moments of the
    shifted features. Row group by row group: no temporary of ``P``'s size."""
    m = features.m
    d = features.weights.shape[0]
    shift = features.shift.astype(np.float64) / np.sqrt(m)
    u = u / np.sqrt(m)
    if estimator == "biased":  # the centred covariance C = P - u u^T / n

        def centred_square(rows, R):
            return [np.square(R / m - np.outer(u[rows], u) / n)]

        return _row_group_sums(P, d, m, centred_square)[0]
    # Unbiased, from the uncentred products; the kernel diagonal is exactly 1.
    full_u = u + n * shift

    def uncentred_terms(rows, R):
        R = (
            R / m
            + np.outer(shift[rows], u)
            + np.outer(u[rows], shift)
            + n * np.outer(shift[rows], shift)
        )
        return [R * R, full_u[rows, None] * R * full_u[None, :]]

    blocks, uPu = _row_group_sums(P, d, m, uncentred_terms)
    uu = (full_u * full_u).reshape(2, d, m).sum(axis=(0, 2))
    s = uu - n
    rr = uPu - uu[:, None] - uu[None, :] + n
    return (blocks - n) + np.outer(s, s) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * rr


def rff_statistics(X, bandwidths, *, n_features, random_state, estimator, device):
    """:func:`statistics_from_moments` of an in-memory float64 array."""
    features = make_features(
        X[: chunk_rows(X.shape[1], n_features)],
        bandwidths,
        n_features=n_features,
        random_state=random_state,
    )
    P, u = rff_moments(X, features, device=device)
    return statistics_from_moments(P, u, X.shape[0], features, estimator)


def _merge_checks(tail, checks):
    """``tail`` and ``checks`` hold ``[count of non-finite values, minima,
    maxima]``: add the counts and keep the extremes, in ``tail``."""
    d = (tail.size - 1) // 2
    tail[0] += checks[0]
    np.minimum(tail[1 : 1 + d], checks[1 : 1 + d], out=tail[1 : 1 + d])
    np.maximum(tail[1 + d :], checks[1 + d :], out=tail[1 + d :])


class _Deferred:
    """One block of a dask array, computed by the task that uses it.

    As a task of its own, a block is ready from the start, and the free threads
    of dask's local scheduler compute blocks far ahead of the chains that
    consume them (a chain step takes much longer than making a block), holding
    them all, so the memory grows with the rows (the benchmarks page, "Beyond one
    machine", has the measurement). Wrapped, the block is made inside the chain
    step, so one block per thread is held. (A
    ``distributed`` scheduler queues root tasks itself, and needs the blocks as
    tasks to spread the chains over its workers.)"""

    def __init__(self, array):
        self.array = array

    def compute(self):
        return np.asarray(self.array.compute(scheduler="sync"))


def _accumulate(total, block, start, features, device):
    """Add one row block of a dask array to the running ``total``: its moments
    (skipped once NaN or infinity has been seen), its count of non-finite
    values and its columns' extremes, packed as ``[P, u, count, min, max]``.
    ``total`` is None for a chain's first block, and is updated in place: the
    previous step of the chain is its only other holder. ``block`` is made
    here (:class:`_Deferred`)."""
    if isinstance(block, _Deferred):
        block = block.compute()
    width, d = features.width, block.shape[1]
    size = width * width + width
    if total is None:
        total = np.zeros(size + 1 + 2 * d)
        total[size + 1 :] = np.repeat([np.inf, -np.inf], d)
    _merge_checks(total[size:], finite_range_row(block)[0])
    if total[size] == 0 and block.shape[0]:
        rff_moments(block, features, start=start, device=device, out=total[:size])
    return total


def _combine(totals, size):
    """The packed totals of several chains, combined."""
    total = totals[0]  # the chain's own total: added to in place
    for other in totals[1:]:
        total[:size] += other[:size]
        _merge_checks(total[size:], other[size:])
    return total


def _dask_threads():
    """Threads of the active ``distributed`` client (``None`` without one)."""
    try:
        from distributed import default_client

        return sum(default_client().nthreads().values())
    except (ImportError, ValueError):
        return None


def dask_rff_moments(X, features, device=None):
    """The moments of a 2-D dask array, summed over its row blocks, with the
    checks of the same pass: ``(P, u, n_nonfinite, low, high)``, ``low`` and
    ``high`` the columns' minima and maxima.

    The blocks are split into as many contiguous runs as the scheduler has
    threads; each run is a chain of tasks that adds one block at a time to one
    running total (``8 (2dm)^2`` bytes), and the runs' totals are added at the
    end. Memory is one total and one block per thread whatever the number of
    blocks (a tree of pairwise sums would hold one partial sum per level).
    Computed with the current dask scheduler (a ``distributed`` client when
    one is active).
    """
    import dask

    width, d = features.width, X.shape[1]
    size = width * width + width
    X = X.rechunk({1: -1})
    threads = _dask_threads()
    if threads is None:  # dask's local scheduler: blocks made inside the chains
        threads = dask.config.get("num_workers", None) or os.cpu_count() or 1
        blocks = [_Deferred(X.blocks[i]) for i in range(X.numblocks[0])]
    else:  # distributed queues root tasks itself, and spreads the chains
        blocks = list(X.to_delayed().ravel())
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).tolist()
    accumulate = dask.delayed(_accumulate, pure=True)
    features = dask.delayed(features, pure=True)
    runs = np.array_split(np.arange(len(blocks)), min(len(blocks), threads))
    totals = []
    for run in runs:
        total = None
        for i in run:
            total = accumulate(total, blocks[i], starts[i], features, device)
        totals.append(total)
    # The BLAS's thread count is global: set from here (the thread that waits),
    # it holds the local scheduler's threads to one BLAS thread each.
    with single_threaded():
        (total,) = dask.compute(dask.delayed(_combine, pure=True)(totals, size))
    P = total[: width * width].reshape(width, width)
    low, high = total[size + 1 : size + 1 + d], total[size + 1 + d :]
    return P, total[width * width : size], int(total[size]), low, high
