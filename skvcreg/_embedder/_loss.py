"""Training losses of :class:`~skvcreg.VCRegEmbedder`, built from :mod:`skvcreg.losses`.

Each loss is a callable ``loss_fn(Z, Z_prime=None) -> (loss, terms)`` on the
projector outputs of the views of one batch (``Z_prime`` is ``None`` for a one-view
loss, whose attribute ``n_views`` is 1), returning the scalar to minimise and a dict
of the unweighted terms kept for the training curves; its attribute
``min_batch_rows`` is the fewest rows a batch may have. The solver calls it on the
global batch (all ranks' rows, in a distributed fit) and knows nothing of its
formula; the formulas themselves live in :mod:`skvcreg.losses`, and this module only
picks and weights them. The loop checks the loss for NaN itself, so the terms are
called with ``check_finite=False``.
"""

import torch
from torch import Tensor

from .. import losses

__all__ = ["LOSS_NAMES", "make_training_loss"]

#: Values of ``VCRegEmbedder(loss=...)``.
LOSS_NAMES = ("vicreg", "vcreg", "barlow_twins", "wmse")
_UNCHECKED = {"check_finite": False}


def _weighted_sum(terms, weights):
    """``sum_k weights[k] * terms[k]`` in the order of ``weights``."""
    return sum(weight * terms[name] for name, weight in weights.items())


def _zero(Z: Tensor) -> Tensor:
    return torch.zeros((), dtype=Z.dtype, device=Z.device)


def _standardize_columns(Y: Tensor, eps: float = 1e-4) -> Tensor:
    """Centre and scale each column of a ``(n, m)`` batch by its batch statistics."""
    return (Y - Y.mean(dim=0)) / torch.sqrt(Y.var(dim=0) + eps)


class _VICReg:
    """:func:`~skvcreg.losses.vicreg_terms`, weighted (two views)."""

    n_views, min_batch_rows = 2, 2

    def __init__(self, invariance_weight, variance_weight, covariance_weight):
        self.weights = {
            "invariance": invariance_weight,
            "variance": variance_weight,
            "covariance": covariance_weight,
        }

    def __call__(self, Z, Z_prime=None):
        terms = losses.vicreg_terms(Z, Z_prime, **_UNCHECKED)._asdict()
        return _weighted_sum(terms, self.weights), terms


class _VCReg:
    """:func:`~skvcreg.losses.vcreg_loss`'s terms, weighted (one view)."""

    n_views, min_batch_rows = 1, 2

    def __init__(self, variance_weight, covariance_weight):
        self.weights = {"variance": variance_weight, "covariance": covariance_weight}

    def __call__(self, Z, Z_prime=None):
        terms = {
            "invariance": _zero(Z),
            "variance": losses.variance_loss(Z, **_UNCHECKED),
            "covariance": losses.covariance_loss(Z, **_UNCHECKED),
        }
        return _weighted_sum(terms, self.weights), terms


class _SeparableHSIC:
    """VICReg or VCReg through the frozen separable projector of the lemma.

    The solver hands over the representations ``Y`` themselves (its projector is the
    identity), and this loss applies the frozen random projector to each view's
    columns standardised over the batch: the variance hinge acts on ``Y`` and the
    covariance term keeps only the cross-column blocks of the projector's output,
    i.e. the sum of the pairwise HSICs of ``Y``'s columns
    (:func:`~skvcreg.losses.cross_covariance_loss`); the invariance term compares
    the projector outputs. Conventions of :func:`~skvcreg.losses.vicreg_terms`:
    the two views' variance terms averaged, their covariance terms summed.
    """

    min_batch_rows = 2

    def __init__(self, projector, n_views, weights):
        self.projector = projector
        self.n_views = n_views
        names = ("invariance", "variance", "covariance")
        self.weights = dict(zip(names, weights, strict=True))
        if n_views == 1:
            del self.weights["invariance"]

    def __call__(self, Y, Y_prime=None):
        views = [Y] if Y_prime is None else [Y, Y_prime]
        Z = [self.projector(_standardize_columns(V)) for V in views]
        n_blocks = Y.shape[-1]
        variance = sum(losses.variance_loss(V, **_UNCHECKED) for V in views)
        covariance = sum(
            losses.cross_covariance_loss(Q, n_blocks, **_UNCHECKED) for Q in Z
        )
        if Y_prime is None:
            invariance = _zero(Y)
        else:
            invariance = losses.invariance_loss(Z[0], Z[1], **_UNCHECKED)
        terms = {
            "invariance": invariance,
            "variance": variance / len(views),
            "covariance": covariance,
        }
        return _weighted_sum(terms, self.weights), terms


class _Unweighted:
    """A two-view loss of :mod:`skvcreg.losses` with its published constants."""

    n_views = 2

    def __init__(self, function, min_batch_rows=2):
        self.function = function
        self.min_batch_rows = min_batch_rows

    def __call__(self, Z, Z_prime=None):
        return self.function(Z, Z_prime, **_UNCHECKED), {}


def make_training_loss(
    name,
    *,
    invariance_weight=25.0,
    variance_weight=25.0,
    covariance_weight=1.0,
    separable_projector=None,
    output_width=None,
):
    """The training loss ``loss_fn(Z, Z_prime=None) -> (loss, terms)`` called ``name``.

    Parameters
    ----------
    name : {"vicreg", "vcreg", "barlow_twins", "wmse"}
        ``"vicreg"``: :func:`~skvcreg.losses.vicreg_terms` weighted by the three
        weights; with ``invariance_weight=0`` it is ``"vcreg"`` (one view).
        ``"vcreg"``: variance and covariance of one view, weighted.
        ``"barlow_twins"``, ``"wmse"``: :func:`~skvcreg.losses.barlow_twins_loss`
        and :func:`~skvcreg.losses.wmse_loss` with their defaults; the weights are
        not used and no terms are reported.
    invariance_weight, variance_weight, covariance_weight : float
        Weights of the VICReg terms.
    separable_projector : torch.nn.Module, default=None
        The frozen separable projector, for ``"vicreg"`` and ``"vcreg"`` only: the
        loss then takes the representations and applies it itself.
    output_width : int, default=None
        Width ``D`` of the projector's output, for ``"wmse"``, which whitens the
        ``2n`` stacked rows of a batch and so needs ``n > D / 2`` rows.

    Returns
    -------
    callable
        The loss, with attributes ``n_views`` (1 or 2) and ``min_batch_rows``.
    """
    if name not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {LOSS_NAMES}, got {name!r}.")
    one_view = name == "vcreg" or (name == "vicreg" and float(invariance_weight) == 0)
    weights = (
        float(invariance_weight),
        float(variance_weight),
        float(covariance_weight),
    )
    if separable_projector is not None:
        if name not in ("vicreg", "vcreg"):
            raise ValueError(
                "The separable projector goes with the 'vicreg' and 'vcreg' losses, "
                f"not {name!r}."
            )
        return _SeparableHSIC(separable_projector, 1 if one_view else 2, weights)
    if one_view:
        return _VCReg(*weights[1:])
    if name == "vicreg":
        return _VICReg(*weights)
    if name == "barlow_twins":
        return _Unweighted(losses.barlow_twins_loss)
    return _Unweighted(losses.wmse_loss, min_batch_rows=int(output_width) // 2 + 1)
