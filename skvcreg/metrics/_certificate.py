"""A separation certificate for any linear ICA: how well each component can be
trusted, from the data and the unmixing alone."""

import functools
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from scipy import stats
from sklearn.base import clone
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)

from .._data import validate_metric_rows
from .._scores import fisher_information, score_information
from ._amari import match_sources
from ._engine import single_threaded, subsample_rows
from ._independence_tests import adjust_pairwise

__all__ = [
    "SeparationCertificate",
    "certify_rows",
    "separation_certificate",
    "separation_stability",
]

_MAX_BINS = 5  # quantile bins per component of the dependence test
_MIN_ROWS = 50  # as the score refinement
# Defaults shared by separation_certificate and certify_rows (a fit's own
# certificate): rows read, level of both tests, non-identifiable level.
_N_ROWS = 20_000
_LEVEL = 0.01
_MAX_SD = 0.035


@dataclass(frozen=True, eq=False)
class SeparationCertificate:
    """Result of :func:`separation_certificate`: the precision of each component.

    Indices follow the rows of the unmixing (the components). For unit-variance
    independent sources, component ``i`` is ``s_i + sum_j G_ij s_j`` with the
    off-diagonal gain ``G_ij`` the part of source ``j`` left in it.

    Parameters
    ----------
    fisher_information : ndarray of shape (n_components,)
        Estimated Fisher information ``J_i >= 1`` of each component at unit
        variance: 1 for a Gaussian, the larger the further from Gaussian.
    gain_sd : ndarray of shape (n_components, n_components)
        Predicted standard deviation of each off-diagonal gain entry ``G_ij``
        for the score refinement's estimate from ``n_samples`` rows with the
        scores it fits: ``sqrt((k_j^2 v_i - 2 k_j + v_j) / n_samples) / (k_i
        k_j - 1)`` with ``k = E[phi']`` and ``v = E[phi^2]`` of each fitted
        score ``phi`` on rows it was not fitted on (the sandwich variance of
        the estimating equations). With the true scores ``k = v = J`` and it
        is the Cramér-Rao floor of linear ICA, ``sqrt(J_j / (n_samples (J_i
        J_j - 1)))``. 0 on the diagonal, ``inf`` when ``k_i k_j <= 1``.
    interference : ndarray of shape (n_components,)
        Expected total leak of the other sources into each component, as a
        fraction of its variance: ``sum_j gain_sd[i, j] ** 2``.
    interference_db : ndarray of shape (n_components,)
        ``10 log10(interference)``: -30 means a leak of 0.1% of the variance.
    non_identifiable : ndarray of shape (n_components, n_components), dtype bool
        Symmetric: pairs too close to two Gaussians to be told apart with
        ``n_samples`` rows: both components are nearly Gaussian, each one's
        leak with a Gaussian beside it, ``1 / sqrt(n_samples (J - 1))``,
        exceeding ``max_sd`` when its ``J`` is lowered by the noise of its
        estimate (the excess over 1 that the estimate reaches on Gaussian
        data of ``n_rows`` rows); or the rows read give no evidence that the
        pair is not two Gaussians (``gaussian_pvalues`` at least ``level``).
    gaussian_pvalues : ndarray of shape (n_components, n_components)
        Symmetric p-values (adjusted by ``correction``) of the hypothesis that
        two components are two independent Gaussians, from the third and
        fourth cumulants of the pair; 1 on the diagonal.
    pvalues : ndarray of shape (n_components, n_components) or None
        Symmetric p-values (adjusted by ``correction``) of the hypothesis that
        two components are independent, 0 on the diagonal; ``None`` when the
        test was not run.
    dependent : ndarray of shape (n_components, n_components) or None
        Symmetric, ``pvalues < level`` off the diagonal: pairs still dependent,
        a separation that did not finish; ``None`` without the test.
    n_samples : int
        Rows of the data, the ``N`` of the predicted standard deviations.
    n_rows : int
        Rows on which ``fisher_information`` and the test were computed.
    max_sd : float
        The level of ``non_identifiable``.
    level : float
        The level of ``dependent`` and of the Gaussian-pair test.
    correction : str or None
        The multiple-testing adjustment of ``pvalues`` and
        ``gaussian_pvalues``.
    drift : ndarray of shape (n_components,) or None
        How far each component would move if it were fitted on the first or
        on the second half of the rows read instead of on all of them, to
        first order, in the units of ``interference`` (a fraction of its
        variance): ``sum_j (D_ij / 2)^2`` over the pairs that are not
        ``non_identifiable``, with ``D = E_1 - E_2`` the difference of the two
        halves' Newton steps from the components. A half's step solves each
        pair's estimating equations on that half, ``[[k_i, 1], [1, k_j]]
        (E_ij, E_ji) = (G_ij, G_ji)`` with ``G_ij`` the mean of ``phi_i(y_i)
        y_j``, the scores ``phi`` fitted on all the rows read and ``k =
        E[phi']``. A recording that changes over time (an artefact in one
        half, a drifting channel) moves it; on stationary rows it is the
        sampling noise of half the rows read.
    drift_db : ndarray of shape (n_components,) or None
        ``10 log10(drift)``.
    drift_ratio : ndarray of shape (n_components,) or None
        ``drift`` against what stationary, independent rows give: the mean
        over the component's pairs in ``drift`` of ``D_ij^2`` divided by its
        variance on such rows (four times the sandwich variance of the
        pair's estimate from the rows read, with the moments of these
        scores). About 1 for them; well above 1 for a component that changes
        between the halves, and above 1 for serially correlated rows as well
        (fewer independent rows than counted). ``nan`` for a component with
        no such pair. The three are ``None`` in a certificate built without
        them.

    See Also
    --------
    separation_certificate : Computes it.
    skvcreg.plotting.SeparationCertificateDisplay : Draws it.

    Examples
    --------
    >>> import numpy as np
    >>> from skvcreg.metrics import separation_certificate
    >>> S = np.random.default_rng(0).laplace(size=(4000, 2))
    >>> cert = separation_certificate(S, np.eye(2), random_state=0)
    >>> bool(np.all(np.abs(cert.fisher_information - 2.0) < 0.2))  # Laplace: 2
    True
    >>> cert.non_identifiable_components, cert.dependent_components
    (array([False, False]), array([False, False]))
    """

    fisher_information: np.ndarray
    gain_sd: np.ndarray
    interference: np.ndarray
    interference_db: np.ndarray
    non_identifiable: np.ndarray
    gaussian_pvalues: np.ndarray
    pvalues: np.ndarray | None
    dependent: np.ndarray | None
    n_samples: int
    n_rows: int
    max_sd: float
    level: float
    correction: str | None
    drift: np.ndarray | None = None
    drift_db: np.ndarray | None = None
    drift_ratio: np.ndarray | None = None

    @property
    def non_identifiable_components(self):
        """Components in at least one non-identifiable pair, shape (n_components,).

        Returns
        -------
        ndarray of shape (n_components,), dtype bool
            ``non_identifiable.any(axis=1)``.
        """
        return self.non_identifiable.any(axis=1)

    @property
    def dependent_components(self):
        """Components in at least one dependent pair, shape (n_components,).

        Returns
        -------
        ndarray of shape (n_components,), dtype bool or None
            ``dependent.any(axis=1)``; ``None`` without the test.
        """
        return None if self.dependent is None else self.dependent.any(axis=1)


def _check_rows(X):
    """``X`` checked as the metrics check it, as a rows object."""
    return validate_metric_rows(X, "X", dtype=(np.float64, np.float32))


def _sample_rows(rows, n_rows, random_state):
    """The rows the certificate reads of ``rows`` (an already checked rows
    object of :mod:`skvcreg._data`), as a float64 ndarray, and their number:
    all of them up to ``n_rows``, else the engine's subsample (evenly spaced,
    or drawn from ``random_state``); of a dask array only those rows are
    computed and checked."""
    n = rows.shape[0]
    if n < _MIN_ROWS:
        raise ValueError(f"X has {n} rows; the certificate needs at least {_MIN_ROWS}.")
    return rows.sample(subsample_rows(n, n_rows, random_state), whole=False), n


def _components(sample, unmixing):
    """Components of the sampled rows, (n_components, rows), centred. A score
    fit needs each half of the rows (even, odd) spread over more than a few
    values: their 2% and 98% quantiles must differ."""
    Y = unmixing @ (sample - sample.mean(axis=0)).T
    spread = [
        np.ptp(np.quantile(half, [0.02, 0.98], axis=1), axis=0)
        for half in (Y[:, ::2], Y[:, 1::2])
    ]
    flat = (spread[0] <= 0) | (spread[1] <= 0)
    if np.any(flat):
        raise ValueError(
            f"Components {np.flatnonzero(flat).tolist()} are constant on most of "
            "the rows read (their 2% and 98% quantiles are equal): the unmixing "
            "has zero rows, annihilates the data, or the data are too discrete "
            "for a density estimate."
        )
    return Y


def _gain_variance(curvature, square, n):
    """Asymptotic variance of each off-diagonal gain entry ``G_ij`` of the
    estimate that solves ``E[phi_i(y_i) y_j] = 0`` with the fitted scores
    ``phi`` (the score refinement's), from ``n`` rows: the sandwich
    ``(H^-1 S H^-1)_11 / n`` of the pair's 2x2 estimating equations, with
    ``H = [[k_i, 1], [1, k_j]]`` (``k = E[phi']``) and ``S = [[v_i, 1], [1,
    v_j]]`` (``v = E[phi^2]``):

        var(G_ij) = (k_j^2 v_i - 2 k_j + v_j) / (n (k_i k_j - 1)^2).

    With the true scores ``k = v = J`` and this is the Cramér-Rao floor
    ``J_j / (n (J_i J_j - 1))``; a fitted score short of the true one has
    ``v != k`` and a larger variance, the one the refinement attains. ``k``
    and ``v`` are clipped below at 1 (a Gaussian's); infinite when
    ``k_i k_j <= 1``."""
    k = np.maximum(curvature, 1.0)
    v = np.maximum(square, 1.0)
    k_i, k_j = k[:, None], k[None, :]
    det = k_i * k_j - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = (k_j**2 * v[:, None] - 2.0 * k_j + v[None, :]) / (n * det**2)
    variance = np.where(det > 0, variance, np.inf)
    np.fill_diagonal(variance, 0.0)
    return variance


def _drift(Z, phi, curvature, non_identifiable):
    """``drift`` and ``drift_ratio`` of :class:`SeparationCertificate` from the
    components ``Z`` (m, r) at unit variance, its columns the rows read in
    their order, the refinement's scores ``phi`` fitted on all of them and
    their ``E[phi']``: the first-order difference of the fits of the first and
    second half of the rows."""
    k = np.maximum(curvature, 1.0)
    # The variance of each half's step is that of these scores' own
    # estimate (their in-sample moments): the held-out moments of the gain's
    # sd describe another estimate, whose scores are not fitted on these rows.
    variance = _gain_variance(k, np.maximum((phi * phi).mean(axis=1), 1.0), 1)
    used = np.isfinite(variance) & ~non_identifiable
    np.fill_diagonal(used, False)
    det = np.where(used, k[:, None] * k[None, :] - 1.0, 1.0)
    half = Z.shape[1] // 2
    steps = []
    for part in (slice(None, half), slice(half, None)):
        G = phi[:, part] @ Z[:, part].T / Z[:, part].shape[1]
        steps.append(np.where(used, (k[None, :] * G - G.T) / det, 0.0))
    D = steps[0] - steps[1]
    drift = 0.25 * (D * D).sum(axis=1)
    # Each half's step has twice the variance of one from all r rows.
    expected = np.where(used, 4.0 * variance / Z.shape[1], 1.0)
    with np.errstate(invalid="ignore"):
        ratio = np.where(used, D * D / expected, 0.0).sum(axis=1) / used.sum(axis=1)
    return drift, ratio


def _dependence_pvalues(Y):
    """Pearson's chi-square test of independence of every pair of rows of ``Y``
    on their quantile bins (a ``B x B`` contingency table per pair, ``B`` up to
    5 so that each cell expects at least 5 rows), all tables from one product of
    the stacked bin indicators. Returns the (m, m) p-values, 0 on the diagonal.
    """
    m, r = Y.shape
    n_bins = int(max(2, min(_MAX_BINS, np.sqrt(r / 5))))
    edges = np.quantile(Y, np.linspace(0, 1, n_bins + 1)[1:-1], axis=1)  # (B-1, m)
    bins = (Y.T[:, None, :] > edges[None]).sum(axis=1)  # (r, m)
    onehot = np.zeros((r, m * n_bins), dtype=np.float32)
    onehot[np.arange(r)[:, None], np.arange(m) * n_bins + bins] = 1.0
    # Counts below 2^24 are exact in float32.
    counts = (onehot.T @ onehot).astype(np.float64).reshape(m, n_bins, m, n_bins)
    margins = np.einsum("ibib->ib", counts)
    expected = margins[:, :, None, None] * margins[None, None, :, :] / r
    with np.errstate(invalid="ignore", divide="ignore"):
        cells = np.where(expected > 0, (counts - expected) ** 2 / expected, 0.0)
    statistic = cells.sum(axis=(1, 3))
    used = (margins > 0).sum(axis=1) - 1
    dof = np.outer(used, used)
    pvalues = np.where(dof > 0, stats.chi2.sf(statistic, np.maximum(dof, 1)), 1.0)
    np.fill_diagonal(pvalues, 0.0)
    return pvalues


def _gaussian_pair_pvalues(Y):
    """P-values of the hypothesis that two rows of ``Y`` are two independent
    Gaussians, for every pair: the pair's third and fourth cumulants (of the
    standardised rows) vanish. The statistic is ``r (|k3|^2 / 6 + |k4|^2 / 24)``
    with ``|k|^2`` the sum of squares of all entries of a cumulant tensor of the
    pair (Mardia's measures, without their averaging over the entries), which
    under the hypothesis is chi-square with 9 degrees of freedom (4 distinct
    third and 5 fourth cumulants). It is unchanged by a rotation of the pair,
    so it is not fooled by the rotation an ICA chose within a pair of
    Gaussians. All pairs from three matrix products; 1 on the diagonal."""
    m, r = Y.shape
    Y = Y - Y.mean(axis=1, keepdims=True)
    Y = Y / Y.std(axis=1, keepdims=True)
    Y2 = Y * Y
    cross = Y @ Y.T / r  # the pair's correlation
    k_iij = Y2 @ Y.T / r  # E[y_i^2 y_j]
    k_iiij = (Y2 * Y) @ Y.T / r - 3.0 * cross
    k_iijj = Y2 @ Y2.T / r - 1.0 - 2.0 * cross**2
    skew = np.mean(Y2 * Y, axis=1) ** 2 / 6.0
    kurt = (np.mean(Y2 * Y2, axis=1) - 3.0) ** 2 / 24.0
    statistic = r * (
        skew[:, None]
        + skew[None, :]
        + (k_iij**2 + k_iij.T**2) / 2.0
        + kurt[:, None]
        + kurt[None, :]
        + (k_iiij**2 + k_iiij.T**2) / 6.0
        + k_iijj**2 / 4.0
    )
    pvalues = stats.chi2.sf(statistic, 9)
    np.fill_diagonal(pvalues, 0.0)
    return pvalues


@functools.cache
def _gaussian_excess(n_rows):
    """How far above 1 the estimate of ``J`` goes for Gaussian data of
    ``n_rows`` rows: the largest ``J - 1`` of 16 Gaussian columns (a fixed draw,
    so the same for every call); below it a ``J`` cannot be told from a
    Gaussian's."""
    Z = np.random.default_rng(0).standard_normal((16, n_rows))
    with single_threaded(blas=False):
        return float(fisher_information(torch.from_numpy(Z)).max()) - 1.0


@validate_params(
    {
        "X": "no_validation",
        "unmixing": ["array-like"],
        "n_rows": [Interval(Integral, _MIN_ROWS, None, closed="left")],
        "test": ["boolean"],
        "level": [Interval(Real, 0.0, 1.0, closed="neither")],
        "correction": [StrOptions({"holm", "bh"}), None],
        "max_sd": [Interval(Real, 0.0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def separation_certificate(
    X,
    unmixing,
    *,
    n_rows=_N_ROWS,
    test=True,
    level=_LEVEL,
    correction="holm",
    max_sd=_MAX_SD,
    random_state=None,
):
    """Certify a linear ICA: the precision of each component, and pairs still
    dependent.

    For any unmixing (VCRegICA's or FastICA's ``components_``, Picard's, an MNE
    ICA's, with ``Y = (X - mean) @ unmixing.T``), estimates each component's
    Fisher information ``J`` and score and turns them, by the asymptotic theory
    of linear ICA (Tichavský, Koldovský & Oja 2006), into the predicted
    standard deviation of the part of each source left in each component (the
    Cramér-Rao floor :func:`skvcreg.datasets.cramer_rao_bound` when the scores
    are exact), an interference figure per component, and the pairs too close
    to two Gaussians to be separated. With
    ``test=True`` every pair of components is also tested for independence: a
    pair still dependent is a separation that did not finish. See the user
    guide, "Which components can I trust", for what each number means and when
    not to trust it.

    Parameters
    ----------
    X : {array-like, dask array} of shape (n_samples, n_features)
        The data the unmixing was fitted on (or new data from the same
        mixture). Only ``n_rows`` rows are read; of a dask array only those
        rows are computed and checked.
    unmixing : array-like of shape (n_components, n_features)
        The unmixing matrix (rows are components). Centring and scale do not
        matter: each component is centred and standardised.
    n_rows : int, default=20_000
        Rows on which ``J`` is estimated and the test run: all of them up to
        ``n_rows``, else evenly spaced rows (``random_state=None``) or rows
        drawn from ``random_state``. The predictions still use all
        ``n_samples`` rows.
    test : bool, default=True
        Test every pair of components for independence (Pearson's chi-square
        on a table of up to 5 x 5 quantile bins of the two components, all
        pairs from one matrix product).
    level : float, default=0.01
        Pairs with (adjusted) p-value below ``level`` are ``dependent``;
        pairs that the test of two Gaussians does not reject at ``level`` are
        ``non_identifiable``.
    correction : {"holm", "bh"} or None, default="holm"
        Multiple-testing adjustment over the pairs, of both tests: Holm
        (family-wise error), Benjamini-Hochberg (false discovery rate) or
        none.
    max_sd : float, default=0.035
        Pairs of two nearly Gaussian components are ``non_identifiable``: a
        component is nearly Gaussian when the standard deviation of its leak
        with a Gaussian beside it, ``1 / sqrt(n_samples (J - 1))`` with ``J``
        lowered by the noise of its estimate, exceeds ``max_sd`` (the
        default, a leak of 0.12% of the variance, flags nearly every pair of
        two Bach-Jordan (i) sources at 4000 rows and few others: see the
        benchmarks page). So
        are pairs that the rows read cannot tell from two Gaussians (a
        chi-square test of the pair's third and fourth cumulants, unchanged by
        a rotation of the pair, at ``level``).
    random_state : int, RandomState instance or None, default=None
        Draws the rows when ``n_samples > n_rows``; ``None`` takes evenly
        spaced rows.

    Returns
    -------
    SeparationCertificate
        Per component and per pair: ``fisher_information``, ``gain_sd``,
        ``interference`` (and in dB), ``non_identifiable`` (with
        ``gaussian_pvalues``), ``pvalues`` and ``dependent``.

    Raises
    ------
    ValueError
        For NaN or infinity, fewer than 50 rows, an unmixing whose width is
        not the number of features, or a component constant on the rows read.

    See Also
    --------
    skvcreg.plotting.SeparationCertificateDisplay : Draws the certificate.
    skvcreg.VCRegICA : Its ``certificate_`` is this certificate (without the
        test) of its own fit.

    Notes
    -----
    ``J`` is estimated as VCRegICA's score refinement estimates scores (score
    matching on quantile-knot ramps, cross-fitted): the information of the best
    approximation of the score in that family, at most the true ``J``. The
    predicted ``gain_sd`` is the sandwich variance of the refinement's
    estimating equations with those fitted scores, the asymptotic error of
    VCRegICA's refinement: at least the Cramér-Rao floor, and equal to it when
    the fitted score is the true one. Another method's error is at least the
    floor, and the dependence test says where it fell far short.

    Two Gaussians are not identifiable (independent components whose joint
    density is unchanged by rotations are Gaussian), and an ICA fitted on the
    same rows picks, within several Gaussian sources, the directions whose
    estimated ``J`` is highest by chance. The test of two Gaussians reads only
    what a rotation of the pair leaves unchanged (the sums of squares of its
    third and fourth cumulants, as Mardia's measures of bivariate skewness and
    kurtosis), so that choice does not hide such a pair.

    References
    ----------
    .. [1] P. Tichavský, Z. Koldovský and E. Oja, "Performance analysis of the
       FastICA algorithm and Cramér-Rao bounds for linear independent component
       analysis", IEEE Trans. Signal Processing 54(4), 2006.
    .. [2] S. Holm, "A simple sequentially rejective multiple test procedure",
       Scand. J. Statist. 6, 1979.
    .. [3] K. V. Mardia, "Measures of multivariate skewness and kurtosis with
       applications", Biometrika 57(3), 1970.

    Examples
    --------
    >>> from sklearn.decomposition import FastICA
    >>> from skvcreg.datasets import make_ica_mixture
    >>> from skvcreg.metrics import separation_certificate
    >>> X, S, A = make_ica_mixture(["b", "b", "gaussian", "gaussian"],
    ...                            n_samples=4000, random_state=0)
    >>> ica = FastICA(whiten="unit-variance", random_state=0).fit(X)
    >>> cert = separation_certificate(X, ica.components_, random_state=0)
    >>> cert.gain_sd.shape
    (4, 4)
    >>> int(cert.non_identifiable.sum()) // 2  # the two Gaussians' pair
    1
    """
    return certify_rows(
        _check_rows(X),
        unmixing,
        n_rows=n_rows,
        test=test,
        level=level,
        correction=correction,
        max_sd=max_sd,
        random_state=random_state,
    )


def certify_rows(
    rows,
    unmixing,
    *,
    n_rows=_N_ROWS,
    test=True,
    level=_LEVEL,
    correction="holm",
    max_sd=_MAX_SD,
    random_state=None,
):
    """:func:`separation_certificate` of rows already checked (a rows object of
    :mod:`skvcreg._data`, as a fit holds them): only the rows read are taken.
    A fit certifies itself with it."""
    sample, n = _sample_rows(rows, n_rows, random_state)
    unmixing = check_array(unmixing, dtype=np.float64, input_name="unmixing")
    if unmixing.shape[1] != sample.shape[1]:
        raise ValueError(
            f"unmixing has {unmixing.shape[1]} columns but X has "
            f"{sample.shape[1]} features; it must be (n_components, n_features)."
        )
    Y = _components(sample, unmixing)
    with single_threaded(blas=False):  # short torch passes over small arrays
        J, curvature, square, Z, phi, fitted_curvature = (
            t.numpy() for t in score_information(torch.from_numpy(Y), scores=True)
        )
    variance = _gain_variance(curvature, square, n)
    gain_sd = np.sqrt(variance)
    interference = variance.sum(axis=1)
    with np.errstate(divide="ignore"):
        interference_db = 10.0 * np.log10(interference)
    # Two sources are identifiable unless both are Gaussian, so the flag is on
    # the pair's weaker property: each component's own distance from a
    # Gaussian, as the sd 1 / sqrt(n (J - 1)) of its leak with a Gaussian
    # beside it. A pair of which one is far from a Gaussian is left unflagged
    # even where its sd is large: it is identifiable. Each J is lowered by its
    # noise, so a Gaussian whose J came out above 1 by chance stays flagged at
    # any n.
    lowered = np.maximum(J - _gaussian_excess(Y.shape[1]), 1.0)
    weak = n * (lowered - 1.0) * max_sd**2 < 1.0
    # An ICA picks the components most unlike a Gaussian, so within a set of
    # Gaussian sources their J come out higher than the noise of one estimate
    # (the same rows chose them): a pair is also flagged when a test that
    # ignores its rotation cannot tell it from two Gaussians.
    gaussian_pvalues = adjust_pairwise(_gaussian_pair_pvalues(Y), correction)
    np.fill_diagonal(gaussian_pvalues, 1.0)
    gaussian_pair = gaussian_pvalues >= level
    np.fill_diagonal(gaussian_pair, False)
    non_identifiable = (weak[:, None] & weak[None, :]) | gaussian_pair
    np.fill_diagonal(non_identifiable, False)
    drift, drift_ratio = _drift(Z, phi, fitted_curvature, non_identifiable)
    with np.errstate(divide="ignore"):
        drift_db = 10.0 * np.log10(drift)
    pvalues = dependent = None
    if test:
        pvalues = adjust_pairwise(_dependence_pvalues(Y), correction)
        dependent = pvalues < level
        np.fill_diagonal(dependent, False)
    return SeparationCertificate(
        fisher_information=J,
        gain_sd=gain_sd,
        interference=interference,
        interference_db=interference_db,
        drift=drift,
        drift_db=drift_db,
        drift_ratio=drift_ratio,
        non_identifiable=non_identifiable,
        gaussian_pvalues=gaussian_pvalues,
        pvalues=pvalues,
        dependent=dependent,
        n_samples=int(n),
        n_rows=int(Y.shape[1]),
        max_sd=float(max_sd),
        level=float(level),
        correction=correction,
    )


@validate_params(
    {
        "estimator": [HasMethods(["fit", "transform"])],
        "X": "no_validation",
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "n_rows": [Interval(Integral, _MIN_ROWS, None, closed="left")],
        "split": [StrOptions({"contiguous", "random"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def separation_stability(
    estimator, X, *, n_splits=2, n_rows=20_000, split="contiguous", random_state=None
):
    """Split-half stability of each component: the resampling check of the
    certificate.

    The expensive path, as ICASSO or RELICA: a clone of ``estimator`` is fitted
    on each of ``n_splits`` parts of the rows (halves by default), and each
    component of ``estimator`` (fitted on ``X`` here if it is not already) is
    matched to one component of each part's fit by the Hungarian algorithm on
    their correlations (:func:`match_sources`). A component's stability is its
    mean absolute correlation with its matches; ``1 - stability`` is about half
    its squared error, to compare with the certificate's ``interference``.

    The two splits answer two questions. ``"random"`` deals the rows out at
    random, as ICASSO resamples them: the parts are samples of the same
    recording, and a component is unstable when its estimate is imprecise,
    which is what the certificate predicts. ``"contiguous"`` cuts the rows into
    consecutive blocks (the first and second half of a recording): a component
    is also unstable when the recording changes over time (a source active in
    one half only, a drifting electrode), which the certificate's
    ``interference`` does not predict and its ``drift`` estimates to first
    order.

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``transform``
        An ICA estimator (:class:`~skvcreg.VCRegICA`,
        :class:`~sklearn.decomposition.FastICA`); fitted on ``X`` unless it has
        ``components_`` already. Its clones are fitted on the blocks.
    X : {array-like, dask array} of shape (n_samples, n_features)
        The data.
    n_splits : int, default=2
        Number of parts of the rows, each fitted once.
    n_rows : int, default=20_000
        Evenly spaced rows on which components are correlated.
    split : {"contiguous", "random"}, default="contiguous"
        Consecutive blocks of rows, or rows dealt out at random (parts of equal
        size, each part's rows kept in their order).
    random_state : int, RandomState instance or None, default=None
        Deals the rows out with ``split="random"``; unused otherwise.

    Returns
    -------
    stability : ndarray of shape (n_components,)
        Mean absolute correlation of each component of ``estimator`` with its
        match in each block's fit, in ``[0, 1]``; 1 is perfectly stable.

    See Also
    --------
    separation_certificate : The analytic answer, at a fraction of the cost.

    Examples
    --------
    >>> from sklearn.decomposition import FastICA
    >>> from skvcreg.datasets import make_ica_mixture
    >>> from skvcreg.metrics import separation_stability
    >>> X, S, A = make_ica_mixture(["b", "b", "c"], n_samples=4000, random_state=0)
    >>> ica = FastICA(whiten="unit-variance", random_state=0)
    >>> stability = separation_stability(ica, X)
    >>> stability.shape, bool(stability.min() > 0.99)
    ((3,), True)
    """
    rows = _check_rows(X)
    sample, n = _sample_rows(rows, n_rows, None)
    if n // n_splits < _MIN_ROWS:
        raise ValueError(
            f"X has {n} rows: too few for {n_splits} blocks of at least "
            f"{_MIN_ROWS} rows."
        )
    if split == "random":
        dealt = check_random_state(random_state).permutation(n)
        parts = [rows.X[np.sort(part)] for part in np.array_split(dealt, n_splits)]
    else:
        parts = [X[b[0] : b[-1] + 1] for b in np.array_split(np.arange(n), n_splits)]
    if not hasattr(estimator, "components_"):
        estimator = clone(estimator).fit(X)
    reference = estimator.transform(sample)
    correlations = []
    for part in parts:
        match = match_sources(reference, clone(estimator).fit(part).transform(sample))
        correlations.append(match.correlations)
    return np.mean(correlations, axis=0)
