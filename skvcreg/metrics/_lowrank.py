"""Low-rank factors of per-feature Gaussian Gram matrices (pivoted incomplete
Cholesky), and the pairwise HSIC matrix they give with a certified error bound.

For each scalar feature ``f`` the pivoted incomplete Cholesky decomposition
(Fine & Scheinberg 2001; Bach & Jordan 2002) builds ``G_f`` (``n x r_f``) with
``K_f = G_f G_f^T + E_f``, the residual ``E_f`` positive semi-definite with known
trace ``eps_f = tr(E_f)``. With ``F_f = H G_f`` (centred columns),

    (n-1)^2 HSIC_ij = tr(K_i H K_j H) = ||F_i^T F_j||_F^2 + delta_ij,

and, since every term of ``delta_ij`` is the trace of a product of two positive
semi-definite matrices, ``0 <= delta_ij <= eps_i lam_j + eps_j lam_i`` with
``lam_f = ||F_f^T F_f||_F + eps_f >= lambda_max(H K_f H)``. The estimate never
exceeds the exact value, and its relative error is below
``(eps_i lam_j + eps_j lam_i) / ||F_i^T F_j||_F^2``, which is checked for every pair
after the product; features whose bound is too loose get more pivots, and only
the rows they add are multiplied again.

Cost: the Cholesky steps are ``O(d n r)`` each, batched over features; the product
of the stacked centred factors is ``O(n R^2)`` with ``R = sum_f r_f`` (a few tens
per feature for Gaussian-like data, measured on the benchmarks page; heavy tails
need more: every isolated outlier takes a pivot).
"""

import numpy as np

from ._engine import GaussianGrams, gram_product, single_threaded, squared_block_sums

# Byte budget of the stacked factors (it caps the rank).
_LOWRANK_BYTES = 2**30


class _Factors:
    """Resumable batched pivoted incomplete Cholesky of the Gram matrices
    ``exp(-(x_a - x_b)^2 / (2 s_f^2))`` of the columns of ``X``.

    All features advance together (one pivot each per step, a batched
    matrix-vector product); a feature that has met its tolerance gets a zero
    column, which is cheaper than gathering the active subset.
    """

    def __init__(self, X, bandwidths, max_rank):
        self.grams = GaussianGrams(X, bandwidths)
        self.x = self.grams.scaled()  # (d, n)
        d, n = self.x.shape
        self.max_rank = min(max_rank, n)
        # Zeros, not empty: a step over a few features leaves the others'
        # column unwritten, and a later step over all reads it.
        self.G = np.zeros((d, min(64, self.max_rank), n))
        self.used = np.zeros((d, self.G.shape[1]), dtype=bool)
        self.width = 0
        self.diag = np.ones((d, n))
        self.rank = np.zeros(d, dtype=np.int64)
        self.trace = np.full(d, float(n))

    def extend(self, tol):
        """Add pivots until each feature's residual trace is <= tol (d,)."""
        while True:
            active = (self.trace > tol) & (self.rank < self.max_rank)
            if not active.any():
                return
            self._step(active)

    def _grow(self):
        d, size, n = self.G.shape
        G = np.zeros((d, min(2 * size, d * self.max_rank), n))
        G[:, :size] = self.G
        used = np.zeros(G.shape[:2], dtype=bool)
        used[:, :size] = self.used
        self.G, self.used = G, used

    def _step(self, active):
        if self.width == self.G.shape[1]:
            self._grow()
        d = self.x.shape[0]
        # Few active features: gather them; many: run all, masking the others.
        full = active.sum() > d // 4
        idx = np.arange(d) if full else np.nonzero(active)[0]
        on = active[idx]
        k = idx.size
        rows = np.arange(k)
        diag = self.diag if full else self.diag[idx]
        pivot = np.argmax(diag, axis=1)
        column = self.grams.columns(None if full else idx, pivot)
        if self.width:
            G = self.G[:, : self.width] if full else self.G[idx, : self.width]
            g_pivot = G[rows[:, None], np.arange(self.width)[None, :], pivot[:, None]]
            column -= np.matmul(g_pivot[:, None, :], G)[:, 0]
        pivot_value = np.where(on, diag[rows, pivot], 1.0)
        column /= np.sqrt(pivot_value)[:, None]
        column[~on] = 0.0
        if full:
            self.G[:, self.width] = column
        else:
            self.G[idx, self.width] = column
        self.used[idx, self.width] = on
        self.width += 1
        column *= column
        diag -= column
        np.maximum(diag, 0.0, out=diag)
        diag[rows[on], pivot[on]] = 0.0
        if not full:
            self.diag[idx] = diag
        self.trace[idx] = diag.sum(axis=1)
        self.rank[idx] += on

    def centred_rows(self, first_step):
        """Centred factor rows of the steps from ``first_step`` on, step-major,
        with the feature owning each row."""
        used = self.used[:, first_step : self.width].T  # (steps, d)
        G = self.G[:, first_step : self.width].transpose(1, 0, 2)  # (steps, d, n)
        F = G[used]
        F -= F.mean(axis=1, keepdims=True)
        return F, np.nonzero(used)[1]

    def centred(self):
        """Stacked centred factors (R, n) and the first row of each feature."""
        used = self.used[:, : self.width]
        F = self.G[:, : self.width][used]  # feature-major rows
        F -= F.mean(axis=1, keepdims=True)
        offsets = np.concatenate([[0], np.cumsum(self.rank)[:-1]])
        return F, offsets


def _owner_block_sums(C, owner, d):
    """Sum of squares of C over the rows of feature i and the columns of j
    (rows in any order, ``owner`` giving each row's feature)."""
    if np.all(owner[1:] >= owner[:-1]):  # already feature-major
        return squared_block_sums(C, np.searchsorted(owner, np.arange(d)))
    order = np.argsort(owner, kind="stable")
    offsets = np.searchsorted(owner[order], np.arange(d))
    return squared_block_sums(C[np.ix_(order, order)], offsets)


def lowrank_hsic_matrix(X, bandwidths, *, rtol, max_rank, product=None):
    """Biased pairwise HSIC (times (n-1)^2) by pivoted incomplete Cholesky.

    Returns ``(S, converged, factors)`` where ``S[i, j] ~ tr(K_i H K_j H)`` with
    ``0 <= exact - S <= rtol * S`` certified for every pair when ``converged``.
    ``product(F)`` computes ``F @ F.T`` (default numpy; a torch device otherwise).
    Refinement rounds only multiply the rows they add.
    """
    d = X.shape[1]
    product = product or gram_product()
    factors = _Factors(X, bandwidths, max_rank)
    # First guess of the trace tolerance: under independence,
    # tr(K_i H K_j H) ~ tr(HK_iH) tr(HK_jH) / n and lam_j <= tr(HK_jH), so
    # eps ~ rtol tr(HK_iH) / (2 n), and tr(HKH) ~ n / 3 for the median heuristic.
    # The a posteriori check below corrects a poor guess.
    target = np.full(d, rtol / 8.0)
    F_old = C = owner = None
    for _ in range(8):
        done = factors.width
        factors.extend(target)
        if C is None:
            F_new, offsets = factors.centred()
            owner_new = np.repeat(np.arange(d), factors.rank)
        else:
            F_new, owner_new = factors.centred_rows(done)
        if C is None:
            C, F_old, owner = product(F_new), F_new, owner_new
        elif F_new.shape[0]:
            with single_threaded():
                B = F_new @ F_old.T
            C = np.block([[C, B.T], [B, product(F_new)]])
            F_old = np.concatenate([F_old, F_new])
            owner = np.concatenate([owner, owner_new])
        S = _owner_block_sums(C, owner, d)
        eps = factors.trace
        lam = np.sqrt(np.diag(S)) + eps
        bound = np.outer(eps, lam) + np.outer(lam, eps)
        if np.all(bound <= rtol * S):
            return S, True, factors
        # eps_i <= rtol S_ij / (2 lam_j) for every j makes the pair bound hold.
        need = np.min(rtol * S / (2.0 * lam[None, :]), axis=1)
        refine = need < eps
        if np.all(factors.rank[refine] >= factors.max_rank):
            return S, False, factors
        target = np.minimum(target, 0.5 * need)
    return S, False, factors


def lowrank_statistics(X, bandwidths, *, rtol, device=None):
    """:func:`lowrank_hsic_matrix` with the rank cap of :func:`pairwise_hsic`:
    ``4 sqrt(n)`` (at least 16), within a 1 GiB budget for the stacked factors,
    and the products on ``device`` (None: numpy)."""
    n, d = X.shape
    max_rank = min(n, max(16, int(4 * np.sqrt(n))))
    max_rank = max(8, min(max_rank, _LOWRANK_BYTES // (8 * d * n)))
    return lowrank_hsic_matrix(
        X, bandwidths, rtol=rtol, max_rank=max_rank, product=gram_product(device)
    )
