"""Training loop of :class:`~skvcreg.VCRegEmbedder` (solver layer).

Mini-batch AdamW on the VICReg (or VCReg) loss of an encoder followed by a
projector. The solver only reports: it returns the trained encoder and an ``info``
dict with ``n_iter``, ``loss_curve``, the per-term curves, ``converged`` and
``non_finite``; the estimator turns that into attributes and warnings. No numpy, no
scikit-learn, no warnings policy here.
"""

import copy
import math

import torch
from torch import Tensor, nn

from .losses import (
    covariance_loss,
    cross_covariance_loss,
    invariance_loss,
    variance_loss,
)

__all__ = ["fit_embedder"]

_TERMS = ("invariance", "variance", "covariance")


def _standardize_columns(Y: Tensor, eps: float = 1e-4) -> Tensor:
    """Centre and scale each column of a ``(n, m)`` batch by its batch statistics."""
    return (Y - Y.mean(dim=0)) / torch.sqrt(Y.var(dim=0) + eps)


def _describe(value):
    return str(tuple(value)) if isinstance(value, torch.Size) else str(value)


def _view(augmentation, X_batch, generator):
    """``augmentation(X_batch, generator)``, checked to be a batch like ``X_batch``.

    A callable that returns something else would otherwise fail deep inside the
    encoder with an error about matrix shapes or dtypes.
    """
    view = augmentation(X_batch, generator)
    if not isinstance(view, Tensor):
        raise TypeError(
            "The augmentation must return a torch.Tensor like its input batch; "
            f"it returned a {type(view).__name__}."
        )
    for name in ("shape", "dtype", "device"):
        expected, got = getattr(X_batch, name), getattr(view, name)
        if got != expected:
            raise ValueError(
                f"The augmentation returned the wrong {name}: expected "
                f"{_describe(expected)} (the input batch's), got {_describe(got)}. "
                "It must return a view of the batch with the same shape, dtype "
                "and device."
            )
    return view


def _loss_terms(X_batch, encoder, projector, augmentation, generator, config):
    """Unweighted ``(invariance, variance, covariance)`` terms of one batch.

    Two views go through the encoder then the projector (two separate passes, so
    batch norm sees each view alone, as in VICReg). With ``two_views=False`` (pure
    VCReg) one view is drawn and the invariance term is zero. With a separable
    projector (``n_blocks`` set) the variance hinge acts on the representation ``Y``,
    the projector sees ``Y`` standardised per column, and the covariance term keeps
    only the cross-block (pairwise HSIC) entries.
    """
    views = 2 if config["two_views"] else 1
    outputs = []
    for _ in range(views):
        Y = encoder(_view(augmentation, X_batch, generator))
        if config["n_blocks"] is None:
            outputs.append((projector(Y), None))
        else:
            outputs.append((projector(_standardize_columns(Y)), Y))
    # The epoch loop checks each batch's loss for NaN itself (and then keeps the
    # last finite parameters), so the losses skip their own input checks.
    unchecked = {"check_finite": False}
    gamma, eps = config["gamma"], config["eps"]
    variance, covariance = 0.0, 0.0
    for Z, Y in outputs:
        V = Z if Y is None else Y
        variance = variance + variance_loss(V, gamma=gamma, eps=eps, **unchecked)
        if config["n_blocks"] is None:
            covariance = covariance + covariance_loss(Z, **unchecked)
        else:
            covariance = covariance + cross_covariance_loss(
                Z, config["n_blocks"], **unchecked
            )
    if views == 2:
        invariance = invariance_loss(outputs[0][0], outputs[1][0], **unchecked)
    else:
        invariance = torch.zeros((), dtype=X_batch.dtype, device=X_batch.device)
    return invariance, variance / views, covariance


def _batches(n, batch_size, generator, device):
    """Shuffled index batches of at most ``batch_size`` rows, none of a single row.

    A last batch of one row (the covariance needs two) joins the previous batch.
    """
    order = torch.randperm(n, generator=generator, device=generator.device).to(device)
    batches = list(torch.split(order, batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches[-2] = torch.cat(batches[-2:])
        batches.pop()
    return batches


class _Progress:
    """Per-epoch progress: a tqdm bar when tqdm is installed, else printed lines."""

    def __init__(self, total, verbose):
        self.verbose = verbose
        self.bar = None
        if verbose:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc="VCRegEmbedder", unit="epoch")

    def update(self, epoch, loss, terms):
        if not self.verbose:
            return
        parts = {"loss": loss, **dict(zip(_TERMS, terms, strict=True))}
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in parts.items()})
            self.bar.update(1)
        else:
            text = ", ".join(f"{k} {v:.4g}" for k, v in parts.items())
            print(f"epoch {epoch}: {text}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _BlockPlateau:
    """Early stopping on the mean losses of whole blocks of ``size`` epochs.

    The epochs are cut into consecutive blocks of ``size``; at the end of each
    block its mean loss is compared with the best mean of the earlier blocks, and
    training stops when it is not lower by at least ``tol`` times that best. A
    block mean averages the epoch-to-epoch noise of mini-batch training, and a
    decision is taken once per block rather than every epoch, so a perturbation of
    the loss curve (another thread count, another device) changes the stopping
    epoch only when a block's improvement lies within that perturbation of
    ``tol``; the per-epoch rule changes it whenever a single epoch does.
    """

    def __init__(self, size, tol):
        self.size, self.tol = int(size), float(tol)
        self.block, self.best = [], math.inf

    def update(self, loss):
        """Record one epoch's loss; return whether training should stop."""
        self.block.append(float(loss))
        if len(self.block) < self.size:
            return False
        mean = math.fsum(self.block) / self.size
        self.block = []
        stop = mean > self.best - self.tol * abs(self.best)
        self.best = min(self.best, mean)
        return stop


def _run_epoch(X, encoder, projector, augmentation, optimizer, generator, config):
    """One pass over ``X``; returns the row-weighted mean loss and terms."""
    weights = config["weights"]
    totals = torch.zeros(4, dtype=torch.float64)
    for index in _batches(X.shape[0], config["batch_size"], generator, X.device):
        terms = _loss_terms(
            X[index], encoder, projector, augmentation, generator, config
        )
        loss = sum(w * t for w, t in zip(weights, terms, strict=True))
        values = torch.stack([loss.detach(), *(t.detach() for t in terms)])
        if not bool(torch.isfinite(values).all()):
            return None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals += values.to("cpu", torch.float64) * len(index)
    return (totals / X.shape[0]).tolist()


def fit_embedder(
    X: Tensor,
    encoder: nn.Module,
    projector: nn.Module,
    augmentation,
    generator: torch.Generator,
    *,
    weights=(25.0, 25.0, 1.0),
    n_blocks=None,
    gamma=1.0,
    eps=1e-4,
    batch_size=256,
    max_epochs=100,
    learning_rate=1e-3,
    weight_decay=1e-4,
    tol=5e-3,
    n_iter_no_change=10,
    verbose=False,
):
    """Train ``encoder`` (and a trainable ``projector``) with VICReg or VCReg.

    Parameters
    ----------
    X : Tensor of shape (n, d)
        Training rows, on the training device, ``n >= 2``.
    encoder, projector : nn.Module
        Networks on the same device and dtype as ``X``. Parameters with
        ``requires_grad=False`` (a frozen projector) are not optimised.
    augmentation : callable
        ``augmentation(X_batch, generator) -> X_view``.
    generator : torch.Generator
        Source of the batch order and of the augmentations.
    weights : tuple of float, default=(25.0, 25.0, 1.0)
        ``(invariance, variance, covariance)`` weights. A zero invariance weight
        trains pure VCReg on one view per batch.
    n_blocks : int, default=None
        Set for a separable projector: the number of its input columns.
    gamma, eps : float
        Target standard deviation and stabiliser of the variance hinge.
    batch_size : int, default=256
        Rows per mini-batch, capped at ``n``.
    max_epochs : int, default=100
        Maximum number of passes over ``X``.
    learning_rate, weight_decay : float
        AdamW settings.
    tol : float, default=5e-3
        Relative improvement of a block's mean loss, over the best earlier block,
        below which training stops.
    n_iter_no_change : int, default=10
        Number of epochs per block (see ``_BlockPlateau``); training runs at least
        two blocks before it can stop.
    verbose : bool, default=False
        Show a progress bar (tqdm when installed) with the loss terms.

    Returns
    -------
    encoder : nn.Module
        The trained encoder (the same object, on its device, in training mode).
    info : dict
        ``n_iter`` (epochs completed), ``loss_curve`` and ``invariance_curve``,
        ``variance_curve``, ``covariance_curve`` (row-weighted epoch means of the
        unweighted terms), ``converged`` (stopped on a plateau) and
        ``non_finite`` (training stopped on a non-finite loss; the parameters are
        those of the last finite epoch).
    """
    config = {
        "weights": tuple(float(w) for w in weights),
        "two_views": float(weights[0]) != 0.0,
        "n_blocks": n_blocks,
        "gamma": gamma,
        "eps": eps,
        "batch_size": max(2, min(int(batch_size), X.shape[0])),
    }
    modules = nn.ModuleList([encoder, projector]).train()
    parameters = [p for p in modules.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=learning_rate, weight_decay=weight_decay
    )
    curves = {name: [] for name in ("loss", *_TERMS)}
    plateau = _BlockPlateau(n_iter_no_change, tol)
    converged, non_finite = False, False
    last_good = copy.deepcopy(modules.state_dict())
    progress = _Progress(max_epochs, verbose)
    for epoch in range(1, max_epochs + 1):
        means = _run_epoch(
            X, encoder, projector, augmentation, optimizer, generator, config
        )
        if means is None:
            modules.load_state_dict(last_good)
            non_finite = True
            break
        for name, value in zip(curves, means, strict=True):
            curves[name].append(value)
        last_good = copy.deepcopy(modules.state_dict())
        progress.update(epoch, means[0], means[1:])
        if plateau.update(means[0]):
            converged = True
            break
    progress.close()
    info = {
        "n_iter": len(curves["loss"]),
        "loss_curve": curves["loss"],
        **{f"{name}_curve": curves[name] for name in _TERMS},
        "converged": converged,
        "non_finite": non_finite,
    }
    return encoder, info
