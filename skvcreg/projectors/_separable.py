"""The frozen random *separable* projector of the projector lemma (user guide, "VCReg").

The same random map ``psi: R -> R^L`` is applied to every input column, so the
output covariance's off-diagonal blocks are HSIC statistics between the inputs with
the kernel ``k(a, b) = psi(a)^T psi(b)``.
"""

import math

import torch
from torch import nn

from ._validation import check_widths

__all__ = ["SeparableRandomProjector"]

# The bandwidths a dtype holds: within max**-0.8 .. max**0.8 of its largest
# value, the weights N(0, 1) / bandwidth and knots N(0, 1) * bandwidth leave
# a factor max**0.2 (about 5e7 in float32) for the inputs before the phases
# overflow, and neither underflows to zero.
_RANGE_EXPONENT = 0.8


def _bandwidth_range(dtype):
    """``(low, high)``: the bandwidths whose weights and knots ``dtype`` holds."""
    high = float(torch.finfo(dtype).max) ** _RANGE_EXPONENT
    return 1.0 / high, high


class SeparableRandomProjector(nn.Module):
    """Apply one frozen random feature map ``psi`` to each input column.

    ``Y`` of shape ``(..., n, m)`` maps to ``Q`` of shape ``(..., n, m * L)`` whose
    block ``j`` (columns ``j*L`` to ``(j+1)*L``) is ``psi(Y[..., j])``. Nothing is
    trained: the weights are buffers drawn once from ``generator``.

    Parameters
    ----------
    widths : tuple of int, default=(64,)
        Widths of the random layers of ``psi``; ``L = widths[-1]``. The first layer
        is the random feature map; each further layer is a random linear map
        followed by a ReLU, scaled so the kernel stays of order one.
    kind : {"fourier", "relu"}, default="fourier"
        First layer. ``"fourier"``: ``sqrt(2/L) cos(w t + b)`` with ``w ~ N(0,
        s^-2)`` and ``b ~ U[0, 2 pi)``, so ``psi(a)^T psi(b)`` approximates the
        Gaussian kernel ``exp(-(a - b)^2 / (2 s^2))`` (Rahimi & Recht 2007).
        ``"relu"``: ``sqrt(2/L) max(0, w (t - k))`` with ``w ~ N(0, s^-2)`` and
        knots ``k ~ N(0, s^2 / 2)``: random ramps hinged where white data lie.
    bandwidths : float or tuple of float, default=1.0
        Kernel bandwidths ``s``, positive, at least one, within the range
        ``dtype`` holds (about ``1.5e-31`` to ``6.7e30`` in float32). With several,
        the first layer's features are split among them in turn, giving a mixture
        of kernels. Inputs are assumed of unit scale (whitened components).
    generator : torch.Generator, default=None
        Source of the random weights; ``None`` uses a fresh unseeded generator.
    dtype : torch.dtype, default=torch.float64
        Dtype of the weights.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.projectors import SeparableRandomProjector
    >>> g = torch.Generator().manual_seed(0)
    >>> projector = SeparableRandomProjector((16,), generator=g)
    >>> projector(torch.randn(100, 3, dtype=torch.float64, generator=g)).shape
    torch.Size([100, 48])
    """

    def __init__(
        self,
        widths=(64,),
        *,
        kind="fourier",
        bandwidths=1.0,
        generator=None,
        dtype=torch.float64,
    ):
        super().__init__()
        widths = check_widths(widths)
        if kind not in ("fourier", "relu"):
            raise ValueError(f"kind must be 'fourier' or 'relu', got {kind!r}.")
        given = bandwidths
        # Checked in float64: a value beyond the dtype's range is not "infinite"
        # or "zero" to the caller, it is out of range for that dtype.
        bandwidths = torch.as_tensor(bandwidths, dtype=torch.float64).reshape(-1)
        positive = bool(torch.all((bandwidths > 0) & torch.isfinite(bandwidths)))
        if len(bandwidths) == 0 or not positive:
            raise ValueError(
                "bandwidths must be a positive finite float or a non-empty tuple of "
                f"them, got {given!r}."
            )
        low, high = _bandwidth_range(dtype)
        if not bool(torch.all((bandwidths >= low) & (bandwidths <= high))):
            wider = (
                "Use dtype=torch.float64, or rescale"
                if dtype != torch.float64
                else "Rescale"
            )
            hint = f"{wider} the inputs and the bandwidths."
            raise ValueError(
                f"bandwidths must lie between {low:.1e} and {high:.1e} for dtype "
                f"{dtype}, got {given!r}: beyond, the random weights N(0, 1) / "
                "bandwidth overflow or vanish in that dtype on inputs of unit "
                f"scale. {hint}"
            )
        bandwidths = bandwidths.to(dtype)
        if generator is None:
            generator = torch.Generator()
        self.kind = kind
        self.widths = widths
        width = widths[0]
        scale = bandwidths[torch.arange(width) % len(bandwidths)]
        weight = torch.randn(width, generator=generator, dtype=dtype) / scale
        if kind == "fourier":
            bias = 2 * math.pi * torch.rand(width, generator=generator, dtype=dtype)
        else:
            knots = torch.randn(width, generator=generator, dtype=dtype) * scale
            bias = -weight * knots / math.sqrt(2.0)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.hidden = nn.ModuleList()
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=False):
            layer = nn.Linear(w_in, w_out, dtype=dtype)
            with torch.no_grad():
                layer.weight.copy_(
                    torch.randn(w_out, w_in, generator=generator, dtype=dtype)
                    * math.sqrt(2.0 / w_in)
                )
                layer.bias.zero_()
            layer.requires_grad_(False)
            self.hidden.append(layer)

    @property
    def out_width(self):
        """Number ``L`` of features per input column (the last width)."""
        return self.widths[-1]

    def feature_map(self, t):
        """Apply ``psi`` elementwise: ``(...,) -> (..., L)``.

        Parameters
        ----------
        t : Tensor of shape (...,)
            Values to map, of the projector's dtype and device.

        Returns
        -------
        Tensor of shape (..., L)
            ``psi(t)``, one block of ``L`` features per value.
        """
        scale = math.sqrt(2.0 / self.widths[0])
        if self.kind == "relu":  # relu(c x) = c relu(x): fold the scale in.
            h = torch.addcmul(self.bias * scale, t.unsqueeze(-1), self.weight * scale)
            h = torch.relu_(h)
        else:
            h = torch.cos_(torch.addcmul(self.bias, t.unsqueeze(-1), self.weight))
            h = h.mul_(scale)
        for layer in self.hidden:
            h = torch.relu(layer(h)) * math.sqrt(2.0 / layer.out_features)
        return h

    def forward(self, Y):
        """Map ``Y`` of shape ``(..., n, m)`` to ``(..., n, m * L)``."""
        return self.feature_map(Y).flatten(-2)
