"""Training loop of :class:`~skvcreg.VCRegEmbedder` (solver layer).

Mini-batch AdamW on a training loss of an encoder followed by a projector. The data
come chunk by chunk (one chunk for an in-memory array, one per block of a dask
array), and the loss is a callable the estimator builds from :mod:`skvcreg.losses`
(:mod:`skvcreg._embedder._loss`): nothing here knows its formula.

On the ranks of a ``torch.distributed`` process group, every rank draws the same
global batches and the same views of them; the communication (which rows of a
batch are the rank's, the gathered projector outputs, the summed gradients, the
synchronised batch norms) goes through the communicator's small interface
(:mod:`skvcreg._embedder._distributed`), so the loop is the same on one process.

The solver only reports: it returns the trained encoder and an ``info`` dict with
``n_iter``, ``loss_curve``, the per-term curves, ``converged``, ``non_finite`` and
the optimizer's state; the estimator turns that into attributes and warnings. No
numpy, no scikit-learn, no warnings policy here.
"""

import copy
import math

import torch
from torch import Tensor, nn

from ._distributed import OneProcess
from ._loss import make_training_loss

__all__ = ["fit_embedder"]


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


def _batches(n, batch_size, generator, device, min_rows=2):
    """Shuffled index batches of at most ``batch_size`` rows, none under ``min_rows``.

    A last batch under ``min_rows`` rows (the covariance needs two; W-MSE more than
    half the embedding width) joins the previous batch.
    """
    order = torch.randperm(n, generator=generator, device=generator.device).to(device)
    batches = list(torch.split(order, min(batch_size, n)))
    if len(batches) > 1 and len(batches[-1]) < min_rows:
        batches[-2] = torch.cat(batches[-2:])
        batches.pop()
    return batches


# --------------------------------------------------------------------- training


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

    def update(self, epoch, means):
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
            self.bar.update(1)
        else:
            text = ", ".join(f"{k} {v:.4g}" for k, v in means.items())
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


class _Training:
    """The networks, loss, optimizer and communication of one training run."""

    def __init__(self, encoder, projector, loss_fn, optimizer, generator, comm):
        self.encoder, self.projector, self.loss_fn = encoder, projector, loss_fn
        self.modules = nn.ModuleList([encoder, projector])
        self.optimizer, self.generator, self.comm = optimizer, generator, comm
        self.parameters = [p for g in optimizer.param_groups for p in g["params"]]

    def step(self, X_batch, augmentation):
        """One optimisation step on a global batch; the loss and terms, or None."""
        generator, comm = self.generator, self.comm
        n = X_batch.shape[0]
        views = [
            _view(augmentation, X_batch, generator)
            for _ in range(getattr(self.loss_fn, "n_views", 2))
        ]
        local = comm.shard(n)
        outputs = [
            comm.gather(self.projector(self.encoder(v[local])), n) for v in views
        ]
        loss, terms = self.loss_fn(*outputs)
        values = torch.stack([loss.detach(), *(t.detach() for t in terms.values())])
        values = comm.mean(values)
        if not bool(torch.isfinite(values).all()):
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        comm.sum_gradients(self.parameters)
        self.optimizer.step()
        return dict(zip(["loss", *terms], values.to("cpu", torch.float64), strict=True))

    def epoch(self, chunks, batch_size):
        """One pass over the chunks; the row-weighted means, or None if non-finite."""
        totals, rows = None, 0
        min_rows = getattr(self.loss_fn, "min_batch_rows", 2)
        for X, augmentation in chunks():
            n, device = X.shape[0], X.device
            for index in _batches(n, batch_size, self.generator, device, min_rows):
                values = self.step(X[index], augmentation)
                if values is None:
                    return None
                weighted = {k: v * len(index) for k, v in values.items()}
                totals = (
                    weighted
                    if totals is None
                    else {k: totals[k] + weighted[k] for k in totals}
                )
                rows += len(index)
        return {k: float(v / rows) for k, v in totals.items()}

    def snapshot(self):
        return copy.deepcopy((self.modules.state_dict(), self.optimizer.state_dict()))

    def restore(self, snapshot):
        self.modules.load_state_dict(snapshot[0])
        self.optimizer.load_state_dict(snapshot[1])


def fit_embedder(
    chunks,
    encoder: nn.Module,
    projector: nn.Module,
    generator: torch.Generator,
    *,
    loss_fn=None,
    batch_size=128,
    max_epochs=100,
    learning_rate=1e-3,
    weight_decay=0.01,
    tol=5e-3,
    n_iter_no_change=10,
    optimizer_state=None,
    communicator=None,
    verbose=False,
):
    """Train ``encoder`` (and a trainable ``projector``) on a self-supervised loss.

    Parameters
    ----------
    chunks : callable
        ``chunks()`` returns, for one epoch, an iterable of ``(X, augmentation)``:
        ``X`` a ``(n, d)`` tensor of training rows (``n >= 2``) on the training
        device, ``augmentation(X_batch, generator) -> X_view`` its augmentation.
        Batches are drawn within each chunk.
    encoder, projector : nn.Module
        Networks on the same device and dtype as ``X``. Parameters with
        ``requires_grad=False`` (a frozen projector) are not optimised.
    generator : torch.Generator
        Source of the batch order and of the augmentations.
    loss_fn : callable, default=None
        ``loss_fn(Z, Z_prime) -> (loss, terms)`` on the projector outputs of the
        views of a batch (``loss_fn(Z)`` when its attribute ``n_views`` is 1), with
        ``terms`` a dict of the unweighted terms to report
        (:func:`skvcreg._embedder._loss.make_training_loss`); a last batch under
        its attribute ``min_batch_rows`` (default 2) joins the previous one.
        ``None`` is VICReg with the weights ``25 / 25 / 1``.
    batch_size : int, default=128
        Rows per mini-batch (global, over all ranks), capped at a chunk's rows.
    max_epochs : int, default=100
        Maximum number of passes over the data.
    learning_rate, weight_decay : float
        AdamW settings.
    tol : float, default=5e-3
        Relative improvement of a block's mean loss, over the best earlier block,
        below which training stops.
    n_iter_no_change : int, default=10
        Number of epochs per block (see ``_BlockPlateau``); training runs at least
        two blocks before it can stop.
    optimizer_state : dict, default=None
        State of the AdamW optimizer of an earlier call over the same networks,
        to continue its training.
    communicator : ProcessGroup, default=None
        The ranks to train on (:func:`skvcreg._embedder._distributed.process_group`);
        ``None`` trains in this process alone.
    verbose : bool, default=False
        Show a progress bar (tqdm when installed) with the loss terms.

    Returns
    -------
    encoder : nn.Module
        The trained encoder (the same object, on its device, in training mode).
    info : dict
        ``n_iter`` (epochs completed), ``loss_curve`` and one ``<term>_curve`` per
        reported term (row-weighted epoch means of the unweighted terms),
        ``converged`` (stopped on a plateau), ``non_finite`` (training stopped on
        a non-finite loss; the networks and the optimizer are those of the last
        finite epoch) and ``optimizer_state``.
    """
    if loss_fn is None:
        loss_fn = make_training_loss("vicreg")
    comm = OneProcess() if communicator is None else communicator
    modules = nn.ModuleList([encoder, projector]).train()
    optimizer = torch.optim.AdamW(
        [p for p in modules.parameters() if p.requires_grad],
        lr=learning_rate,
        weight_decay=weight_decay,
    )
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
        for group in optimizer.param_groups:  # this call's settings
            group.update(lr=learning_rate, weight_decay=weight_decay)
    training = _Training(encoder, projector, loss_fn, optimizer, generator, comm)
    batch_size = max(2, int(batch_size))
    curves = {}
    plateau = _BlockPlateau(n_iter_no_change, tol)
    converged, non_finite = False, False
    progress = _Progress(max_epochs, verbose)
    with comm.synchronise_batch_norms(modules):
        last_good = training.snapshot()
        for epoch in range(1, max_epochs + 1):
            means = training.epoch(chunks, batch_size)
            if means is None:
                training.restore(last_good)
                non_finite = True
                break
            for name, value in means.items():
                curves.setdefault(name, []).append(value)
            last_good = training.snapshot()
            progress.update(epoch, means)
            if plateau.update(means["loss"]):
                converged = True
                break
    progress.close()
    info = {
        "n_iter": len(curves.get("loss", [])),
        **{f"{name}_curve": curve for name, curve in curves.items()},
        "converged": converged,
        "non_finite": non_finite,
        "optimizer_state": last_good[1],
    }
    info.setdefault("loss_curve", [])
    return encoder, info
