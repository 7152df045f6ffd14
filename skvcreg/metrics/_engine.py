"""The internal engine of :mod:`skvcreg.metrics`: the one place that builds
kernel values and random features, picks rows, limits threads, and multiplies.

The computing modules (``_exact``, ``_lowrank``, ``_rff``, ``_bandwidth``) build
on it and expose entry points without a leading underscore, which the public
functions (``_hsic``, ``_independence_tests``, ``_dhsic``, ``_scorer``) call; no
module imports another's underscore names. What lives here:

- threads: :func:`single_threaded`, one BLAS and OpenMP thread for small
  products on the CPU, safe to enter from several threads at once;
- rows: :func:`subsample_rows`, the evenly spaced or seeded subsample every
  metric uses (the median heuristic, the score), for numpy and dask arrays
  alike (the data enter through :func:`skvcreg._data.validate_metric_rows`);
- kernels: :func:`scale_by_bandwidth`, :class:`GaussianGrams` (row blocks,
  whole matrices and pivot columns of Gaussian Gram matrices) and
  :class:`RandomFeatures` (the random Fourier feature map);
- products and sums: :func:`metric_device`, :func:`gram_product`,
  :func:`squared_block_sums`;
- finishing: :func:`finish_statistics` turns the unscaled pairwise sums of any
  engine into HSIC or CKA values.
"""

import numpy as np
import torch
from sklearn.utils import check_random_state

from .. import _threads
from .._torch_utils import resolve_device

_BLOCK_BYTES = 64 * 2**20
# Beyond 1e6 bandwidths every kernel value is 0 and float32 phases are
# meaningless, so larger scaled values are clipped (random features).
_PHASE_LIMIT = 1e6

# --------------------------------------------------------------------- threads

# The package's one limiter (:mod:`skvcreg._threads`), used from here by the
# metrics.
single_threaded = _threads.single_threaded


# ------------------------------------------------------------------------ rows


def subsample_rows(n, max_rows, random_state=None):
    """The rows every metric subsamples: all of them (``slice(None)``) when
    ``n <= max_rows``; otherwise the evenly spaced rows
    ``round(linspace(0, n - 1, max_rows))`` when ``random_state`` is None, or
    ``max_rows`` distinct rows drawn uniformly from ``random_state``, sorted."""
    if n <= max_rows:
        return slice(None)
    if random_state is None:
        return np.round(np.linspace(0, n - 1, max_rows)).astype(np.intp)
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n, size=max_rows, replace=False))


# --------------------------------------------------------------------- kernels


def scale_by_bandwidth(x, bandwidths, *, low=None, limit=1e150):
    """``(x - low) / s``, so that every kernel is ``exp(-||t_a - t_b||^2 / 2)``.

    ``low=None`` divides without shifting, which keeps every difference that
    ``x`` can represent (a shift by the minimum would lose differences far below
    the range). Dividing the differences (rather than multiplying squares by
    ``1/(2 s^2)``) cannot produce ``inf * 0``. Values beyond ``+-limit``, where
    every kernel value with a different point is exactly 0 in float64, are
    replaced by ``+-limit (1 + 1e-6 (1 + rank))`` (rank among the distinct such
    values of the column), which keeps those kernel values exact (0 between
    distinct points, 1 between equal ones) without overflow.
    """
    with np.errstate(over="ignore"):
        t = x / bandwidths if low is None else (x - low) / bandwidths
    far = np.abs(t) > limit
    if not far.any():
        return t
    for j in np.nonzero(far.any(axis=0))[0]:
        rows = np.nonzero(far[:, j])[0]
        values = x[rows, j] if x.ndim == 2 else x[rows]
        _, rank = np.unique(np.abs(values), return_inverse=True)
        step = limit * 1e-6  # far above 40 and above the spacing of floats there
        t[rows, j] = np.sign(values) * (limit + step * (1 + rank.ravel()))
    return t


class GaussianGrams:
    """The Gaussian Gram matrices of several variables, built on demand.

    ``variables``: a list of (n, p_v) float64 arrays (vector variables,
    Euclidean distances), or one (n, d) array whose columns are the (scalar)
    variables; ``bandwidths``: (V,) positive. The variables are stored divided
    by their bandwidths, as a torch tensor on ``device`` (the CPU for None), so
    every kernel is ``exp(-||t_a - t_b||^2 / 2)``. The matrices are never
    stored whole unless asked for: :meth:`rows` gives row blocks,
    :meth:`columns` single columns (for pivoted Cholesky factors).
    """

    def __init__(self, variables, bandwidths, device=None):
        self.device = torch.device("cpu") if device is None else device
        self.columns_are_variables = not isinstance(variables, list)
        bandwidths = np.asarray(bandwidths, dtype=np.float64)
        self.n_variables = bandwidths.shape[0]
        if self.columns_are_variables:
            scaled = scale_by_bandwidth(variables, bandwidths)
            self.x = torch.as_tensor(np.ascontiguousarray(scaled.T), device=self.device)
            self.n = variables.shape[0]
        else:
            self.x = [
                torch.as_tensor(scale_by_bandwidth(v, s), device=self.device)
                for v, s in zip(variables, bandwidths, strict=True)
            ]
            self.n = variables[0].shape[0]

    def block_size(self, factor=1):
        """Rows per block so that ``factor`` (V, b, n) float64 blocks fit in
        64 MiB."""
        per_row = 8 * self.n_variables * self.n * factor
        return int(max(1, min(self.n, _BLOCK_BYTES // per_row)))

    def rows(self, start, stop):
        """K_v[start:stop, :] for every v, a tensor of shape (V, stop - start, n)."""
        if self.columns_are_variables:
            diff = self.x[:, start:stop, None] - self.x[:, None, :]
            return diff.square_().mul_(-0.5).exp_()
        blocks = []
        for x in self.x:
            sq = torch.zeros(stop - start, self.n, dtype=x.dtype, device=x.device)
            for k in range(x.shape[1]):
                sq += (x[start:stop, k, None] - x[None, :, k]) ** 2
            blocks.append(torch.exp(-0.5 * sq))
        return torch.stack(blocks)

    def blocks(self, factor=1):
        """``(start, stop, rows(start, stop))`` over all rows, in blocks of
        :meth:`block_size`."""
        step = self.block_size(factor)
        for start in range(0, self.n, step):
            stop = min(self.n, start + step)
            yield start, stop, self.rows(start, stop)

    def full(self):
        """All Gram matrices, a float64 numpy array of shape (V, n, n)."""
        return self.rows(0, self.n).cpu().numpy()

    def columns(self, variables, pivots):
        """Columns ``K_v[:, pivot_v]`` for the scalar variables ``variables``
        (CPU), a float64 numpy array of shape (len(variables), n)."""
        x = self.x.numpy()
        x = x if variables is None else x[variables]
        column = x - x[np.arange(x.shape[0]), pivots][:, None]
        column *= column
        column *= -0.5
        np.exp(column, out=column)
        return column

    def scaled(self):
        """The scaled scalar variables as a (V, n) numpy array (CPU)."""
        return self.x.cpu().numpy()


class RandomFeatures:
    """Random Fourier features of scalar variables, centred by a fixed shift.

    Variable ``f`` is mapped by ``psi_f(t) = [cos(w_fl t), sin(w_fl t)]_{l=1..m}``
    with ``t = (x - low_f) / s_f`` and ``w_fl ~ N(0, 1)`` drawn from
    ``random_state`` as one (d, m) array, so that ``psi_f(a)^T psi_f(b) / m`` is
    an unbiased estimate of ``exp(-(a - b)^2 / (2 s_f^2))`` (Rahimi & Recht
    2007). The phases and features are float32 and elementwise, so a row's
    features never depend on which other rows are computed with it. ``low``
    is the first of ``first_rows`` (the kernels do not depend on it; it keeps
    the float32 phases small) and ``shift``, subtracted from every feature, is
    the mean of the features of ``first_rows`` (sums of shifted features over
    many rows then cancel little).
    """

    def __init__(self, bandwidths, n_features, random_state, first_rows):
        self.bandwidths = np.asarray(bandwidths, dtype=np.float64)
        d = self.bandwidths.shape[0]
        self.m = n_features // 2
        rng = check_random_state(random_state)
        self.weights = rng.standard_normal((d, self.m)).astype(np.float32)
        first_rows = np.asarray(first_rows, dtype=np.float64)
        self.low = first_rows[0].copy()
        self.shift = np.zeros(2 * d * self.m, dtype=np.float32)
        self.shift = self.features(first_rows).mean(axis=0)

    @property
    def width(self):
        """Number of features of all variables, ``2 d m``."""
        return 2 * self.weights.size

    def phases(self, x):
        """Float32 phases ``t_f w_fl`` of the rows ``x``, shape (b, d m)."""
        t = scale_by_bandwidth(
            np.asarray(x, dtype=np.float64), self.bandwidths, low=self.low
        )
        t = np.clip(t, -_PHASE_LIMIT, _PHASE_LIMIT).astype(np.float32)
        return (t[:, :, None] * self.weights[None]).reshape(t.shape[0], -1)

    def features(self, x, out=None):
        """Shifted float32 features ``[cos, sin] - shift`` of the rows ``x``,
        (b, 2 d m) indexed by (cos or sin, variable, frequency); written into
        ``out`` when given."""
        phase = self.phases(x)
        dm = phase.shape[1]
        q = np.empty((phase.shape[0], 2 * dm), np.float32) if out is None else out
        np.cos(phase, out=q[:, :dm])
        np.sin(phase, out=q[:, dm:])
        q -= self.shift
        return q

    def features_torch(self, x, device):
        """:meth:`features` computed with torch on ``device``."""
        phase = torch.as_tensor(self.phases(x), device=device)
        q = torch.cat([torch.cos(phase), torch.sin(phase)], dim=1)
        return q - torch.as_tensor(self.shift, device=device)


# -------------------------------------------------------- products and sums


def metric_device(device):
    """``None`` (numpy on the CPU) or the :class:`torch.device` named."""
    return None if device is None else resolve_device(device)


def _numpy_product(F):
    with single_threaded():
        return F @ F.T


def gram_product(device=None):
    """``F -> F @ F.T``: numpy with one BLAS thread (a symmetric rank-k update),
    or torch on ``device``."""
    if device is None:
        return _numpy_product

    def product(F):
        F = torch.as_tensor(F, device=device)
        return (F @ F.T).cpu().numpy()

    return product


def squared_block_sums(C, offsets):
    """Sum of squares of each (i, j) block of ``C``, the blocks starting at
    ``offsets`` on both axes."""
    C = C * C
    return np.add.reduceat(np.add.reduceat(C, offsets, axis=0), offsets, axis=1)


# ------------------------------------------------------------------ finishing


def scale_sums(S, n, estimator):
    """From the unscaled sums of the engines (``tr(K_i H K_j H)`` or
    ``n (n-3) HSIC_u``) to HSIC values."""
    if estimator == "biased":
        return S / (n - 1) ** 2
    return S / (n * (n - 3))


def normalise(S):
    """CKA: ``S_ij / sqrt(S_ii S_jj)``, 0 where a variable has no spread."""
    diag = np.diag(S).copy()
    ok = diag > 0
    root = np.sqrt(np.where(ok, diag, 1.0))
    out = S / np.outer(root, root)
    out[~ok, :] = 0.0
    out[:, ~ok] = 0.0
    return out


def finish_statistics(S, constant, n, estimator, normalize):
    """Zero the rows of constant variables (exactly independent of everything),
    symmetrise, scale, and optionally normalise."""
    S = 0.5 * (S + S.T)
    S[constant, :] = 0.0
    S[:, constant] = 0.0
    S = scale_sums(S, n, estimator)
    return normalise(S) if normalize else S
