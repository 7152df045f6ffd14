"""VCReg and VICReg loss terms, and the Barlow Twins and W-MSE losses, as pure torch
functions.

Every function takes tensors whose last two dimensions are ``(n, D)`` (``n`` rows of a
batch, ``D`` features) and returns one value per leading index: an input of shape
``(..., n, D)`` gives an output of shape ``(...)``, a plain ``(n, D)`` batch gives a
0-d tensor. The batch size ``n`` is always read from the tensor, so a short last batch
needs nothing special. Nothing here keeps state, moves tensors between devices or
touches a random number generator.

Conventions (see the user guide, "VCReg and the projector lemma"):

- ``C(Z)`` is the covariance of the columns of ``Z`` normalised by ``n - 1``;
- the variance term is a hinge on the *standard deviation*
  ``sqrt(Var(z^j) + eps)`` (unbiased variance), whose gradient stays finite when a
  column collapses;
- the invariance term is the mean squared difference of paired rows, averaged over
  the ``n`` rows *and* the ``D`` features (as :func:`torch.nn.functional.mse_loss`);
- in :func:`vicreg_loss` the variance terms of the two views are **averaged**
  (``(v(Z) + v(Z')) / 2``) and the covariance terms are **summed**
  (``c(Z) + c(Z')``), as in the reference implementation of VICReg, whose weights
  ``25 / 25 / 1`` were tuned with that convention. The paper's equation sums both
  variance terms; to reproduce it pass ``variance_weight=50``;
- :func:`barlow_twins_loss` standardises columns with the *biased* variance (``eps``
  inside the square root, as batch normalisation does) and :func:`wmse_loss` whitens
  with the covariance of both views stacked, normalised by ``2n - 1``; their
  docstrings state the remaining choices.

Inputs must be real floating-point tensors with at least one column (integer,
boolean and complex tensors, and empty batches, are errors). float16 and bfloat16
inputs are computed in float32 and give a float32 loss: the squares of float16
embeddings overflow from about 256 on. A term that would overflow on the way
(and the standardisation or whitening of embeddings of extreme scale) is
computed on the embeddings divided by a power of two near their largest entry
and scaled back, which is exact: finite embeddings of any magnitude give the
direct formula's value, and
only a loss beyond the range of the dtype (the covariance term of float64
embeddings of scale 1e160 is about 1e640) is an error with ``check_finite=True``
(``inf`` without), never NaN.
"""

import functools
import math
from numbers import Integral
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = [
    "BarlowTwinsLoss",
    "VCRegLoss",
    "VICRegLoss",
    "VICRegTerms",
    "WMSELoss",
    "barlow_twins_loss",
    "covariance_loss",
    "cross_covariance_loss",
    "invariance_loss",
    "normalized_cross_covariance_loss",
    "variance_loss",
    "vcreg_loss",
    "vicreg_loss",
    "vicreg_terms",
    "wmse_loss",
]


def _check_finite(Z: Tensor, name: str) -> None:
    """Raise if ``Z`` holds NaN or infinity (no gradient flows through the test)."""
    if not bool(torch.isfinite(Z.detach()).all()):
        raise ValueError(
            f"{name} contains NaN or infinity, which would make the loss NaN; "
            "check the input, or pass check_finite=False in a loop that checks "
            "its loss itself."
        )


# Largest ridge added to a covariance computed at a moderate scale: an absolute
# ridge (eps, the floor) scaled to tiny embeddings can exceed the dtype's range,
# and one this large already makes everything it is added to negligible.
_RIDGE_LIMIT = 1e30


def _ridge_at_scale(ridge: float, scale: Tensor | None) -> Tensor | float:
    """``ridge / scale**2``, what an absolute ridge on a covariance becomes when
    the data are divided by ``scale``: exact (``scale`` is a power of two) and
    0 for 0, at most :data:`_RIDGE_LIMIT`; ``ridge`` for ``scale=None``."""
    if scale is None:
        return ridge
    return torch.clamp(ridge / scale / scale, max=_RIDGE_LIMIT)


def _check_nonnegative(name: str, value: float) -> None:
    """Raise unless ``value`` is a finite number ``>= 0``."""
    try:
        ok = math.isfinite(value) and value >= 0
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")


def _check_weights(invariance_weight=0.0, variance_weight=0.0, covariance_weight=0.0):
    _check_nonnegative("invariance_weight", invariance_weight)
    _check_nonnegative("variance_weight", variance_weight)
    _check_nonnegative("covariance_weight", covariance_weight)


def _check_batch(
    Z: Tensor, name: str = "Z", *, check_finite: bool = True
) -> tuple[int, int]:
    """Return ``(n, D)`` of a ``(..., n, D)`` floating-point tensor, raising if
    it has fewer than 2 rows or no column, another dtype (or, with
    ``check_finite``, NaN or infinity)."""
    if Z.dim() < 2:
        raise ValueError(
            f"{name} must have shape (..., n, D) with at least two dimensions; "
            f"got shape {tuple(Z.shape)}."
        )
    if not Z.is_floating_point():
        raise ValueError(
            f"{name} must be a real floating-point tensor; got dtype {Z.dtype}. "
            f"Convert it first (for example {name}.float())."
        )
    n, D = Z.shape[-2], Z.shape[-1]
    if D == 0:
        raise ValueError(
            f"{name} has no columns (shape {tuple(Z.shape)}); the losses need at "
            "least one feature."
        )
    if n < 2:
        raise ValueError(
            f"{name} has {n} row(s) in its batch; the variance and covariance "
            "terms need at least 2 rows (they are normalised by n - 1)."
        )
    if check_finite:
        _check_finite(Z, name)
    return n, D


def _working(Z: Tensor) -> Tensor:
    """``Z`` in the dtype the losses are computed in: float16 and bfloat16 are
    promoted to float32 (the squares of float16 embeddings overflow from about
    256 on, and both lose the sums to rounding); other floats are unchanged."""
    return Z.float() if Z.dtype in (torch.float16, torch.bfloat16) else Z


def _at_moderate_scale(
    *tensors: Tensor,
) -> tuple[tuple[Tensor, ...], Tensor | None]:
    """The tensors divided by a common power of two ``s`` per leading index,
    and ``s`` (of shape ``(..., 1, 1)``, without gradient; ``None`` for
    tensors left as they are), so that their largest ``|entry|`` is of
    moderate size.

    The terms are computed on the divided tensors and scaled back by powers of
    ``s``: neither the squares nor the products of the covariances overflow or
    underflow on the way, and since multiplying by a power of two is exact,
    the result is the direct formula's to the last bit wherever that one
    neither overflowed nor underflowed. Only a loss beyond the dtype's range is
    then ``inf``. Largest entries already within ``2**+-k``, ``k`` a tenth of
    the dtype's exponent range (12 for float32, 102 for float64), are left as
    they are: their fourth powers, summed over any batch, stay in range.
    """
    safe = math.frexp(torch.finfo(tensors[0].dtype).max)[1] // 10
    detached = [T.detach() for T in tensors]
    if all(T.device.type == "cpu" and T.dim() == 2 for T in detached):
        # The common case, a plain batch on the CPU, tested with two reductions
        # (no copy; waiting for the values costs nothing there).
        top = max(max(float(T.max()), -float(T.min())) for T in detached)
        if 2.0**-safe <= top < 2.0**safe:
            return tensors, None
    peak = torch.stack(
        [
            torch.maximum(
                T.amax(dim=(-2, -1), keepdim=True), -T.amin(dim=(-2, -1), keepdim=True)
            )
            for T in detached
        ]
    ).amax(dim=0)
    # peak = m * 2**e with m in [0.5, 1): s = 2**(e - 1) keeps s finite for the
    # largest floats and |Z / s| < 2; s = 1 for moderate peaks (e = 1).
    exponent = torch.frexp(peak).exponent
    moderate = (exponent >= -safe) & (exponent <= safe)
    exponent = torch.where(moderate, torch.ones_like(exponent), exponent)
    scale = torch.ldexp(torch.ones_like(peak), exponent - 1)
    return tuple(T / scale for T in tensors), scale


def _times(value: Tensor, scale: Tensor | None, power: int) -> Tensor:
    """``value * scale**power`` one factor at a time, so that a result within
    range is never lost to an intermediate ``scale**power`` out of it (and 0
    stays 0 rather than ``0 * inf``); ``value`` for ``scale=None``."""
    if scale is None:
        return value
    for _ in range(power):
        value = value * scale
    return value


def _homogeneous(term, power: int, *tensors: Tensor) -> Tensor:
    """``term(*tensors)``, a term homogeneous of degree ``power`` in the scale
    of the tensors, without overflow: on the CPU computed directly first (a
    product that overflowed leaves inf or NaN in the result, as ``inf - inf``),
    and only then, or always on a GPU (where the test would wait for the
    device), on the tensors at a moderate scale (:func:`_at_moderate_scale`),
    scaled back by ``s**power``."""
    if all(T.device.type == "cpu" for T in tensors):
        value = term(*tensors)
        if bool(torch.isfinite(value.detach()).all()):
            return value
    scaled, scale = _at_moderate_scale(*tensors)
    return _times(term(*scaled), _squeeze(scale, 2), power)


def _squeeze(scale: Tensor | None, dims: int) -> Tensor | None:
    """``scale`` without its last ``dims`` unit dimensions (``None`` stays)."""
    return None if scale is None else scale.reshape(scale.shape[: scale.dim() - dims])


def _check_result(loss: Tensor, what: str, check_finite: bool) -> Tensor:
    """With ``check_finite``, raise if the loss of finite inputs is not finite."""
    if check_finite and not bool(torch.isfinite(loss.detach()).all()):
        raise ValueError(
            f"The {what} of these finite embeddings exceeds the range of "
            f"{loss.dtype} (it grows with the square or the fourth power of their "
            "scale); scale the embeddings down, or compute in float64."
        )
    return loss


def _weighted_sum(*pairs: tuple[float, Tensor]) -> Tensor:
    """``sum(weight * term)`` without the terms of weight 0, so that a term
    beyond the dtype's range does not turn a zero weight into NaN."""
    kept = [weight * term for weight, term in pairs if weight != 0]
    if not kept:
        return pairs[0][1] * 0  # the terms' shape, dtype and graph
    total = kept[0]
    for term in kept[1:]:
        total = total + term
    return total


def _centre(Z: Tensor) -> Tensor:
    """Subtract the column means over the row dimension ``-2``."""
    return Z - Z.mean(dim=-2, keepdim=True)


def _squared_frobenius_of_covariance(Zc: Tensor) -> Tensor:
    """``||Zc^T Zc||_F^2`` for centred ``Zc`` of shape ``(..., n, D)``.

    Uses the ``D x D`` product when ``D <= n`` and the ``n x n`` Gram product
    otherwise; both have the same squared Frobenius norm (``tr((A^T A)^2) =
    tr((A A^T)^2)``), so the cost is ``n * min(n, D)^2``-ish rather than ``n * D^2``.
    The result is *not* divided by ``(n - 1)^2``.
    """
    n, D = Zc.shape[-2], Zc.shape[-1]
    Zt = Zc.transpose(-2, -1)
    product = Zt @ Zc if n >= D else Zc @ Zt
    return product.square().sum(dim=(-2, -1))


def variance_loss(
    Z: Tensor, *, gamma: float = 1.0, eps: float = 1e-4, check_finite: bool = True
) -> Tensor:
    """Hinge on the standard deviation of each column, averaged over columns.

    ``v(Z) = (1/D) * sum_j max(0, gamma - sqrt(Var(z^j) + eps))`` with the unbiased
    variance (normalised by ``n - 1``).

    Parameters
    ----------
    Z : Tensor of shape (..., n, D)
        Batch of ``n`` embeddings of size ``D``, with optional leading dimensions.
    gamma : float, default=1.0
        Target standard deviation of every column, ``>= 0``.
    eps : float, default=1e-4
        Added to the variance inside the square root so the gradient stays finite
        when a column is constant; must be ``>= 0``.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The variance term, one value per leading index.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import variance_loss
    >>> Z = torch.zeros(8, 3, dtype=torch.float64)   # fully collapsed batch
    >>> round(float(variance_loss(Z)), 4)
    0.99
    """
    _check_batch(Z, check_finite=check_finite)
    _check_nonnegative("gamma", gamma)
    _check_nonnegative("eps", eps)
    # No rescaling: a variance that overflows is inf, whose hinge is 0 as that
    # of the true one, and one that underflows is below eps's rounding.
    std = torch.sqrt(_working(Z).var(dim=-2, correction=1) + eps)
    return torch.relu(gamma - std).mean(dim=-1)


def covariance_loss(Z: Tensor, *, check_finite: bool = True) -> Tensor:
    """Sum of squared off-diagonal covariances divided by the number of columns.

    ``c(Z) = (1/D) * sum_{i != j} C(Z)_{ij}^2`` with ``C(Z)`` normalised by ``n - 1``.

    Parameters
    ----------
    Z : Tensor of shape (..., n, D)
        Batch of ``n`` embeddings of size ``D``, with optional leading dimensions.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The covariance term, one value per leading index.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import covariance_loss
    >>> Z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    >>> float(covariance_loss(Z))   # C = [[2, 2], [2, 2]]: (4 + 4) / 2
    4.0
    """
    n, D = _check_batch(Z, check_finite=check_finite)
    loss = _homogeneous(_covariance_term, 4, _working(Z))
    return _check_result(loss, "covariance term", check_finite)


def _covariance_term(Z: Tensor) -> Tensor:
    """:func:`covariance_loss` of a checked ``Z`` of entries of moderate size."""
    n, D = Z.shape[-2], Z.shape[-1]
    Zc = _centre(Z)
    if n >= D:
        cov = Zc.transpose(-2, -1) @ Zc / (n - 1)
        off = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
        return off.square().sum(dim=(-2, -1)) / D
    total = _squared_frobenius_of_covariance(Zc) / (n - 1) ** 2
    diagonal = (Zc.square().sum(dim=-2) / (n - 1)).square().sum(dim=-1)
    return (total - diagonal) / D


def cross_covariance_loss(
    Z: Tensor, n_blocks: int, *, check_finite: bool = True
) -> Tensor:
    """Covariance term restricted to the cross-block entries of ``C(Z)``.

    For the output of a separable projector, ``Z = [psi(y_1), ..., psi(y_m)]`` made of
    ``n_blocks = m`` blocks of ``L`` columns, the ``(i, j)`` block of ``C(Z)`` has a
    squared Frobenius norm equal to the biased HSIC of ``y_i`` and ``y_j`` with the
    kernel ``k(a, b) = psi(a)^T psi(b)`` (user guide, "VCReg and the projector
    lemma"). This function returns

    ``(1/D) * sum_{i != j} ||C(Z)_{block i, block j}||_F^2``, ``D = n_blocks * L``,

    that is :func:`covariance_loss` without the within-block entries, or
    ``(1/D) * sum_{i != j} HSIC_k(y_i, y_j)``. With ``n_blocks = D`` (blocks of one
    column) it equals :func:`covariance_loss`.

    Parameters
    ----------
    Z : Tensor of shape (..., n, D)
        Projector output; columns ``b*L : (b+1)*L`` form block ``b``.
    n_blocks : int
        Number of blocks ``m``; must divide ``D``.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The cross-block covariance term, one value per leading index.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import cross_covariance_loss
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.randn(500, 1, generator=g, dtype=torch.float64)
    >>> Z = torch.cat([torch.cos(y), torch.sin(y), torch.cos(y), torch.sin(y)], dim=1)
    >>> cross_covariance_loss(Z, 2) > 0   # the two blocks are identical
    tensor(True)
    """
    n, D = _check_batch(Z, check_finite=check_finite)
    integer = isinstance(n_blocks, Integral) and not isinstance(n_blocks, bool)
    if not integer or n_blocks < 1 or D % n_blocks:
        raise ValueError(
            f"n_blocks={n_blocks} must be a positive divisor of the number of "
            f"columns D={D}."
        )
    term = functools.partial(_cross_covariance_term, n_blocks=n_blocks)
    loss = _homogeneous(term, 4, _working(Z))
    return _check_result(loss, "cross-block covariance term", check_finite)


def _cross_covariance_term(Z: Tensor, *, n_blocks: int) -> Tensor:
    """:func:`cross_covariance_loss` of a checked ``Z`` of moderate entries."""
    n, D = Z.shape[-2], Z.shape[-1]
    L = D // n_blocks
    Zc = _centre(Z)
    if n >= D:
        cov = Zc.transpose(-2, -1) @ Zc / (n - 1)
        block = torch.arange(D, device=Z.device) // L
        cross = (block[:, None] != block[None, :]).to(cov.dtype)
        return (cov.square() * cross).sum(dim=(-2, -1)) / D
    total = _squared_frobenius_of_covariance(Zc) / (n - 1) ** 2
    blocks = Zc.reshape(*Zc.shape[:-1], n_blocks, L)
    within = torch.einsum("...nbi,...nbj->...bij", blocks, blocks) / (n - 1)
    return (total - within.square().sum(dim=(-3, -2, -1))) / D


def normalized_cross_covariance_loss(
    F1: Tensor, F2: Tensor, *, regularization: float = 0.1, check_finite: bool = True
) -> Tensor:
    """Cross-covariance of two feature blocks after whitening each block.

    ``||(C_11 + e_1 I)^-1/2 C_12 (C_22 + e_2 I)^-1/2||_F^2 / L`` with ``C_ab`` the
    covariance blocks of ``[F1, F2]`` (normalised by ``n - 1``) and ``e_a`` equal to
    ``regularization`` times the mean eigenvalue of ``C_aa``. It is what
    :func:`cross_covariance_loss` measures once each block's features are
    decorrelated and equalised (the state VCReg's variance and covariance terms
    push a projector towards): for a separable projector, the normalised HSIC
    (NOCCO, Fukumizu et al. 2008) of the two inputs, zero when they are
    independent. Invariant to an invertible linear map of either block when
    ``regularization`` tends to zero.

    Parameters
    ----------
    F1, F2 : Tensor of shape (..., n, L)
        Two blocks of projector features for the same rows.
    regularization : float, default=0.1
        Relative ridge added to each block's covariance, ``>= 0``.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The normalised cross-covariance, in ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import normalized_cross_covariance_loss
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.randn(500, 1, generator=g, dtype=torch.float64)
    >>> F = torch.cat([torch.cos(y), torch.sin(y)], dim=1)
    >>> bool(normalized_cross_covariance_loss(F, F) > 0.5)
    True
    """
    n, width = _check_batch(F1, "F1", check_finite=check_finite)
    if F2.shape != F1.shape:
        raise ValueError(
            f"F1 and F2 must have the same shape; got {tuple(F1.shape)} and "
            f"{tuple(F2.shape)}."
        )
    _check_batch(F2, "F2", check_finite=check_finite)
    _check_nonnegative("regularization", regularization)
    F1, F2 = _working(F1), _working(F2)
    if F1.device.type == "cpu":
        # Directly first (the kernel contrast of VCRegICA calls this many times
        # on features of moderate size): a product that overflowed makes the
        # value NaN or inf (|C12| <= the square root of C11's and C22's
        # diagonals), and only then are the blocks rescaled. On a GPU, where
        # the test would wait for the device, they always are.
        value = _normalized_cross_covariance(F1, F2, regularization, None, None)
        if bool(torch.isfinite(value).all()):
            return value
    # Each block at a moderate scale, where its products neither overflow nor
    # underflow: the loss does not depend on the scale of either block, but for
    # the absolute floor of the ridge, scaled to match (and kept in range).
    ((F1,), scale1), ((F2,), scale2) = _at_moderate_scale(F1), _at_moderate_scale(F2)
    return _normalized_cross_covariance(F1, F2, regularization, scale1, scale2)


def _normalized_cross_covariance(F1, F2, regularization, scale1, scale2):
    """:func:`normalized_cross_covariance_loss` of checked blocks divided by
    ``scale1`` and ``scale2`` (``None``: not divided)."""
    n, width = F1.shape[-2], F1.shape[-1]
    mean1, mean2 = F1.mean(dim=-2, keepdim=True), F2.mean(dim=-2, keepdim=True)
    # Centred through the means rather than centred copies of the features
    # (the kernel contrast of VCRegICA calls this many times), and not divided
    # by n - 1: the normalised cross-covariance does not change when every
    # block does (the absolute floor of the ridge is scaled to match).
    C11 = (F1.mT @ F1).sub_(mean1.mT @ mean1, alpha=n)
    C22 = (F2.mT @ F2).sub_(mean2.mT @ mean2, alpha=n)
    if _cancelled(C11, mean1, n) or _cancelled(C22, mean2, n):
        # A block far from zero (a float32 offset a thousand times its spread)
        # cancels through the means to a value far outside [0, 1]: centred
        # copies instead.
        F1, F2 = F1 - mean1, F2 - mean2
        C11, C22, C12 = F1.mT @ F1, F2.mT @ F2, F1.mT @ F2
    else:
        C12 = (F1.mT @ F2).sub_(mean1.mT @ mean2, alpha=n)
    factors = []
    for C, scale in ((C11, scale1), (C22, scale2)):
        floor = _ridge_at_scale(1e-12 * (n - 1), _squeeze(scale, 1))
        diagonal = C.diagonal(dim1=-2, dim2=-1)
        diagonal += regularization * diagonal.mean(-1, keepdim=True) + floor
        factors.append(torch.linalg.cholesky_ex(C)[0])
    M = torch.linalg.solve_triangular(factors[0], C12, upper=False)
    M = torch.linalg.solve_triangular(factors[1], M.mT, upper=False)
    return M.square().sum(dim=(-2, -1)) / width


def _cancelled(C, mean, n):
    """Whether ``C = F^T F - n m^T m`` lost more than half the digits of ``F``'s
    dtype on a diagonal entry: a variance below ``sqrt(eps)`` times the mean
    square. One synchronisation on a GPU."""
    tiny = math.sqrt(torch.finfo(C.dtype).eps)
    square = n * mean.squeeze(-2).square()
    return bool((C.diagonal(dim1=-2, dim2=-1) < tiny * square).any())


def invariance_loss(Z: Tensor, Z_prime: Tensor, *, check_finite: bool = True) -> Tensor:
    """Mean squared difference of paired rows, averaged over rows and features.

    ``s(Z, Z') = (1/(n D)) * sum_{k, j} (Z_kj - Z'_kj)^2``, the same value as
    ``torch.nn.functional.mse_loss(Z, Z_prime)`` for a plain ``(n, D)`` batch.

    Parameters
    ----------
    Z, Z_prime : Tensor of shape (..., n, D)
        Embeddings of two views of the same ``n`` rows.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The invariance term, one value per leading index.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import invariance_loss
    >>> float(invariance_loss(torch.zeros(4, 2), torch.ones(4, 2)))
    1.0
    """
    _check_pair(Z, Z_prime, check_finite=check_finite)
    loss = _homogeneous(_invariance_term, 2, _working(Z), _working(Z_prime))
    return _check_result(loss, "invariance term", check_finite)


def _invariance_term(Z: Tensor, Z_prime: Tensor) -> Tensor:
    """:func:`invariance_loss` of checked views."""
    return (Z - Z_prime).square().mean(dim=(-2, -1))


class VICRegTerms(NamedTuple):
    """The unweighted VICReg terms, each a tensor of shape ``(...)``.

    Returned by :func:`vicreg_terms` (a named tuple, so it also unpacks).

    Parameters
    ----------
    invariance : Tensor
        Mean squared difference of paired rows, :func:`invariance_loss`.
    variance : Tensor
        Mean of the two views' :func:`variance_loss`.
    covariance : Tensor
        Sum of the two views' :func:`covariance_loss` (the convention of
        :func:`vicreg_loss`).

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import vicreg_terms
    >>> Z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    >>> terms = vicreg_terms(Z, Z)
    >>> float(terms.invariance)
    0.0
    """

    invariance: Tensor
    variance: Tensor
    covariance: Tensor


def vicreg_terms(
    Z: Tensor,
    Z_prime: Tensor,
    *,
    gamma: float = 1.0,
    eps: float = 1e-4,
    check_finite: bool = True,
) -> VICRegTerms:
    """The three unweighted VICReg terms of two views.

    Parameters
    ----------
    Z, Z_prime : Tensor of shape (..., n, D)
        Embeddings of two views of the same ``n`` rows.
    gamma : float, default=1.0
        Target standard deviation of the variance hinge.
    eps : float, default=1e-4
        Stabiliser of the standard deviation.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    VICRegTerms
        ``(invariance, variance, covariance)`` with
        ``variance = (v(Z) + v(Z')) / 2`` and ``covariance = c(Z) + c(Z')``.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import vicreg_terms
    >>> g = torch.Generator().manual_seed(0)
    >>> Z = torch.randn(64, 8, generator=g)
    >>> terms = vicreg_terms(Z, Z)
    >>> float(terms.invariance)
    0.0
    """
    terms = _vicreg_terms(Z, Z_prime, gamma=gamma, eps=eps, check_finite=check_finite)
    for name, term in terms._asdict().items():
        _check_result(term, f"{name} term", check_finite)
    return terms


def _vicreg_terms(Z, Z_prime, *, gamma, eps, check_finite):
    """:func:`vicreg_terms` without the check of the terms' range."""
    _check_pair(Z, Z_prime, check_finite=check_finite)
    variance = [
        variance_loss(V, gamma=gamma, eps=eps, check_finite=False) for V in (Z, Z_prime)
    ]
    return VICRegTerms(
        invariance_loss(Z, Z_prime, check_finite=False),
        0.5 * variance[0] + 0.5 * variance[1],
        covariance_loss(Z, check_finite=False)
        + covariance_loss(Z_prime, check_finite=False),
    )


def vicreg_loss(
    Z: Tensor,
    Z_prime: Tensor,
    *,
    invariance_weight: float = 25.0,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
    check_finite: bool = True,
) -> Tensor:
    """VICReg loss of two views (Bardes, Ponce & LeCun, 2022).

    ``lam * s(Z, Z') + mu * (v(Z) + v(Z')) / 2 + nu * (c(Z) + c(Z'))``

    The two variance terms are averaged, as in the reference implementation whose
    default weights ``lam = mu = 25``, ``nu = 1`` are used here; the paper's equation
    sums them (equivalent to ``variance_weight=50``).

    Parameters
    ----------
    Z, Z_prime : Tensor of shape (..., n, D)
        Embeddings (projector outputs) of two views of the same ``n`` rows.
    invariance_weight : float, default=25.0
        ``lam``, weight of :func:`invariance_loss`.
    variance_weight : float, default=25.0
        ``mu``, weight of the mean of the two :func:`variance_loss` terms.
    covariance_weight : float, default=1.0
        ``nu``, weight of the sum of the two :func:`covariance_loss` terms.
    gamma : float, default=1.0
        Target standard deviation of the variance hinge.
    eps : float, default=1e-4
        Stabiliser of the standard deviation.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The loss, one value per leading index.

    See Also
    --------
    vicreg_terms : the three unweighted terms.
    vcreg_loss : the single-view loss without invariance.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import vicreg_loss
    >>> Z = torch.zeros(16, 4)
    >>> round(float(vicreg_loss(Z, Z)), 2)   # collapsed: 25 * 0.99
    24.75
    """
    _check_weights(invariance_weight, variance_weight, covariance_weight)
    terms = _vicreg_terms(Z, Z_prime, gamma=gamma, eps=eps, check_finite=check_finite)
    loss = _weighted_sum(
        (invariance_weight, terms.invariance),
        (variance_weight, terms.variance),
        (covariance_weight, terms.covariance),
    )
    return _check_result(loss, "VICReg loss", check_finite)


def vcreg_loss(
    Z: Tensor,
    *,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
    check_finite: bool = True,
) -> Tensor:
    """Variance-Covariance regularisation of one batch.

    ``mu * v(Z) + nu * c(Z)``. For two identical views, :func:`vicreg_loss` equals
    ``mu * v(Z) + 2 * nu * c(Z)`` because its covariance terms are summed over views.

    Parameters
    ----------
    Z : Tensor of shape (..., n, D)
        Batch of ``n`` embeddings of size ``D``.
    variance_weight : float, default=25.0
        ``mu``, weight of :func:`variance_loss`.
    covariance_weight : float, default=1.0
        ``nu``, weight of :func:`covariance_loss`.
    gamma : float, default=1.0
        Target standard deviation of the variance hinge.
    eps : float, default=1e-4
        Stabiliser of the standard deviation.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The loss, one value per leading index.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import vcreg_loss
    >>> g = torch.Generator().manual_seed(0)
    >>> Z = torch.randn(3, 128, 8, generator=g)   # three batches at once
    >>> vcreg_loss(Z).shape
    torch.Size([3])
    """
    _check_weights(variance_weight=variance_weight, covariance_weight=covariance_weight)
    variance = variance_loss(Z, gamma=gamma, eps=eps, check_finite=check_finite)
    covariance = covariance_loss(Z, check_finite=False)
    loss = _weighted_sum((variance_weight, variance), (covariance_weight, covariance))
    return _check_result(loss, "VCReg loss", check_finite)


def _check_pair(Z: Tensor, Z_prime: Tensor, *, check_finite: bool) -> tuple[int, int]:
    """Shape and finiteness checks shared by the two-view losses, as
    :func:`invariance_loss` does them; returns ``(n, D)``."""
    if Z.shape != Z_prime.shape:
        raise ValueError(
            "Z and Z_prime must have the same shape; got "
            f"{tuple(Z.shape)} and {tuple(Z_prime.shape)}."
        )
    n, D = _check_batch(Z, check_finite=check_finite)
    _check_batch(Z_prime, "Z_prime", check_finite=check_finite)
    return n, D


def barlow_twins_loss(
    Z: Tensor,
    Z_prime: Tensor,
    *,
    redundancy_weight: float = 5e-3,
    eps: float = 1e-5,
    check_finite: bool = True,
) -> Tensor:
    """Barlow Twins loss of two views (Zbontar, Jing, Misra, LeCun & Deny, 2021).

    Each column of each view is standardised over the batch,
    ``z^j <- (z^j - mean(z^j)) / sqrt(Var_b(z^j) + eps)`` with the *biased*
    variance ``Var_b`` (normalised by ``n``) and ``eps`` inside the square root,
    as a batch-normalisation layer without affine parameters does. With
    ``C = Z_std^T Z'_std / n``, the ``D x D`` cross-correlation of the two views
    (``C_ij`` in ``[-1, 1]`` when ``eps = 0``), the loss is

    ``sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2``.

    The first sum makes each feature agree across the views (invariance and, since
    ``C_ii`` can reach 1 only for a non-constant column, no collapse); the second
    decorrelates different features, the covariance regularisation it shares with
    VCReg. The loss is not divided by ``D``.

    Parameters
    ----------
    Z, Z_prime : Tensor of shape (..., n, D)
        Embeddings (projector outputs) of two views of the same ``n`` rows.
    redundancy_weight : float, default=5e-3
        ``lambda``, weight of the off-diagonal (redundancy reduction) sum, ``>= 0``;
        the paper's value.
    eps : float, default=1e-5
        Added to each column's biased variance inside the square root, ``>= 0``.
        With ``eps = 0`` the loss is exactly invariant to a positive rescaling of
        any column, but a constant column is then an error.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The loss, ``>= 0``, one value per leading index.

    See Also
    --------
    wmse_loss : whitens the embeddings instead of penalising their correlations.
    vicreg_loss : penalises covariances of each view separately.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import barlow_twins_loss
    >>> g = torch.Generator().manual_seed(0)
    >>> Z = torch.randn(256, 4, generator=g, dtype=torch.float64)
    >>> bool(barlow_twins_loss(Z, Z) < 0.01)   # same view, nearly uncorrelated
    True
    >>> round(float(barlow_twins_loss(Z, -Z)), 2)   # C = -corr(Z): 4 * (1 + 1)^2
    16.0
    """
    n, D = _check_pair(Z, Z_prime, check_finite=check_finite)
    _check_nonnegative("redundancy_weight", redundancy_weight)
    _check_nonnegative("eps", eps)
    standardised = []
    for name, V in (("Z", Z), ("Z_prime", Z_prime)):
        # Standardised at a moderate scale, where the variance neither
        # overflows nor underflows; eps is scaled to match (an eps beyond the
        # dtype's range there, for tiny embeddings, standardises them to 0).
        V = _working(V)
        (V,), scale = _at_moderate_scale(V)
        variance = V.var(dim=-2, correction=0, keepdim=True)
        if eps == 0 and bool((variance == 0).any()):
            raise ValueError(
                f"{name} has a constant column, whose standardisation divides by "
                "zero when eps=0; pass eps > 0."
            )
        ridge = _ridge_at_scale(eps, scale)
        standardised.append(_centre(V) / torch.sqrt(variance + ridge))
    C = standardised[0].mT @ standardised[1] / n
    diagonal = torch.diagonal(C, dim1=-2, dim2=-1)
    off = C - torch.diag_embed(diagonal)
    return (1 - diagonal).square().sum(dim=-1) + redundancy_weight * off.square().sum(
        dim=(-2, -1)
    )


def wmse_loss(
    Z: Tensor, Z_prime: Tensor, *, eps: float = 1e-5, check_finite: bool = True
) -> Tensor:
    """W-MSE loss of two views (Ermolov, Siarohin, Sangineto & Sebe, 2021).

    The ``2n`` rows of both views are stacked and centred by their joint mean
    ``m``; with ``Sigma`` their covariance (normalised by ``2n - 1``) plus
    ``eps * I`` and ``Sigma = L L^T`` its Cholesky factorisation, each row is
    whitened as ``w = L^-1 (z - m)``, so that the stacked whitened rows have
    (nearly) identity covariance. Each whitened row is then scaled to unit length
    and the loss is the mean over the ``n`` pairs of the squared distance between
    the two views' rows,

    ``(1/n) * sum_k ||w_k / |w_k| - w'_k / |w'_k| ||^2``,

    which equals ``2 - 2 * mean_k cos(w_k, w'_k)`` and lies in ``[0, 4]``. The
    whitening removes every covariance by construction, so the embeddings cannot
    collapse and the loss only has to pull the views together: the covariance
    constraint that VCReg and Barlow Twins impose with a penalty is here a hard one.

    Choices made: two views (the paper's ``w = 2``); one whitening sub-batch, the
    whole batch (the paper whitens sub-batches of the batch separately; passing
    them as a leading dimension gives one loss per sub-batch, to be averaged); the
    ridge ``eps * I`` added to the covariance, absolute, so the loss depends
    slightly on the scale of the embeddings; rows whitened to zero length are left
    at zero by the normalisation.

    Parameters
    ----------
    Z, Z_prime : Tensor of shape (..., n, D)
        Embeddings (projector outputs) of two views of the same ``n`` rows.
        The stacked covariance is singular unless ``2n > D``, which is required;
        the paper uses batches much larger than ``D`` (for example ``D = 64``
        with sub-batches of 128 rows per view), since a covariance estimated from
        few rows whitens poorly.
    eps : float, default=1e-5
        Ridge added to the diagonal of the covariance before its Cholesky
        factorisation, ``>= 0``.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity, which would
        make the loss NaN. The check is one pass over the input (and, on a GPU, a
        synchronisation); a training loop that checks its loss itself can pass
        ``False``.

    Returns
    -------
    Tensor of shape (...)
        The loss, in ``[0, 4]``, one value per leading index.

    Raises
    ------
    ValueError
        If ``2n <= D``, or if the covariance plus ``eps * I`` is not numerically
        positive definite (for instance ``eps = 0`` with a constant column).
        Linearly dependent columns with ``eps = 0`` may instead pass the
        factorisation on rounding errors and be whitened along meaningless
        directions: keep ``eps > 0``.

    See Also
    --------
    barlow_twins_loss : penalises the cross-correlation of the views instead.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import wmse_loss
    >>> g = torch.Generator().manual_seed(0)
    >>> Z = torch.randn(512, 4, generator=g, dtype=torch.float64)
    >>> float(wmse_loss(Z, Z))
    0.0
    >>> Z_other = torch.randn(512, 4, generator=g, dtype=torch.float64)
    >>> round(float(wmse_loss(Z, Z_other)), 1)   # independent views: 2 - 2 * 0
    2.0
    """
    n, D = _check_pair(Z, Z_prime, check_finite=check_finite)
    _check_nonnegative("eps", eps)
    if 2 * n <= D:
        raise ValueError(
            f"W-MSE whitens the 2n = {2 * n} stacked rows of the two views with "
            f"their covariance, which is singular unless 2n > D; got n = {n} rows "
            f"and D = {D} features. Use a larger batch (much larger than D)."
        )
    Z, Z_prime = _working(Z), _working(Z_prime)
    # Whitened at a moderate scale (the whitened rows do not depend on it;
    # eps is scaled to match), and symmetrically in the two views, so that
    # swapping them gives the same loss to the last bit: the mean is the mean
    # of the two views' means and the covariance the sum of their scatters.
    (Z, Z_prime), scale = _at_moderate_scale(Z, Z_prime)
    mean = 0.5 * Z.mean(dim=-2, keepdim=True) + 0.5 * Z_prime.mean(dim=-2, keepdim=True)
    centred, centred_prime = Z - mean, Z_prime - mean
    eye = torch.eye(D, dtype=Z.dtype, device=Z.device)
    scatter = centred.mT @ centred + centred_prime.mT @ centred_prime
    ridge = _ridge_at_scale(eps, scale)
    covariance = scatter / (2 * n - 1) + ridge * eye
    L, info = torch.linalg.cholesky_ex(covariance)
    if bool((info > 0).any()):
        raise ValueError(
            "The covariance of the stacked views plus eps * I is not positive "
            f"definite (eps = {eps!r}): some embedding columns are constant or "
            "linearly dependent; pass a larger eps."
        )
    # Row form of w = L^-1 (z - m): solve W L^T = centred for W, each view alike.
    w, w_prime = (
        nn.functional.normalize(
            torch.linalg.solve_triangular(L.mT, V, upper=True, left=False), dim=-1
        )
        for V in (centred, centred_prime)
    )
    return (w - w_prime).square().sum(dim=-1).mean(dim=-1)


class VICRegLoss(nn.Module):
    """:func:`vicreg_loss` with its hyper-parameters bundled in a module.

    Parameters
    ----------
    invariance_weight : float, default=25.0
        Weight of the invariance term.
    variance_weight : float, default=25.0
        Weight of the mean of the two views' variance terms.
    covariance_weight : float, default=1.0
        Weight of the sum of the two views' covariance terms.
    gamma : float, default=1.0
        Target standard deviation.
    eps : float, default=1e-4
        Stabiliser of the standard deviation.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import VICRegLoss
    >>> criterion = VICRegLoss(invariance_weight=1.0)
    >>> g = torch.Generator().manual_seed(0)
    >>> Z = torch.randn(32, 4, generator=g)
    >>> criterion(Z, Z + 1.0).item() >= 1.0
    True
    """

    def __init__(
        self,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.gamma = gamma
        self.eps = eps
        self.check_finite = check_finite

    def forward(self, Z: Tensor, Z_prime: Tensor) -> Tensor:
        return vicreg_loss(
            Z,
            Z_prime,
            invariance_weight=self.invariance_weight,
            variance_weight=self.variance_weight,
            covariance_weight=self.covariance_weight,
            gamma=self.gamma,
            eps=self.eps,
            check_finite=self.check_finite,
        )


class VCRegLoss(nn.Module):
    """:func:`vcreg_loss` with its hyper-parameters bundled in a module.

    Parameters
    ----------
    variance_weight : float, default=25.0
        Weight of the variance term.
    covariance_weight : float, default=1.0
        Weight of the covariance term.
    gamma : float, default=1.0
        Target standard deviation.
    eps : float, default=1e-4
        Stabiliser of the standard deviation.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import VCRegLoss
    >>> VCRegLoss()(torch.zeros(8, 2)).item() > 24
    True
    """

    def __init__(
        self,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.gamma = gamma
        self.eps = eps
        self.check_finite = check_finite

    def forward(self, Z: Tensor) -> Tensor:
        return vcreg_loss(
            Z,
            variance_weight=self.variance_weight,
            covariance_weight=self.covariance_weight,
            gamma=self.gamma,
            eps=self.eps,
            check_finite=self.check_finite,
        )


class BarlowTwinsLoss(nn.Module):
    """:func:`barlow_twins_loss` with its hyper-parameters bundled in a module.

    Parameters
    ----------
    redundancy_weight : float, default=5e-3
        Weight of the off-diagonal sum of squared cross-correlations.
    eps : float, default=1e-5
        Added to each column's biased variance inside the square root.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import BarlowTwinsLoss
    >>> g = torch.Generator().manual_seed(0)
    >>> Z = torch.randn(64, 4, generator=g)
    >>> BarlowTwinsLoss()(Z, torch.randn(64, 4, generator=g)).item() > 2
    True
    """

    def __init__(
        self,
        redundancy_weight: float = 5e-3,
        eps: float = 1e-5,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        self.redundancy_weight = redundancy_weight
        self.eps = eps
        self.check_finite = check_finite

    def forward(self, Z: Tensor, Z_prime: Tensor) -> Tensor:
        return barlow_twins_loss(
            Z,
            Z_prime,
            redundancy_weight=self.redundancy_weight,
            eps=self.eps,
            check_finite=self.check_finite,
        )


class WMSELoss(nn.Module):
    """:func:`wmse_loss` with its hyper-parameters bundled in a module.

    Parameters
    ----------
    eps : float, default=1e-5
        Ridge added to the diagonal of the stacked views' covariance.
    check_finite : bool, default=True
        Raise a ``ValueError`` when an input holds NaN or infinity.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.losses import WMSELoss
    >>> Z = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    >>> WMSELoss()(Z, Z).item()
    0.0
    """

    def __init__(self, eps: float = 1e-5, check_finite: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.check_finite = check_finite

    def forward(self, Z: Tensor, Z_prime: Tensor) -> Tensor:
        return wmse_loss(Z, Z_prime, eps=self.eps, check_finite=self.check_finite)
