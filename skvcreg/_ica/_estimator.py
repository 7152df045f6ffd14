"""VCRegICA: blind source separation with a VCReg contrast (estimator layer)."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from scipy import linalg
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, metadata_routing
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._data import assign_fitted, validate_rows
from .._torch_utils import DEVICE_CONSTRAINT, make_generator, resolve_device
from ..metrics import pairwise_independence_score
from ..metrics._certificate import certify_rows
from ._solver import solve_ica
from ._whitening import fit_whitening

__all__ = ["VCRegICA"]


# The kernel features are computed in float32 on white components (unit
# variance) with random weights N(0, 1) / s: a bandwidth s must stay well inside
# float32's range, where those weights are finite and not all zero.
_BANDWIDTH_RANGE = (1e-30, 1e30)


def _check_widths_and_bandwidths(widths, bandwidths):
    """Element checks that type constraints cannot express."""
    auto = isinstance(widths, str)  # "auto", checked by the constraints
    if not auto and (
        len(widths) == 0
        or not all(
            isinstance(w, Integral) and not isinstance(w, bool) and w >= 1
            for w in widths
        )
    ):
        raise ValueError(
            f"projector_widths must be a non-empty tuple of positive integers, got "
            f"{widths!r}."
        )
    values = np.atleast_1d(np.asarray(bandwidths, dtype=object))
    if values.size == 0 or not all(
        isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v) and v > 0
        for v in values
    ):
        raise ValueError(
            f"bandwidths must be a positive float or a non-empty tuple of them, got "
            f"{bandwidths!r}."
        )
    low, high = _BANDWIDTH_RANGE
    if not all(low <= v <= high for v in values):
        raise ValueError(
            f"bandwidths must lie between {low:g} and {high:g}, got {bandwidths!r}: "
            "they are scales on the white components (of variance 1), and the "
            "kernel features are computed in float32, where the random weights "
            "N(0, 1) / bandwidth of values beyond that range overflow or vanish."
        )


def _order_and_sign(W, power):
    """The unmixing ``W`` with its rows in a canonical order and sign
    (``power``: each component's mean square, or one for all).

    Rows are sorted by the variance each component explains in ``X``,
    ``||mixing[:, i]||^2 * E[s_i^2]`` (largest first, as MNE-Python sorts its
    ICA components; ties keep the solver's order), and each row's sign makes
    the largest-magnitude entry of its mixing column positive (the first such
    entry on a tie). Both depend only on the fitted numbers, so the same seed
    gives the same components, in the same order and sign, on every machine.
    """
    mixing = linalg.pinv(W, check_finite=False)
    order = np.argsort(-np.sum(mixing**2, axis=0) * power, kind="stable")
    mixing = mixing[:, order]
    peaks = mixing[np.argmax(np.abs(mixing), axis=0), np.arange(mixing.shape[1])]
    return W[order] * np.where(peaks < 0, -1.0, 1.0)[:, None]


class VCRegICA(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Independent component analysis by Variance-Covariance Regularization.

    The data are whitened, then unmixed in two stages with complementary
    strengths (see the user guide for the mathematics):

    - a *kernel contrast*: the covariance between the outputs of a frozen random
      *separable* projector applied to each component. By the projector lemma
      (Mialon, Balestriero & LeCun 2022) it is a kernel independence criterion
      (HSIC) between the components, so minimising it makes them pairwise
      independent, which for a linear mixture identifies the sources up to order
      and scale (Comon 1994). It sees every kind of dependence, so it separates
      the skewed multimodal sources on which likelihood methods (FastICA,
      Picard, Infomax) stop at spurious solutions. Pairs of components are
      rotated to its global minimum (Jacobi sweeps on a grid of angles).
    - a *score refinement* (``refine=True``): quasi-Newton steps on the
      maximum-likelihood conditions ``E[phi_i(y_i) y_j] = 0`` with each source's
      score ``phi_i`` estimated from the data: semiparametric maximum
      likelihood, which reaches the Cramér-Rao floor from the right basin, at a
      cost linear in the rows (it always uses all of them, in chunks).

    With up to eight components the kernel sweeps go first, over all pairs, and
    the refinement polishes. With more (recordings of tens to hundreds of
    channels), the refinement starts from scikit-learn's FastICA on the white
    rows (up to 2^24 rows x components in memory; from the white data beyond),
    refined on a subset of rows then on all of them; the kernel contrast of
    every pair is then computed at once, and only the pairs still dependent
    beyond what independence explains get the kernel stage's global search and
    a new refinement. So the kernel work is done only where a likelihood method
    needs it.

    Parameters
    ----------
    n_components : int, default=None
        Number of components; ``None`` keeps all. Values above the rank of the
        centred data are clipped to it with a warning.
    whiten : {"unit-variance", "arbitrary-variance"} or False, \
default="unit-variance"
        As in :class:`~sklearn.decomposition.FastICA`: ``"unit-variance"`` rescales
        the sources to unit variance, ``"arbitrary-variance"`` leaves the variance
        the whitening gives (``1 / n_samples``), and ``False`` assumes ``X`` is
        already white (no centring, no whitening; ``n_components`` is then
        ignored with a warning).
    whiten_solver : {"eigh", "svd"}, default="eigh"
        ``"eigh"`` diagonalises the covariance, reduced over row chunks in
        float64 (memory independent of the rows). ``"svd"`` takes the SVD of
        the centred data in memory (float64), as FastICA's default, and
        resolves weaker directions. Both decide the rank on the standardised
        columns (constant columns, and directions at the rounding level of the
        input's dtype, are dropped with a warning that says why), so offsets,
        units and the scale of ``X`` do not change it.
    w_init : array-like of shape (n_components, n_components), default=None
        Starting unmixing of the whitened data (as FastICA's ``w_init``), for
        instance ``components_ @ pinv(whitening_)`` of an earlier fit on
        similar data. As FastICA, it is symmetrically decorrelated first
        (``(W W^T)^(-1/2) W``, a rotation); a singular or non-finite
        ``w_init`` is an error. It replaces the first stage; the refinement
        and the kernel screen still run.
    max_iter : int, default=20
        Maximum number of kernel sweeps over all pairs of components.
    tol : float, default=2e-3
        Convergence of the kernel sweeps: no plane rotation larger than ``tol``
        radians (or a sweep that no longer lowers the contrast), then a global
        check sweep that moves no pair out of its basin. The refinement
        converges when no entry of its update exceeds ``min(tol, 0.1 /
        sqrt(n_samples))``, or half that entry's own asymptotic standard error
        (larger between nearly Gaussian components, whose likelihood is nearly
        flat). ``0`` runs ``max_iter`` sweeps (and the refinement its full
        number of steps) and warns, as FastICA does.
    projector_widths : tuple of int or "auto", default="auto"
        Widths of the random separable projector ``psi: R -> R^L``; ``L`` is the
        last width. Wider gives a finer kernel, so the kernel stage sees
        subtler dependence, at a cost quadratic in ``L``. ``"auto"``: ``(16,)``
        when the kernel sweeps only choose the basin the score refinement
        starts in (``refine=True`` and at most 8 components), ``(32,)`` when
        the contrast screens the refined components (more than 8) or is the
        estimate (``refine=False``). The widths used are ``projector_widths_``.
    projector : {"relu", "fourier"}, default="relu"
        First layer of ``psi``: random ramps ``max(0, w t + b)`` or random Fourier
        features ``cos(w t + b)`` (Gaussian kernel).
    bandwidths : float or tuple of float, default=(0.5, 1.0, 2.0)
        Scales ``s`` of the random weights ``w ~ N(0, s^-2)`` on the white
        components, used in turn by the first layer's features. A first layer
        narrower than the number of bandwidths uses only the first ones (a
        width of 1 uses only the first bandwidth).
    n_angles : int or "auto", default="auto"
        Angles of the global grid searched for a pair; the grid is interpolated
        by its trigonometric series. ``"auto"``: 8 with the score refinement
        (the searches only choose the basins it starts in), 12 without (the
        contrast's minimum is the estimate). The value used is ``n_angles_``.
    regularization : float, default=0.1
        Ridge added to each block's feature covariance, relative to its mean
        eigenvalue, before whitening it.
    max_samples : int, None or "auto", default="auto"
        Rows (a random subset) on which the kernel contrast is evaluated; its
        cost is quadratic in the projector width, so it sees a subset. ``None``
        uses them all; ``"auto"``: 2000 when the kernel sweeps run over all
        pairs (up to 8 components, or ``refine=False``), 1000 for the screen
        that follows the refinement with more components. The value used is
        ``max_samples_``. The score refinement always uses every row (its
        scores are fitted on at most 20,000 of them).
    refine : bool, default=True
        Run the score refinement (with at least 50 rows). Without it the kernel
        sweeps run over all pairs whatever the number of components, and the
        unmixing is a rotation of the white data.
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where the solver runs; ``"auto"`` takes a GPU when torch sees one. The
        white data are held in float32 (the products run there) and every
        moment and the unmixing accumulate in float64.
    random_state : int, RandomState instance or None, default=None
        Seeds the projector, the row subsets and the FastICA start: the same
        seed gives the same result.
    verbose : int, default=0
        When positive, print when the FastICA start is done, after each kernel
        sweep the summed pair contrast
        (what the sweeps minimise), after each refinement step its largest
        update (what must fall below the tolerance), and after each screen the
        number of pairs found dependent.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Unmixing matrix: ``transform(X) == (X - mean_) @ components_.T``. Its
        rows are sorted by the variance of ``X`` each component explains,
        largest first (as MNE-Python sorts ICA components), and signed so that
        the largest-magnitude entry of each column of ``mixing_`` is positive:
        the same ``random_state`` gives the same components in the same order
        and sign.
    mixing_ : ndarray of shape (n_features, n_components)
        Pseudo-inverse of ``components_``: the estimated mixing matrix.
    mean_ : ndarray of shape (n_features,)
        Per-feature mean removed before unmixing (zeros when ``whiten=False``).
    whitening_ : ndarray of shape (n_components, n_features)
        Whitening matrix (the identity when ``whiten=False``).
    projector_widths_ : tuple of int
        The projector widths used (``projector_widths`` with ``"auto"``
        resolved).
    n_angles_ : int
        The grid of angles used (``n_angles`` with ``"auto"`` resolved).
    max_samples_ : int or None
        The rows of the kernel contrast (``max_samples`` with ``"auto"``
        resolved).
    n_iter_ : int
        Number of kernel sweeps run (0 when the refinement went first).
    n_refine_iter_ : int
        Number of steps of the score refinement, all stages together (0 when
        ``refine=False``).
    converged_ : bool
        Whether the sweeps met ``tol`` within ``max_iter`` and every refinement
        on all rows converged (a :class:`~sklearn.exceptions.ConvergenceWarning`
        is raised otherwise).
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Sum of the pair contrasts accepted during each sweep.
    certificate_ : :class:`~skvcreg.metrics.SeparationCertificate` or None
        The precision of each component, from the fit:
        :func:`~skvcreg.metrics.separation_certificate` of ``X`` and
        ``components_`` without the dependence test (on at most 20,000 rows,
        drawn with ``random_state``). ``certificate_.interference_db`` is each
        component's expected leak from the other sources in dB,
        ``certificate_.gain_sd`` the predicted standard deviation of each part
        of one source in another, ``certificate_.non_identifiable`` the pairs
        too close to two Gaussians to separate, ``certificate_.drift_db`` how
        far each component would move between fits of the first and second
        half of the rows. ``None`` below 50 rows.
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when ``X`` has string names.

    See Also
    --------
    sklearn.decomposition.FastICA : ICA with a fixed non-Gaussianity contrast.
    skvcreg.metrics.pairwise_independence_score : The criterion behind ``score``.

    References
    ----------
    G. Mialon, R. Balestriero and Y. LeCun, "Variance Covariance Regularization
    Enforces Pairwise Independence in Self-Supervised Representations",
    arXiv:2209.14905, 2022.

    K. Fukumizu, A. Gretton, X. Sun and B. Schoelkopf, "Kernel Measures of
    Conditional Dependence", NeurIPS 2008.

    Examples
    --------
    >>> from skvcreg import VCRegICA
    >>> from skvcreg.datasets import make_ica_mixture
    >>> from skvcreg.metrics import amari_distance
    >>> X, S, A = make_ica_mixture(["j", "q"], n_samples=1000, random_state=0)
    >>> ica = VCRegICA(random_state=0)
    >>> S_est = ica.fit_transform(X)
    >>> S_est.shape
    (1000, 2)
    >>> bool(amari_distance(ica.components_, A) < 0.05)
    True
    """

    # ``copy`` of transform and inverse_transform is an option, not metadata to
    # route (and so no set_transform_request is generated for it).
    __metadata_request__transform = {"copy": metadata_routing.UNUSED}
    __metadata_request__inverse_transform = {"copy": metadata_routing.UNUSED}

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "whiten": [
            StrOptions({"arbitrary-variance", "unit-variance"}),
            Options(bool, {False}),
        ],
        "whiten_solver": [StrOptions({"eigh", "svd"})],
        "w_init": ["array-like", None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "projector_widths": [StrOptions({"auto"}), tuple, list],
        "projector": [StrOptions({"relu", "fourier"})],
        "bandwidths": [Interval(Real, 0.0, None, closed="neither"), tuple, list],
        "n_angles": [Interval(Integral, 3, None, closed="left"), StrOptions({"auto"})],
        "regularization": [Interval(Real, 0.0, None, closed="neither")],
        "max_samples": [
            Interval(Integral, 2, None, closed="left"),
            None,
            StrOptions({"auto"}),
        ],
        "refine": ["boolean"],
        "device": DEVICE_CONSTRAINT,
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        whiten="unit-variance",
        whiten_solver="eigh",
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
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.whiten_solver = whiten_solver
        self.w_init = w_init
        self.max_iter = max_iter
        self.tol = tol
        self.projector_widths = projector_widths
        self.projector = projector
        self.bandwidths = bandwidths
        self.n_angles = n_angles
        self.regularization = regularization
        self.max_samples = max_samples
        self.refine = refine
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _whiten(self, rows):
        """The mean and unit-variance whitening of ``rows`` divided by
        ``scale`` (float64; the mean is ``None`` without whitening), and
        ``scale``. Sets nothing."""
        n_samples, n_features = rows.shape
        if self.whiten is False:
            if self.n_components is not None:
                warnings.warn(
                    "Ignoring n_components with whiten=False.",
                    UserWarning,
                    stacklevel=4,
                )
            return None, np.eye(n_features), 1.0
        mean, K, rank, n_constant, scale = fit_whitening(
            rows, self.n_components, solver=self.whiten_solver
        )
        if rank == 0:
            raise ValueError(
                "X has rank 0 after centring (every column is constant to "
                "within the precision of its dtype): there is nothing to "
                "separate."
            )
        requested = min(rows.shape) if self.n_components is None else self.n_components
        if requested > rank:
            warnings.warn(
                self._rank_message(rank, n_samples, n_features, n_constant),
                UserWarning,
                stacklevel=4,
            )
        return mean, K, scale

    def _rank_message(self, rank, n_samples, n_features, n_constant):
        """Why fewer components than asked for are fitted."""
        if rank == min(n_samples, n_features):
            return (
                f"n_components is too large: it will be set to {rank} (X has "
                f"{n_samples} samples and {n_features} features)."
            )
        reasons = []
        if n_constant:
            reasons.append(f"{n_constant} constant column(s)")
        if rank < n_features - n_constant:
            if rank >= n_samples - 1:
                reasons.append(f"only {n_samples} rows")
            else:
                reasons.append(
                    "linearly dependent columns, to within the rounding of "
                    "their values, as after an average reference or SSP "
                    "projectors"
                )
        asked = (
            "" if self.n_components is None else f" (n_components={self.n_components})"
        )
        return (
            f"X has rank {rank} of {n_features} after centring "
            f"({'; '.join(reasons)}): fitting {rank} components{asked}."
        )

    def _check_w_init(self, m):
        """``w_init`` as a float64 tensor, symmetrically decorrelated as
        FastICA's (``(W W^T)^(-1/2) W``, from its singular vectors, so no scale
        overflows); ``None`` when not given."""
        if self.w_init is None:
            return None
        w_init = check_array(self.w_init, dtype=np.float64, input_name="w_init")
        if w_init.shape != (m, m):
            raise ValueError(
                f"w_init has shape {w_init.shape}; it must be (n_components, "
                f"n_components) = {(m, m)}, an unmixing of the whitened data."
            )
        u, singular, vt = linalg.svd(w_init, check_finite=False)
        if not singular[-1] > singular[0] * m * np.finfo(np.float64).eps:
            rank = int(np.sum(singular > singular[0] * m * np.finfo(np.float64).eps))
            raise ValueError(
                f"w_init is singular (rank {rank} of {m}): its rows must be "
                "linearly independent, a starting unmixing of the whitened "
                "data (for instance the identity)."
            )
        return torch.as_tensor(u @ vt)

    def _solve(self, rows, mean, K, scale, w_init):
        """Run the torch solver on the rows divided by ``scale``; return the
        unmixing of ``X / scale - mean`` (numpy, float64) and the solver's
        ``info``."""
        device = resolve_device(self.device)
        U, info = solve_ica(
            rows.solver_rows(device, scale),
            torch.as_tensor(K),
            mean=None if mean is None else torch.as_tensor(mean),
            w_init=w_init,
            max_iter=self.max_iter,
            tol=self.tol,
            projector_widths=(
                self.projector_widths
                if isinstance(self.projector_widths, str)
                else tuple(self.projector_widths)
            ),
            projector=self.projector,
            bandwidths=self.bandwidths,
            n_angles=self.n_angles,
            regularization=self.regularization,
            max_samples=self.max_samples,
            refine=self.refine,
            generator=make_generator(self.random_state),
            callback=self._progress() if self.verbose else None,
        )
        return U.cpu().numpy(), info

    def _progress(self):
        """The solver callback of ``verbose``: says what each number is."""

        def callback(stage, step, value):
            if stage == "sweep":
                print(
                    f"[VCRegICA] kernel sweep {step}: summed pair contrast {value:.6g} "
                    "(minimised; each pair's value at the angle the sweep gave it)"
                )
            elif stage == "start":
                print(
                    "[VCRegICA] start: FastICA on the white rows (more components "
                    "than the kernel stage sweeps first)"
                )
            elif stage == "refine":
                print(
                    f"[VCRegICA] refinement step {step}: largest update {value:.3g} "
                    "(converged when below tol, or each entry below half its "
                    "sampling error)"
                )
            else:
                print(
                    f"[VCRegICA] screen {step}: {value} pairs still dependent, "
                    "searched by the kernel contrast"
                )

        return callback

    def _warn_convergence(self, info):
        if info["converged"]:
            return
        if self.refine and info["n_refine_iter"]:
            what = (
                "the kernel sweeps or the score refinement did not converge "
                f"({info['n_iter']} sweeps, {info['n_refine_iter']} refinement "
                "steps)"
            )
        else:
            what = (
                f"a plane rotation still exceeded tol={self.tol} rad after "
                f"max_iter={self.max_iter} sweeps"
            )
        warnings.warn(
            f"VCRegICA did not converge: {what}. Increase max_iter, loosen tol, "
            "or raise max_samples for a less noisy contrast.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _fit(self, X):
        """Shared worker of ``fit`` and ``fit_transform``: validate, whiten,
        solve, then set every fitted attribute at once (a fit that raises
        leaves the estimator as it was). Returns the validated rows."""
        _check_widths_and_bandwidths(self.projector_widths, self.bandwidths)
        rows, fitted = validate_rows(self, X, reset=True)
        mean, K, scale = self._whiten(rows)
        w_init = self._check_w_init(K.shape[0])
        W, info = self._solve(rows, mean, K, scale, w_init)
        attributes = self._fitted_attributes(rows, mean, K, scale, W, info)
        self._warn_convergence(info)
        assign_fitted(self, fitted)
        for name, value in attributes.items():
            setattr(self, name, value)
        return rows

    def _fitted_attributes(self, rows, mean, K, scale, W, info):
        """The fitted attributes from the solver's unmixing ``W`` of the rows
        divided by ``scale``, in the rows' dtype; a ``ValueError`` if the
        unmixing of ``X`` itself does not fit in that dtype."""
        n_samples, n_features = rows.shape
        dtype = rows.dtype
        if mean is None:
            mean_ = np.zeros(n_features, dtype=dtype)
        else:
            mean_ = (mean * scale).astype(dtype)
            # The solver's variances are those of the float32 white data;
            # these are exact for X.
            std = rows.source_std(mean_.astype(np.float64) / scale, W, scale)
            W /= np.where(std > 0, std, 1.0)[:, None]
        if self.whiten == "arbitrary-variance":
            W /= np.sqrt(n_samples)
            K = K / np.sqrt(n_samples)
        # Whitened fits have sources of equal power (1, or 1 / n_samples).
        power = 1.0 if self.whiten else rows.source_std(0.0, W, scale) ** 2
        W = _order_and_sign(W, power)
        with np.errstate(over="ignore"):
            components = (W if scale == 1.0 else W / scale).astype(dtype)
            whitening = (K if scale == 1.0 else K / scale).astype(dtype)
        if not (np.isfinite(components).all() and np.isfinite(whitening).all()):
            raise ValueError(
                f"The unmixing of X overflows {dtype}: its spread (about "
                f"{scale:.1e}) is too small for the inverse to be stored. Multiply "
                "X by a constant first (the sources are the same up to scale)."
            )
        # The precision of the fit (see the user guide, "Which components can
        # I trust"); the score fit needs at least 50 rows.
        certificate = None
        if n_samples >= 50:
            # The rows were checked on the way in: only those read are taken.
            certificate = certify_rows(
                rows, components, test=False, random_state=self.random_state
            )
        return {
            "mean_": mean_,
            "whitening_": whitening,
            "components_": components,
            "mixing_": linalg.pinv(components, check_finite=False),
            "projector_widths_": info["projector_widths"],
            "n_angles_": info["n_angles"],
            "max_samples_": info["max_samples"],
            "n_iter_": info["n_iter"],
            "n_refine_iter_": info["n_refine_iter"],
            "converged_": bool(info["converged"]),
            "loss_curve_": np.asarray(info["loss_curve"], dtype=np.float64),
            "certificate_": certificate,
        }

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the unmixing on ``X``.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Training data (the observed mixtures). An array not in C order
            (a recording's channels-by-samples data transposed) is copied
            into C order first, so that the fit does not depend on the
            layout. A dask array is never materialised: its moments are dask
            reductions and the solver holds row subsets of a fixed size (see
            the user guide, "Larger than memory").
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : VCRegICA
            The fitted estimator.
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit the unmixing and return the estimated sources of ``X``.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Training data (the observed mixtures), as for :meth:`fit`.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        S : ndarray or dask array of shape (n_samples, n_components)
            Estimated sources, equal to ``fit(X).transform(X)`` (lazy for a
            dask array).
        """
        return self._fit(X).affine(self.components_, offset_before=self.mean_)

    def transform(self, X, copy=True):
        """Recover the sources: ``(X - mean_) @ components_.T``.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Mixtures to unmix.
        copy : bool, default=True
            If False, a float array ``X`` in C order is centred in place
            (saving a copy of large data) and overwritten; another layout is
            copied into C order, and left as it was.

        Returns
        -------
        S : ndarray or dask array of shape (n_samples, n_components)
            Estimated sources; for a dask array, a lazy dask array with its row
            chunks, computed block by block (a block holding NaN or infinity
            raises when it is computed).
        """
        check_is_fitted(self)
        rows, _ = validate_rows(self, X, reset=False, copy=copy)
        return rows.affine(self.components_, offset_before=self.mean_, in_place=True)

    def inverse_transform(self, X, copy=True):
        """Mix sources back: ``X @ mixing_.T + mean_``.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_components)
            Sources, as returned by :meth:`transform`.
        copy : bool, default=True
            Accepted for :class:`~sklearn.decomposition.FastICA` parity; the
            result is always a new array.

        Returns
        -------
        X_original : ndarray or dask array of shape (n_samples, n_features)
            The reconstructed mixtures (lazy for a dask array).
        """
        check_is_fitted(self)
        m = self.components_.shape[0]

        def check(X, **options):
            options.pop("reset")
            X = check_array(X, input_name="X", **options)
            if X.shape[1] != m:
                raise ValueError(
                    f"X has {X.shape[1]} features, but VCRegICA.inverse_transform "
                    f"expects {m} (the number of components)."
                )
            return X

        rows, _ = validate_rows(
            self,
            X,
            reset=False,
            copy=copy,
            check=check,
            n_features=m,
            what="VCRegICA.inverse_transform",
        )
        return rows.affine(self.mixing_, offset_after=self.mean_)

    def score(self, X, y=None):
        """Pairwise independence of the recovered sources; higher is better.

        Minus the mean normalised pairwise HSIC of ``transform(X)`` (see
        :func:`skvcreg.metrics.pairwise_independence_score`), so
        :class:`~sklearn.model_selection.GridSearchCV` can select
        ``projector_widths`` without labels. It scores at most 1000 evenly spaced
        rows with the mean over pairs; for another aggregate (the worst pair),
        raw HSIC or more rows, pass
        :class:`~skvcreg.metrics.PairwiseIndependenceScorer` as ``scoring=``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Mixtures.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            At most 0; 0 for perfectly independent components.
        """
        return pairwise_independence_score(self.transform(X))

    @property
    def _n_features_out(self):
        """Number of transformed output features."""
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
