"""Training on the ranks of a ``torch.distributed`` process group (DDP).

Everything :class:`~skvcreg.VCRegEmbedder` does across ranks lives here, behind a
small API:

- :func:`process_group` returns a :class:`ProcessGroup` when an initialised group
  runs several ranks (else ``None``), and :class:`OneProcess` is the same interface
  for a process alone. The solver talks only to these: which rows of a global batch
  are the rank's (``shard``), the global batch of projector outputs (``gather``,
  differentiable), the mean of the reported losses (``mean``), the sum of the
  gradients (``sum_gradients``) and batch norms on global batch statistics
  (``synchronise_batch_norms``).
- :func:`check_backend` refuses a backend that cannot carry the training device's
  tensors, and :func:`agree_on_data` validates a rank's data and checks that every
  rank holds the same rows and parameters, so that a problem on one rank raises the
  same clear error on all of them instead of leaving the others waiting.

Every rank holds the same rows and draws the same global batches and views; each
runs the networks on its own share of the rows, the projector outputs are
all-gathered so that the loss (its covariance in particular) is that of the global
batch, and the ranks sum their gradients: the training equals the one-process
training on the same global batches, up to round-off. ``torch.distributed`` is
imported only inside these functions, so the one-process path never needs it.
"""

import contextlib
import hashlib

import numpy as np
import torch
from torch import nn

__all__ = [
    "RANK_LOCAL_PARAMS",
    "OneProcess",
    "ProcessGroup",
    "agree_on_data",
    "check_backend",
    "process_group",
]

# Estimator parameters whose values may differ between the ranks of a fit.
RANK_LOCAL_PARAMS = ("augmentation", "device", "random_state", "verbose")


class OneProcess:
    """The communication of a single process: every rank's share is everything."""

    rank, world_size = 0, 1

    def shard(self, n):
        return slice(0, n)

    def gather(self, Z, n):
        return Z

    def mean(self, values):
        return values

    def sum_gradients(self, parameters):
        pass

    def synchronise_batch_norms(self, module):
        return contextlib.nullcontext()


class _GatherRows(torch.autograd.Function):
    """All-gather the ranks' rows of a batch; the gradient of the local rows flows back.

    Forward: each rank contributes its ``counts[rank]`` rows (padded to the
    largest count, since ``all_gather`` needs one shape), and every rank gets the
    global batch, rank by rank. Backward: every rank computes the same loss of the
    global batch, so the gradient with respect to its own rows is the slice of
    the incoming gradient at those rows; the other ranks' rows carry no graph
    here. The ranks' parameter gradients are then partial sums of the global one
    and are summed across ranks (``ProcessGroup.sum_gradients``), which is what
    DDP's averaging of VICReg's reference gradients amounts to (its all-gather
    sums the embedding gradients over ranks in backward).
    """

    @staticmethod
    def forward(ctx, local, counts, rank, group):
        import torch.distributed as dist

        padded = local.new_zeros((max(counts), *local.shape[1:]))
        padded[: local.shape[0]] = local
        received = [torch.empty_like(padded) for _ in counts]
        dist.all_gather(received, padded, group=group)
        received[rank] = local
        ctx.start = sum(counts[:rank])
        ctx.stop = ctx.start + counts[rank]
        return torch.cat([r[:c] for r, c in zip(received, counts, strict=True)])

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.start : ctx.stop], None, None, None


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward sums the incoming gradients over ranks.

    Every rank's loss depends on the sum through its own rows only, so the
    gradient of the (common) loss with respect to the sum is the sum over ranks
    of what each rank back-propagates.
    """

    @staticmethod
    def forward(ctx, tensor, group):
        import torch.distributed as dist

        ctx.group = group
        tensor = tensor.clone()
        dist.all_reduce(tensor, group=group)
        return tensor

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


class _SyncBatchNorm(nn.Module):
    """A batch-norm layer normalising with the statistics of the global batch.

    Wraps (and trains in place) the ``BatchNorm1d`` it replaces during a
    distributed fit: the per-feature sums and sums of squares of the local rows are
    all-reduced (in float64, by ``_SumOverRanks``), so each rank normalises its
    rows exactly as one process would normalise the global batch, and the running
    statistics move identically on every rank. ``torch.nn.SyncBatchNorm`` serves
    GPUs only; this also runs on CPUs with gloo.
    """

    def __init__(self, batch_norm, communicator):
        super().__init__()
        self.batch_norm = batch_norm
        self.communicator = communicator

    def forward(self, x):
        bn = self.batch_norm
        if not bn.training:
            return bn(x)
        x64 = x.to(torch.float64)
        count = x64.new_full((1,), float(x.shape[0]))
        local = torch.cat([x64.sum(dim=0), x64.square().sum(dim=0), count])
        total = _SumOverRanks.apply(local, self.communicator.group)
        width = x.shape[1]
        n = total[-1]
        mean = total[:width] / n
        var = (total[width : 2 * width] / n - mean.square()).clamp_min(0.0)
        if bn.track_running_stats:
            self._update_running_statistics(mean.detach(), var.detach(), n.detach())
        out = (x - mean.to(x.dtype)) * torch.rsqrt(var.to(x.dtype) + bn.eps)
        if bn.affine:
            out = out * bn.weight + bn.bias
        return out

    def _update_running_statistics(self, mean, var, n):
        bn = self.batch_norm
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            factor = bn.momentum
            if factor is None:  # a cumulative moving average, as BatchNorm1d
                factor = 1.0 / float(bn.num_batches_tracked)
            unbiased = var * n / (n - 1)
            bn.running_mean.mul_(1 - factor).add_(factor * mean.to(bn.running_mean))
            bn.running_var.mul_(1 - factor).add_(factor * unbiased.to(bn.running_var))


class ProcessGroup:
    """The ranks of an initialised ``torch.distributed`` process group.

    Every rank holds the same rows and draws the same global batches; this object
    says which rows of a batch are the rank's, gathers the projector outputs,
    averages the reported loss values and sums the gradients.

    Parameters
    ----------
    group : torch.distributed.ProcessGroup, default=None
        The group; ``None`` is the default (world) group.
    """

    def __init__(self, group=None):
        import torch.distributed as dist

        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.backend = str(dist.get_backend(group))

    def _counts(self, n):
        base, extra = divmod(n, self.world_size)
        return [base + (rank < extra) for rank in range(self.world_size)]

    def shard(self, n):
        """The slice of a global batch of ``n`` rows that this rank computes."""
        counts = self._counts(n)
        start = sum(counts[: self.rank])
        return slice(start, start + counts[self.rank])

    def gather(self, Z, n):
        """The global batch of ``n`` rows from each rank's share ``Z``."""
        return _GatherRows.apply(Z, self._counts(n), self.rank, self.group)

    def mean(self, values):
        """Mean over the ranks of ``values`` (equal on every rank but for round-off).

        Every rank then records, and decides on, the same numbers; a NaN on any
        rank is a NaN on all of them.
        """
        import torch.distributed as dist

        values = values.clone()
        dist.all_reduce(values, group=self.group)
        return values / self.world_size

    def sum_gradients(self, parameters):
        """All-reduce (sum) the gradients of ``parameters``, in one message."""
        import torch.distributed as dist

        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, group=self.group)
        offset = 0
        for p in parameters:
            p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()

    def all_gather_object(self, obj):
        """Every rank's ``obj``, in rank order (pickled)."""
        import torch.distributed as dist

        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, obj, group=self.group)
        return gathered

    @contextlib.contextmanager
    def synchronise_batch_norms(self, module):
        """Within the block, ``module``'s batch norms use global batch statistics."""
        swapped = []
        for parent in list(module.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.modules.batchnorm._BatchNorm):
                    setattr(parent, name, _SyncBatchNorm(child, self))
                    swapped.append((parent, name, child))
        try:
            yield
        finally:
            for parent, name, child in swapped:
                setattr(parent, name, child)


def process_group():
    """A :class:`ProcessGroup` if torch.distributed runs several ranks, else None."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    if dist.get_world_size() < 2:
        return None
    return ProcessGroup()


def check_backend(comm, device, device_param):
    """Raise if the process group's backend cannot carry tensors of ``device``.

    Parameters
    ----------
    comm : ProcessGroup or None
        The ranks of the fit (:func:`process_group`).
    device : torch.device
        The resolved training device.
    device_param : object
        The estimator's ``device`` parameter, named in the message.
    """
    if comm is not None and comm.backend == "nccl" and device.type != "cuda":
        raise ValueError(
            "The torch.distributed process group uses NCCL, which needs CUDA "
            f"tensors, but device={device_param!r} trains on the CPU; use "
            "device='cuda' (after torch.cuda.set_device(local_rank)) or gloo."
        )


def agree_on_data(comm, validate, generator, params):
    """``validate()``; on the ranks of ``comm``, checked to agree on every rank.

    Every rank reports its validation error, the shape and a digest of its rows
    (in-memory rows only; lazy ones are compared by shape), its parameters but
    the rank-local ones (``RANK_LOCAL_PARAMS``) and its seed, in one
    ``all_gather_object``, so that a problem on one rank raises on all of them,
    and the seed of rank 0 seeds ``generator`` everywhere.

    Parameters
    ----------
    comm : ProcessGroup or None
        The ranks of the fit; ``None`` only calls ``validate``.
    validate : callable
        ``validate() -> X``, raising ``ValueError`` or ``TypeError`` on bad data.
    generator : torch.Generator or None
        The fit's generator, reseeded with rank 0's seed; ``None`` leaves the
        seed alone (a continued training).
    params : dict
        The estimator's parameters (``get_params(deep=False)``).

    Returns
    -------
    X : object
        What ``validate`` returned.
    """
    if comm is None:
        return validate()
    X, error = None, None
    try:
        X = validate()
    except (ValueError, TypeError) as exc:
        error = exc
    report = {
        "error": None if error is None else f"{type(error).__name__}: {error}",
        "shape": None if X is None else tuple(X.shape),
        # The rows object names the array whose bytes identify the rows
        # (None for a dask array: its bytes are not read).
        "digest": None if X is None else _digest(X.digest_array()),
        "params": repr(
            [(k, v) for k, v in sorted(params.items()) if k not in RANK_LOCAL_PARAMS]
        ),
        "seed": None if generator is None else generator.initial_seed(),
    }
    reports = comm.all_gather_object(report)
    if error is not None:
        raise error
    _check_rank_reports(reports)
    if generator is not None:
        generator.manual_seed(reports[0]["seed"])
    return X


def _digest(X):
    """A digest of an array's dtype, shape and bytes (to compare ranks' data);
    ``None`` for ``None``."""
    if X is None:
        return None
    X = np.ascontiguousarray(X)
    digest = hashlib.blake2b(f"{X.dtype}{X.shape}".encode(), digest_size=16)
    digest.update(X.data)
    return digest.hexdigest()


def _check_rank_reports(reports):
    """Raise the same clear error on every rank when the ranks' data disagree."""
    where = "the ranks of the torch.distributed job"
    for rank, report in enumerate(reports):
        if report["error"] is not None:
            raise ValueError(
                f"Rank {rank} of the torch.distributed job could not use its data "
                f"({report['error']}); every rank must fit on the same rows."
            )
    if len({report["params"] for report in reports}) > 1:
        raise ValueError(
            f"VCRegEmbedder has different parameters on {where}; every rank must "
            "fit the same estimator (only augmentation, device, random_state and "
            "verbose may differ, and rank 0's seed is used)."
        )
    for axis, what in ((1, "widths"), (0, "numbers of rows")):
        sizes = [report["shape"][axis] for report in reports]
        if len(set(sizes)) > 1:
            unit = "features" if axis == 1 else "rows"
            listed = ", ".join(f"rank {r}: {s} {unit}" for r, s in enumerate(sizes))
            raise ValueError(
                f"VCRegEmbedder was given data of different {what} on {where} "
                f"({listed}); every rank must fit on the same rows, and each "
                "computes its share of every batch."
            )
    if len({report["digest"] for report in reports}) > 1:
        raise ValueError(
            f"VCRegEmbedder was given different rows on {where}; every rank must "
            "fit on the same rows (in the same order), and each computes its share "
            "of every batch."
        )
