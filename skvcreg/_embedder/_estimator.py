"""VCRegEmbedder: self-supervised representations of tabular data (estimator layer)."""

import contextlib
import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._data import assign_fitted, check_block, validate_rows
from .._threads import single_threaded
from .._torch_utils import DEVICE_CONSTRAINT, make_generator, resolve_device
from ..augmentations import TabularAugmentation
from ..projectors._mlp import make_mlp_projector
from ..projectors._separable import SeparableRandomProjector
from ._distributed import agree_on_data, check_backend, process_group
from ._loss import LOSS_NAMES, make_training_loss
from ._solver import fit_embedder

__all__ = ["VCRegEmbedder"]

# The networks train in float32 on every device (the usual precision for neural
# network training, and faster than float64: docs/benchmarks.rst has the ratio);
# the fitted encoder is then stored in float64 so that ``transform`` is exact row
# by row.
_TRAIN_DTYPE = torch.float32
_TRANSFORM_CHUNK = 4096
# Batches whose rows times largest layer (weights) stay below this train on one
# CPU thread: a second one only waits on products this small.
_SMALL_BATCH_WORK = 2**24


def _check_widths(name, widths, *, allow_empty):
    """Return ``widths`` as a tuple of int, or raise naming the parameter."""
    widths = tuple(widths)
    integers = all(
        isinstance(w, Integral) and not isinstance(w, bool) and w >= 1 for w in widths
    )
    if not integers or not (widths or allow_empty):
        kind = "a tuple" if allow_empty else "a non-empty tuple"
        raise ValueError(f"{name} must be {kind} of positive integers, got {widths!r}.")
    return tuple(int(w) for w in widths)


def _network_param(value):
    """A network parameter as ``partial_fit`` compares it with the value that
    built the networks: widths as a tuple (the list ``[256, 256]`` and the tuple
    ``(256, 256)`` build the same networks), held as a copy (so that editing
    the list in place is seen as a change)."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _column_statistics(X):
    """Mean, standard deviation and constancy of each column, at any finite scale.

    Each column is divided by its largest absolute value before anything is summed
    or squared, so neither overflows nor underflows, and the statistics are scaled
    back. A column is constant when its variance is within the round-off of
    computing it, the bound scikit-learn's ``StandardScaler`` uses:
    ``var <= n eps var + (n eps mean)^2`` on the rescaled column.
    """
    X = np.asarray(X, dtype=np.float64)
    peak = np.abs(X).max(axis=0)
    peak = np.where(peak > 0, peak, 1.0)
    scaled = X / peak
    return _statistics_from_moments(
        scaled.mean(axis=0), scaled.var(axis=0), peak, X.shape[0]
    )


def _statistics_from_moments(mean, var, peak, n_samples):
    """``_column_statistics`` from the moments of the columns divided by ``peak``."""
    n_eps = n_samples * np.finfo(np.float64).eps
    constant = var <= n_eps * var + (n_eps * mean) ** 2
    return mean * peak, np.sqrt(var) * peak, constant


def _to_cpu(state):
    """A copy of a (nested) optimizer state with every tensor on the CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {key: _to_cpu(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_to_cpu(value) for value in state)
    return copy.deepcopy(state)


@contextlib.contextmanager
def _unchanged_on_failure(estimator):
    """A fit that raises leaves ``estimator`` exactly as it was.

    The training stages set their attributes as they go (the standardisation,
    then the encoder and the curves); each replaces an attribute rather than
    changing it in place, except the optimizer's state that ``partial_fit``
    continues, which is copied.
    """
    saved = dict(vars(estimator))
    if "_training_state" in saved:
        saved["_training_state"] = copy.deepcopy(saved["_training_state"])
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


# Parameters that fix the networks and the loss: partial_fit cannot change them.
_NETWORK_PARAMS = (
    "n_components",
    "encoder_widths",
    "projector",
    "projector_widths",
    "loss",
)
_TERMS = ("invariance", "variance", "covariance")


class VCRegEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Self-supervised representation of tabular data trained with VICReg or VCReg.

    An MLP encoder maps each (standardised) row to ``n_components`` features. During
    training a projector maps the encoder's output to a wider space where a
    self-supervised loss of two random views of each row is minimised; by default
    (``loss="vicreg"``) the VICReg loss (Bardes, Ponce & LeCun, 2022):

    ``loss = lam * s(Z, Z') + mu * (v(Z) + v(Z')) / 2 + nu * (c(Z) + c(Z'))``

    with ``s`` the mean squared difference of paired rows, ``v`` the hinge on each
    column's standard deviation and ``c`` the sum of squared off-diagonal
    covariances (:mod:`skvcreg.losses`). The two variance terms are *averaged*, as in
    the reference code whose weights ``25 / 25 / 1`` are the defaults (the paper's
    sum corresponds to ``variance_weight=50``). With ``invariance_weight=0`` one
    view per batch is drawn and only VCReg (``mu * v + nu * c``) is minimised;
    Barlow Twins and W-MSE are the other choices of ``loss``. No labels are used.
    :meth:`transform` returns the encoder's output; the projector serves only
    during training.

    Training takes an in-memory array (:meth:`fit`), a stream of row chunks
    (:meth:`partial_fit`, which ``dask_ml.wrappers.Incremental`` drives), a dask
    array (:meth:`fit` streams its chunks, :meth:`transform` is lazy), and runs on
    the ranks of a ``torch.distributed`` job (DDP) when a process group is
    initialised: see the user guide's section on large data and several processes.

    Parameters
    ----------
    n_components : int, default=128
        Size of the representation (output width of the encoder).
    encoder_widths : tuple of int, default=(512,)
        Hidden widths of the encoder, each a Linear-BatchNorm-ReLU block, followed
        by a linear layer of width ``n_components``; ``()`` gives a linear encoder.
    projector : {"mlp", "random_mlp", "separable"}, default="mlp"
        ``"mlp"``: VICReg's trainable Linear-BatchNorm-ReLU projector.
        ``"random_mlp"``: the same network frozen at its random initialisation.
        ``"separable"``: the frozen random separable projector of the projector
        lemma (:class:`~skvcreg.projectors.SeparableRandomProjector`, random
        Fourier features of bandwidth 1) applied to each standardised column of
        the representation; the variance hinge then acts on the representation
        and the covariance term keeps only the cross-column blocks, i.e. the sum
        of pairwise HSICs, so the representation's columns are pushed towards
        pairwise independence.
    projector_widths : tuple of int, default=(256, 256)
        Widths of the projector's layers (the last one is its output width). For
        ``"separable"`` these are the widths of the per-column feature map, whose
        output has ``n_components * projector_widths[-1]`` columns: keep them small
        (for instance ``(16,)``).
    loss : {"vicreg", "vcreg", "barlow_twins", "wmse"}, default="vicreg"
        The self-supervised loss of the projector's outputs, from
        :mod:`skvcreg.losses`.
        ``"vicreg"``: the loss above, weighted by the three weights below;
        ``invariance_weight=0`` makes it ``"vcreg"``.
        ``"vcreg"``: one view per batch and ``mu * v(Z) + nu * c(Z)``
        (:func:`~skvcreg.losses.vcreg_loss`); ``invariance_weight`` is not used.
        ``"barlow_twins"``: :func:`~skvcreg.losses.barlow_twins_loss` of the two
        views (Zbontar et al., 2021), with its published off-diagonal weight
        ``5e-3``.
        ``"wmse"``: :func:`~skvcreg.losses.wmse_loss`, the mean squared distance
        of the two views after whitening them over the batch (Ermolov et al.,
        2021); it needs ``2 * batch_size`` above the projector's output width
        ``D`` (a much larger batch whitens better), and a last batch under
        ``D / 2`` rows joins the previous one.
        These two use none of the three weights (a UserWarning says so when one
        is set away from its default), report no per-term curves, and need
        ``projector="mlp"`` or ``"random_mlp"``.
    invariance_weight : float, default=25.0
        ``lam``, weight of the invariance term; ``0`` trains pure VCReg.
    variance_weight : float, default=25.0
        ``mu``, weight of the mean of the two views' variance terms.
    covariance_weight : float, default=1.0
        ``nu``, weight of the sum of the two views' covariance terms.
    augmentation : callable, default=None
        ``augmentation(X_batch, generator) -> X_view`` on a torch ``(n, d)`` batch
        of standardised rows, drawing its randomness from the torch ``generator``;
        the view must have the batch's shape, dtype and device.
        ``None`` uses :class:`~skvcreg.augmentations.TabularAugmentation` with the
        four strengths below over the training rows; a callable ignores them.
    n_neighbors : int, default=5
        Interpolate each row towards one of its ``n_neighbors`` nearest training
        rows by a random fraction (:func:`~skvcreg.augmentations.\
neighbor_interpolation`); ``0`` switches it off.
    resample_rate : float, default=0.1
        Fraction of features replaced by draws from their empirical marginal
        (SCARF-style, :func:`~skvcreg.augmentations.marginal_resampling`).
    dropout_rate : float, default=0.0
        Probability that a (standardised) feature is set to zero.
    noise_std : float, default=0.0
        Standard deviation of the Gaussian noise added to the standardised features.
    batch_size : int, default=128
        Rows per mini-batch, at least 2 (the covariance needs two rows); capped at
        the number of samples, or of rows in a chunk. In a distributed fit this is
        the global batch, shared among the ranks.
    max_epochs : int, default=100
        Maximum number of passes over the data.
    learning_rate : float, default=3e-3
        AdamW learning rate.
    weight_decay : float, default=0.01
        AdamW (decoupled) weight decay.
    tol : float, default=5e-3
        Training stops at the end of a block of ``n_iter_no_change`` epochs whose
        mean loss is not lower than the best earlier block's by this fraction.
    n_iter_no_change : int, default=5
        Length of the blocks of epochs whose mean losses early stopping compares
        (a block's mean averages out the epoch-to-epoch noise of mini-batch
        training); training runs at least two blocks.
    device : {"auto", "cpu", "cuda"}, "cuda:N" or torch.device, default="auto"
        Torch device to train on; ``"auto"`` uses a GPU when torch sees one. The
        fitted encoder is kept on the CPU, so a GPU-fitted model transforms and
        pickles on a machine without one.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batch order and the augmentations (through a
        :class:`torch.Generator`); an integer gives identical fits on a CPU with
        the same number of torch threads (see Notes for other thread counts).
    verbose : bool, default=False
        Show a per-epoch progress bar with the loss terms (tqdm when installed,
        printed lines otherwise).

    Attributes
    ----------
    encoder_ : torch.nn.Sequential
        The trained encoder, on the CPU, in eval mode, in float64.
    mean_ : ndarray of shape (`n_features_in_`,)
        Per-feature mean used to standardise the input.
    scale_ : ndarray of shape (`n_features_in_`,)
        Per-feature standard deviation used to standardise the input (1 for a
        constant feature, one whose variance is within the round-off of computing
        it). Both are computed on each column divided by its largest absolute
        value, so features of any finite scale are standardised alike.
    n_iter_ : int
        Number of epochs run.
    loss_curve_ : ndarray of shape (`n_iter_`,)
        Mean training loss of each epoch.
    invariance_curve_, variance_curve_, covariance_curve_ : ndarray of shape \
(`n_iter_`,)
        Mean unweighted loss terms of each epoch (variance averaged over the two
        views, covariance summed), for ``loss="vicreg"`` and ``"vcreg"`` (whose
        invariance is 0); not set for the other losses.
    converged_ : bool
        Whether training stopped on a loss plateau (at the latest at
        ``max_epochs``); always False after :meth:`partial_fit`.
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.decomposition.PCA : linear unsupervised representation.
    skvcreg.metrics.pairwise_independence_score : independence of the columns.

    Notes
    -----
    The defaults were chosen on ``load_digits`` with ``benchmarks/bench_embedder.py``
    (stratified 75/25 splits, 5 seeds, a StandardScaler + LogisticRegression probe
    on the representation, trained on 100%, 10% or 5% of the training labels); its
    accuracies and fit times are on the benchmarks page of the documentation. The
    interpolation towards nearest neighbours is what lifts the few-label accuracy
    most; its search costs ``batch_size * min(n_samples, 8192) * n_features`` per
    batch.

    The networks train in float32 on every device; the stored encoder is float64.
    On a CPU shared with other busy processes, torch's OpenMP threads wait for each
    other and can slow training down many times over; ``torch.set_num_threads(1)``
    avoids that.

    Reproducibility: with an integer ``random_state``, two fits on a CPU with the
    same number of torch threads are identical. With another thread count torch
    splits some reductions (batch-norm statistics, means) differently, so the fits
    agree to float32 round-off rather than bit for bit, and mini-batch training can
    amplify that difference over many epochs. Early stopping compares the mean
    losses of whole blocks of ``n_iter_no_change`` epochs, so the number of epochs
    changes only when a block's improvement falls within that difference of
    ``tol``. The same holds between a CPU and a GPU, whose kernels round
    differently.

    References
    ----------
    A. Bardes, J. Ponce and Y. LeCun, "VICReg: Variance-Invariance-Covariance
    Regularization for Self-Supervised Learning", ICLR 2022.

    G. Mialon, R. Balestriero and Y. LeCun, "Variance-Covariance Regularization
    Enforces Pairwise Independence in Self-Supervised Representations",
    arXiv:2209.14905.

    J. Zbontar, L. Jing, I. Misra, Y. LeCun and S. Deny, "Barlow Twins:
    Self-Supervised Learning via Redundancy Reduction", ICML 2021.

    A. Ermolov, A. Siarohin, E. Sangineto and N. Sebe, "Whitening for
    Self-Supervised Representation Learning", ICML 2021.

    Q. Garrido, R. Balestriero, L. Najman and Y. LeCun, "RankMe: Assessing the
    Downstream Performance of Pretrained Self-Supervised Representations by Their
    Rank", ICML 2023.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from skvcreg import VCRegEmbedder
    >>> X, _ = load_wine(return_X_y=True)
    >>> embedder = VCRegEmbedder(
    ...     n_components=8, max_epochs=20, n_iter_no_change=3, random_state=0
    ... )
    >>> embedder.fit_transform(X).shape
    (178, 8)
    >>> embedder.n_iter_ < 20 and embedder.converged_
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "encoder_widths": [tuple, list],
        "projector": [StrOptions({"mlp", "random_mlp", "separable"})],
        "projector_widths": [tuple, list],
        "loss": [StrOptions(set(LOSS_NAMES))],
        "invariance_weight": [Interval(Real, 0, None, closed="left")],
        "variance_weight": [Interval(Real, 0, None, closed="left")],
        "covariance_weight": [Interval(Real, 0, None, closed="left")],
        "augmentation": [callable, None],
        "n_neighbors": [Interval(Integral, 0, None, closed="left")],
        "resample_rate": [Interval(Real, 0, 1, closed="both")],
        "dropout_rate": [Interval(Real, 0, 1, closed="left")],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        # The covariance of a batch needs two rows.
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": DEVICE_CONSTRAINT,
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=128,
        *,
        encoder_widths=(512,),
        projector="mlp",
        projector_widths=(256, 256),
        loss="vicreg",
        invariance_weight=25.0,
        variance_weight=25.0,
        covariance_weight=1.0,
        augmentation=None,
        n_neighbors=5,
        resample_rate=0.1,
        dropout_rate=0.0,
        noise_std=0.0,
        batch_size=128,
        max_epochs=100,
        learning_rate=3e-3,
        weight_decay=0.01,
        tol=5e-3,
        n_iter_no_change=5,
        device="auto",
        random_state=None,
        verbose=False,
    ):
        self.n_components = n_components
        self.encoder_widths = encoder_widths
        self.projector = projector
        self.projector_widths = projector_widths
        self.loss = loss
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.augmentation = augmentation
        self.n_neighbors = n_neighbors
        self.resample_rate = resample_rate
        self.dropout_rate = dropout_rate
        self.noise_std = noise_std
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the encoder on ``X`` without labels.

        A dask array is streamed: the standardisation comes from dask reductions
        over its row chunks, then each epoch computes the chunks one at a time, in
        random order, and draws shuffled batches within each, so memory holds one
        chunk (neighbours and marginals for the augmentations are taken within the
        chunk). Inside an initialised ``torch.distributed`` process group of
        several ranks, every rank must call ``fit`` with the same rows and
        parameters; each rank computes its share of every batch and all end with
        the same model.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Training rows, numeric, at least two.
        y : None
            Ignored.

        Returns
        -------
        self : VCRegEmbedder
            The fitted embedder.
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Train the encoder on ``X`` and return its representation of ``X``.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Training rows, numeric, at least two.
        y : None
            Ignored.

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, n_components)
            The representation, in the dtype of ``X`` (float32 or float64); lazy
            for a dask array.
        """
        rows = self._fit(X)
        return rows.map_rows(self._encode_block, self.n_components, checked=True)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train the encoder for one pass over the rows of ``X``.

        Each call runs one epoch over its rows (shuffled batches of
        ``batch_size``; the augmentations take their nearest neighbours and
        marginals within ``X``) and continues the training of the earlier calls,
        or of :meth:`fit`: the encoder, the projector, the optimizer's state and
        the random generator are kept between calls. The first call on an
        unfitted estimator fixes the number and names of the features, the
        standardisation (``mean_`` and ``scale_``, from its rows alone: give it a
        representative chunk, or standardise the data beforehand), the networks
        and the seed; later calls must keep the network parameters
        (``n_components``, the widths, ``projector``, ``loss``). ``max_epochs``,
        ``tol`` and ``n_iter_no_change`` are not used. Each call adds one to
        ``n_iter_`` and one entry to ``loss_curve_``. Two calls on ``X`` give the
        model of ``fit(X)`` with ``max_epochs=2``. ``dask_ml.wrappers.Incremental``
        calls it on each block of a dask array.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows, numeric, at least two.
        y : None
            Ignored.

        Returns
        -------
        self : VCRegEmbedder
            The embedder, trained one more epoch.
        """
        state = getattr(self, "_training_state", None)
        comm, device = self._check_params()
        if state is None:
            generator = make_generator(self.random_state)
        else:
            self._check_same_networks(state)
            generator = torch.Generator()
            generator.set_state(state["generator"])
        rows = self._agree_on_data(
            comm,
            lambda: self._check_rows(
                self._validate_rows(X, reset=state is None, min_samples=2)
            ),
            generator if state is None else None,
        )
        with _unchanged_on_failure(self):
            if state is None:
                assign_fitted(self, rows.fitted)
                self._set_standardization(*self._column_statistics(rows))
                encoder, projector = self._build_networks(
                    rows.shape[1], generator, device
                )
                optimizer_state = None
            else:
                encoder = copy.deepcopy(self.encoder_).to(device, _TRAIN_DTYPE)
                projector = copy.deepcopy(state["projector"]).to(device)
                optimizer_state = state["optimizer"]
            chunks = rows.training_chunks(
                self._chunk_preparer(device),
                generator,
                self._min_batch_rows(),
                check=self._check_block,
            )
            info = self._train(
                chunks,
                (encoder, projector, optimizer_state),
                generator,
                comm,
                max_epochs=1,
                append=state is not None,
            )
            self._warn_on_failure(
                rows.first_chunk(self._min_batch_rows(), check=self._check_block),
                info,
                check_epochs=False,
            )
        return self

    def transform(self, X):
        """Encode ``X`` with the trained encoder.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Rows to encode. A dask array gives a lazy dask array, encoded block
            by block (its width is checked at once, NaN and infinity when the
            blocks are computed).

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, n_components)
            The representation, in the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        rows = self._validate_rows(X, reset=False)
        return rows.map_rows(self._encode_block, self.n_components, checked=True)

    def score(self, X, y=None):
        """Label-free quality of the representation of ``X``: its effective rank.

        RankMe (Garrido et al., 2023): with ``s_k`` the singular values of the
        representation of ``X`` after centring and ``p_k = s_k / sum(s)``, the score
        is ``exp(-sum_k p_k log p_k)``, between 1 and ``min(n_samples,
        n_components)``. It is low for a collapsed representation (all rows alike,
        or confined to a few directions) and high when the representation spreads
        information over many directions. Greater is better, so it can serve as
        ``GridSearchCV``'s criterion without labels, for instance over projector
        widths; it compares models of one family and is not an accuracy.

        As a selector of projector widths it ranks a narrow projector below
        wider ones, as a linear probe does, but it keeps rising with the width
        after a probe's accuracy has stopped improving, so it favours the widest
        projector tried (``benchmarks/bench_embedder.py --sections widths``; the
        figures are on the benchmarks page). Pairwise HSIC independence,
        retrieval of the partner view and uniformity behaved in the same way.
        When a few labels are
        available, a probe is the better selector.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to encode, at least two.
        y : None
            Ignored.

        Returns
        -------
        score : float
            The effective rank of the centred representation.
        """
        Z = np.asarray(self.transform(X), dtype=np.float64)
        singular = np.linalg.svd(Z - Z.mean(axis=0), compute_uv=False)
        total = singular.sum()
        if not np.isfinite(total) or total <= 0:
            return 1.0
        p = singular[singular > 0] / total
        return float(np.exp(-np.sum(p * np.log(p))))

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------ validation

    def _check_params(self):
        """Co-dependent checks; return the process group (or None) and device."""
        _check_widths("encoder_widths", self.encoder_widths, allow_empty=True)
        _check_widths("projector_widths", self.projector_widths, allow_empty=False)
        if self.loss in ("barlow_twins", "wmse"):
            if self.projector == "separable":
                raise ValueError(
                    f"loss={self.loss!r} does not go with projector='separable', "
                    "whose covariance term is the pairwise HSIC of the projector "
                    "lemma; use loss='vicreg' or 'vcreg', or projector='mlp'."
                )
            unused = ("invariance_weight", "variance_weight", "covariance_weight")
        else:
            unused = ("invariance_weight",) if self.loss == "vcreg" else ()
        defaults = {"invariance_weight": 25.0, "variance_weight": 25.0}
        for name in unused:
            value = getattr(self, name)
            if value != defaults.get(name, 1.0) and not (
                self.loss == "vcreg" and value == 0
            ):
                warnings.warn(
                    f"{name}={value} is not used by loss={self.loss!r}.",
                    UserWarning,
                    stacklevel=4,
                )
        if self.batch_size < self._min_batch_rows():
            raise ValueError(
                "loss='wmse' whitens the projector's output over the 2n stacked rows "
                "of a batch's two views, which needs 2n above its width: "
                f"2 * batch_size = {2 * self.batch_size} must exceed "
                f"projector_widths[-1] = {self.projector_widths[-1]} (a batch much "
                "larger than the width whitens better)."
            )
        device = resolve_device(self.device)
        comm = process_group()
        check_backend(comm, device, self.device)
        return comm, device

    def _validate(self, X, *, reset, min_samples=None):
        """``validate_data`` with a clear message for non-numeric columns."""
        dtypes = getattr(X, "dtypes", None)
        if dtypes is not None and hasattr(dtypes, "items"):
            bad = [
                str(name)
                for name, dtype in dtypes.items()
                if getattr(dtype, "kind", "O") not in "biufc"
            ]
            if bad:
                raise ValueError(
                    f"{type(self).__name__} needs numeric features; column(s) "
                    f"{bad} are not numeric. Encode them first, for instance with "
                    "sklearn.preprocessing.OneHotEncoder or OrdinalEncoder."
                )
        if min_samples is None:
            min_samples = 2 if reset else 1
        try:
            return validate_data(
                self,
                X,
                reset=reset,
                dtype=[np.float64, np.float32],
                ensure_min_samples=min_samples,
            )
        except ValueError as error:
            if "could not convert" not in str(error):
                raise
            raise ValueError(
                f"{type(self).__name__} needs numeric features; {error}. Encode "
                "non-numeric columns first, for instance with "
                "sklearn.preprocessing.OneHotEncoder."
            ) from error

    def _validate_rows(self, X, *, reset, min_samples=None):
        """``X`` as a rows object (:func:`skvcreg._data.validate_rows`), with
        :meth:`_validate`'s messages; with ``reset``, the rows' ``fitted``
        holds the width and names to set once the fit has succeeded."""

        def check(X, *, reset, ensure_min_samples, **options):
            return self._validate(X, reset=reset, min_samples=ensure_min_samples)

        rows, fitted = validate_rows(
            self, X, reset=reset, min_samples=min_samples, check=check
        )
        rows.fitted = fitted
        return rows

    def _column_statistics(self, rows):
        """Mean, standard deviation and constancy of each column of ``rows``
        (:func:`_column_statistics`, over the blocks of a dask array)."""
        mean, var, peak = rows.column_moments(check=self._check_block)
        return _statistics_from_moments(mean, var, peak, rows.shape[0])

    def _chunk_preparer(self, device):
        """What an epoch trains on from a chunk of rows: the standardised
        tensor and its augmentation."""

        def prepare(block):
            X_train = self._training_tensor(block, device)
            return X_train, self._augmentation(X_train)

        return prepare

    def _min_batch_rows(self):
        """The fewest rows of a batch: 2, or for W-MSE over half the output width."""
        if self.loss == "wmse":
            return int(self.projector_widths[-1]) // 2 + 1
        return 2

    def _check_rows(self, X):
        """Return ``X``, or raise if it has fewer rows than one batch needs."""
        need = self._min_batch_rows()
        if X.shape[0] < need:
            raise ValueError(
                f"loss='wmse' needs batches of at least {need} rows (over half the "
                f"projector's output width {self.projector_widths[-1]}), but X has "
                f"{X.shape[0]} rows."
            )
        return X

    def _check_block(self, block):
        """Validate one computed block of a dask array (NaN, infinity, dtype;
        an empty block passes)."""
        return check_block(block, self)

    def _agree_on_data(self, comm, validate, generator):
        """``validate()``; in a distributed fit, checked to agree on every rank
        (:func:`~skvcreg._embedder._distributed.agree_on_data`)."""
        return agree_on_data(comm, validate, generator, self.get_params(deep=False))

    def _check_same_networks(self, state):
        changed = {
            name: (state["params"][name], getattr(self, name))
            for name in _NETWORK_PARAMS
            if state["params"][name] != _network_param(getattr(self, name))
        }
        if changed:
            described = ", ".join(
                f"{name} from {old!r} to {new!r}"
                for name, (old, new) in changed.items()
            )
            raise ValueError(
                "partial_fit continues the training started by the first call (or "
                f"by fit), but {described} changed since. Call fit, or partial_fit "
                "on a clone, to start a new training."
            )

    # --------------------------------------------------------------- training

    def _fit(self, X):
        """Shared worker of ``fit`` and ``fit_transform``; returns the rows.

        A fit that raises leaves the estimator as it was."""
        comm, device = self._check_params()
        generator = make_generator(self.random_state)
        rows = self._agree_on_data(
            comm,
            lambda: self._check_rows(self._validate_rows(X, reset=True)),
            generator,
        )
        min_rows = self._min_batch_rows()
        with _unchanged_on_failure(self):
            assign_fitted(self, rows.fitted)
            self._set_standardization(*self._column_statistics(rows))
            chunks = rows.training_chunks(
                self._chunk_preparer(device),
                generator,
                min_rows,
                check=self._check_block,
            )
            networks = self._build_networks(rows.shape[1], generator, device)
            info = self._train(
                chunks, (*networks, None), generator, comm, max_epochs=self.max_epochs
            )
            self._warn_on_failure(
                rows.first_chunk(min_rows, check=self._check_block), info
            )
        return rows

    def _training_tensor(self, X, device):
        X_train = torch.as_tensor(self._standardize(X), dtype=_TRAIN_DTYPE)
        return X_train.to(device)

    def _augmentation(self, X_train):
        if self.augmentation is not None:
            return self.augmentation
        return TabularAugmentation(
            X_train,
            n_neighbors=self.n_neighbors,
            resample_rate=self.resample_rate,
            dropout_rate=self.dropout_rate,
            noise_std=self.noise_std,
        )

    def _train(self, chunks, networks, generator, comm, *, max_epochs, append=False):
        """Run the solver; store the encoder, the curves and the training state."""
        encoder, projector, optimizer_state = networks
        if self.projector == "separable":
            # The frozen separable projector is part of the loss (the pairwise
            # HSIC of the representation's columns): the solver sees none.
            solver_projector = torch.nn.Identity()
            loss_fn = self._training_loss(separable_projector=projector)
        else:
            solver_projector, loss_fn = projector, self._training_loss()
        device = next(encoder.parameters()).device
        with single_threaded(device, enabled=self._small_batches(encoder)):
            state = {"max_epochs": max_epochs, "optimizer": optimizer_state}
            encoder, info = self._run_solver(
                chunks, encoder, solver_projector, generator, loss_fn, comm, state
            )
        self.encoder_ = copy.deepcopy(encoder).to("cpu", torch.float64).eval()
        # What partial_fit needs to continue; the encoder is encoder_ (float32
        # to float64 and back is exact).
        self._training_state = {
            "params": {
                name: _network_param(getattr(self, name)) for name in _NETWORK_PARAMS
            },
            "projector": copy.deepcopy(projector).to("cpu"),
            "optimizer": _to_cpu(info["optimizer_state"]),
            "generator": generator.get_state(),
        }
        self._store_info(info, append=append)
        return info

    def _small_batches(self, encoder):
        """Whether a batch times the largest layer of the networks stays small
        enough that one CPU thread trains faster (see :mod:`skvcreg._threads`)."""
        layers = [
            module.weight.numel()
            for module in encoder.modules()
            if isinstance(module, torch.nn.Linear)
        ]
        widths = self.projector_widths
        layers += [a * b for a, b in zip(widths, widths[1:], strict=False)]
        return self.batch_size * max(layers, default=0) <= _SMALL_BATCH_WORK

    def _run_solver(self, chunks, encoder, projector, generator, loss_fn, comm, state):
        return fit_embedder(
            chunks,
            encoder,
            projector,
            generator,
            loss_fn=loss_fn,
            batch_size=self.batch_size,
            max_epochs=state["max_epochs"],
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            optimizer_state=state["optimizer"],
            communicator=comm,
            verbose=self.verbose,
        )

    def _training_loss(self, separable_projector=None):
        return make_training_loss(
            self.loss,
            invariance_weight=self.invariance_weight,
            variance_weight=self.variance_weight,
            covariance_weight=self.covariance_weight,
            separable_projector=separable_projector,
            output_width=self.projector_widths[-1],
        )

    def _set_standardization(self, mean, scale, constant):
        self.mean_ = mean
        if constant.any():
            warnings.warn(
                f"{int(constant.sum())} feature(s) are constant (indices "
                f"{np.flatnonzero(constant)[:10].tolist()}); they carry no "
                "information and are mapped to zero before encoding.",
                UserWarning,
                stacklevel=3,
            )
        self.scale_ = np.where(constant, 1.0, scale)

    def _standardize(self, X):
        # Divided before subtracting, so values near the float64 limit do not
        # overflow; with a constant column's scale of 1 this is ``X - mean_``.
        X = np.asarray(X, dtype=np.float64)
        return X / self.scale_ - self.mean_ / self.scale_

    def _build_networks(self, n_features, generator, device):
        encoder_widths = _check_widths(
            "encoder_widths", self.encoder_widths, allow_empty=True
        )
        widths = _check_widths(
            "projector_widths", self.projector_widths, allow_empty=False
        )
        encoder = make_mlp_projector(
            n_features,
            (*encoder_widths, self.n_components),
            output_bias=False,  # no loss term sees a shift of the representation
            generator=generator,
            dtype=_TRAIN_DTYPE,
            device=device,
        )
        if self.projector == "separable":
            projector = SeparableRandomProjector(
                widths, kind="fourier", generator=generator, dtype=_TRAIN_DTYPE
            ).to(device)
        else:
            projector = make_mlp_projector(
                self.n_components,
                widths,
                output_bias=False,
                frozen=self.projector == "random_mlp",
                generator=generator,
                dtype=_TRAIN_DTYPE,
                device=device,
            )
        return encoder, projector

    def _store_info(self, info, *, append):
        terms = _TERMS if self.loss in ("vicreg", "vcreg") else ()
        n_iter = int(info["n_iter"])
        self.n_iter_ = self.n_iter_ + n_iter if append else n_iter
        self.converged_ = False if append else bool(info["converged"])
        for name in ("loss", *terms):
            curve = np.asarray(info.get(f"{name}_curve", []), dtype=np.float64)
            if append:
                curve = np.concatenate([getattr(self, f"{name}_curve_"), curve])
            setattr(self, f"{name}_curve_", curve)
        for name in set(_TERMS) - set(terms):
            self.__dict__.pop(f"{name}_curve_", None)

    def _warn_on_failure(self, X, info, *, check_epochs=True):
        if info["non_finite"]:
            warnings.warn(
                f"The training loss became non-finite at epoch {self.n_iter_ + 1}; "
                "the encoder of the last finite epoch is kept. Lower learning_rate, "
                "check the input for extreme values or scale them, or lower the "
                "loss weights.",
                ConvergenceWarning,
                stacklevel=3,
            )
        elif check_epochs and not info["converged"]:
            warnings.warn(
                f"Training stopped at max_epochs={self.max_epochs} before the loss "
                "reached a plateau (the mean loss of a block of "
                f"n_iter_no_change={self.n_iter_no_change} epochs still fell by "
                f"more than tol={self.tol} of the best earlier block's). Raise "
                "max_epochs, or raise tol to stop earlier.",
                ConvergenceWarning,
                stacklevel=3,
            )
        Z = self._encode(X)
        if not np.all(np.isfinite(Z)) or float(Z.std(axis=0).max()) < 1e-4:
            warnings.warn(
                "The representation has collapsed: every component has a standard "
                "deviation near 0 on the training data. Raise variance_weight, lower "
                "invariance_weight or the augmentation strengths, or lower "
                "learning_rate.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _encode(self, X):
        """Standardise and encode ``X`` on the CPU, in chunks, in float64."""
        if X.shape[0] == 0:  # an empty block of a dask array
            return np.empty((0, self.n_components), dtype=X.dtype)
        X_std = self._standardize(X)
        with torch.no_grad():
            chunks = [
                self.encoder_(torch.from_numpy(X_std[start : start + _TRANSFORM_CHUNK]))
                for start in range(0, X_std.shape[0], _TRANSFORM_CHUNK)
            ]
        return torch.cat(chunks).numpy().astype(X.dtype, copy=False)

    def _encode_block(self, block):
        """Encode one computed block of a dask array (validated here)."""
        return self._encode(self._check_block(block))
