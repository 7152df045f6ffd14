"""VICReg's multi-layer perceptron: Linear-BatchNorm-ReLU blocks, last layer linear.

The same builder makes the embedder's encoder and its projector. Weights are drawn
from an explicit :class:`torch.Generator`, never from torch's global generator, so a
seed gives the same network every time.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._validation import check_widths

__all__ = ["make_mlp_projector"]


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """PyTorch's default ``nn.Linear`` initialisation, drawn from ``generator``.

    Weights and bias are uniform on ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (what
    ``kaiming_uniform_(a=sqrt(5))`` gives).
    """
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        for tensor in (layer.weight, layer.bias):
            if tensor is None:
                continue
            uniform = torch.rand(
                tensor.shape, generator=generator, dtype=tensor.dtype
            ).to(tensor.device)
            tensor.copy_((2.0 * uniform - 1.0) * bound)


def _linear(in_features, out_features, generator, dtype, device, bias) -> nn.Linear:
    # skip_init builds the layer without running its global-RNG initialisation.
    layer = nn.utils.skip_init(
        nn.Linear, in_features, out_features, bias=bias, dtype=dtype, device=device
    )
    _init_linear(layer, generator)
    return layer


def make_mlp_projector(
    in_features: int,
    widths: Sequence[int],
    *,
    batch_norm: bool = True,
    output_bias: bool = True,
    frozen: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> nn.Sequential:
    """Build VICReg's projector: ``(Linear, BatchNorm1d, ReLU) * k`` then ``Linear``.

    ``widths = (w_1, ..., w_k, w_out)`` gives ``k`` hidden blocks of widths
    ``w_1 ... w_k`` and a final plain linear layer of width ``w_out``; a single
    width gives one linear layer. The network maps ``(n, in_features)`` to
    ``(n, widths[-1])``.

    Parameters
    ----------
    in_features : int
        Width of the input.
    widths : sequence of int
        Output widths of the successive linear layers; the last one is the output
        width. Must be non-empty and positive.
    batch_norm : bool, default=True
        Put a ``BatchNorm1d`` between each hidden linear layer and its ReLU, as
        VICReg does. With batch norm the input must be a 2-D ``(n, in_features)``
        batch; without it any leading dimensions are accepted. A hidden linear
        layer followed by batch norm has no bias: the batch norm's shift takes its
        place, and a bias that batch norm subtracts again gets only round-off
        gradients, which an optimiser such as Adam, normalising each step, turns
        into a drift.
    output_bias : bool, default=True
        Give the last linear layer a bias. Leave it out when the training loss
        cannot see a shift of the output (the VICReg terms are all unchanged by
        one), for the same reason.
    frozen : bool, default=False
        Build a *frozen random* MLP: every parameter has ``requires_grad=False``, so
        an optimiser built from the trainable parameters leaves it at its random
        initialisation. Batch-norm layers still normalise with batch statistics in
        training mode.
    generator : torch.Generator, default=None
        Source of the initial weights (PyTorch's default ``nn.Linear`` uniform
        initialisation). ``None`` uses a fresh unseeded CPU generator.
    dtype : torch.dtype, default=torch.float64
        Dtype of the parameters.
    device : str or torch.device, default="cpu"
        Device of the parameters; the weights are drawn on the CPU and moved.

    Returns
    -------
    torch.nn.Sequential
        The network, in training mode.

    References
    ----------
    A. Bardes, J. Ponce and Y. LeCun, "VICReg: Variance-Invariance-Covariance
    Regularization for Self-Supervised Learning", ICLR 2022.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.projectors._mlp import make_mlp_projector
    >>> g = torch.Generator().manual_seed(0)
    >>> mlp = make_mlp_projector(10, (32, 32, 8), generator=g)
    >>> [type(m).__name__ for m in mlp][:3]
    ['Linear', 'BatchNorm1d', 'ReLU']
    >>> mlp(torch.randn(5, 10, dtype=torch.float64, generator=g)).shape
    torch.Size([5, 8])
    """
    widths = check_widths(widths)
    (in_features,) = check_widths((in_features,), "in_features")
    if generator is None:
        generator = torch.Generator()
    layers: list[nn.Module] = []
    width_in = int(in_features)
    for width in widths[:-1]:
        bias = not batch_norm
        layers.append(_linear(width_in, width, generator, dtype, device, bias))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width, dtype=dtype, device=device))
        layers.append(nn.ReLU())
        width_in = width
    last = _linear(width_in, widths[-1], generator, dtype, device, output_bias)
    layers.append(last)
    mlp = nn.Sequential(*layers)
    if frozen:
        mlp.requires_grad_(False)
    return mlp
