"""Source generators and linear mixtures for blind source separation.

The eighteen densities ``"a"`` to ``"r"`` are those of Bach & Jordan (2002), used by
the ICA literature as a benchmark (see the user guide, "ICA"). Every source is
returned with zero mean and unit variance, using the density's exact moments (not
the sample's), so the samples are independent draws and the mixing alone sets the
scale.
"""

import functools
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np
from scipy import stats
from scipy.integrate import trapezoid
from scipy.stats import ortho_group
from sklearn.utils import check_random_state

__all__ = [
    "DENSITIES",
    "cramer_rao_bound",
    "cramer_rao_errors",
    "fisher_information",
    "make_ica_mixture",
    "make_sources",
]

# Gaussian mixtures: (weights, means, standard deviations); weights are normalised.
_MIXTURES = {
    "g": ((1, 1), (-0.5, 0.5), (0.15, 0.15)),
    "h": ((1, 1), (-0.5, 0.5), (0.4, 0.4)),
    "i": ((1, 1), (-0.5, 0.5), (0.5, 0.5)),
    "j": ((1, 3), (-0.5, 0.5), (0.15, 0.15)),
    "k": ((1, 2), (-0.7, 0.5), (0.4, 0.4)),
    "l": ((1, 2), (-0.7, 0.5), (0.5, 0.5)),
    "m": ((1, 2, 2, 1), (-1, -0.33, 0.33, 1), (0.16, 0.16, 0.16, 0.16)),
    "n": ((1, 2, 2, 1), (-1, -0.2, 0.2, 1), (0.2, 0.3, 0.3, 0.2)),
    "o": ((1, 2, 2, 1), (-0.7, -0.2, 0.2, 0.7), (0.2, 0.3, 0.3, 0.2)),
    "p": ((1, 1, 2, 1), (-1, 0.3, -0.3, 1.1), (0.2, 0.2, 0.2, 0.2)),
    "q": ((1, 3, 2, 0.5), (-1, -0.2, 0.3, 1), (0.2, 0.3, 0.2, 0.2)),
    "r": ((1, 2, 2, 1), (-0.8, -0.2, 0.2, 0.5), (0.22, 0.3, 0.3, 0.2)),
}

#: Names accepted by :func:`make_sources`, with a one-line description each.
DENSITIES = {
    "a": "Student t, 3 degrees of freedom",
    "b": "double exponential (Laplace)",
    "c": "uniform",
    "d": "Student t, 5 degrees of freedom",
    "e": "exponential, shifted to zero mean",
    "f": "mixture of 2 double exponentials at -1 and 1",
    "g": "2 Gaussians, symmetric, multimodal",
    "h": "2 Gaussians, symmetric, transitional",
    "i": "2 Gaussians, symmetric, unimodal",
    "j": "2 Gaussians, nonsymmetric, multimodal",
    "k": "2 Gaussians, nonsymmetric, transitional",
    "l": "2 Gaussians, nonsymmetric, unimodal",
    "m": "4 Gaussians, symmetric, multimodal",
    "n": "4 Gaussians, symmetric, transitional",
    "o": "4 Gaussians, symmetric, unimodal",
    "p": "4 Gaussians, nonsymmetric, multimodal",
    "q": "4 Gaussians, nonsymmetric, transitional",
    "r": "4 Gaussians, nonsymmetric, unimodal",
    "laplace": "Laplace (same as 'b')",
    "uniform": "uniform (same as 'c')",
    "exponential": "exponential (same as 'e')",
    "student": "Student t, 3 degrees of freedom (same as 'a')",
    "gaussian": "standard normal: not separable by ICA, for tests",
}
_ALIASES = {"laplace": "b", "uniform": "c", "exponential": "e", "student": "a"}
_BACH_JORDAN = tuple("abcdefghijklmnopqr")


def _mixture(name):
    """Normalised weights, means and stds of mixture ``name``, and its exact
    mean and standard deviation."""
    weights, means, stds = (np.asarray(v, dtype=float) for v in _MIXTURES[name])
    weights = weights / weights.sum()
    mean = weights @ means
    return weights, means, stds, mean, np.sqrt(weights @ (stds**2 + means**2) - mean**2)


def _gaussian_mixture(name, n_samples, rng):
    weights, means, stds, mean, scale = _mixture(name)
    component = rng.choice(len(weights), size=n_samples, p=weights)
    x = rng.normal(means[component], stds[component])
    return (x - mean) / scale


def _sample(name, n_samples, rng):
    name = _ALIASES.get(name, name)
    if name in _MIXTURES:
        return _gaussian_mixture(name, n_samples, rng)
    if name == "a":
        return rng.standard_t(3, n_samples) / np.sqrt(3.0)
    if name == "b":
        return rng.laplace(scale=1 / np.sqrt(2), size=n_samples)
    if name == "c":
        return rng.uniform(-np.sqrt(3), np.sqrt(3), n_samples)
    if name == "d":
        return rng.standard_t(5, n_samples) / np.sqrt(5 / 3)
    if name == "e":
        return rng.exponential(size=n_samples) - 1.0
    if name == "f":
        # Locations -1 and 1 with equal weights, each Laplace of std 0.5.
        x = rng.choice([-1.0, 1.0], size=n_samples)
        x += rng.laplace(scale=0.5 / np.sqrt(2), size=n_samples)
        return x / np.sqrt(1.0 + 0.25)
    return rng.standard_normal(n_samples)  # "gaussian"


def _pdf(name, x):
    """Density of the unit-variance source ``name`` at ``x``, or ``None`` for the
    uniform and exponential densities, whose Fisher information is infinite."""
    name = _ALIASES.get(name, name)
    if name in _MIXTURES:
        weights, means, stds, mean, scale = _mixture(name)
        pdf = stats.norm.pdf(x[:, None] * scale + mean, means, stds) @ weights
        return pdf * scale
    if name == "a":
        return stats.t.pdf(x, 3, scale=1 / np.sqrt(3.0))
    if name == "b":
        return stats.laplace.pdf(x, scale=1 / np.sqrt(2))
    if name == "d":
        return stats.t.pdf(x, 5, scale=np.sqrt(3 / 5))
    if name == "f":
        scale, width = np.sqrt(1.25), 0.5 / np.sqrt(2)
        pdf = stats.laplace.pdf(x * scale, -1, width)
        return 0.5 * (pdf + stats.laplace.pdf(x * scale, 1, width)) * scale
    if name == "gaussian":
        return stats.norm.pdf(x)
    return None  # "c" (uniform) and "e" (exponential)


def fisher_information(density):
    """Fisher information for location of a source density, at unit variance.

    ``J = E[phi(s)^2]``, with ``phi = -p'/p`` the score of the density ``p`` of
    the source scaled to unit variance: 1 for a Gaussian and larger for any
    other density, the more so the further from Gaussian. It bounds how well
    any ICA method can separate: with ``N`` samples, the part of source ``j``
    left in the estimate of source ``i`` has asymptotic variance at least
    ``J_j / (N (J_i J_j - 1))`` (the Cramér-Rao bound of linear ICA, Tichavský,
    Koldovský & Oja 2006), reached by maximum likelihood with the true
    densities (:func:`cramer_rao_bound`; :func:`cramer_rao_errors` turns it
    into a floor of the Amari error).

    Parameters
    ----------
    density : str
        A density name, as in :func:`make_sources`.

    Returns
    -------
    float
        ``J``, computed by numerical integration of ``p'^2 / p``. ``inf`` for
        the uniform (``"c"``) and exponential (``"e"``) densities: their jumps
        at the edges of their support allow errors shrinking faster than
        ``1 / sqrt(N)``, and the bound does not apply.

    Examples
    --------
    >>> from skvcreg.datasets import fisher_information
    >>> round(fisher_information("laplace"), 3)  # exactly 2
    2.0
    >>> round(fisher_information("i"), 2)  # nearly Gaussian: close to 1
    1.1
    """
    if not isinstance(density, str) or density not in DENSITIES:
        raise ValueError(
            f"Unknown density {density!r}; choose among {sorted(DENSITIES)}."
        )
    return _fisher_information(_ALIASES.get(density, density))


@functools.cache
def _fisher_information(density):
    x = np.linspace(-15.0, 15.0, 300_001)
    p = _pdf(density, x)
    if p is None:
        return float("inf")
    dp = np.gradient(p, x)
    positive = p > 0
    return float(trapezoid(np.where(positive, dp**2 / np.where(positive, p, 1), 0), x))


def cramer_rao_bound(fisher_information, n_samples):
    """Cramér-Rao bound of linear ICA: the variance of every entry of the gain.

    For independent unit-variance sources with Fisher informations ``J_i`` and
    an efficient estimate of the unmixing from ``N`` samples, the gain ``G = W
    A`` (rows scaled to a unit diagonal) has off-diagonal entries with
    asymptotic variance ``var(G_ij) = J_j / (N (J_i J_j - 1))``: the part of
    source ``j`` left in the estimate of source ``i`` (Tichavský, Koldovský &
    Oja 2006). It is ``1 / (N J_i)`` when ``J_j`` is infinite (uniform,
    exponential), 0 when ``J_i`` is, and infinite when ``J_i J_j <= 1`` (two
    Gaussian sources are not identifiable).

    Parameters
    ----------
    fisher_information : array-like of shape (m,)
        ``J_i >= 1`` of each source (``inf`` allowed); see
        :func:`fisher_information`.
    n_samples : int or float
        ``N``, the number of samples of the estimate.

    Returns
    -------
    variance : ndarray of shape (m, m)
        ``var(G_ij)``, zero on the diagonal.

    References
    ----------
    P. Tichavský, Z. Koldovský and E. Oja, "Performance analysis of the
    FastICA algorithm and Cramér-Rao bounds for linear independent component
    analysis", IEEE Trans. Signal Processing 54(4), 2006.

    Examples
    --------
    >>> from skvcreg.datasets import cramer_rao_bound
    >>> cramer_rao_bound([2.0, 2.0], 1000)  # two Laplace sources
    array([[0.        , 0.00066667],
           [0.00066667, 0.        ]])
    """
    J = np.asarray(fisher_information, dtype=np.float64)
    if J.ndim != 1 or np.any(np.isnan(J)) or np.any(J <= 0):
        raise ValueError(
            "fisher_information must be a 1-D array of positive values (inf "
            f"allowed), got {fisher_information!r}."
        )
    if not np.isfinite(n_samples) or n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples!r}.")
    Ji, Jj = J[:, None], J[None, :]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        excess = Ji * Jj - 1.0
        variance = np.where(
            np.isinf(Jj),
            1.0 / (n_samples * Ji),  # the limit J_j -> inf (0 when J_i is inf)
            Jj / (n_samples * excess),
        )
        variance = np.where(np.isinf(Ji) & np.isfinite(Jj), 0.0, variance)
    variance = np.where(excess > 0, variance, np.inf)
    np.fill_diagonal(variance, 0.0)
    return variance


def cramer_rao_errors(densities, n_samples, *, n_draws=400, random_state=None):
    """Unmixing errors drawn from the Cramér-Rao bound of linear ICA.

    For sources ``i < j`` the parts ``(E_ij, E_ji)`` of each in the estimate of
    the other are drawn jointly Gaussian with covariance ``[[J_i, 1], [1,
    J_j]]^-1 / N`` (the bound of :func:`cramer_rao_bound`, with its
    correlation; infinite ``J`` capped at 1e12). ``I + E`` is then a gain an
    efficient method would reach: its Amari distance to the identity gives the
    floor of the Amari error (see :func:`skvcreg.metrics.amari_distance`).

    Parameters
    ----------
    densities : sequence of str
        The sources' densities, as in :func:`make_sources`.
    n_samples : int
        ``N``, the number of samples of the estimate.
    n_draws : int, default=400
        Number of error matrices drawn.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds :func:`numpy.random.default_rng`.

    Returns
    -------
    errors : ndarray of shape (n_draws, m, m)
        Off-diagonal errors, zero diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.datasets import cramer_rao_errors
    >>> from skvcreg.metrics import amari_distance
    >>> E = cramer_rao_errors(["b", "b"], 1000, random_state=0)
    >>> floor = np.mean([amari_distance(np.eye(2) + e, np.eye(2)) for e in E])
    >>> bool(0.01 < floor < 0.05)
    True
    """
    rng = np.random.default_rng(random_state)
    J = np.minimum([fisher_information(d) for d in densities], 1e12)
    m = len(J)
    errors = np.zeros((n_draws, m, m))
    for i in range(m):
        for j in range(i + 1, m):
            cov = np.linalg.inv([[J[i], 1.0], [1.0, J[j]]]) / n_samples
            pair = rng.multivariate_normal([0.0, 0.0], cov, size=n_draws)
            errors[:, i, j], errors[:, j, i] = pair[:, 0], pair[:, 1]
    return errors


def _check_count(name, value, *, minimum=1):
    """Return ``value`` as an int, refusing floats, strings and booleans."""
    if not isinstance(value, Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be an integer, got {value!r} of type {type(value).__name__}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def _check_densities(densities, rng):
    if isinstance(densities, str):
        densities = (densities,)
    boolean = isinstance(densities, (bool, np.bool_))
    if isinstance(densities, Integral) and not boolean:
        count = _check_count("The number of sources (densities)", densities)
        return tuple(rng.choice(_BACH_JORDAN, size=count))
    if boolean or isinstance(densities, Real) or not isinstance(densities, Iterable):
        raise TypeError(
            "densities must be a density name, a sequence of names or an integer "
            f"number of sources, got {densities!r}."
        )
    densities = tuple(densities)
    unknown = [d for d in densities if d not in DENSITIES]
    if unknown or not densities:
        raise ValueError(
            f"Unknown densities {unknown}; choose among {sorted(DENSITIES)}."
        )
    return densities


def make_sources(densities, n_samples=1000, *, random_state=None):
    """Draw independent sources, one column per density.

    Parameters
    ----------
    densities : str, sequence of str or int
        A density name (see :data:`DENSITIES`: ``"a"``-``"r"`` are Bach & Jordan's
        eighteen, plus ``"laplace"``, ``"uniform"``, ``"exponential"``,
        ``"student"`` and ``"gaussian"``), a sequence of names (one source each),
        or an integer ``m`` for ``m`` densities drawn at random from ``"a"``-``"r"``.
    n_samples : int, default=1000
        Number of samples.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; the same seed gives the same sources.

    Returns
    -------
    S : ndarray of shape (n_samples, n_sources)
        Independent sources with zero mean and unit variance in expectation.

    Examples
    --------
    >>> from skvcreg.datasets import make_sources
    >>> S = make_sources(["j", "q", "laplace"], n_samples=500, random_state=0)
    >>> S.shape
    (500, 3)
    """
    n_samples = _check_count("n_samples", n_samples)
    rng = check_random_state(random_state)
    names = _check_densities(densities, rng)
    return np.column_stack([_sample(name, n_samples, rng) for name in names])


def _bach_jordan_mixing(n_features, n_sources, rng):
    """``A = U diag(s) V^T`` with Haar ``U``, ``V`` and singular values in [1, 2]."""
    u = ortho_group.rvs(n_features, random_state=rng) if n_features > 1 else np.eye(1)
    v = ortho_group.rvs(n_sources, random_state=rng) if n_sources > 1 else np.eye(1)
    s = np.ones(n_sources)
    s[1:] = rng.uniform(1.0, 2.0, size=n_sources - 1)
    return (u[:, :n_sources] * s) @ v.T


def make_ica_mixture(
    densities=("j", "q"),
    n_samples=1000,
    *,
    n_features=None,
    mixing="bach-jordan",
    random_state=None,
):
    """Draw independent sources and mix them linearly: ``X = S @ A.T``.

    Parameters
    ----------
    densities : str, sequence of str or int, default=("j", "q")
        The sources, as in :func:`make_sources`; an integer draws that many
        densities at random from ``"a"``-``"r"``.
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=None
        Number of observed mixtures, at least the number of sources; ``None``
        means as many as sources (a square mixing).
    mixing : {"bach-jordan", "normal", "orthogonal"}, default="bach-jordan"
        ``"bach-jordan"`` is ``A = U diag(1, c_2, ..., c_m) V^T`` with Haar random
        ``U``, ``V`` and ``c_i ~ U(1, 2)`` (Bach & Jordan 2002); ``"normal"`` has
        standard normal entries; ``"orthogonal"`` is a Haar random orthonormal
        matrix (columns orthonormal when ``n_features > n_sources``).
    random_state : int, RandomState instance or None, default=None
        Seeds sources and mixing.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The observed mixtures.
    S : ndarray of shape (n_samples, n_sources)
        The sources.
    A : ndarray of shape (n_features, n_sources)
        The mixing matrix.

    Examples
    --------
    >>> from skvcreg.datasets import make_ica_mixture
    >>> X, S, A = make_ica_mixture(["j", "q"], n_samples=1000, random_state=0)
    >>> X.shape, S.shape, A.shape
    ((1000, 2), (1000, 2), (2, 2))
    """
    rng = check_random_state(random_state)
    S = make_sources(densities, n_samples, random_state=rng)
    n_sources = S.shape[1]
    if n_features is None:
        n_features = n_sources
    n_features = _check_count("n_features", n_features)
    if n_features < n_sources:
        raise ValueError(
            f"n_features={n_features} is smaller than the number of sources "
            f"{n_sources}; the mixture would not be invertible."
        )
    if mixing == "bach-jordan":
        A = _bach_jordan_mixing(n_features, n_sources, rng)
    elif mixing == "normal":
        A = rng.standard_normal((n_features, n_sources))
    elif mixing == "orthogonal":
        A = _bach_jordan_mixing(n_features, n_sources, rng)
        A, _ = np.linalg.qr(A)
    else:
        raise ValueError(
            f"mixing must be 'bach-jordan', 'normal' or 'orthogonal', got {mixing!r}."
        )
    return S @ A.T, S, A
