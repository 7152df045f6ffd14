"""Random views of tabular rows for self-supervised training.

Each augmentation is a function ``(X, generator, **strengths) -> X_view`` on a torch
batch ``X`` of shape ``(n, d)`` (standardised features), drawing every random number
from the given :class:`torch.Generator` (never torch's global generator). Random
numbers are drawn on the generator's device and moved to the batch's device, so a CPU
generator gives the same views whatever device trains the model.

:class:`TabularAugmentation` chains them in a fixed order (neighbour interpolation,
marginal resampling, dropout mask, Gaussian noise); a strength of zero switches a step
off. It is what :class:`~skvcreg.VCRegEmbedder` uses unless it is given its own
callable ``augmentation(X_batch, generator) -> X_view``.
"""

import torch
from torch import Tensor

__all__ = [
    "TabularAugmentation",
    "gaussian_noise_dropout",
    "marginal_resampling",
    "neighbor_interpolation",
]

_MAX_POOL_SIZE = 8192


def _uniform(shape, generator: torch.Generator, like: Tensor) -> Tensor:
    """``U[0, 1)`` draws of ``shape`` from ``generator``, on ``like``'s device."""
    draw = torch.rand(shape, generator=generator, device=generator.device)
    return draw.to(device=like.device, dtype=like.dtype)


def _integers(high: int, shape, generator: torch.Generator, device) -> Tensor:
    draw = torch.randint(0, high, shape, generator=generator, device=generator.device)
    return draw.to(device)


def _nearest_indices(X: Tensor, pool: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` nearest pool rows of each row of ``X``, duplicates skipped.

    Squared distances come from one matrix product; a pair closer than a few
    rounding errors of the squared norms counts as a duplicate and is skipped.
    """
    x_norm = X.square().sum(dim=1, keepdim=True)
    pool_norm = pool.square().sum(dim=1)
    scale = x_norm + pool_norm
    squared = (scale - 2.0 * X @ pool.T).clamp_min(0.0)
    duplicate = squared <= 64 * torch.finfo(X.dtype).eps * scale
    squared = squared.masked_fill(duplicate, float("inf"))
    return squared.topk(k, dim=1, largest=False).indices


def gaussian_noise_dropout(
    X: Tensor,
    generator: torch.Generator,
    *,
    noise_std: float = 0.1,
    dropout_rate: float = 0.1,
) -> Tensor:
    """Zero each entry with probability ``dropout_rate``, then add Gaussian noise.

    On standardised features a zeroed entry is set to its column mean. The kept
    entries are not rescaled (unlike :class:`torch.nn.Dropout`), so a view keeps the
    scale of the data.

    Parameters
    ----------
    X : Tensor of shape (n, d)
        Batch of rows.
    generator : torch.Generator
        Source of the mask and the noise.
    noise_std : float, default=0.1
        Standard deviation of the additive noise, in units of the (standardised)
        features; ``0`` adds none.
    dropout_rate : float, default=0.1
        Probability that an entry is zeroed; ``0`` zeroes none.

    Returns
    -------
    Tensor of shape (n, d)
        The view.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.augmentations import gaussian_noise_dropout
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.ones(1000, 4)
    >>> view = gaussian_noise_dropout(X, g, noise_std=0.0, dropout_rate=0.25)
    >>> round(float((view == 0).float().mean()), 1)
    0.2
    """
    out = X
    if dropout_rate > 0:
        out = out * (_uniform(X.shape, generator, X) >= dropout_rate)
    if noise_std > 0:
        noise = torch.randn(X.shape, generator=generator, device=generator.device)
        out = out + noise_std * noise.to(device=X.device, dtype=X.dtype)
    return out


def marginal_resampling(
    X: Tensor,
    generator: torch.Generator,
    *,
    rate: float = 0.2,
    pool: Tensor | None = None,
) -> Tensor:
    """Replace a fraction ``rate`` of the entries by draws from their column's marginal.

    SCARF-style corruption (Bahri et al., 2022): each entry ``(i, j)`` is, with
    probability ``rate``, replaced by ``pool[k, j]`` for a row ``k`` drawn uniformly,
    i.e. by a draw from the empirical marginal of feature ``j``. So ``rate`` is the
    expected fraction of features replaced in each row.

    Parameters
    ----------
    X : Tensor of shape (n, d)
        Batch of rows.
    generator : torch.Generator
        Source of the mask and the replacement rows.
    rate : float, default=0.2
        Fraction of entries replaced; ``0`` returns ``X``.
    pool : Tensor of shape (N, d), default=None
        Rows whose columns define the empirical marginals, normally the whole
        training set; ``None`` uses the batch ``X`` itself.

    Returns
    -------
    Tensor of shape (n, d)
        The view.

    References
    ----------
    D. Bahri, H. Jiang, Y. Tay and D. Metzler, "SCARF: Self-Supervised Contrastive
    Learning using Random Feature Corruption", ICLR 2022.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.augmentations import marginal_resampling
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.zeros(4, 3)
    >>> pool = torch.tensor([[1.0, 2.0, 3.0]])
    >>> marginal_resampling(X, g, rate=1.0, pool=pool)[0]
    tensor([1., 2., 3.])
    """
    if rate <= 0:
        return X
    pool = X if pool is None else pool
    n, d = X.shape
    rows = _integers(pool.shape[0], (n, d), generator, pool.device)
    columns = torch.arange(d, device=pool.device).expand(n, d)
    replacement = pool[rows, columns].to(X.device)
    return torch.where(_uniform(X.shape, generator, X) < rate, replacement, X)


def neighbor_interpolation(
    X: Tensor,
    generator: torch.Generator,
    *,
    n_neighbors: int = 10,
    pool: Tensor | None = None,
    max_pool_size: int = _MAX_POOL_SIZE,
) -> Tensor:
    """Move each row a random fraction of the way to one of its nearest neighbours.

    ``view_i = x_i + u_i (x_k - x_i)`` with ``u_i ~ U[0, 1)`` and ``x_k`` drawn
    uniformly among the ``n_neighbors`` Euclidean nearest rows of ``pool``. Rows at
    distance zero (the row itself and its exact duplicates) are skipped. The view
    stays on the data's manifold, which makes the representation smooth along it
    (SMOTE-like interpolation used as an augmentation).

    Parameters
    ----------
    X : Tensor of shape (n, d)
        Batch of rows.
    generator : torch.Generator
        Source of the neighbour choice, the interpolation fraction and, for a large
        pool, the subset searched.
    n_neighbors : int, default=10
        Number of nearest neighbours to choose from; ``0`` returns ``X``.
    pool : Tensor of shape (N, d), default=None
        Rows searched for neighbours, normally the whole training set; ``None``
        uses the batch ``X``.
    max_pool_size : int, default=8192
        When ``N`` exceeds it, each call searches a fresh uniform subset of this
        many pool rows, so the cost per batch is at most ``n * max_pool_size * d``.

    Returns
    -------
    Tensor of shape (n, d)
        The view.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.augmentations import neighbor_interpolation
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.tensor([[0.0], [1.0], [10.0]])
    >>> view = neighbor_interpolation(X, g, n_neighbors=1)
    >>> bool(0 <= view[0, 0] <= 1), bool(1 <= view[2, 0] <= 10)
    (True, True)
    """
    if n_neighbors <= 0:
        return X
    searched, nearest = _neighbor_search(X, generator, n_neighbors, pool, max_pool_size)
    return _interpolate(X, generator, searched, nearest)


def _neighbor_search(X, generator, n_neighbors, pool, max_pool_size):
    """The pool rows searched (a random subset of a large pool) and the nearest ones."""
    pool = X if pool is None else pool
    if pool.shape[0] > max_pool_size:
        subset = _integers(pool.shape[0], (max_pool_size,), generator, pool.device)
        pool = pool[subset]
    pool = pool.to(X.device)
    k = min(int(n_neighbors), pool.shape[0])
    return pool, _nearest_indices(X, pool, k)


def _interpolate(X, generator, pool, nearest):
    """Move each row a random fraction towards one of its ``nearest`` pool rows."""
    choice = _integers(nearest.shape[1], (X.shape[0], 1), generator, X.device)
    neighbor = pool[nearest.gather(1, choice).squeeze(1)]
    fraction = _uniform((X.shape[0], 1), generator, X)
    return X + fraction * (neighbor - X)


class TabularAugmentation:
    """Neighbour interpolation, marginal resampling, dropout mask and noise, chained.

    Calling the object on ``(X_batch, generator)`` applies, in order,
    :func:`neighbor_interpolation`, :func:`marginal_resampling` and
    :func:`gaussian_noise_dropout`; a step whose strength is zero is skipped.

    Parameters
    ----------
    pool : Tensor of shape (N, d), default=None
        Training rows used for the marginals and the neighbours; ``None`` uses each
        batch itself.
    n_neighbors : int, default=10
        See :func:`neighbor_interpolation`.
    resample_rate : float, default=0.2
        See :func:`marginal_resampling`.
    dropout_rate : float, default=0.0
        See :func:`gaussian_noise_dropout`.
    noise_std : float, default=0.0
        See :func:`gaussian_noise_dropout`.

    Examples
    --------
    >>> import torch
    >>> from skvcreg.augmentations import TabularAugmentation
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.randn(50, 5, generator=g)
    >>> augment = TabularAugmentation(X, noise_std=0.1)
    >>> augment(X[:8], g).shape
    torch.Size([8, 5])
    """

    def __init__(
        self,
        pool=None,
        *,
        n_neighbors=10,
        resample_rate=0.2,
        dropout_rate=0.0,
        noise_std=0.0,
    ):
        self.pool = pool
        self.n_neighbors = n_neighbors
        self.resample_rate = resample_rate
        self.dropout_rate = dropout_rate
        self.noise_std = noise_std

    def __call__(self, X: Tensor, generator: torch.Generator) -> Tensor:
        out = X
        if self.n_neighbors > 0:
            searched, nearest = self._cached_search(X, generator)
            out = _interpolate(X, generator, searched, nearest)
        out = marginal_resampling(
            out, generator, rate=self.resample_rate, pool=self.pool
        )
        return gaussian_noise_dropout(
            out, generator, noise_std=self.noise_std, dropout_rate=self.dropout_rate
        )

    def _cached_search(self, X: Tensor, generator: torch.Generator):
        """Neighbour search of ``X``, reused when called again on the same batch.

        A training step draws two views of one batch tensor; the search (a matrix
        product and a top-k over the pool, the costliest step of a view) depends
        only on the rows, so the second view reuses the first's result. The cache
        holds the last batch and its version counter, so a batch modified in place
        is searched again. For a pool larger than ``max_pool_size`` both views
        then search the same random subset of it.
        """
        key = (X, X._version, self.pool, self.n_neighbors)
        cached = getattr(self, "_last_search", None)
        if cached is not None and all(
            a is b if isinstance(a, Tensor) else a == b
            for a, b in zip(cached[0], key, strict=True)
        ):
            return cached[1]
        result = _neighbor_search(
            X, generator, self.n_neighbors, self.pool, _MAX_POOL_SIZE
        )
        self._last_search = (key, result)
        return result
