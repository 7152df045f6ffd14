"""The median heuristic for Gaussian-kernel bandwidths.

Variant used throughout :mod:`skvcreg.metrics` (several exist in public code):
for one variable with rows ``x_1, ..., x_n`` (scalars or vectors),

    s = median { ||x_a - x_b||_2 : a < b }

over all ``n (n - 1) / 2`` pairs of distinct rows, ties (zero distances) included,
with numpy's convention for an even number of pairs (the mean of the two middle
values), and no extra factor (no ``sqrt(2)``, no squaring). The kernel is then
``exp(-||a - b||^2 / (2 s^2))``. If that median is 0 (at least half of the pairs
tie), the median of the *non-zero* distances is used; a constant variable gets
``s = 1`` (its centred Gram matrix is zero whatever the bandwidth). Above
``10 000`` rows for a scalar variable (``2 000`` for a vector one), the pairs are
those of the evenly spaced, deterministic subsample of rows
``round(linspace(0, n - 1, m))``.

For scalar variables the median is found exactly in ``O(n log n)`` time without
listing the pairs: the rows are sorted, so the differences form a sorted matrix,
and a randomised selection (Floyd & Rivest) narrows a value bracket with exact
counts until few enough differences remain to list them. The randomness (a fixed
internal seed) only affects the running time, never the value.
"""

import numpy as np

from ._engine import subsample_rows

_MAX_ROWS_SCALAR = 10_000
_MAX_ROWS_VECTOR = 2_000
_SAMPLE_SIZE = 2048
_ENUMERATE_BELOW = 8192
_Z_SCORE = 2.5
_NUDGE = 1e-12
# Absolute nudge in [0, 1] units, well above the rounding of the 3 f offsets.
_ABS_NUDGE = 1e-12
_STACKED_ROWS = 32
_EXACT_BELOW = 1e-9


def bandwidth_rows(n, *, vector=False):
    """The rows the median heuristic uses out of ``n``: all up to 10 000 (2 000
    for a vector variable), above that the evenly spaced subsample."""
    return subsample_rows(n, _MAX_ROWS_VECTOR if vector else _MAX_ROWS_SCALAR)


def _median_ranks(n_pairs, n_zero):
    """1-based ranks (low, high) of the middle pair distance(s), zeros skipped
    when the plain median would be zero."""
    low, high = (n_pairs + 1) // 2, n_pairs // 2 + 1
    zero_median = n_zero >= high
    m = n_pairs - n_zero
    low = np.where(zero_median, n_zero + (m + 1) // 2, low)
    high = np.where(zero_median, n_zero + m // 2 + 1, high)
    return low, high


class _Differences:
    """Pairwise differences ``x[f, b] - x[f, a]`` (``a < b``) of sorted rows.

    Two representations: ``exact=True`` searches each row in its own units;
    ``exact=False`` maps each row to ``[0, 1]`` and stacks them with offsets
    ``3 f`` into one sorted array, so that one ``searchsorted`` serves every row
    (differences smaller than about ``1e-13`` of a row's range are then lost, and
    the caller re-checks those rows in exact mode). Thresholds are nudged off the
    values they come from (by ``max(1e-12 t, abs_nudge)``), so the rounding of
    ``x[a] + t`` cannot disagree with that of a listed difference.
    """

    def __init__(self, xs, *, exact):
        self.k, self.n = xs.shape
        self.exact = exact
        if exact:
            self.x, self.scale, self.abs_nudge = xs, np.ones(self.k), 0.0
        else:
            self.scale = xs[:, -1] - xs[:, 0]
            self.x = (xs - xs[:, :1]) / self.scale[:, None]
            self.flat = (self.x + 3.0 * np.arange(self.k)[:, None]).ravel()
            self.abs_nudge = _ABS_NUDGE

    def first_index(self, rows, shift, side):
        """For features ``rows`` and every a, the first b > a whose difference is
        above ``shift`` (side="right") or at least ``shift`` (side="left")."""
        n = self.n
        delta = np.maximum(_NUDGE * shift, self.abs_nudge)
        t = shift + delta if side == "right" else shift - delta
        x = self.x[rows]
        if self.exact:
            index = np.stack(
                [
                    np.searchsorted(r, r + v, side=side)
                    for r, v in zip(x, t, strict=True)
                ]
            )
        else:
            keys = (x + (3.0 * rows + t)[:, None]).ravel()
            index = np.searchsorted(self.flat, keys, side=side).reshape(x.shape)
            index -= rows[:, None] * n
        return np.clip(index, np.arange(1, n + 1), n)

    def count(self, rows, shift, side):
        """Pairs with difference < shift ("left") or <= shift ("right")."""
        first = self.first_index(rows, shift, side)
        return (first - np.arange(1, self.n + 1)).sum(axis=1)

    def sample(self, rows, lower, upper, rng):
        """Per feature, _SAMPLE_SIZE differences drawn uniformly among those with
        lower[a] <= b < upper[a]; sorted, shape (len(rows), _SAMPLE_SIZE)."""
        k, n = lower.shape
        x = self.x[rows]
        lengths = np.maximum(upper - lower, 0)
        ends = np.cumsum(lengths, axis=1)
        offsets = np.concatenate([[0], np.cumsum(ends[:, -1])[:-1]])
        draws = rng.integers(0, ends[:, -1:], size=(k, _SAMPLE_SIZE))
        draws = np.sort(draws, axis=1) + offsets[:, None]  # sorted keys: faster
        flat_ends = (ends + offsets[:, None]).ravel()
        flat = np.searchsorted(flat_ends, draws.ravel(), "right").reshape(draws.shape)
        a = flat - np.arange(k)[:, None] * n
        b = lower.ravel()[flat] + draws - (flat_ends[flat] - lengths.ravel()[flat])
        return np.sort(np.take_along_axis(x, b, 1) - np.take_along_axis(x, a, 1))

    def sample_all_pairs(self, rows, rng):
        """Per feature, _SAMPLE_SIZE differences of uniformly drawn pairs."""
        x = self.x[rows]
        k, n = x.shape
        a = rng.integers(0, n, size=(k, _SAMPLE_SIZE))
        b = rng.integers(0, n - 1, size=(k, _SAMPLE_SIZE))
        b += b >= a  # uniform over b != a; |x_b - x_a| is the pair's difference
        diff = np.take_along_axis(x, b, 1) - np.take_along_axis(x, a, 1)
        return np.sort(np.abs(diff))

    def listed(self, f, lower, upper):
        """All differences with lower[a] <= b < upper[a] of feature f."""
        lengths = np.maximum(upper - lower, 0)
        total = int(lengths.sum())
        a = np.repeat(np.arange(self.n), lengths)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        b = np.repeat(lower, lengths) + (np.arange(total) - starts)
        return self.x[f, b] - self.x[f, a]

    def next_above(self, rows, value):
        """Per feature, the smallest difference strictly above ``value``."""
        n = self.n
        index = self.first_index(rows, value, "right")
        diff = np.take_along_axis(self.x[rows], np.minimum(index, n - 1), 1)
        diff = diff - self.x[rows]
        return np.where(index < n, diff, np.inf).min(axis=1)


def _select(diffs, rank_low, rank_high, rng):
    """Per feature f, the pairwise differences of 1-based ranks ``rank_low[f]``
    and ``rank_high[f]`` (equal, or one apart), in the units of ``diffs``."""
    k, n = diffs.k, diffs.n
    lower = np.tile(np.arange(1, n + 1), (k, 1))
    upper = np.full((k, n), n)
    below = np.zeros(k, dtype=np.int64)  # differences below the bracket
    size = np.full(k, n * (n - 1) // 2, dtype=np.int64)
    low, high = np.full(k, np.nan), np.full(k, np.nan)
    half = _Z_SCORE * np.sqrt(_SAMPLE_SIZE) + 1.0
    for level in range(64):
        act = np.nonzero(np.isnan(low) & (size > _ENUMERATE_BELOW))[0]
        if act.size == 0:
            break
        r_low, r_high = rank_low[act], rank_high[act]
        if level == 0:
            sample = diffs.sample_all_pairs(act, rng)
        else:
            sample = diffs.sample(act, lower[act], upper[act], rng)
        centre = (0.5 * (r_low + r_high) - below[act] - 0.5) / size[act]
        centre = centre * _SAMPLE_SIZE
        pick = np.arange(act.size)
        guess = sample[pick, np.clip(centre.astype(np.int64), 0, _SAMPLE_SIZE - 1)]
        lo = sample[pick, np.clip((centre - half).astype(np.int64), 0, None)]
        top = np.clip((centre + half).astype(np.int64) + 1, None, _SAMPLE_SIZE - 1)
        hi = sample[pick, top]
        # Heavy ties (lo or hi equal to the guess): the guess may hold the ranks.
        tied = np.nonzero((lo == guess) | (hi == guess))[0]
        if tied.size:
            under = diffs.count(act[tied], guess[tied], "left")
            upto = diffs.count(act[tied], guess[tied], "right")
            hit = (under < r_low[tied]) & (r_low[tied] <= upto)
            low[act[tied[hit]]] = guess[tied[hit]]
            both = hit & (r_high[tied] <= upto)
            high[act[tied[both]]] = guess[tied[both]]
        new_lower = np.maximum(lower[act], diffs.first_index(act, lo, "left"))
        new_upper = np.minimum(upper[act], diffs.first_index(act, hi, "right"))
        new_below = below[act] + np.maximum(new_lower - lower[act], 0).sum(axis=1)
        new_size = np.maximum(new_upper - new_lower, 0).sum(axis=1)
        keep = (new_below < r_low) & (r_high <= new_below + new_size)
        keep &= np.isnan(low[act])
        upd = act[keep]
        lower[upd], upper[upd] = new_lower[keep], new_upper[keep]
        below[upd], size[upd] = new_below[keep], new_size[keep]
    for f in np.nonzero(np.isnan(low))[0]:
        values = diffs.listed(f, lower[f], upper[f])
        ranks = [rank_low[f] - below[f] - 1, rank_high[f] - below[f] - 1]
        part = np.partition(values, ranks)
        low[f], high[f] = part[ranks[0]], part[ranks[1]]
    missing = np.nonzero(np.isnan(high))[0]  # tie hit on the low rank only
    if missing.size:
        high[missing] = diffs.next_above(missing, low[missing])
    return low, high


def _median_differences(xs, *, exact):
    """Median (numpy convention) of the pairwise differences of each sorted,
    non-constant row of ``xs``, with the non-zero fallback; in xs's units."""
    k, n = xs.shape
    n_pairs = n * (n - 1) // 2
    rng = np.random.default_rng(0)
    diffs = _Differences(xs, exact=exact)
    rows = np.arange(k)
    rank_low, rank_high = _median_ranks(n_pairs, np.zeros(k, dtype=np.int64))
    low, high = _select(diffs, rank_low, rank_high, rng)
    out = np.where(high > 0, 0.5 * low + 0.5 * high, 0.0)  # no overflow
    out = np.where(out > 0, out, high)  # 0.5 * (0 + subnormal) underflows
    zero = np.nonzero(high == 0)[0]  # at least half of the pairs tie
    if zero.size and exact:  # (in [0, 1] units the caller re-checks these rows)
        ties = diffs.count(rows[zero], np.zeros(zero.size), "right")
        rank_low, rank_high = _median_ranks(n_pairs, ties)
        sub = _Differences(xs[zero], exact=exact)
        low, high = _select(sub, rank_low, rank_high, rng)
        mid = 0.5 * low + 0.5 * high
        out[zero] = np.where(mid > 0, mid, high)
    return out * diffs.scale


def median_bandwidths(X):
    """Median-heuristic bandwidth of every column of ``X`` (scalar variables).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64, finite, n_samples >= 2

    Returns
    -------
    bandwidths : ndarray of shape (n_features,)
        Positive bandwidths, as described in the module docstring.
    """
    X = X[bandwidth_rows(X.shape[0])]
    xs = np.sort(X.T, axis=1)
    out = np.ones(xs.shape[0])
    todo = np.nonzero(xs[:, -1] > xs[:, 0])[0]  # constant columns keep s = 1
    for start in range(0, todo.size, _STACKED_ROWS):
        chunk = todo[start : start + _STACKED_ROWS]
        fast = _median_differences(xs[chunk], exact=False)
        out[chunk] = fast
        # Medians within ~1e-9 of the range may have lost digits in [0, 1] units.
        small = chunk[fast <= _EXACT_BELOW * (xs[chunk, -1] - xs[chunk, 0])]
        if small.size:
            out[small] = _median_differences(xs[small], exact=True)
    # Never 0 for a non-constant column (a subnormal median could round to 0).
    return np.where(out > 0, out, np.finfo(np.float64).smallest_subnormal)


def _row_distances(block, x, unit):
    """Euclidean distances, in units of ``unit``, between the rows of ``block``
    and those of ``x``.

    Squaring raw differences overflows above about 1e154 and underflows below
    about 1e-162, which would turn every distance into inf or 0. As ``hypot``
    does, each difference vector is divided by its largest absolute entry before
    squaring; ``unit`` (a power of two, so dividing by it is exact) keeps the
    distances themselves below the largest float.
    """
    diff = np.abs(block[:, None, :] - x[None, :, :]) / unit
    top = diff.max(axis=2)
    diff /= np.where(top > 0, top, 1.0)[:, :, None]
    return top * np.sqrt(np.einsum("abk,abk->ab", diff, diff))


def median_bandwidth(x):
    """Median-heuristic bandwidth of one variable (``x`` of shape (n, p)).

    Euclidean distances between rows; see the module docstring for the variant.
    The result follows the scale of ``x`` (``c x`` gives ``|c|`` times the
    bandwidth, to rounding) from the smallest to the largest floats.
    """
    if x.shape[1] == 1:
        return float(median_bandwidths(x)[0])
    x = x[bandwidth_rows(x.shape[0], vector=True)]
    n = x.shape[0]
    spread = np.ptp(x, axis=0).max()
    if spread == 0:
        return 1.0
    # A power of two within a factor 2 of the spread (2^1024 would overflow).
    unit = np.ldexp(1.0, int(np.frexp(spread)[1]) - 1)
    distances = []
    for start in range(0, n - 1, 256):
        block = x[start : start + 256]
        dist = _row_distances(block, x, unit)
        rows, cols = np.nonzero(
            np.arange(n)[None, :] > np.arange(start, start + block.shape[0])[:, None]
        )
        distances.append(dist[rows, cols])
    distances = np.concatenate(distances)
    n_zero = int(np.count_nonzero(distances == 0))
    low, high = _median_ranks(distances.size, n_zero)
    part = np.partition(distances, [int(low) - 1, int(high) - 1])
    median = 0.5 * part[int(low) - 1] + 0.5 * part[int(high) - 1]
    # At most 2 sqrt(p) units: only the conversion back can exceed the floats.
    with np.errstate(over="ignore"):
        median = median * unit
    return float(min(median, np.finfo(np.float64).max))
