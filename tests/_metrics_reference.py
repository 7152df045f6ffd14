"""Direct numpy computations the metrics tests compare against (small n only)."""

import numpy as np


def gram(x, bandwidth):
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    with np.errstate(over="ignore"):  # huge ratios: the kernel is 0
        sq = (((x[:, None, :] - x[None, :, :]) / bandwidth) ** 2).sum(axis=2)
    return np.exp(-0.5 * sq)


def median_distance(x):
    """Median of the pairwise Euclidean distances a < b, non-zero fallback, 1 if
    constant (the documented variant)."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    n = x.shape[0]
    # hypot rescales before squaring: no overflow or underflow at any scale.
    dist = np.hypot.reduce(np.abs(x[:, None, :] - x[None, :, :]), axis=2)
    values = dist[np.triu_indices(n, k=1)]
    median = np.median(values)
    if median == 0:
        nonzero = values[values > 0]
        return float(np.median(nonzero)) if nonzero.size else 1.0
    return float(median)


def centre(K):
    """H K H with H = I - 11^T / n, written out."""
    return K - K.mean(axis=0) - K.mean(axis=1)[:, None] + K.mean()


def hsic_biased(K, L):
    """tr(K H L H) / (n-1)^2, with tr(A B) = sum(A * B^T) for symmetric B."""
    n = K.shape[0]
    return np.sum(centre(K) * L) / (n - 1) ** 2


def hsic_unbiased(K, L):
    """Song et al. (2012): [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2))
    - 2/(n-2) 1'K~L~1] / (n(n-3)), K~ and L~ with zero diagonals."""
    n = K.shape[0]
    Kt = K - np.diag(np.diag(K))
    Lt = L - np.diag(np.diag(L))
    value = (
        np.sum(Kt * Lt)
        + Kt.sum() * Lt.sum() / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * Kt.sum(axis=1) @ Lt.sum(axis=1)
    )
    return value / (n * (n - 3))


def pairwise_reference(X, estimator="biased", normalize=False, bandwidths=None):
    """Loop over pairs of columns with the explicit formulas."""
    n, d = X.shape
    if bandwidths is None:
        bandwidths = [median_distance(X[:, j]) for j in range(d)]
    grams = [gram(X[:, j], bandwidths[j]) for j in range(d)]
    func = hsic_biased if estimator == "biased" else hsic_unbiased
    H = np.array([[func(grams[i], grams[j]) for j in range(d)] for i in range(d)])
    if normalize:
        diag = np.diag(H).copy()
        for i in range(d):
            for j in range(d):
                ok = diag[i] > 0 and diag[j] > 0
                H[i, j] = H[i, j] / np.sqrt(diag[i] * diag[j]) if ok else 0.0
    return H


def gamma_pvalue(K, L):
    """Gretton et al. (2008) gamma approximation, written out entry by entry."""
    from scipy import stats

    n = K.shape[0]
    Kc, Lc = centre(K), centre(L)
    statistic = np.sum(Kc * Lc) / n
    var = 0.0
    for a in range(n):
        for b in range(n):
            if a != b:
                var += (Kc[a, b] * Lc[a, b]) ** 2
    var = var / (n * (n - 1))
    var = 2.0 * (n - 4) * (n - 5) / (n * (n - 1) * (n - 2) * (n - 3)) * var
    mu_x = (K.sum() - np.trace(K)) / (n * (n - 1))
    mu_y = (L.sum() - np.trace(L)) / (n * (n - 1))
    mean = (1 + mu_x * mu_y - mu_x - mu_y) / n
    shape = mean**2 / var
    scale = var * n / mean
    return stats.gamma.sf(statistic, shape, scale=scale)


def dhsic_reference(X, bandwidths):
    """Pfister et al.'s V-statistic with explicit loops over variables."""
    n, d = X.shape
    grams = [gram(X[:, j], bandwidths[j]) for j in range(d)]
    t1 = np.mean(np.prod(grams, axis=0))
    t2 = np.prod([K.mean() for K in grams])
    t3 = np.mean(np.prod([K.mean(axis=1) for K in grams], axis=0))
    return t1 + t2 - 2 * t3
