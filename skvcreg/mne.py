"""VCRegICA inside MNE-Python: a fitted :class:`mne.preprocessing.ICA`.

Install the extra with ``pip install skvcreg[mne]``. :func:`fit_ica` fits
:class:`~skvcreg.VCRegICA` on a :class:`~mne.io.Raw` or :class:`~mne.Epochs`
and returns MNE's own ICA object, so that ``get_sources``, ``apply``,
``plot_components``, ``plot_sources``, ``find_bads_eog``, ``find_bads_ecg`` and
``save`` / :func:`mne.preprocessing.read_ica` work as for MNE's methods.
:func:`vcreg_ica` has the calling convention MNE uses for its ICA solvers
(``picard.picard``, ``jamica.amica``). MNE is imported only when
:func:`fit_ica` runs; :func:`vcreg_ica` needs numpy alone.
"""

import json
import warnings
from functools import partial
from numbers import Integral

import numpy as np
from scipy import linalg
from sklearn.decomposition import PCA
from sklearn.utils import check_array

from ._ica import VCRegICA
from ._threads import single_threaded

__all__ = ["fit_ica", "vcreg_ica"]

# Parameters of VCRegICA that MNE's pre-whitening and PCA take over in fit_ica.
_SET_BY_MNE = ("n_components", "whiten", "whiten_solver")


def _import_mne():
    try:
        import mne
    except ImportError as error:
        raise ImportError(
            "skvcreg.mne.fit_ica needs MNE-Python, which is not installed: "
            "install the extra with `pip install skvcreg[mne]`."
        ) from error
    return mne


def vcreg_ica(
    X,
    *,
    n_components=None,
    whiten=True,
    return_X_mean=False,
    return_n_iter=False,
    random_state=None,
    **params,
):
    """Fit VCRegICA with the calling convention of MNE's ICA solvers.

    The functional form of :class:`~skvcreg.VCRegICA`, shaped as
    ``picard.picard`` and ``jamica.amica`` are, the form MNE-Python's
    :class:`~mne.preprocessing.ICA` calls on its PCA-whitened data:
    ``K, W, Y = vcreg_ica(X, whiten=False)`` with ``Y = W @ X``.

    Parameters
    ----------
    X : array-like of shape (n_features, n_samples)
        The observed signals, one row per channel (or per PCA component when
        ``whiten=False``).
    n_components : int, default=None
        Number of components with ``whiten=True``; ``None`` keeps all (at most
        the rank of the centred data, with a warning when clipped).
    whiten : bool, default=True
        ``True`` centres and whitens ``X`` first (``K`` is the whitening).
        ``False`` takes ``X`` as already white and centred, as MNE passes its
        PCA-whitened data: ``K`` is ``None`` and ``X`` is neither centred nor
        reduced.
    return_X_mean : bool, default=False
        Also return the mean removed from each row (zeros with
        ``whiten=False``).
    return_n_iter : bool, default=False
        Also return the number of iterations: kernel sweeps plus refinement
        steps.
    random_state : int, RandomState instance or None, default=None
        Seeds the fit: the same seed gives the same result.
    **params : dict
        Other parameters of :class:`~skvcreg.VCRegICA` (``max_iter``, ``tol``,
        ``device``, ...).

    Returns
    -------
    K : ndarray of shape (n_components, n_features) or None
        The whitening of the centred data; ``None`` when ``whiten=False``.
    W : ndarray of shape (n_components, n_components)
        The unmixing of the white data: ``Y = W @ K @ (X - X_mean)``, or
        ``Y = W @ X`` when ``whiten=False``. Its rows are in VCRegICA's order
        and sign (by explained variance; each mixing column's largest entry
        positive).
    Y : ndarray of shape (n_components, n_samples)
        The estimated sources (unit variance with ``whiten=True``).
    X_mean : ndarray of shape (n_features,)
        The mean of each row of ``X``; returned when ``return_X_mean``.
    n_iter : int
        Kernel sweeps plus score-refinement steps; returned when
        ``return_n_iter``.

    See Also
    --------
    skvcreg.VCRegICA : The estimator, with every parameter described.
    fit_ica : A fitted :class:`mne.preprocessing.ICA` from a Raw or Epochs.

    Examples
    --------
    >>> from skvcreg.datasets import make_ica_mixture
    >>> from skvcreg.metrics import amari_distance
    >>> from skvcreg.mne import vcreg_ica
    >>> X, S, A = make_ica_mixture(["j", "q"], n_samples=1000, random_state=0)
    >>> K, W, Y, n_iter = vcreg_ica(X.T, return_n_iter=True, random_state=0)
    >>> K.shape, W.shape, Y.shape
    ((2, 2), (2, 2), (2, 1000))
    >>> bool(amari_distance(W @ K, A) < 0.05)
    True
    """
    flags = {
        "whiten": whiten,
        "return_X_mean": return_X_mean,
        "return_n_iter": return_n_iter,
    }
    for name, value in flags.items():
        if value not in (True, False):
            raise ValueError(f"{name} must be True or False, got {value!r}.")
    X = check_array(X, dtype=[np.float64, np.float32], ensure_min_features=2)
    estimator = VCRegICA(
        n_components=n_components,
        whiten="unit-variance" if whiten else False,
        random_state=random_state,
        **params,
    )
    Y = estimator.fit_transform(X.T).T
    if whiten:
        K = estimator.whitening_
        W = estimator.components_ @ linalg.pinv(K)
    else:
        K, W = None, estimator.components_
    result = (K, W, Y)
    if return_X_mean:
        result += (estimator.mean_,)
    if return_n_iter:
        result += (estimator.n_iter_ + estimator.n_refine_iter_,)
    return result


def _jsonable(value):
    """``value`` when JSON can store it (MNE saves ``fit_params`` as JSON),
    else its text."""
    try:
        json.dumps(value)
    except TypeError:
        return str(value)
    return value


def _n_components_by_mne_rules(n_components, variance_ratio):
    """The number of PCA components MNE's ``ICA.fit`` passes to the solver.

    ``None`` keeps the components that explain all but 1e-6 of the variance, a
    float in (0, 1) the fewest that explain more than that fraction, an integer
    that many (as documented for :class:`mne.preprocessing.ICA`).
    """
    cumulative = np.cumsum(variance_ratio) / np.sum(variance_ratio)

    def explaining(fraction):
        return min(int(np.sum(cumulative <= fraction)) + 1, len(cumulative))

    if n_components is None:
        return explaining(0.999999)
    if isinstance(n_components, Integral):
        if n_components > len(variance_ratio):
            raise ValueError(
                f"n_components={n_components} exceeds the {len(variance_ratio)} "
                "PCA components of the data (fewer samples than channels)."
            )
        return int(n_components)
    n = explaining(n_components)
    if n == 1:
        raise ValueError(
            f"n_components={n_components} keeps a single PCA component "
            f"(it explains {100 * cumulative[0]:.1f}% of the variance): there "
            "is nothing to separate. Ask for a larger fraction."
        )
    return n


def _numerical_rank(explained_variance, n_channels):
    """PCA directions whose standard deviation is above float32 rounding of the
    largest one: recordings are stored with at most single precision, so a
    weaker direction (an average reference or a projector applied, an
    interpolated channel) carries no source."""
    std = np.sqrt(np.clip(explained_variance, 0.0, None))
    tolerance = np.finfo(np.float32).eps * max(n_channels, 10) * std[0]
    return int(np.sum(std > tolerance))


def _rank_reasons(info, n_samples):
    """What lowers the rank of MNE data, read from its ``info``."""
    reasons = []
    if info["custom_ref_applied"]:
        reasons.append("an EEG reference (such as the average) applied")
    n_proj = sum(p["data"]["nrow"] for p in info["projs"] if p["active"])
    if n_proj:
        reasons.append(f"{n_proj} active projector vector{'s' * (n_proj > 1)}")
    if n_samples <= len(info["ch_names"]):
        reasons.append(f"only {n_samples} samples")
    if not reasons:
        reasons.append("interpolated, bridged or otherwise dependent channels")
    return ", ".join(reasons)


def _check_rank(ica, explained_variance, requested, n_samples, warnings_):
    """The number of components to fit: ``requested`` capped at the data's
    numerical rank, with one message (a warning, appended to ``warnings_``
    for :func:`fit_ica` to raise, when the cap applies; else MNE's log)."""
    mne = _import_mne()
    n_channels = len(ica.ch_names)
    rank = _numerical_rank(explained_variance, n_channels)
    if rank < 2:
        raise ValueError(
            f"The data of {n_channels} channels have numerical rank {rank} "
            f"({_rank_reasons(ica.info, n_samples)}): there is nothing to "
            "separate."
        )
    if rank == n_channels:
        return requested
    n = min(requested, rank)
    message = (
        f"The data of {n_channels} channels have numerical rank {rank} "
        f"({_rank_reasons(ica.info, n_samples)}): VCRegICA fits {n} components"
    )
    if requested > rank:
        warnings_.append(
            f"{message}, not the {requested} requested (a component beyond the "
            "rank would be rounding noise blown up to unit variance)."
        )
    else:
        mne.utils.logger.info(f"{message}.")
    return n


def _fit_step(ica, data, fit_type, params, warnings_):
    """The solver step of MNE's ``ICA.fit`` (its ``ICA._fit``), with VCRegICA.

    ``data`` (channels x samples) are the samples ``fit`` selected (picks,
    start and stop, decimation, rejection, annotations; the epochs end to
    end). MNE computes its pre-whitening and applies the active projectors,
    the PCA is MNE's (all components, whitened, as ``ICA.fit`` takes them),
    and VCRegICA unmixes the first ``n_components_`` PCA-whitened components.
    """
    if not np.isfinite(data).all():
        raise ValueError(
            "The data contain NaN or infinite values: ICA cannot be fitted on them."
        )
    n_samples = data.shape[1]
    ica._compute_pre_whitener(data)
    data = ica._pre_whiten(data)
    pca = PCA(whiten=True, svd_solver="full")
    with single_threaded():
        white = pca.fit_transform(data.T)
    requested = _n_components_by_mne_rules(
        ica.n_components, pca.explained_variance_ratio_
    )
    n = _check_rank(ica, pca.explained_variance_, requested, n_samples, warnings_)
    _, W, _, n_iter = vcreg_ica(
        white[:, :n].T,
        whiten=False,
        return_n_iter=True,
        **params,
    )
    ica.pca_mean_ = pca.mean_
    ica.pca_components_ = pca.components_
    ica.pca_explained_variance_ = pca.explained_variance_
    ica.n_components_ = n
    ica._update_ica_names()
    # MNE's unmixing acts on the PCA scores, not on the whitened ones.
    ica.unmixing_matrix_ = W / np.sqrt(pca.explained_variance_[:n])
    ica._update_mixing_matrix()
    ica.n_iter_ = n_iter
    ica.current_fit = fit_type


def fit_ica(
    inst,
    n_components=None,
    *,
    picks=None,
    start=None,
    stop=None,
    decim=None,
    reject=None,
    flat=None,
    tstep=2.0,
    reject_by_annotation=True,
    noise_cov=None,
    allow_ref_meg=False,
    random_state=None,
    verbose=None,
    **params,
):
    """Fit VCRegICA on MNE data and return a fitted MNE ICA object.

    MNE's own :meth:`mne.preprocessing.ICA.fit` selects the samples, computes
    its channel pre-whitening (applying the active projectors) and its PCA,
    chooses ``n_components_`` by its rules and sorts the components by
    explained variance; only the unmixing of the PCA-whitened data is
    VCRegICA's. The returned object is a plain
    :class:`~mne.preprocessing.ICA` with ``method="vcreg"``: ``get_sources``,
    ``apply``, ``plot_components``, ``plot_sources``, ``find_bads_eog``,
    ``find_bads_ecg`` and ``save`` / :func:`~mne.preprocessing.read_ica` work
    as for MNE's methods.

    Rank-deficient data (an average reference or projectors applied,
    interpolated or bridged channels) are fitted at their numerical rank:
    one message says how many components and why, a warning when
    ``n_components`` asked for more. ``apply`` with nothing excluded gives
    the data back (MNE passes the PCA components beyond ``n_components_``
    through unchanged).

    Parameters
    ----------
    inst : mne.io.Raw or mne.Epochs
        The data to decompose (high-pass filtered, as MNE recommends).
    n_components : int, float or None, default=None
        As for :class:`~mne.preprocessing.ICA`: an integer is a number of PCA
        components, a float in (0, 1) a fraction of the variance to explain,
        ``None`` all components but those explaining the last 1e-6 of it.
        Capped at the data's numerical rank.
    picks : str, list, slice or None, default=None
        Channels to include, as in :meth:`mne.preprocessing.ICA.fit` (``None``:
        the good data channels).
    start, stop : int, float or None, default=None
        First and last sample (or time in seconds) of a Raw to fit on.
    decim : int or None, default=None
        Keep every ``decim``-th sample.
    reject, flat : dict or None, default=None
        Peak-to-peak rejection of Raw segments, as in
        :meth:`mne.preprocessing.ICA.fit`.
    tstep : float, default=2.0
        Length in seconds of the segments ``reject`` and ``flat`` judge.
    reject_by_annotation : bool, default=True
        Leave out the Raw segments annotated ``bad*``.
    noise_cov : mne.Covariance or None, default=None
        Pre-whiten with this noise covariance instead of one scale per
        channel type.
    allow_ref_meg : bool, default=False
        Allow MEG reference channels in ``picks``.
    random_state : int, RandomState instance or None, default=None
        Seeds VCRegICA: the same seed gives the same components, in the same
        order and sign.
    verbose : bool, str, int or None, default=None
        MNE's logging level for this call.
    **params : dict
        Parameters of :class:`~skvcreg.VCRegICA` (``max_iter``, ``tol``,
        ``projector_widths``, ``device``, ...), stored in the ICA's
        ``fit_params``. ``n_components``, ``whiten`` and ``whiten_solver``
        belong to MNE's PCA and are refused.

    Returns
    -------
    ica : mne.preprocessing.ICA
        The fitted ICA, ``method="vcreg"``; ``n_iter_`` counts VCRegICA's
        kernel sweeps and refinement steps.

    See Also
    --------
    vcreg_ica : The solver in the calling convention of MNE's ICA methods.
    skvcreg.VCRegICA : The estimator, with every parameter described.

    Examples
    --------
    >>> import mne
    >>> from skvcreg.datasets import make_ica_mixture
    >>> from skvcreg.mne import fit_ica
    >>> X, S, A = make_ica_mixture(["j", "q", "b"], n_samples=2000, random_state=0)
    >>> info = mne.create_info(["C3", "Cz", "C4"], sfreq=100.0, ch_types="eeg")
    >>> with mne.utils.use_log_level("error"):
    ...     raw = mne.io.RawArray(X.T * 1e-5, info).filter(l_freq=1.0, h_freq=None)
    ...     ica = fit_ica(raw, random_state=0)
    >>> ica.method, ica.n_components_, ica.get_sources(raw).get_data().shape
    ('vcreg', 3, (3, 2000))
    """
    mne = _import_mne()
    if not callable(getattr(mne.preprocessing.ICA, "_fit", None)):
        raise ImportError(
            f"MNE {mne.__version__} has no ICA._fit step for fit_ica to replace; "
            "install a release the skvcreg[mne] extra accepts."
        )
    refused = sorted(set(params) & set(_SET_BY_MNE))
    if refused:
        raise TypeError(
            f"fit_ica sets {', '.join(refused)} itself: MNE's pre-whitening and "
            "PCA whiten the data, and n_components is fit_ica's own argument."
        )
    ica = mne.preprocessing.ICA(
        n_components=n_components,
        noise_cov=noise_cov,
        allow_ref_meg=allow_ref_meg,
        verbose=verbose,
    )
    ica.random_state = random_state  # VCRegICA's seed, on record
    # A method MNE does not know, set as read_ica sets a stored one.
    ica.method = "vcreg"
    ica.fit_params = {name: _jsonable(value) for name, value in params.items()}
    ica.max_iter = ica.fit_params.get("max_iter", VCRegICA().max_iter)
    # MNE private API used here, in one place: ICA.fit delegates its solver
    # step to ICA._fit(data, fit_type), replaced on this instance for this
    # call; that step uses ICA._compute_pre_whitener and ICA._pre_whiten (MNE's
    # pre-whitening and projectors), ICA._update_ica_names and
    # ICA._update_mixing_matrix (as MNE's read_ica does).
    rank_warnings = []
    ica._fit = partial(
        _fit_step,
        ica,
        params={**params, "random_state": random_state},
        warnings_=rank_warnings,
    )
    try:
        ica.fit(
            inst,
            picks=picks,
            start=start,
            stop=stop,
            decim=decim,
            reject=reject,
            flat=flat,
            tstep=tstep,
            reject_by_annotation=reject_by_annotation,
            verbose=verbose,
        )
    finally:
        del ica._fit
    for message in rank_warnings:
        warnings.warn(message, UserWarning, stacklevel=2)
    return ica
